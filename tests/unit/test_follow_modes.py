"""Old or missing follow lists (issue 27): the earlier follow graph, each mode's lists and
what each costs a week, priced from dwt.xapi.prices."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dwt.bench.follow_modes import (
    MODES,
    aged_follows,
    mode_follows,
    run_modes,
    summary,
    weekly_cost,
)
from dwt.xapi.prices import PRICES, Resource, Tariff

MEMBERS = pa.array([f"m{i}" for i in range(200)])


def _follows(per_member: int = 20) -> pa.Table:
    rng = np.random.default_rng(0)
    src = np.repeat(np.arange(200), per_member)
    dst = (src + 1 + rng.integers(0, 199, len(src))) % 200
    pairs = np.unique(src * 200 + dst)
    rows = {
        "source_id": [f"m{p // 200}" for p in pairs],
        "target_id": [f"m{p % 200}" for p in pairs],
    }
    outsiders = {"source_id": ["x1"] * 5, "target_id": [f"m{i}" for i in range(5)]}
    return pa.concat_tables([pa.table(rows), pa.table(outsiders)])


def _changed(before: pa.Table, after: pa.Table) -> float:
    old = set(zip(before["source_id"].to_pylist(), before["target_id"].to_pylist(), strict=True))
    new = set(zip(after["source_id"].to_pylist(), after["target_id"].to_pylist(), strict=True))
    return len(old - new) / len(old)


def test_lists_age_by_the_churn_rate_and_keep_their_size():
    follows = _follows()
    assert aged_follows(follows, np.zeros(200), MEMBERS, 0.02, 1).equals(follows)
    for weeks in (4, 12):
        old = aged_follows(follows, np.full(200, weeks), MEMBERS, 0.02, 1)
        expected = 1 - 0.98**weeks
        assert _changed(follows, old) == pytest.approx(expected, abs=0.03)
        assert abs(old.num_rows - follows.num_rows) <= 0.01 * follows.num_rows
    # Accounts that are not members keep their rows: the product never reads their lists.
    old = aged_follows(follows, np.full(200, 52), MEMBERS, 0.5, 1)
    outsider = old.filter(pc.equal(old["source_id"], "x1"))
    assert outsider["target_id"].to_pylist() == [f"m{i}" for i in range(5)]
    with pytest.raises(ValueError, match="churn"):
        aged_follows(follows, np.zeros(200), MEMBERS, 1.0, 1)
    with pytest.raises(ValueError, match="ages"):
        aged_follows(follows, np.zeros(3), MEMBERS, 0.02, 1)


def test_each_mode_holds_its_lists():
    follows = _follows()
    assert mode_follows("interactions_only", follows, MEMBERS, 0.02, 1).num_rows == 0
    assert mode_follows("fresh", follows, MEMBERS, 0.02, 1).equals(follows)
    stale = [_changed(follows, mode_follows(m, follows, MEMBERS, 0.02, 1)) for m in
             ("stale_4w", "refreshed_15pct", "stale_12w")]  # fmt: skip
    assert 0 < stale[0] < stale[2] and 0 < stale[1] < stale[2]
    with pytest.raises(ValueError, match="mode"):
        mode_follows("monthly", follows, MEMBERS, 0.02, 1)


def test_weekly_cost_comes_from_the_tariff():
    fresh = weekly_cost("fresh", posts=1000, follow_accounts=5000)
    assert fresh["usd"] == pytest.approx(
        1000 * PRICES[Resource.POST] + 5000 * PRICES[Resource.FOLLOWING]
    )
    assert weekly_cost("stale_4w", 1000, 5000)["follow_accounts_read"] == 1250
    assert weekly_cost("interactions_only", 1000, 5000)["follows_usd"] == 0
    legacy = Tariff(prices={Resource.POST: 0.0, Resource.FOLLOWING: 0.0})
    assert weekly_cost("fresh", 1000, 5000, legacy)["usd"] == 0


def test_the_section_reports_every_mode_with_its_cost():
    lines: list[str] = []
    rows = run_modes([0.35], [1], lines.append, members=120)
    assert {r.mode for r in rows} == set(MODES)
    result = summary(rows)
    for key in ("nmi_follows_stale_4w", "nmi_follows_stale_12w",
                "nmi_follows_refreshed_15pct", "nmi_interactions_only"):  # fmt: skip
        assert 0 <= result[key]["0.35"] <= 1, key
    cost = result["weekly_cost_usd"]
    assert cost["fresh"] > cost["refreshed_15pct"] > cost["interactions_only"] > 0
    assert cost["stale_4w"] > cost["stale_12w"] > cost["interactions_only"]
    assert "== 6. Old or missing follow lists" in "\n".join(lines)
