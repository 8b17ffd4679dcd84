"""``dwt bench faults`` end to end: under every injected fault and bad input, no data is
lost and no traceback reaches the person (issue 14). Unlike speed benchmarks, these two
figures are assertions: they do not depend on how loaded the machine is."""

from __future__ import annotations

import json

import pytest

from dwt.cli import main


@pytest.mark.slow
def test_bench_faults_loses_nothing_and_shows_no_traceback(capsys):
    assert main(["bench", "faults", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    names = {row["name"] for row in result["faults"]}
    assert {"503 storm (50%)", "garbled JSON (30%)", "revoked key (1 of 2)"} <= names
    assert len(result["inputs"]) >= 10 and len(result["damaged_stores"]) == 4
    for row in result["faults"] + result["inputs"] + result["damaged_stores"]:
        assert not row["timed_out"], row  # its own failure, never "no traceback"
        assert not row["traceback"], row
        assert row["exit"] == row["expected_exit"], row
        assert row["lost"] == 0 or row["hopeless"], row
    assert result["data_lost"] == 0 and result["tracebacks"] == 0 and result["timeouts"] == 0
    # Issue 23: every callback x user x role x hostile shape, nothing of another community.
    assert result["callback_cases"] > 3000 and result["cross_community_leaks"] == 0
    assert result["callback_wrong_status"] == 0 and result["callback_store_changes"] == 0
    assert "injected fault" in captured.err  # the table went to stderr with --json


def test_a_timed_out_input_is_its_own_failure(tmp_path, monkeypatch):
    """A process that runs out of time is reported as timed out, not as "no traceback"."""
    from dwt.bench import faults

    monkeypatch.setattr(faults, "TIMEOUT_S", 0.01)
    url = f"sqlite:///{tmp_path / 'dwt.db'}"
    from dwt.store import Store

    Store.open(url).close()
    row = faults.run_input("slow", ["members", "list", "--community", "x"], url, tmp_path / "c")
    assert row.timed_out and row.exit == faults.TIMED_OUT and not row.traceback
