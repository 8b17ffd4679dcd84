"""Quality on old or missing follow lists, with what each costs a week (issue 27).

Follow lists are the dearest data the product reads (each account a list returns is one
"Following/Followers: Read", :mod:`dwt.xapi.prices`), so a user may read them rarely, a
share at a time, or not at all. Each independent week (:mod:`dwt.bench.independent`) is
clustered five ways, the stages in process with the default spec's bonds and clustering
(the week's tweets as collection stores them; only the follow lists change):

* ``fresh``: this week's lists (read every week);
* ``stale_4w`` / ``stale_12w``: lists read 4 / 12 weeks ago (read once per 4 / 12 weeks;
  the NMI is at the oldest point of that cycle, the cost spread over it);
* ``refreshed_15pct``: 15 % of the members' lists read each week in turn, so the others
  are 1 to 6 weeks old (a rolling refresh's steady state);
* ``interactions_only``: no follow list at all.

**The earlier follow graph** is today's evolved backwards: each of a member's follows was
already there *k* weeks ago with probability ``(1 - churn)^k``; otherwise, in its place,
the member followed then an account drawn at random among today's followed accounts (one
it has since unfollowed: today's communities say nothing about where such a follow
pointed, so it is drawn as uninformative noise, the pessimistic case). Lists keep their
size. ``WEEKLY_CHURN`` = 2 % of a list a week is an assumption, not a measurement: about
8 % of a list changed after 4 weeks, 22 % after 12, 64 % after a year — a community that
is steady but not frozen. It is a parameter (``churn``) so a user can run their own
community's measured rate.

**Weekly cost** per mode: the posts read (the week's member tweets) at the post price plus
the follow-list accounts read that week (amortised over the cycle) at the following price,
both from :class:`dwt.xapi.prices.Tariff` (X's table unless overridden); the user lookups
of adding members are once, not weekly, and left out.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.xapi.prices import Resource, Tariff

Echo = Callable[[str], None]

WEEKLY_CHURN = 0.02
REFRESH_SHARE = 0.15
#: Mode → (weeks of age at the oldest point, share of lists read a week).
MODES: dict[str, tuple[int | None, float]] = {
    "fresh": (0, 1.0),
    "stale_4w": (4, 1 / 4),
    "stale_12w": (12, 1 / 12),
    "refreshed_15pct": (None, REFRESH_SHARE),  # ages 0..6, see refreshed_follows
    "interactions_only": (None, 0.0),
}


def aged_follows(
    follows: pa.Table, ages: np.ndarray, members: pa.Array, churn: float, seed: int
) -> pa.Table:
    """``follows`` as they stood ``ages[i]`` weeks ago for member ``i``'s list (module doc).

    Rows whose source is not a member are kept as they are (the product reads members'
    lists only); a replaced follow points at a random account among today's targets.
    """
    if not 0 <= churn < 1:
        raise ValueError(f"churn must be in [0, 1), got {churn}")
    ages = np.asarray(ages)
    if ages.shape != (len(members),) or (ages < 0).any():
        raise ValueError(f"ages must be one non-negative age per member ({len(members)})")
    rng = np.random.default_rng([seed, 27])
    source = pc.index_in(follows.column("source_id"), value_set=members)
    row_age = np.where(
        pc.is_valid(source).to_numpy(zero_copy_only=False),
        ages[pc.fill_null(source, 0).to_numpy(zero_copy_only=False)],
        0,
    )
    replaced = rng.random(follows.num_rows) >= (1.0 - churn) ** row_age
    targets = pc.unique(follows.column("target_id")) if follows.num_rows else None
    if targets is None or not replaced.any():
        return follows
    drawn = targets.take(pa.array(rng.integers(0, len(targets), int(replaced.sum()))))
    new_target = np.asarray(follows.column("target_id").to_pylist(), dtype=object)
    new_target[replaced] = drawn.to_pylist()
    table = pa.table(
        {"source_id": follows.column("source_id"), "target_id": pa.array(new_target, pa.string())}
    )
    return table.filter(pc.not_equal(table["source_id"], table["target_id"]))


def mode_follows(
    mode: str, follows: pa.Table, members: pa.Array, churn: float, seed: int
) -> pa.Table:
    """The follow lists the product would hold in ``mode`` (see :data:`MODES`)."""
    n = len(members)
    if mode == "interactions_only":
        return follows.schema.empty_table()
    if mode == "refreshed_15pct":
        cycle = math.ceil(1 / REFRESH_SHARE)  # 7 weeks: each list read once in 7
        rng = np.random.default_rng([seed, 15])
        fresh = rng.random(n) < REFRESH_SHARE
        ages = np.where(fresh, 0, rng.integers(1, cycle, n))
        return aged_follows(follows, ages, members, churn, seed)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    weeks = MODES[mode][0] or 0
    return aged_follows(follows, np.full(n, weeks), members, churn, seed)


def weekly_cost(
    mode: str, posts: int, follow_accounts: int, tariff: Tariff | None = None
) -> dict[str, float]:
    """USD a week in ``mode``: ``posts`` read plus ``follow_accounts`` (every member's list,
    read in full) times the share of lists read a week."""
    prices = (tariff or Tariff()).prices
    read = MODES[mode][1] * follow_accounts
    return {
        "posts_usd": round(posts * prices[Resource.POST], 4),
        "follows_usd": round(read * prices[Resource.FOLLOWING], 4),
        "usd": round(posts * prices[Resource.POST] + read * prices[Resource.FOLLOWING], 4),
        "follow_accounts_read": round(read, 1),
    }


@dataclass
class ModeRow:
    """One independent week clustered in one follow mode."""

    mode: str
    mixing: float
    seed: int
    nmi: float
    clusters: int
    follows: int  # follow rows the stages saw
    usd: float
    posts_usd: float
    follows_usd: float
    follow_accounts_read: float


def measure_week(
    mixing: float, seed: int, *, members: int = 400, churn: float = WEEKLY_CHURN
) -> list[ModeRow]:
    """Every mode on one independent week (bonds + cluster stages, the default spec)."""
    from sklearn.metrics import normalized_mutual_info_score

    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.bench.truth import stage_inputs
    from dwt.pipeline.spec import RunSpec
    from dwt.stages.bonds import BondGraph
    from dwt.stages.cluster import InfomapClusters, silent_members

    dataset, plan = generate_world(WorldConfig(members=members, mixing=mixing, seed=seed))
    inputs = stage_inputs(dataset)
    spec = RunSpec(community="bench")
    clustering = spec.clustering
    truth = dict(zip(plan.members, plan.community, strict=True))
    ids = inputs.members.to_pylist()
    planted = np.array([truth[m] for m in ids])
    speaking = ~np.isin(ids, plan.silent)
    silent = silent_members(inputs.members, inputs.interactions)
    listed = pc.is_in(inputs.follows.column("source_id"), value_set=inputs.members)
    follow_accounts = int(pc.sum(listed.cast(pa.int64())).as_py() or 0)
    rows = []
    for mode in MODES:
        follows = mode_follows(mode, inputs.follows, inputs.members, churn, seed)
        graph = BondGraph(spec.weights.bond_weights()).fit(
            inputs.members, inputs.interactions, follows
        )
        model = InfomapClusters(
            trials=clustering.trials,
            seed=clustering.seed,
            directed=clustering.directed,
            weight_transform=clustering.weight_transform,
            prefer_modular=clustering.prefer_modular,
            min_excess=clustering.min_modularity_excess,
        ).fit(graph.matrix_, silent=silent)
        nmi = normalized_mutual_info_score(planted[speaking], model.labels_[speaking])
        cost = weekly_cost(mode, inputs.interactions.num_rows, follow_accounts)
        rows.append(
            ModeRow(
                mode,
                mixing,
                seed,
                round(float(nmi), 4),
                model.n_clusters_,
                follows.num_rows,
                **cost,
            )
        )
    return rows


def mode_week(
    mixing: float, seed: int, mode: str, *, members: int = 400, churn: float = WEEKLY_CHURN
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """One independent week's bond matrix in ``mode`` (default spec), its silent mask, each
    member's planted community and which members speak (the ones NMI counts)."""
    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.bench.truth import stage_inputs
    from dwt.pipeline.spec import RunSpec
    from dwt.stages.bonds import BondGraph
    from dwt.stages.cluster import silent_members

    dataset, plan = generate_world(WorldConfig(members=members, mixing=mixing, seed=seed))
    inputs = stage_inputs(dataset)
    follows = mode_follows(mode, inputs.follows, inputs.members, churn, seed)
    graph = BondGraph(RunSpec(community="bench").weights.bond_weights()).fit(
        inputs.members, inputs.interactions, follows
    )
    truth = dict(zip(plan.members, plan.community, strict=True))
    ids = inputs.members.to_pylist()
    planted = np.array([truth[m] for m in ids])
    speaking = ~np.isin(ids, plan.silent)
    return graph.matrix_, silent_members(inputs.members, inputs.interactions), planted, speaking


def run_modes(
    mixings: Sequence[float],
    seeds: Sequence[int],
    echo: Echo,
    *,
    members: int = 400,
    churn: float = WEEKLY_CHURN,
) -> list[ModeRow]:
    """The section's table: NMI and weekly cost of each mode on each week."""
    if not mixings or not seeds:
        return []
    echo("")
    echo(
        f"== 6. Old or missing follow lists (independent weeks, {members} members, seeds "
        f"{list(seeds)}, churn {churn:.0%} a week; stages in process, default spec) =="
    )
    echo(f"{'mode':>18} {'mix':>5} {'NMI mean':>8} {'NMI worst':>9} {'USD/week':>9} "
         f"{'follows USD':>11} {'lists read':>10}")  # fmt: skip
    rows: list[ModeRow] = []
    start = time.perf_counter()
    for mixing in mixings:
        for seed in seeds:
            rows += measure_week(mixing, seed, members=members, churn=churn)
    for mode in MODES:
        for mixing in mixings:
            mine = [r for r in rows if r.mode == mode and r.mixing == mixing]
            echo(
                f"{mode:>18} {mixing:>5.2f} {statistics.mean(r.nmi for r in mine):>8.3f} "
                f"{min(r.nmi for r in mine):>9.3f} {statistics.mean(r.usd for r in mine):>9.2f} "
                f"{statistics.mean(r.follows_usd for r in mine):>11.2f} "
                f"{statistics.mean(r.follow_accounts_read for r in mine):>10.0f}"
            )
    echo(
        "USD/week: the week's member tweets at the post price plus the follow-list accounts "
        "read that week (amortised over the refresh cycle) at the following price "
        f"(dwt.xapi.prices); stale NMI at the oldest point of the cycle "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return rows


def summary(rows: Sequence[ModeRow], churn: float = WEEKLY_CHURN) -> dict[str, Any]:
    """The JSON keys: ``nmi_follows_stale_4w`` … by mixing, and each mode's weekly cost."""
    if not rows:
        return {}

    def by_mixing(mode: str, pick: Callable[[list[float]], float]) -> dict[str, float]:
        out: dict[str, list[float]] = {}
        for r in rows:
            if r.mode == mode:
                out.setdefault(f"{r.mixing:g}", []).append(r.nmi)
        return {k: round(pick(v), 4) for k, v in out.items()}

    names = {
        "fresh": "nmi_follows_fresh",
        "stale_4w": "nmi_follows_stale_4w",
        "stale_12w": "nmi_follows_stale_12w",
        "refreshed_15pct": "nmi_follows_refreshed_15pct",
        "interactions_only": "nmi_interactions_only",
    }
    result: dict[str, Any] = {}
    for mode, key in names.items():
        result[key] = by_mixing(mode, statistics.mean)
        result[f"{key}_worst"] = by_mixing(mode, min)
    result["weekly_cost_usd"] = {
        mode: round(statistics.mean(r.usd for r in rows if r.mode == mode), 2) for mode in MODES
    }
    result["follow_modes"] = {
        "churn_per_week": churn,
        "refresh_share": REFRESH_SHARE,
        "rows": [asdict(r) for r in rows],
    }
    return result
