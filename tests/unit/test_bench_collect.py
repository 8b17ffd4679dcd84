"""``dwt bench collect`` runs end to end. Its speed figures are goals for the benchmark,
not assertions here (these machines are shared and noisy); what must hold on any machine
is asserted: no endpoint beyond its limit, nothing read twice in the weekly run, and the
weekly follow lists within the rolling share."""

from __future__ import annotations

import json

import pytest

from dwt.bench.collect import REAL, scaled_limits
from dwt.cli import main


def test_limits_keep_x_ratios():
    limits = scaled_limits(1)
    assert limits["following"] == 1 and limits["user_tweets"] == 100 and limits["users_by"] == 20
    assert scaled_limits(15) == REAL


@pytest.mark.slow
def test_bench_collect_prints_a_table_and_one_json_line(capsys):
    args = ["bench", "collect", "--keys", "1,2", "--window", "1", "--seconds", "6"]
    code = main([*args, "--no-ray", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    rows = result["rows"]
    assert [(r["keys"], r["phase"]) for r in rows] == [
        (1, "first"),
        (1, "weekly"),
        (2, "first"),
        (2, "weekly"),
    ]
    for row in rows:
        assert row["members"] == 6 * row["keys"]
        assert 0 < row["efficiency"] <= 1.0 and row["requests"] <= row["allowed"]
        assert row["plan_error"] >= 0
    first = [r for r in rows if r["phase"] == "first"]
    assert all(r["following_lists"] == r["members"] for r in first)  # every list is new
    assert all(r["binding"] == "following" and r["planned_s"] > 0 for r in first)
    weekly = [r for r in rows if r["phase"] == "weekly"]
    assert all(r["post_reads"] == r["posts_new"] > 0 for r in weekly)
    assert result["weekly_cost_ratio"] == 1.0
    assert result["weekly_following_within_share"] is True
    assert all(0 < r["following_lists"] <= r["following_allowance"] for r in weekly)
    assert "throughput_ratio_2_vs_1" in result and "plan_error" in result
    assert "efficiency" in captured.err  # the table went to stderr with --json


@pytest.mark.parametrize(
    "args",
    [["--keys", "0"], ["--window", "0"], ["--share", "1.5"], ["--seconds", "1", "--window", "2"]],
)
def test_bench_rejects_bad_arguments(args, capsys):
    assert main(["bench", "collect", *args]) == 2
    assert "dwt bench collect" in capsys.readouterr().err
