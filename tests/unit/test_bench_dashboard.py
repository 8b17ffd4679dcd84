"""``dwt bench dashboard`` runs end to end at a small size through the command line, in
Debian's headless Chromium (its figures are goals for the benchmark, not assertions here)."""

from __future__ import annotations

import json

import pytest

from dwt.cli import main
from dwt_dashboard.bench.dashboard import summary
from dwt_dashboard.browser import CHROMIUM


@pytest.mark.slow
@pytest.mark.needs_tool("chromium", CHROMIUM.exists())
def test_the_benchmark_opens_insights_and_reports_each_size(capsys):
    assert main(["bench", "dashboard", "--sizes", "120", "--json"]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out.strip().splitlines()[-1])
    interactive = result["insights_interactive_seconds"]["120"]
    blocking = result["insights_blocking_seconds"]["120"]
    drawn = result["insights_drawn_seconds"]["120"]
    assert 0 < drawn <= interactive  # drawn first, then a tap answered
    assert blocking >= 0 and result["insights_longest_task_seconds"]["120"] <= blocking + 1e-9
    assert set(result["goals_met"]) == {"120"}
    assert result["users_open_seconds"]["120"] > 0 and result["users_blocking_seconds"]["120"] >= 0
    assert "interactive" in out.err  # the table goes to stderr with --json


def test_bad_sizes_are_refused_with_a_sentence(capsys):
    assert main(["bench", "dashboard", "--sizes", "ten"]) == 2
    assert "--sizes needs member counts" in capsys.readouterr().err


def test_goals_follow_the_issue():
    rows = {
        300: {"interactive_s": 1.9, "blocking_s": 0.9, "drawn_s": 1, "cluster_s": 1,
              "longest_task_s": 0.5},
        3000: {"interactive_s": 2.5, "blocking_s": 0.5, "drawn_s": 1, "cluster_s": 1,
               "longest_task_s": 0.5},
        10000: {"interactive_s": 3.1, "blocking_s": 0.5, "drawn_s": 1, "cluster_s": 1,
                "longest_task_s": 0.5},
    }  # fmt: skip
    met = summary(rows)["goals_met"]
    assert met == {"300": True, "3000": True, "10000": False}
    rows[300]["blocking_s"] = 1.2
    assert summary(rows)["goals_met"]["300"] is False


def test_the_dashboard_adds_its_benchmarks_through_entry_points(capsys):
    """The core names no dashboard module: ``dwt bench dashboard`` and the callback replay in
    ``dwt bench faults`` come from the entry point groups pyproject.toml declares."""
    from importlib.metadata import entry_points

    from dwt.bench.faults import PLUGINS
    from dwt_dashboard.bench.callbacks import fault_check

    (check,) = entry_points(group=PLUGINS, name="callbacks")
    assert check.load() is fault_check
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "dashboard" in capsys.readouterr().out
