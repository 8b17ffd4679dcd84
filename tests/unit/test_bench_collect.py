"""``dwt bench collect`` runs end to end. Its speed and accuracy figures are goals for the
benchmark, not assertions here (these machines are shared and noisy); what must hold on any
machine is asserted: the emulator's bill and dwt's reported spend agree, no endpoint beyond
its limit, nothing read twice in the weekly run, the weekly follow lists within the budget,
and both refusals end with exit ≠ 0, a sentence and nothing lost."""

from __future__ import annotations

import json

import pytest

from dwt.bench.collect import REAL, scaled_limits
from dwt.cli import main
from dwt.xapi.endpoints import DEFAULT_LIMITS


def test_limits_keep_x_ratios():
    limits = scaled_limits(1)
    ratio = DEFAULT_LIMITS["user_tweets"] / DEFAULT_LIMITS["following"]
    assert limits["following"] == 1 and limits["user_tweets"] == round(ratio)
    assert limits["users_by"] == 1
    assert scaled_limits(DEFAULT_LIMITS["following"]) == REAL


@pytest.mark.slow
def test_bench_collect_prints_a_table_and_one_json_line(capsys):
    args = ["bench", "collect", "--keys", "1,2", "--window", "2", "--windows", "3"]
    code = main([*args, "--following-limit", "2", "--latency-ms", "20", "--no-ray", "--json"])
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
        assert row["requests"] <= row["allowed"]
        assert row["billed_usd"] > 0 and row["bill_error"] <= 0.02  # dwt's bill is X's
        assert row["plan_error"] >= 0 and row["plan_bill_error"] >= 0
        assert row["load"] >= 0
    first = [r for r in rows if r["phase"] == "first"]
    assert all(r["following_lists"] == r["members"] for r in first)  # every list is new
    assert all(r["binding"] == "rate limit of following" for r in first)
    assert all(0 < r["efficiency"] <= 1.0 and r["planned_s"] > 0 for r in first)
    weekly = [r for r in rows if r["phase"] == "weekly"]
    assert all(r["post_reads"] == r["posts_new"] > 0 for r in weekly)
    assert all(r["binding"] == "request latency" for r in weekly)
    assert result["weekly_cost_ratio"] == 1.0
    assert result["weekly_following_within_share"] is True
    assert "throughput_ratio_2_vs_1" in result and "plan_error_weekly" in result
    storm, capped = result["refusals"]
    assert storm["exit"] == 1 and "429 and no rate-limit headers" in storm["sentence"]
    assert capped["exit"] == 3 and "UsageCapExceeded" in capped["sentence"]
    assert result["refusals_end_nonzero"] is True and result["refusals_lost"] == 0
    assert result["hang_seconds_storm"] > 0 and result["hang_seconds_usage_cap"] > 0
    assert "effic." in captured.err and "effic." not in captured.out  # the table on stderr


@pytest.mark.parametrize(
    "args",
    [["--keys", "0"], ["--window", "0"], ["--share", "1.5"], ["--windows", "0"],
     ["--repeats", "0"], ["--latency-ms", "-1"]],
)  # fmt: skip
def test_bench_rejects_bad_arguments(args, capsys):
    assert main(["bench", "collect", *args]) == 2
    assert "dwt bench collect" in capsys.readouterr().err
