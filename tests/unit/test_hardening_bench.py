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
    assert len(result["inputs"]) >= 10
    for row in result["faults"] + result["inputs"]:
        assert not row["traceback"], row
        assert row["exit"] == row["expected_exit"], row
        assert row["lost"] == 0 or row["hopeless"], row
    assert result["data_lost"] == 0 and result["tracebacks"] == 0
    assert "injected fault" in captured.err  # the table went to stderr with --json
