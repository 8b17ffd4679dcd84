"""``dwt bench collect``: collection against X's real limits' ratios, first week and weekly.

X allows, per app key and 15 minutes, 1,500 user-timeline requests, 300 user lookups and
only 15 following-list requests. The emulator here keeps those ratios with every limit
scaled by ``following_limit / 15`` and the window compressed (default: following 1,
timelines 100, lookups 20 requests per 2 s per key), so a run that the following endpoint
binds takes about ``seconds`` while the request rate stays one the emulator and client
serve without becoming the bottleneck on a small machine (a few requests per second in
the stride; the timelines are a burst at the start).

For 1, 2, 4 and 8 keys the members scale with the keys (the same work per key) and the
real collector (the scheduler, Ray actors or threads per key, the store) collects:

1. the *first* collection: every timeline and every follow list of a fresh community;
2. a *weekly* incremental collection a week later: timelines since their floor and the
   rolling share of follow lists (``collection.followingRefreshShare``), oldest first.

Per row: ``efficiency`` = requests the emulator answered on the binding endpoint / what the
keys were allowed on it over the windows the run touched (goal ≥ 0.9); ``throughput`` =
those requests per second (8 keys ≥ 7× one key); ``plan_error`` = |measured − planned
duration| / planned, the plan being :func:`dwt.collect.estimate.plan_collection` made
before the run (goal ≤ 0.15). The weekly row adds ``weekly_cost_ratio`` = post reads of the
week (the emulator's count) / posts new in that week (goal 1.0, nothing read twice) and
the following requests against the share's allowance.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dwt.collect.estimate import plan_collection
from dwt.collect.items import Kind
from dwt.collect.keys import KeySource
from dwt.collect.pool import RayPool, ThreadPool
from dwt.collect.scheduler import Scheduler
from dwt.collect.state import FollowingPolicy, plan
from dwt.generate import generate_community
from dwt.pipeline.insights import Week
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from dwt.xapi.dataset import Dataset
from dwt.xapi.endpoints import DEFAULT_LIMITS

#: The real limits the bench scales: endpoint → requests per 15 minutes per app key.
REAL = {
    name: DEFAULT_LIMITS[name]
    for name in ("user_tweets", "following", "users_by", "users", "user_by_id", "users_by_username")
}
COMMUNITY = "bench"


@dataclass
class Row:
    keys: int
    phase: str  # "first" or "weekly"
    members: int
    binding: str  # the endpoint the plan says binds
    efficiency: float
    throughput: float  # binding endpoint's requests answered per second
    requests: int  # binding endpoint's requests answered (all but 429s)
    allowed: int  # what the keys were allowed on it in the windows the run touched
    windows: int
    seconds: float
    planned_s: float
    plan_error: float
    post_reads: int
    posts_new: int | None = None  # weekly: posts written in the week
    following_requests: int | None = None
    following_lists: int | None = None  # follow lists the run read (passes)
    following_allowance: int | None = None  # weekly: the rolling share's lists


def scaled_limits(following_limit: int) -> dict[str, int]:
    """X's limits with their ratios kept, following scaled to ``following_limit``."""
    scale = following_limit / REAL["following"]
    return {name: max(1, round(limit * scale)) for name, limit in REAL.items()}


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_emulator/stats", timeout=10) as answer:
        return json.load(answer)


def _answered(stats: dict, endpoint: str) -> int:
    """Requests on ``endpoint`` that spent budget: every answer but a 429 (a suspended
    account's 404-like error costs a request as much as a page does)."""
    return sum(
        int(e["requests"]) - int(e.get("by_status", {}).get("429", 0))
        for endpoints in stats["keys"].values()
        for name, e in endpoints.items()
        if name == endpoint
    )


def _start_emulator(
    dataset_dir: Path, tokens_file: Path, window: float, limits: dict[str, int]
) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "dwt.cli",
        "emulator",
        "--dataset",
        str(dataset_dir),
        "--port",
        str(port),
        "--tokens-file",
        str(tokens_file),
        "--rate-window",
        str(window),
        "--no-shift",
    ]
    for name, limit in limits.items():
        command += ["--endpoint-limit", f"{name}={limit}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited: {process.stderr.read().decode()[-500:]}")
        try:
            _stats(base_url)
            return process, base_url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("emulator did not start within 60 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _age_by(store: Store, delta: timedelta) -> None:
    """Move every collection checkpoint ``delta`` into the past: the week between the two
    collections passes in the store instead of on the clock."""
    state = store[Coll.COLLECT_STATE]
    for doc in list(state.find({})):
        moved = {
            name: doc[name] - delta
            for name in ("following_done_at", "timeline_done_at", "status_seen_at")
            if isinstance(doc.get(name), datetime)
        }
        if moved:
            state.update_one({"_id": doc["_id"]}, {"$set": moved})


def _posts_new(dataset: Dataset, members: list[str], since: datetime, until: datetime) -> int:
    """Posts readable members wrote in [since, until): what a week's reads should be."""
    users = dataset.users
    readable = users.filter(
        pc.and_(pc.is_in(users["id"], pa.array(members)), pc.equal(users["state"], "active"))
    )
    t = dataset.tweets
    kind = t["created_at"].type
    mask = pc.and_(
        pc.is_in(t["author_id"], readable["id"]),
        pc.and_(
            pc.greater_equal(t["created_at"], pa.scalar(since, kind)),
            pc.less(t["created_at"], pa.scalar(until, kind)),
        ),
    )
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


@dataclass(frozen=True)
class Setup:
    window: float
    limits: dict[str, int]
    share: float
    page_size: int
    use_ray: bool


def _phase(
    store: Store,
    base_url: str,
    source: KeySource,
    keys: int,
    members: list[str],
    week_end: datetime,
    setup: Setup,
    phase: str,
) -> tuple[Row, dict[str, Any]]:
    """Plan, then collect one week of ``members`` and measure it."""
    spec = RunSpec(
        community=COMMUNITY,
        steps=["collect"],
        collection={"followingRefreshShare": setup.share},
    )
    week = Week(store, spec, week_end)
    if phase == "weekly":  # a week later every window is fresh: start on a new one
        time.sleep(setup.window - time.time() % setup.window + 0.01)
    now = datetime.now(week_end.tzinfo)
    forecast = plan_collection(week, keys, now=now, limits=setup.limits, window_s=setup.window)
    binding = forecast.binding
    endpoint = binding.endpoint if binding else "following"
    items = plan(store, members, week.since, week_end, now, FollowingPolicy(share=setup.share))
    pool_cls = RayPool if setup.use_ray else ThreadPool
    pool = pool_cls(source, source.fingerprints(), base_url, page_size=setup.page_size)
    try:
        pool.ready()  # collectors' start-up is not collection
        before = _stats(base_url)
        started = time.time()
        report = Scheduler(store, pool, page_size=setup.page_size).run(items)
        ended = time.time()
        after = _stats(base_url)
    finally:
        pool.close()
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} item(s) failed: {report.failed[:3]}")
    requests = _answered(after, endpoint) - _answered(before, endpoint)
    windows = math.floor(ended / setup.window) - math.floor(started / setup.window) + 1
    allowed = windows * keys * setup.limits[endpoint]
    seconds = ended - started
    planned = binding.duration_s if binding else 0.0
    row = Row(
        keys=keys,
        phase=phase,
        members=len(members),
        binding=endpoint,
        efficiency=round(requests / allowed, 3) if allowed else 0.0,
        throughput=round(requests / seconds, 3) if seconds > 0 else 0.0,
        requests=requests,
        allowed=allowed,
        windows=windows,
        seconds=round(seconds, 2),
        planned_s=round(planned, 2),
        plan_error=round(abs(seconds - planned) / planned, 3) if planned else 0.0,
        post_reads=after["posts_served"] - before["posts_served"],
        following_requests=_answered(after, "following") - _answered(before, "following"),
        following_lists=sum(1 for i in items if i.kind is Kind.FOLLOWING),
    )
    return row, after


def measure(
    keys: int, dataset: Dataset, dataset_dir: Path, members: list[str], setup: Setup
) -> list[Row]:
    """The first and the weekly collection of ``members`` on ``keys`` keys."""
    with tempfile.TemporaryDirectory() as tmp:
        tokens_file = Path(tmp) / "keys"
        tokens_file.write_text("\n".join(f"bench-key-{i}" for i in range(keys)))
        process, base_url = _start_emulator(dataset_dir, tokens_file, setup.window, setup.limits)
        try:
            source = KeySource(file=str(tokens_file), from_env=False)
            store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
            users = {u["id"]: u for u in dataset.users.to_pylist()}
            store.add_members(
                COMMUNITY,
                [
                    {
                        "id": m,
                        "username": users[m]["username"],
                        "public_metrics": {"following_count": users[m]["following_count"]},
                    }
                    for m in members
                ],
            )
            week = timedelta(days=7)
            first, _ = _phase(
                store, base_url, source, keys, members, dataset.now - week, setup, "first"
            )
            _age_by(store, week)
            weekly, stats = _phase(
                store, base_url, source, keys, members, dataset.now, setup, "weekly"
            )
            store.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    if stats["posts_served_again"]:
        raise RuntimeError(f"{stats['posts_served_again']} post(s) were read twice")
    weekly.posts_new = _posts_new(dataset, members, dataset.now - timedelta(days=7), dataset.now)
    weekly.following_allowance = math.floor(setup.share * len(members) + 0.5)
    return [first, weekly]


def run_bench(
    key_counts: list[int],
    *,
    window: float = 2.0,
    following_limit: int = 1,
    seconds: float = 60.0,
    share: float = 0.15,
    page_size: int = 100,
    use_ray: bool = True,
    echo: Callable[[str], None] = print,
) -> list[Row]:
    """Measure each key count (members = keys × the following requests ``seconds``
    allow); prints a table as it goes."""
    if window <= 0 or seconds < window or following_limit < 1:
        raise ValueError("need window > 0, seconds >= window and following_limit >= 1")
    limits = scaled_limits(following_limit)
    per_key = max(1, round(seconds / window)) * following_limit
    setup = Setup(window, limits, share, page_size, use_ray)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate_community(
            members=max(key_counts) * per_key, communities=6, days=14, seed=1, tweets_per_member=40
        )
        dataset.save(Path(tmp) / "data")
        ids = dataset.users.filter(dataset.users["is_member"]).column("id").to_pylist()
        if use_ray:
            from dwt.pipeline.ray_runtime import ensure_ray

            ensure_ray(num_cpus=os.cpu_count())
        echo(
            f"limits per {window:g}s per key: "
            + ", ".join(f"{k} {v}" for k, v in limits.items() if k in ("user_tweets", "following"))
        )
        echo(
            f"{'keys':>4} {'phase':>6} {'members':>7} {'binding':>11} {'efficiency':>10} "
            f"{'req/s':>7} {'seconds':>7} {'planned':>7} {'reads':>6}"
        )
        rows = []
        for k in key_counts:
            for row in measure(k, dataset, Path(tmp) / "data", ids[: k * per_key], setup):
                rows.append(row)
                echo(
                    f"{row.keys:>4} {row.phase:>6} {row.members:>7} {row.binding:>11} "
                    f"{row.efficiency:>10.3f} {row.throughput:>7.2f} {row.seconds:>7.1f} "
                    f"{row.planned_s:>7.1f} {row.post_reads:>6}"
                )
    return rows


def summary(rows: list[Row]) -> dict[str, Any]:
    """The JSON result: rows, the 8-vs-1 throughput ratio, the weekly cost ratio, the
    weekly following requests against the share, and the worst plan error."""
    result: dict[str, Any] = {"rows": [asdict(r) for r in rows]}
    first = {r.keys: r for r in rows if r.phase == "first"}
    weekly = [r for r in rows if r.phase == "weekly"]
    if 1 in first and max(first) > 1:
        top = max(first)
        result[f"throughput_ratio_{top}_vs_1"] = round(
            first[top].throughput / first[1].throughput, 2
        )
    reads = sum(r.post_reads for r in weekly)
    new = sum(r.posts_new or 0 for r in weekly)
    result["weekly_cost_ratio"] = round(reads / new, 3) if new else None
    result["weekly_following_within_share"] = all(
        (r.following_lists or 0) <= (r.following_allowance or 0) for r in weekly
    )
    result["plan_error"] = max((r.plan_error for r in rows), default=None)
    result["min_efficiency"] = min((r.efficiency for r in rows), default=None)
    return result
