"""``dwt bench collect`` runs end to end (its figures are goals for the benchmark, not
assertions here: these machines are shared and noisy)."""

from __future__ import annotations

import json

import pytest

from dwt.cli import main


@pytest.mark.slow
def test_bench_collect_prints_a_table_and_one_json_line(capsys):
    code = main(
        [
            "bench",
            "collect",
            "--keys",
            "1,2",
            "--window",
            "1",
            "--limit",
            "10",
            "--windows",
            "2",
            "--no-ray",
            "--json",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert [row["keys"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        assert row["allowed"] == row["keys"] * 10
        assert 0 < row["efficiency"] <= 1.0 and row["requests"] > 0
    assert "throughput_ratio_2_vs_1" in result
    assert "efficiency" in captured.err  # the table went to stderr with --json


def test_bench_rejects_bad_key_counts(capsys):
    assert main(["bench", "collect", "--keys", "0"]) == 2
