"""``dwt bench insights``: speed, scale and quality of the insight stages, side by side.

1. **Speed**: the 2020 prototype's bond rule (:mod:`dwt.bench.original`, pure-Python
   loops over tweets × members) against the bonds stage (``IndexedWeek.from_tables`` +
   ``bond_matrix``; also sharded on Ray when asked) on generated weeks. The prototype is
   far too slow to run in full at 3,000 members: it runs on random authors for a time
   budget and is extrapolated by tweet count (its cost is linear in an author's tweets ×
   members). On those authors its rows must equal the stage's ("agree").
2. **Scale**: bonds + cluster + content at 10,000 members / 10^6 member tweets, in a
   fresh interpreter so that its peak RSS is its own (:mod:`dwt.bench.scale`): the
   stages alone, labelled so. Then **the pipeline as the product runs it**, store reads
   and writes included (:mod:`dwt.bench.pipeline`), at 1,000 and 10,000 members on the
   embedded store, and on a MongoDB wire-protocol server when ``DWT_BENCH_WIRE_URL`` names
   one (``make bench-insights`` starts FerretDB for it).
3. **Quality on planted truth**: NMI of clusters against the generator's sub-communities,
   ARI of conversations against the true ones, precision/recall of trending slices against
   the planted bursts, over a few seeds of the default community.
4. **Quality on LFR**: Infomap (undirected) NMI on networkx's LFR benchmark for μ = 0.1…0.7.
5. **Quality on an independent source** (:mod:`dwt.bench.independent`, issue 15): weeks not
   drawn by ``dwt generate`` (noisy one-way follows, silent members, topic and thread
   bursts) over a grid of mixing, served by the emulator, collected by the real collector
   and run with the default spec; scored from the store against the generator's plan, on
   the reported seeds (:mod:`dwt.bench.seeds`: none of them tuned any rule).
6. **Old or missing follow lists** (:mod:`dwt.bench.follow_modes`): the same kind of week
   with lists 4 and 12 weeks old, 15 % refreshed a week, and none, each with its weekly
   cost from :mod:`dwt.xapi.prices`.
7. **Family 2** (:mod:`dwt.bench.family2`): a second independent source whose weeks break
   the product's assumptions, never used to choose a setting, run as a user runs the
   product over two weeks; its keys (``nmi_vs_oracle_family2`` …) sit beside the first
   family's. ``seeds`` in the JSON names the tuning seeds of every rule and the seeds each
   family reports on.

Every NMI has its yardstick beside it (:mod:`dwt.bench.oracle`): Infomap and Leiden on
the week's true relation graph, and ``nmi_vs_oracle`` = product NMI / Infomap's there.

Goals (MISSION.md and the brief): speedup ≥ 500× at 3,000 members, scale ≤ 120 s and
≤ 4 GB, conversation ARI ≥ 0.99, LFR NMI ≥ 0.95 up to μ = 0.5. Misses are printed as
they are.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from dwt.bench import family2, follow_modes, seeds
from dwt.bench.independent import grid as independent_grid
from dwt.bench.insights_config import (
    GOAL_ARI,
    GOAL_BURSTS,
    GOAL_CLUSTER_RATIO,
    GOAL_INDEPENDENT_NMI,
    GOAL_LFR_MU,
    GOAL_LFR_NMI,
    GOAL_RSS_MB,
    GOAL_SCALE_S,
    GOAL_SPEEDUP,
    GOAL_STORE_SHARE,
    GOAL_VS_ORACLE,
    GOAL_VS_ORACLE_STRONG,
    Config,
    Echo,
    configure,
)
from dwt.bench.insights_lfr import LfrRow, run_lfr
from dwt.bench.insights_quality import QualityRow, run_quality
from dwt.bench.insights_speed import SpeedRow, run_pipelines, run_scale, run_speed

__all__ = ["Config", "configure", "run_bench", "summary"]


# ---- 5. independent source ------------------------------------------------------------------


def run_independent(config: Config, echo: Echo) -> list[Any]:
    """The product as run on independent weeks (see :mod:`dwt.bench.independent.grid`)."""
    from dwt.bench.independent.world import WorldConfig

    if not config.independent_mixings or not config.independent_seeds:
        return []
    echo("")
    echo(
        f"== 5. Independent source (dwt.bench.independent, {config.independent_members} "
        f"members): emulator -> collect -> dwt run (default spec) -> store vs plan =="
    )
    cases = independent_grid.grid_cases(
        config.independent_mixings,
        config.independent_seeds,
        config.independent_variants,
        WorldConfig(members=config.independent_members),
        config.independent_variant_seeds,
    )
    return independent_grid.run_grid(cases, echo)


def independent_summary(rows: Sequence[Any]) -> dict[str, Any]:
    """The independent section's keys of the JSON line (issue 15)."""
    bursts = independent_grid.burst_counts(rows)
    return {
        "nmi_independent": independent_grid.nmi_by_mixing(rows),
        "nmi_independent_worst": independent_grid.worst_nmi_by_mixing(rows),
        "oracle_independent": independent_grid.oracle_by_mixing(rows),
        "nmi_vs_oracle": independent_grid.vs_oracle_by_mixing(rows),
        "nmi_vs_leiden": independent_grid.vs_oracle_by_mixing(rows, "nmi_vs_leiden"),
        "seeds_reported": sorted({r.seed for r in rows}),
        "seeds_tuning": {rule: list(s) for rule, s in seeds.TUNING_SEEDS.items()},
        "clusters_independent": independent_grid.clusters_by_mixing(rows),
        "mixing_independent": independent_grid.realised_mixing(rows),
        "singleton_silent": independent_grid.singleton_silent(rows),
        "bursts_independent": {k: v and asdict(v) for k, v in bursts.items()},
        "ari_independent": independent_grid.ari_means(rows),
        "independent_variants": independent_grid.variants(rows),
        "independent": [asdict(r) for r in rows],
    }


# ---- 7. family 2 ----------------------------------------------------------------------------


def run_family2(config: Config, echo: Echo) -> dict[str, dict[str, Any]]:
    """Family 2's :func:`~dwt.bench.family2.grid` with a table of week 2's figures."""
    if not config.family2_mixings or not config.family2_seeds:
        return {}
    echo("")
    echo(
        f"== 7. Family 2 (dwt.bench.family2, {config.family2_members} members, seeds "
        f"{list(config.family2_seeds)}, never tuned on): emulator -> members add -> collect "
        "-> dwt run, two weeks; week 2 vs truth and vs Infomap/Leiden on the true graph =="
    )
    echo(f"{'aimed':>5} {'mixing':>6} {'NMI':>6} {'Infomap*':>8} {'Leiden*':>7} "
         f"{'vs oracle':>9} {'worst':>6} {'clusters':>8} {'one-cluster weeks':>17}")  # fmt: skip
    start = time.perf_counter()
    by_mixing = family2.grid(
        config.family2_mixings,
        config.family2_seeds,
        config.family2_members,
        config.family2_communities,
    )
    for aimed, run in by_mixing.items():
        mean, rows = run["mean"], run["seeds"]
        single = sum(r["clusters"] <= 1 for r in rows) + sum(
            r["week1"]["clusters"] <= 1 for r in rows
        )
        echo(
            f"{aimed:>5} {mean['realised_mixing']:>6.3f} {mean['nmi']:>6.3f} "
            f"{mean['nmi_oracle_infomap']:>8.3f} {mean['nmi_oracle_leiden']:>7.3f} "
            f"{_show(mean['nmi_vs_oracle'])} {_show(run['worst']['nmi_vs_oracle'], 6)} "
            f"{mean['clusters']:>8.1f} {single:>11} of {2 * len(rows)}"
        )
    echo(
        "Infomap*/Leiden*: on the true relation graph, which the product never sees; vs "
        f"oracle = NMI / Infomap*'s (- where Infomap* finds one module) "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return by_mixing


def family2_goals(result: dict[str, Any]) -> dict[str, bool | None]:
    """Issue 27's goals on family 2 (None: not measured, or no Infomap oracle to divide by)."""
    worst = {float(k): v for k, v in result.get("nmi_vs_oracle_family2_worst", {}).items()}
    goals: dict[str, bool | None] = {}
    for up_to, goal in sorted(GOAL_VS_ORACLE.items()):
        band = [v for m, v in worst.items() if m <= up_to + 1e-9]
        goals[f"family 2 nmi_vs_oracle >= {goal:g} (worst seed) at mixing <= {up_to:g}"] = (
            min(band) >= goal if band and None not in band else None
        )
    strong, goal = GOAL_VS_ORACLE_STRONG
    at = worst.get(strong)
    goals[f"family 2 nmi_vs_oracle >= {goal:g} (worst seed) at mixing {strong:g}"] = (
        None if at is None else at >= goal
    )
    bursts = result.get("bursts_family2", {})
    rates = [bursts.get("burst_precision"), bursts.get("burst_recall")]
    goals[f"family 2 burst precision and recall >= {GOAL_BURSTS:g}"] = (
        min(rates) >= GOAL_BURSTS if bursts and None not in rates else None
    )
    return goals


def seed_roles(config: Config, independent: Sequence[Any]) -> dict[str, Any]:
    """Which seeds chose a setting and which report figures, per family (issue 27)."""
    return {
        "tuning": {rule: list(s) for rule, s in seeds.TUNING_SEEDS.items()},
        "reported_independent": sorted({r.seed for r in independent}),
        "reported_follow_modes": list(config.follow_mode_seeds),
        "reported_family2": list(config.family2_seeds),
        "family2_tuning": [],  # family 2 never chooses a setting (dwt.bench.family2)
    }


def _show(value: float | None, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def burst_rates(quality: Sequence[QualityRow], rows: Sequence[Any]) -> dict[str, float | None]:
    """Burst precision and recall over both sources: the generated weeks' trending slices
    and topics, and the independent weeks' trending threads and topics."""
    bursts = independent_grid.burst_counts(rows)
    parts = [bursts["threads"]] + ([bursts["topics"]] if bursts["topics"] else [])
    planted = sum(r.bursts_planted + r.topic_bursts_planted for r in quality)
    found = sum(r.bursts_found + r.topic_bursts_found for r in quality)
    hot = sum(r.trending_slices + r.trending_topics for r in quality)
    hot_burst = sum(r.trending_with_burst + r.trending_topics_with_burst for r in quality)
    planted += sum(p.planted for p in parts)
    found += sum(p.found for p in parts)
    hot += sum(p.trending for p in parts)
    hot_burst += sum(p.trending_with_burst for p in parts)
    return {
        "burst_precision": _ratio(hot_burst, hot),
        "burst_recall": _ratio(found, planted),
    }


def run_bench(config: Config, echo: Echo = print) -> dict[str, Any]:
    """Run every section, printing tables through ``echo``; returns :func:`summary`'s dict."""
    start = time.perf_counter()
    speed, ray_what = run_speed(config, echo)
    scale = run_scale(config, echo)
    pipelines = run_pipelines(config, echo)
    quality = run_quality(config, echo)
    lfr, lfr_degrees = run_lfr(config, echo)
    independent = run_independent(config, echo)
    modes = follow_modes.run_modes(
        config.follow_mode_mixings,
        config.follow_mode_seeds,
        echo,
        members=config.follow_mode_members,
        churn=config.follow_churn,
    )
    by_mixing = run_family2(config, echo)
    result = summary(speed, scale, quality, lfr, config, pipelines, independent)
    result |= follow_modes.summary(modes, config.follow_churn)
    if by_mixing:
        result |= family2.summary(by_mixing)
        result["family2"] = by_mixing
        result["goals"] |= family2_goals(result)
    result["seeds"] = seed_roles(config, independent)
    result["ray"] = ray_what
    result["lfr_degrees"] = lfr_degrees
    result["seconds"] = round(time.perf_counter() - start, 1)
    echo("")
    echo("== Goals ==")
    for goal, met in result["goals"].items():
        echo(f"{goal}: {'met' if met else 'MISSED' if met is False else 'not measured'}")
    return result


def summary(
    speed: list[SpeedRow],
    scale: dict[str, Any] | None,
    quality: list[QualityRow],
    lfr: list[LfrRow],
    config: Config,
    pipelines: Sequence[dict[str, Any]] = (),
    independent: Sequence[Any] = (),
) -> dict[str, Any]:
    """The JSON line: headline figures first, then the detail behind them."""
    embedded = {r["members"]: r for r in pipelines if r["store"] == "embedded"}
    wired = {r["members"]: r for r in pipelines if r["store"] == "wire"}
    biggest = embedded[max(embedded)] if embedded else None
    largest = max(speed, key=lambda r: r.members) if speed else None
    found = sum(r.bursts_found for r in quality)
    planted = sum(r.bursts_planted for r in quality)
    hot = sum(r.trending_slices for r in quality)
    hot_burst = sum(r.trending_with_burst for r in quality)
    t_found = sum(r.topic_bursts_found for r in quality)
    t_planted = sum(r.topic_bursts_planted for r in quality)
    t_hot = sum(r.trending_topics for r in quality)
    t_hot_burst = sum(r.trending_topics_with_burst for r in quality)
    lfr_nmi = {f"{r.mu:g}": r.nmi_mean for r in lfr}
    up_to = [r.nmi_mean for r in lfr if r.mu <= GOAL_LFR_MU + 1e-9]
    result: dict[str, Any] = {
        "speedup_vs_original": largest.speedup if largest else None,
        "speedup_at_members": largest.members if largest else None,
        "speedup_vs_plain_loop": largest.speedup_vs_plain if largest else None,
        "default_rule_vs_raw_rule": (
            round(largest.default_rule_s / largest.new_s, 2) if largest else None
        ),
        "nmi_planted": _mean(r.nmi for r in quality),
        "ari_conversations": _mean(r.ari for r in quality),
        "lfr_nmi": lfr_nmi,
        "pipeline_seconds_10k": embedded[10_000]["pipeline_s"] if 10_000 in embedded else None,
        "pipeline_seconds_10k_wire": wired[10_000]["pipeline_s"] if 10_000 in wired else None,
        "store_read_share": biggest["store_share"] if biggest else None,
        "pipeline_peak_rss_mb": biggest["peak_rss_mb"] if biggest else None,
        "pipeline_seconds": {f"{r['store']}_{r['members']}": r["pipeline_s"] for r in pipelines},
        "discover_bonds_ratio": {
            f"{r['store']}_{r['members']}": r.get("discover_bonds_ratio") for r in pipelines
        },
        "pipelines": list(pipelines),
        "scale_seconds_stages_only": scale["total_s"] if scale else None,
        "scale_seconds": scale["total_s"] if scale else None,
        "peak_rss_mb": scale["peak_rss_mb"] if scale else None,
        "speedups": {str(r.members): r.speedup for r in speed},
        "original_agrees": all(r.agree for r in speed) if speed else None,
        "speed": [asdict(r) | {"note": r.note} for r in speed],
        "scale_members": scale["members"] if scale else None,
        "scale_tweets": scale["tweets"] if scale else None,
        "scale_stage_seconds": (
            {k: scale[f"{k}_s"] for k in ("bonds", "cluster", "content")} if scale else None
        ),
        "scale": scale,
        "nmi_planted_min": min((r.nmi for r in quality), default=None),
        "oracle_planted": {
            "infomap": _mean(r.oracle_infomap for r in quality if r.oracle_infomap is not None),
            "leiden": _mean(r.oracle_leiden for r in quality if r.oracle_leiden is not None),
            "graph": "member follows (drawn from the communities alone; the product sees them)",
        },
        "nmi_vs_oracle_planted": {
            "mean": _mean(r.nmi_vs_oracle for r in quality if r.nmi_vs_oracle is not None),
            "worst": min((r.nmi_vs_oracle for r in quality if r.nmi_vs_oracle), default=None),
        },
        "nmi_per_seed": {str(r.seed): r.nmi for r in quality},
        "ari_conversations_min": min((r.ari for r in quality), default=None),
        "ari_per_seed": {str(r.seed): r.ari for r in quality},
        "ari_conversations_strict": _mean(r.ari_strict for r in quality),
        "ari_conversations_without_ids": _mean(r.ari_without_ids for r in quality),
        # Thread bursts (trending slices) and topic bursts (trending topics) together.
        "burst_precision": _ratio(hot_burst + t_hot_burst, hot + t_hot),
        "burst_recall": _ratio(found + t_found, planted + t_planted),
        "bursts": {
            "planted": planted,
            "found": found,
            "trending_slices": hot,
            "trending_with_burst": hot_burst,
            "precision": _ratio(hot_burst, hot),
            "recall": _ratio(found, planted),
        },
        "topic_bursts": {
            "planted": t_planted,
            "found": t_found,
            "trending_topics": t_hot,
            "trending_topics_with_burst": t_hot_burst,
            "precision": _ratio(t_hot_burst, t_hot),
            "recall": _ratio(t_found, t_planted),
        },
        "quality": [asdict(r) for r in quality],
        "lfr_nmi_min": {f"{r.mu:g}": r.nmi_min for r in lfr},
        "lfr_nmi_leiden": {f"{r.mu:g}": r.leiden_nmi_mean for r in lfr},
        "lfr": [asdict(r) for r in lfr],
        "quick": config.quick,
    }
    if independent:  # issue 15: the independent source's keys; bursts over both sources
        result["burst_precision_generated"] = result["burst_precision"]
        result["burst_recall_generated"] = result["burst_recall"]
        result |= independent_summary(independent) | burst_rates(quality, independent)
    at_goal = next((r for r in speed if r.members == 3_000), None)
    result["goals"] = {
        f"speedup >= {GOAL_SPEEDUP:g}x at 3000 members": (
            at_goal.speedup >= GOAL_SPEEDUP if at_goal else None
        ),
        "original agrees with the stage": result["original_agrees"],
        f"scale <= {GOAL_SCALE_S:g} s": (
            scale["total_s"] <= GOAL_SCALE_S if scale and scale["members"] >= 10_000 else None
        ),
        f"peak RSS <= {GOAL_RSS_MB:g} MB": (
            scale["peak_rss_mb"] <= GOAL_RSS_MB if scale and scale["members"] >= 10_000 else None
        ),
        f"pipeline with its store <= {GOAL_SCALE_S:g} s at 10k": (
            result["pipeline_seconds_10k"] <= GOAL_SCALE_S
            if result["pipeline_seconds_10k"] is not None
            else None
        ),
        f"pipeline peak RSS <= {GOAL_RSS_MB:g} MB at 10k": (
            embedded[10_000]["peak_rss_mb"] <= GOAL_RSS_MB if 10_000 in embedded else None
        ),
        f"store share <= {GOAL_STORE_SHARE:g}": (
            biggest["store_share"] <= GOAL_STORE_SHARE if biggest else None
        ),
        f"conversation ARI >= {GOAL_ARI:g}": (
            min(r.ari for r in quality) >= GOAL_ARI if quality else None
        ),
        f"burst precision and recall >= {GOAL_BURSTS:g} (threads and topics)": (
            min(result["burst_precision"] or 0.0, result["burst_recall"] or 0.0) >= GOAL_BURSTS
            if quality
            else None
        ),
        f"LFR NMI >= {GOAL_LFR_NMI:g} up to mu={GOAL_LFR_MU:g}": (
            min(up_to) >= GOAL_LFR_NMI if up_to else None
        ),
        **independent_goals(result),
    }
    return result


def independent_goals(result: dict[str, Any]) -> dict[str, bool | None]:
    """Issue 15's goals, from the summary's keys (None: not measured)."""
    nmi = {float(k): v for k, v in result.get("nmi_independent", {}).items()}
    ratios = list(result.get("clusters_independent", {}).values())
    goals: dict[str, bool | None] = {}
    low = -1.0
    for up_to, goal in sorted(GOAL_INDEPENDENT_NMI.items()):
        band = [v for m, v in nmi.items() if low < m <= up_to + 1e-9]
        goals[f"independent NMI >= {goal:g} at mixing <= {up_to:g}"] = (
            min(band) >= goal if band else None
        )
        low = up_to
    goals[f"independent clusters within {GOAL_CLUSTER_RATIO:g}x of planted"] = (
        all(1 / GOAL_CLUSTER_RATIO <= r <= GOAL_CLUSTER_RATIO for r in ratios) if ratios else None
    )
    goals["no singleton cluster of silent members"] = (
        result.get("singleton_silent") == 0 if nmi else None
    )
    vs_oracle = {float(k): v for k, v in result.get("nmi_vs_oracle", {}).items()}
    for up_to, goal in sorted(GOAL_VS_ORACLE.items()):
        band = [v["worst"] for m, v in vs_oracle.items() if m <= up_to + 1e-9]
        goals[f"nmi_vs_oracle >= {goal:g} (worst seed) at mixing <= {up_to:g}"] = (
            min(band) >= goal if band else None
        )
    return goals


def _ratio(part: float, whole: float) -> float | None:
    """``part / whole`` to 4 places; None when there is no whole (nothing planted, nothing
    trending)."""
    return round(part / whole, 4) if whole else None


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.mean(values), 4) if values else None
