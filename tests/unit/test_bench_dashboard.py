"""``dwt bench dashboard`` runs end to end at a small size through the command line, in
Debian's headless Chromium (its figures are goals for the benchmark, not assertions here)."""

from __future__ import annotations

import json

import pytest

from dwt.cli import main
from dwt_dashboard.bench.actions import ACTIONS
from dwt_dashboard.bench.dashboard import VIEWPORTS, summary
from dwt_dashboard.browser import CHROMIUM


@pytest.mark.slow
@pytest.mark.needs_tool("chromium", CHROMIUM.exists())
def test_the_benchmark_drives_every_action_and_reports_each_size(capsys):
    assert main(["bench", "dashboard", "--sizes", "120", "--repeats", "1", "--json"]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out.strip().splitlines()[-1])
    assert set(result["blocking_seconds"]) == set(ACTIONS)
    for action in ACTIONS:
        worst = result["blocking_seconds"][action]["120"]
        each = [result["by_viewport"][v]["blocking_seconds"][action]["120"] for v in VIEWPORTS]
        assert worst == max(each) >= 0  # the worse viewport's
        assert result["seconds"][action]["120"] > 0
    assert set(result["by_viewport"]) == set(VIEWPORTS)
    assert len(result["load"]["120"]["before"]) == 3 and result["repeats"] == 1
    assert set(result["goals_met"]) == {"120"}
    assert "add_member" in out.err and "medians of 1" in out.err  # the table, on stderr


def test_bad_sizes_are_refused_with_a_sentence(capsys):
    assert main(["bench", "dashboard", "--sizes", "ten"]) == 2
    assert "--sizes needs member counts" in capsys.readouterr().err


def test_goals_follow_the_issue():
    """Every action within 0.5 s at 300, 1 s at 3,000, 2 s at 10,000 members; all members
    answered within 3 s at 10,000."""

    def one(blocking: float, seconds: float = 1.0) -> list[dict[str, float]]:
        return [{"blocking_s": blocking, "seconds": seconds, "longest_task_s": blocking}]

    figures = {
        "desktop": {
            "add_member": {300: one(0.4), 3000: one(0.9), 10000: one(1.9)},
            "map_all_members": {300: one(0.1), 3000: one(0.1), 10000: one(0.1, 3.5)},
        },
        "phone": {"add_member": {300: one(0.6), 3000: one(0.2), 10000: one(0.2)}},
    }
    result = summary(figures, {}, 1)
    assert result["blocking_seconds"]["add_member"] == {"300": 0.6, "3000": 0.9, "10000": 1.9}
    assert result["goals_met"] == {"300": False, "3000": True, "10000": False}
    figures["phone"]["add_member"][300] = one(0.5)
    figures["desktop"]["map_all_members"][10000] = one(0.1, 2.5)
    assert summary(figures, {}, 1)["goals_met"] == {"300": True, "3000": True, "10000": True}


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
