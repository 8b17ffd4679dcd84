"""Sections 1 and 2 of ``dwt bench insights``: the prototype's bond rule against the bonds
stage (speed), the stages at scale in a fresh interpreter, and the pipeline with its store."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from dwt.bench.insights_config import GOAL_RSS_MB, GOAL_SCALE_S, Config, Echo
from dwt.bench.original import (
    OriginalWeek,
    compare_rows,
    original_row,
    plain_row,
    rows_matrix,
)
from dwt.bench.truth import generated_week, stage_inputs
from dwt.stages.bonds import IndexedWeek, bond_matrix
from dwt.stages.weights import PRESETS, BondWeights

# ---- 1. speed --------------------------------------------------------------------------------


@dataclass
class SpeedRow:
    members: int
    tweets: int
    original_s: float  # estimated for all authors when extrapolated
    original_measured_s: float
    original_authors: int  # authors the prototype actually ran on
    original_tweets: int
    extrapolated: bool
    new_s: float
    speedup: float
    agree: bool
    max_relative_diff: float
    plain_s: float  # the plain per-author loop (original.plain_row), every author
    speedup_vs_plain: float
    plain_agrees: bool
    default_rule_s: float  # the bonds stage with the product's default weights (balanced)
    ray_s: float | None = None
    ray_note: str = ""

    @property
    def note(self) -> str:
        if not self.extrapolated:
            return f"original: all {self.members} authors"
        return (
            f"original: extrapolated from {self.original_authors} of {self.members} authors "
            f"({self.original_tweets:,} of {self.tweets:,} tweets)"
        )


def measure_speed(
    members: int,
    *,
    communities: int,
    tweets_per_member: float,
    budget_s: float,
    repeats: int = 3,
    ray_shards: int = 0,
    seed: int = 1,
    weights: BondWeights | None = None,
) -> SpeedRow:
    """Time the prototype's rule, a plain per-author loop of the same rule, the bonds stage
    with that rule and with the product's default weights, on one generated week."""
    weights = weights or PRESETS["seed"]  # the prototype's rule is the raw one
    dataset = generated_week(members, communities, seed, tweets_per_member)
    inputs = stage_inputs(dataset)
    ids, interactions, follows = inputs.members, inputs.interactions, inputs.follows

    def stage() -> sp.csr_matrix:
        return bond_matrix(IndexedWeek.from_tables(ids, interactions, follows), weights)

    matrix, new_s = _median_time(stage, repeats)
    default = PRESETS["balanced"]
    _, default_s = _median_time(
        lambda: bond_matrix(IndexedWeek.from_tables(ids, interactions, follows), default), repeats
    )

    week = OriginalWeek.from_tables(ids, interactions, follows)
    order = np.random.default_rng(seed).permutation(len(week.members))
    rows: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    for i in order:
        u = week.members[i]
        rows[u] = original_row(week, u, weights)
        if time.perf_counter() - start >= budget_s:
            break
    measured = time.perf_counter() - start
    total_tweets = week.tweet_count(week.members)
    done_tweets = week.tweet_count(rows)
    extrapolated = len(rows) < len(week.members)
    estimate = measured * total_tweets / max(done_tweets, 1) if extrapolated else measured
    done = order[: len(rows)]
    agree, relative = compare_rows(rows_matrix(rows, week.members), matrix, done)
    known = frozenset(week.members)
    plain_rows, plain_s = _median_time(
        lambda: {u: plain_row(week, u, weights, known) for u in week.members}, repeats
    )
    plain_agrees, _ = compare_rows(
        rows_matrix(plain_rows, week.members), matrix, np.arange(len(week.members))
    )

    row = SpeedRow(
        members=members,
        tweets=interactions.num_rows,
        original_s=round(estimate, 3),
        original_measured_s=round(measured, 3),
        original_authors=len(rows),
        original_tweets=done_tweets,
        extrapolated=extrapolated,
        new_s=round(new_s, 4),
        speedup=round(estimate / new_s, 1),
        agree=agree,
        max_relative_diff=relative,
        plain_s=round(plain_s, 3),
        speedup_vs_plain=round(plain_s / new_s, 1),
        plain_agrees=plain_agrees,
        default_rule_s=round(default_s, 4),
    )
    if ray_shards > 1:
        row.ray_s, row.ray_note = _ray_time(
            IndexedWeek.from_tables(ids, interactions, follows), weights, ray_shards, matrix
        )
    return row


def _median_time(work: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    times, result = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def _ray_time(
    week: IndexedWeek, weights: BondWeights, shards: int, expected: sp.csr_matrix
) -> tuple[float | None, str]:
    """The Ray-sharded bonds (after one warm-up call), checked against the in-process ones."""
    from dwt.pipeline.insights import ray_ready, sharded_bond_matrix

    if not ray_ready():
        return None, "ray: not running"
    sharded_bond_matrix(week, weights, shards)  # ships the function, starts the workers
    matrix, seconds = _median_time(lambda: sharded_bond_matrix(week, weights, shards), 3)
    same = abs(matrix - expected).max() <= 1e-9 * max(abs(expected).max(), 1.0)
    return round(seconds, 4), f"ray: {shards} shards" + ("" if same else ", DIFFERS")


def _start_ray(echo: Echo) -> tuple[bool, str]:
    """Start a local Ray runtime; (started by us, description). Failing is not fatal."""
    import ray

    from dwt.pipeline.ray_runtime import ensure_ray

    if ray.is_initialized():
        return False, "already running"
    start = time.perf_counter()
    try:
        what = ensure_ray(num_cpus=os.cpu_count())
    except (RuntimeError, ConnectionError, OSError, TimeoutError) as exc:
        echo(f"ray: could not start ({exc}); sharded bonds skipped")
        return False, f"unavailable: {exc}"
    return True, f"{what}, started in {time.perf_counter() - start:.1f} s"


def run_speed(config: Config, echo: Echo) -> tuple[list[SpeedRow], str]:
    echo("== 1. Bonds: the original prototype's rule vs this project's bonds stage ==")
    ray_started, ray_what = False, "not used"
    shards = 0
    if config.use_ray:
        ray_started, ray_what = _start_ray(echo)
        shards = max(2, os.cpu_count() or 1)
        echo(f"ray runtime: {ray_what}")
    echo(
        f"{'members':>7} {'tweets':>9} {'original s':>11} {'plain s':>8} {'new s':>8} "
        f"{'default s':>9} {'ray s':>7} {'speedup':>9} {'vs plain':>8} {'agree':>5}  note"
    )
    rows = []
    try:
        for members in config.speed_members:
            row = measure_speed(
                members,
                communities=config.speed_communities,
                tweets_per_member=config.tweets_per_member,
                budget_s=config.original_budget_s,
                repeats=config.timing_repeats,
                ray_shards=shards,
                seed=config.seed,
            )
            rows.append(row)
            ray_s = f"{row.ray_s:7.3f}" if row.ray_s is not None else f"{'-':>7}"
            agree = "yes" if row.agree and row.plain_agrees else "NO"
            echo(
                f"{row.members:>7} {row.tweets:>9,} {row.original_s:>11.1f} {row.plain_s:>8.3f} "
                f"{row.new_s:>8.4f} {row.default_rule_s:>9.4f} {ray_s} {row.speedup:>8.0f}× "
                f"{row.speedup_vs_plain:>7.1f}× {agree:>5}  {row.note}"
                + (f"; {row.ray_note}" if row.ray_note else "")
            )
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    echo(
        "original: the prototype's loops; plain: a per-author loop of the same rule (both pure "
        "Python, timed without their input preparation); new: IndexedWeek.from_tables + "
        "bond_matrix with the prototype's rule; default: the same with the product's default "
        f"weights (balanced); each the median of {config.timing_repeats}"
    )
    return rows, ray_what


# ---- 2. scale --------------------------------------------------------------------------------


def measure_scale(
    members: int, *, communities: int, tweets_per_member: float, seed: int, timeout_s: float
) -> dict[str, Any]:
    """Generate the week here, run the stages in a fresh interpreter, return its report."""
    from dwt.bench.scale import worker_command, write_inputs

    start = time.perf_counter()
    dataset = generated_week(members, communities, seed, tweets_per_member)
    inputs = stage_inputs(dataset)
    generated_s = time.perf_counter() - start
    all_tweets = dataset.tweets.num_rows
    del dataset
    with tempfile.TemporaryDirectory(prefix="dwt-bench-scale-") as tmp:
        write_inputs(Path(tmp), inputs.members, inputs.interactions, inputs.follows, inputs.window)
        del inputs
        done = subprocess.run(
            worker_command(Path(tmp)),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"scale worker failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["generated_s"] = round(generated_s, 1)
    report["dataset_tweets"] = all_tweets
    return report


def run_scale(config: Config, echo: Echo) -> dict[str, Any] | None:
    if not config.scale_members:
        return None
    echo("")
    echo("== 2. Scale: bonds + cluster + content, fresh process (stages only, no store) ==")
    report = measure_scale(
        config.scale_members,
        communities=config.scale_communities,
        tweets_per_member=config.scale_tweets_per_member,
        seed=config.seed,
        timeout_s=1200,
    )
    echo(
        f"{'members':>7} {'tweets':>10} {'bonds s':>8} {'cluster s':>9} {'content s':>9} "
        f"{'total s':>8} {'peak RSS MB':>11}"
    )
    echo(
        f"{report['members']:>7} {report['tweets']:>10,} {report['bonds_s']:>8.2f} "
        f"{report['cluster_s']:>9.2f} {report['content_s']:>9.2f} {report['total_s']:>8.2f} "
        f"{report['peak_rss_mb']:>11.0f}"
    )
    echo(
        f"goals: total <= {GOAL_SCALE_S:.0f} s: "
        f"{'met' if report['total_s'] <= GOAL_SCALE_S else 'MISSED'}; "
        f"peak RSS <= {GOAL_RSS_MB:.0f} MB: "
        f"{'met' if report['peak_rss_mb'] <= GOAL_RSS_MB else 'MISSED'}"
    )
    echo(
        f"(member tweets {report['tweets']:,} of {report['dataset_tweets']:,} generated; "
        f"{report['bonds']:,} bonds, {report['clusters']} clusters, {report['isolated']} "
        f"isolated, {report['slices']:,} slices, {report['trending']} trending; load "
        f"{report['load_s']:.1f} s, not counted; generation {report['generated_s']:.1f} s, "
        "not counted)"
    )
    echo(
        f"peak RSS = ru_maxrss of the worker (spawned through a small launcher: ru_maxrss "
        f"survives exec); VmHWM {report['peak_vmhwm_mb']} MB; after imports, before loading: "
        f"{report['baseline_rss_mb']:.0f} MB"
    )
    return report


# ---- 2b. pipeline --------------------------------------------------------------------------------


def run_pipelines(config: Config, echo: Echo) -> list[dict[str, Any]]:
    """The pipeline with its store at each size, on the embedded store (and the wire)."""
    from dwt.bench.pipeline import measure_pipeline

    wire = os.environ.get("DWT_BENCH_WIRE_URL")
    cases = [("embedded", n) for n in config.pipeline_members]
    cases += [("wire", n) for n in config.wire_members] if wire else []
    if not cases:
        return []
    echo("")
    echo("== 2b. The pipeline as the product runs it: store reads and writes included ==")
    echo(
        f"{'store':>8} {'members':>7} {'tweets':>10} {'pipeline s':>10} {'store s':>8} "
        f"{'share':>6} {'peak RSS MB':>11} {'load s':>7}"
    )
    rows = []
    for engine, members in cases:
        dataset = generated_week(
            members,
            max(4, min(config.scale_communities, members // 100)),
            config.seed,
            config.scale_tweets_per_member,
        )
        with tempfile.TemporaryDirectory(prefix="dwt-bench-store-") as tmp:
            if engine == "wire":
                base = (wire or "").rstrip("/")
                url = f"{base}/dwt_bench_{members}_{time.time_ns()}"
            else:
                url = f"sqlite:///{Path(tmp) / 'dwt.db'}"
            row = measure_pipeline(dataset, url) | {"store": engine}
            if engine == "wire":
                from dwt.store import Store

                Store.open(url, ensure_indexes=False).drop()
        del dataset
        rows.append(row)
        echo(
            f"{engine:>8} {row['members']:>7} {row['counts']['tweets']:>10,} "
            f"{row['pipeline_s']:>10.2f} {row['store_s']:>8.2f} {row['store_share']:>6.2f} "
            f"{row['peak_rss_mb']:>11.0f} {row['load_s']:>7.1f}"
        )
        steps = ", ".join(f"{k} {v:.1f}" for k, v in row["step_s"].items())
        inside = ", ".join(f"{k} {v:.1f}" for k, v in row.get("stage_s", {}).items())
        echo(f"{'':>17} steps s: {steps}; inside them: {inside}")
    echo(
        "pipeline = discover, bonds, cluster, content through run_pipeline (as dwt run), in a "
        "fresh process; store = time inside store calls; load = writing the week as "
        "collection does (separate process, not counted)"
    )
    if not wire:
        echo("wire-protocol server: not measured (set DWT_BENCH_WIRE_URL, or make bench-insights)")
    return rows
