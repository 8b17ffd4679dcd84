"""Bad inputs of ``dwt emulator`` and the dataset loader: a sentence and exit 2, never a
traceback, never a dataset that loads and silently serves nothing (issue 14)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dwt.cli import emulator as cli
from dwt.cli import main
from dwt.config import load_settings
from dwt.xapi.dataset import Dataset, DatasetError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "-1"], "--port must be within 0-65535"),
        (["--port", "65536"], "--port must be within 0-65535"),
        (["--latency-ms", "nan"], "latency_ms must be within"),
        (["--latency-ms", "inf"], "latency_ms must be within"),
        (["--rate-window", "nan"], "rate_window_s must be a number > 0"),
        (["--garble-rate", "2"], "garble_rate must be within [0, 1]"),
        (["--throttle-rate", "-0.1"], "throttle_rate must be within [0, 1]"),
    ],
)
def test_bad_emulator_flags_exit_2_with_a_sentence(dataset_dir, capsys, flags, message):
    code = main(["emulator", "--dataset", str(dataset_dir), "--token", "t", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err


def test_fault_flags_become_the_config(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    args = _parse("--dataset", "x", "--token", "t", "--garble-rate", "0.3", "--throttle-rate",
                  "0.1", "--fail-seed", "4")  # fmt: skip
    config = cli.build_config(args, load_settings())
    assert (config.garble_rate, config.throttle_rate, config.fail_seed) == (0.3, 0.1, 4)


def _without(dataset_dir: Path, tmp_path: Path, table: str, column: str) -> Path:
    copy = Dataset.load(dataset_dir).save(tmp_path / "ds")
    data = pq.read_table(copy / f"{table}.parquet").drop_columns([column])
    pq.write_table(data, copy / f"{table}.parquet")
    return copy


def test_a_dataset_without_author_id_is_refused_naming_the_column(dataset_dir, tmp_path, capsys):
    broken = _without(dataset_dir, tmp_path, "tweets", "author_id")
    with pytest.raises(DatasetError, match=r"tweets\.parquet has no column 'author_id'"):
        Dataset.load(broken)
    assert main(["emulator", "--dataset", str(broken), "--token", "t", "--port", "0"]) == 2
    assert "no column 'author_id'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("table", "column", "values", "message"),
    [
        ("tweets", "author_id", None, "column 'author_id' is empty in"),
        ("users", "id", "abc", "column 'id' holds 'abc', not an X id"),
        ("tweets", "id", "99999999999999999999", "not an X id"),
        ("follows", "target_id", "9999999999999999999", "above 2^63"),
    ],
)
def test_unusable_key_columns_are_refused(dataset_dir, tmp_path, table, column, values, message):
    copy = Dataset.load(dataset_dir).save(tmp_path / "ds")
    data = pq.read_table(copy / f"{table}.parquet")
    index = data.schema.get_field_index(column)
    replaced = pa.array([values] * data.num_rows, pa.string())
    data = data.set_column(index, data.schema.field(index), replaced)
    pq.write_table(data, copy / f"{table}.parquet")
    with pytest.raises(DatasetError, match=re.escape(message)):
        Dataset.load(copy)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("[1, 2]", "must hold a JSON object"),
        ('{"format": "dwt-dataset/1", "now": "yesterday"}', "'now' is not an ISO time"),
        ('{"format": "dwt-dataset/1", "now": "2026-11-28T00:00:00"}', "needs a time zone"),
        ("\udcff", "cannot read"),
    ],
)
def test_unusable_meta_is_refused(dataset_dir, tmp_path, meta, message):
    copy = Dataset.load(dataset_dir).save(tmp_path / "ds")
    (copy / "meta.json").write_bytes(meta.encode("utf-8", "surrogateescape"))
    with pytest.raises(DatasetError, match=message):
        Dataset.load(copy)
