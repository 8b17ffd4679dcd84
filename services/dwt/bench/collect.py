"""``dwt bench collect``: collection on X's 2026 limits and prices, scored against X's bill.

X allows, per app key and 15 minutes, 10,000 user-timeline requests and 300 following-list
requests (:mod:`dwt.xapi.endpoints`), and bills each post $0.005 and each account a follow
list returns $0.010 (:mod:`dwt.xapi.prices`). The emulator here keeps the limits' ratios
with every limit scaled by ``following_limit / 300`` and the window compressed (default:
following 5, timelines 167 requests per 4-s window per key), bills every resource at list
price once per UTC day (its meter moves a week on between the two collections), and adds
``latency_ms`` to each answer (default 250: a round trip to X takes 100–300 ms).

For 1, 2, 4 and 8 keys the members scale with the keys (``windows`` × the following limit
per key, so a first collection spans that many windows, as a real one of a few hundred
members per key spans a few) and the real collector (scheduler, Ray actors or threads per
key, the store) collects:

1. the *first* collection: every timeline and every follow list of a fresh community, with
   no history — priced from the members' stored ``tweet_count`` and ``following_count``;
   bound by the following endpoint's limit;
2. a *weekly* collection a week later: timelines since their floor and the rolling budget
   of follow lists; every request fits the first window, so it is bound by request latency.

Per row: ``bill_error`` = |the emulator's bill − dwt's reported spend| / the bill (goal ≤
0.02); ``plan_bill_error`` = |the plan's estimate − the bill| / the bill (≤ 0.15);
``plan_error`` = |measured − planned duration| / planned (≤ 0.15); for the limit-bound
first collection ``efficiency`` = requests the emulator answered on the following endpoint /
what the keys were allowed over the windows the run touched (≥ 0.9) and ``throughput`` (8
keys ≥ 7× one key). The weekly row adds ``weekly_cost_ratio`` = post reads of the week / posts
new in it (1.0: nothing read twice). Then two refusals, each a ``dwt run --steps collect``
subprocess as a person runs it: a 100 % storm of 429s without rate-limit headers, and X's
monthly post cap answered 429 ``UsageCapExceeded``: ``hang_seconds`` until it ended, its exit
status (≠ 0), the sentence it ended with, and what was lost (goal 0). The machine's load
average is recorded beside every row; ``repeats`` runs everything again and the summary
takes the worst figure of each.
"""

from __future__ import annotations

import json
import math
import os
import statistics
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

from dwt.collect.keys import KeySource
from dwt.collect.pool import RayPool, ThreadPool
from dwt.collect.scheduler import Scheduler
from dwt.collect.state import FollowingPolicy, list_sizes, load_states, plan
from dwt.generate import generate_community
from dwt.pipeline.estimate import plan_collection
from dwt.pipeline.insights import Week
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from dwt.store.runs import record_collection, start_run
from dwt.xapi.dataset import Dataset
from dwt.xapi.endpoints import DEFAULT_LIMITS, DEFAULT_WINDOW_S
from dwt.xapi.prices import Tariff

#: X's limits the bench scales: endpoint → requests per 15 minutes per app key.
REAL = dict(DEFAULT_LIMITS)
COMMUNITY = "bench"
WEEK = timedelta(days=7)


@dataclass
class Row:
    keys: int
    phase: str  # "first" or "weekly"
    members: int
    binding: str  # what the plan says binds
    efficiency: float | None  # limit-bound rows only
    throughput: float  # following requests answered per second
    requests: int  # following requests answered (all but 429s)
    allowed: int  # what the keys were allowed on it in the windows the run touched
    windows: int
    seconds: float
    planned_s: float
    plan_error: float
    billed_usd: float  # the emulator's bill for the phase
    reported_usd: float  # dwt's reported spend
    planned_usd: float  # the plan's estimate
    bill_error: float
    plan_bill_error: float
    post_reads: int
    following_accounts: int
    load: float  # the machine's 1-minute load average at the end of the phase
    posts_new: int | None = None  # weekly: posts written in the week
    following_lists: int | None = None  # follow lists the run read
    following_allowance: int | None = None  # weekly: the budget's accounts (+ half a list)


@dataclass
class Refusal:
    """A ``dwt run --steps collect`` against an emulator that refuses everything."""

    name: str
    exit: int
    hang_seconds: float
    sentence: str
    requests: int
    lost: int  # posts billed but not stored
    load: float


def scaled_limits(following_limit: int) -> dict[str, int]:
    """X's limits with their ratios kept, following scaled to ``following_limit``."""
    scale = following_limit / REAL["following"]
    return {name: max(1, round(limit * scale)) for name, limit in REAL.items()}


def _get(base_url: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{base_url}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _stats(base_url: str) -> dict:
    return _get(base_url, "/_emulator/stats")


def _answered(stats: dict, endpoint: str) -> int:
    """Requests on ``endpoint`` that spent budget: every answer but a 429."""
    return sum(
        int(e["requests"]) - int(e.get("by_status", {}).get("429", 0))
        for endpoints in stats["keys"].values()
        for name, e in endpoints.items()
        if name == endpoint
    )


def _start_emulator(
    dataset_dir: Path, tokens_file: Path, window: float, limits: dict[str, int], *extra: str
) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "dwt.cli", "emulator", "--dataset", str(dataset_dir),
        "--port", str(port), "--tokens-file", str(tokens_file), "--rate-window", str(window),
        "--no-shift", *extra,
    ]  # fmt: skip
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
    for account, doc in store.checkpoints().items():
        moved = {
            name: doc[name] - delta
            for name in ("following_done_at", "timeline_done_at", "status_seen_at")
            if isinstance(doc.get(name), datetime)
        }
        store.update_checkpoint(account, moved)


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


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _error(measured: float, reference: float) -> float:
    return round(abs(measured - reference) / reference, 4) if reference else 0.0


@dataclass(frozen=True)
class Setup:
    window: float
    limits: dict[str, int]
    share: float
    page_size: int
    use_ray: bool

    @property
    def tariff(self) -> Tariff:
        """X's prices and the scaled limits over the compressed window."""
        tariff = Tariff().override("bench", limits=self.limits)
        return Tariff(tariff.prices, tariff.limits, tariff.monthly_post_cap, self.window,
                      tariff.sources)  # fmt: skip


def _phase(
    store: Store,
    base_url: str,
    source: KeySource,
    keys: int,
    members: list[str],
    week_end: datetime,
    setup: Setup,
    phase: str,
) -> Row:
    """Plan, then collect one week of ``members``, and score it against the bill."""
    spec = RunSpec(
        community=COMMUNITY, steps=["collect"], collection={"followingRefreshShare": setup.share}
    )
    week = Week(store, spec, week_end)
    now = datetime.now(week_end.tzinfo)
    key_ids = source.fingerprints()
    forecast = plan_collection(
        week, key_ids, now=now, tariff=setup.tariff, page_size=setup.page_size
    )
    states = load_states(store, members)
    policy = FollowingPolicy.of(spec.collection)
    items = plan(store, members, week.since, week_end, now, policy)
    if not items:
        raise RuntimeError(f"{keys} key(s), {phase}: nothing was planned")
    pool_cls = RayPool if setup.use_ray else ThreadPool
    pool = pool_cls(source, key_ids, base_url, store, page_size=setup.page_size)
    run_id = f"{phase}-{keys}"
    start_run(store, run_id, COMMUNITY, ["collect"], {}, now)
    try:
        pool.ready()  # collectors' start-up is not collection
        before = _stats(base_url)
        time.sleep(setup.window - time.time() % setup.window + 0.01)  # on a fresh window
        started = time.time()
        report = Scheduler(
            pool,
            page_size=setup.page_size,
            tariff=setup.tariff,
            list_sizes=list_sizes(store, members, states),
        ).run(items)
        ended = time.time()
        after = _stats(base_url)
    finally:
        pool.close()
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} item(s) failed: {report.failed[:3]}")
    record_collection(
        store, run_id, report.charges, setup.tariff, now, timing=report.timing
    )  # the next plan times its requests with these
    following = _answered(after, "following") - _answered(before, "following")
    windows = math.floor(ended / setup.window) - math.floor(started / setup.window) + 1
    allowed = windows * keys * setup.limits["following"]
    seconds = ended - started
    limit_bound = forecast.bound.startswith("rate limit")
    billed = after["bill"]["usd"]["total"] - before["bill"]["usd"]["total"]
    reported = report.charges.usd(setup.tariff)
    return Row(
        keys=keys,
        phase=phase,
        members=len(members),
        binding=forecast.bound,
        efficiency=round(following / allowed, 3) if limit_bound and allowed else None,
        throughput=round(following / seconds, 3) if seconds > 0 else 0.0,
        requests=following,
        allowed=allowed,
        windows=windows,
        seconds=round(seconds, 2),
        planned_s=round(forecast.duration_s, 2),
        plan_error=_error(seconds, forecast.duration_s),
        billed_usd=round(billed, 4),
        reported_usd=round(reported, 4),
        planned_usd=round(forecast.cost_usd, 4),
        bill_error=_error(reported, billed),
        plan_bill_error=_error(forecast.cost_usd, billed),
        post_reads=after["posts_served"] - before["posts_served"],
        following_accounts=report.charges.following_accounts,
        load=_load(),
        following_lists=sum(1 for i in items if i.endpoint == "following"),
    )


def _members(dataset: Dataset, ids: list[str]) -> list[dict[str, Any]]:
    """The members as a lookup would store them (id, username, created_at, metrics)."""
    users = {u["id"]: u for u in dataset.users.to_pylist()}
    return [
        {
            "id": m,
            "username": users[m]["username"],
            "created_at": users[m]["created_at"].isoformat(),
            "public_metrics": {
                "following_count": users[m]["following_count"],
                "tweet_count": users[m]["tweet_count"],
            },
        }
        for m in ids
    ]


def measure(
    keys: int, dataset: Dataset, dataset_dir: Path, members: list[str], setup: Setup,
    latency_ms: float,
) -> list[Row]:  # fmt: skip
    """The first and the weekly collection of ``members`` on ``keys`` keys."""
    with tempfile.TemporaryDirectory() as tmp:
        tokens_file = Path(tmp) / "keys"
        tokens_file.write_text("\n".join(f"bench-key-{i}" for i in range(keys)))
        process, base_url = _start_emulator(
            dataset_dir, tokens_file, setup.window, setup.limits, "--latency-ms", str(latency_ms)
        )
        try:
            source = KeySource(file=str(tokens_file), from_env=False)
            store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
            store.add_members(COMMUNITY, _members(dataset, members))
            first = _phase(
                store, base_url, source, keys, members, dataset.now - WEEK, setup, "first"
            )
            _age_by(store, WEEK)
            _get(base_url, f"/_emulator/billing/advance?seconds={WEEK.total_seconds()}", "POST")
            weekly = _phase(store, base_url, source, keys, members, dataset.now, setup, "weekly")
            sizes = list_sizes(store, members, load_states(store, members))
            store.close()
            stats = _stats(base_url)
        finally:
            process.terminate()
            process.wait(timeout=30)
    if stats["posts_served_again"]:
        raise RuntimeError(f"{stats['posts_served_again']} post(s) were read twice")
    weekly.posts_new = _posts_new(dataset, members, dataset.now - WEEK, dataset.now)
    # The rolling budget: the share of the accounts the lists hold, a list at most half over.
    weekly.following_allowance = math.floor(
        setup.share * sum(sizes.values()) + max(sizes.values(), default=0) / 2
    )
    return [first, weekly]


def refusals(
    dataset: Dataset, dataset_dir: Path, members: list[str], window: float
) -> list[Refusal]:
    """``dwt run --steps collect`` against a 100 % header-less 429 storm, and against X's
    monthly post cap: both must end, with exit ≠ 0, a sentence, and nothing lost. Time is
    compressed like the windows: the run gives up after one window without a success (240 s
    of X's 900-s window, scaled)."""
    give_up = max(0.5, 240.0 * window / DEFAULT_WINDOW_S)
    cases = [
        ("429 without headers (100%)", ["--throttle-rate", "1.0"]),
        ("429 UsageCapExceeded", ["--monthly-post-cap", str(max(1, len(members) // 2))]),
    ]
    rows = []
    for name, flags in cases:
        with tempfile.TemporaryDirectory() as tmp:
            tokens_file = Path(tmp) / "keys"
            tokens_file.write_text("bench-refusal-key")
            process, base_url = _start_emulator(
                dataset_dir, tokens_file, window, {"following": 10**6, "user_tweets": 10**6},
                *flags,
            )  # fmt: skip
            try:
                url = f"sqlite:///{Path(tmp) / 'store.db'}"
                store = Store.open(url)
                store.add_members(COMMUNITY, _members(dataset, members))
                store.close()
                env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
                env |= {
                    "DWT_STORE_URL": url, "DWT_DATA_DIR": tmp, "DWT_LOG_LEVEL": "WARNING",
                    "DWT_API_KEYS_FILE": str(tokens_file), "DWT_X_API_BASE_URL": base_url,
                    "DWT_COLLECT_GIVE_UP_S": str(give_up),
                }  # fmt: skip
                argv = [sys.executable, "-m", "dwt.cli", "run", "--community", COMMUNITY,
                        "--steps", "collect", "--no-ray", "--now",
                        dataset.now.isoformat()]  # fmt: skip
                started = time.perf_counter()
                done = subprocess.run(
                    argv, env=env, capture_output=True, text=True, timeout=300, check=False
                )
                hang = time.perf_counter() - started
                stats = _stats(base_url)
                store = Store.open(url)
                stored = store[Coll.TWEETS].count_documents({})
                store.close()
            finally:
                process.terminate()
                process.wait(timeout=30)
        said = [line for line in done.stderr.splitlines() if line.startswith("dwt run:")]
        rows.append(
            Refusal(
                name=name,
                exit=done.returncode,
                hang_seconds=round(hang, 2),
                sentence=said[-1] if said else done.stderr.strip()[-200:],
                requests=int(stats["requests"]),
                lost=max(0, int(stats["bill"]["posts"]) - stored),
                load=_load(),
            )
        )
    return rows


def run_bench(
    key_counts: list[int],
    *,
    window: float = 4.0,
    following_limit: int = 5,
    windows: int = 4,
    share: float = 0.15,
    latency_ms: float = 250.0,
    page_size: int = 100,
    repeats: int = 1,
    use_ray: bool = True,
    echo: Callable[[str], None] = print,
) -> tuple[list[Row], list[Refusal]]:
    """Measure each key count (members = keys × ``windows`` × ``following_limit``), then the
    refusals, ``repeats`` times; prints tables as it goes."""
    if window <= 0 or windows < 1 or following_limit < 1 or repeats < 1:
        raise ValueError("need window > 0, windows >= 1, following_limit >= 1, repeats >= 1")
    limits = scaled_limits(following_limit)
    per_key = windows * following_limit
    setup = Setup(window, limits, share, page_size, use_ray)
    rows: list[Row] = []
    stops: list[Refusal] = []
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
            + f"; latency {latency_ms:g} ms; {os.cpu_count()} CPU(s), load {_load()}"
        )
        echo(
            f"{'keys':>4} {'phase':>6} {'members':>7} {'bound':>24} {'effic.':>6} {'req/s':>6} "
            f"{'s':>6} {'plan s':>6} {'billed $':>9} {'dwt $':>8} {'plan $':>8} {'load':>5}"
        )
        for _ in range(repeats):
            for k in key_counts:
                for row in measure(k, dataset, Path(tmp) / "data", ids[: k * per_key], setup,
                                   latency_ms):  # fmt: skip
                    rows.append(row)
                    eff = f"{row.efficiency:.3f}" if row.efficiency is not None else "-"
                    echo(
                        f"{row.keys:>4} {row.phase:>6} {row.members:>7} {row.binding:>24} "
                        f"{eff:>6} {row.throughput:>6.2f} {row.seconds:>6.1f} "
                        f"{row.planned_s:>6.1f} {row.billed_usd:>9.2f} {row.reported_usd:>8.2f} "
                        f"{row.planned_usd:>8.2f} {row.load:>5.2f}"
                    )
            for stop in refusals(dataset, Path(tmp) / "data", ids[:per_key], window):
                stops.append(stop)
                echo(
                    f"{stop.name}: exit {stop.exit} after {stop.hang_seconds:.1f}s, "
                    f"{stop.requests} request(s), lost {stop.lost}, load {stop.load}: "
                    f"{stop.sentence}"
                )
    return rows, stops


def summary(rows: list[Row], stops: list[Refusal] | None = None) -> dict[str, Any]:
    """The JSON result: rows, and per goal the worst figure over the rows and repeats."""
    stops = stops or []
    result: dict[str, Any] = {
        "rows": [asdict(r) for r in rows],
        "refusals": [asdict(s) for s in stops],
    }
    first = [r for r in rows if r.phase == "first"]
    weekly = [r for r in rows if r.phase == "weekly"]
    by_keys: dict[int, list[float]] = {}
    for r in first:
        by_keys.setdefault(r.keys, []).append(r.throughput)
    if 1 in by_keys and max(by_keys) > 1:
        top = max(by_keys)
        ratios = [t / one for t in by_keys[top] for one in by_keys[1] if one]
        result[f"throughput_ratio_{top}_vs_1"] = round(min(ratios), 2) if ratios else None
    reads = sum(r.post_reads for r in weekly)
    new = sum(r.posts_new or 0 for r in weekly)
    result["weekly_cost_ratio"] = round(reads / new, 3) if new else None
    result["weekly_following_within_share"] = all(
        r.following_accounts <= (r.following_allowance or 0) for r in weekly
    )
    for name, phase in (("first", first), ("weekly", weekly)):
        result[f"bill_error_{name}"] = max((r.bill_error for r in phase), default=None)
        result[f"plan_bill_error_{name}"] = max((r.plan_bill_error for r in phase), default=None)
        result[f"plan_error_{name}"] = max((r.plan_error for r in phase), default=None)
    result["bill_error"] = max((r.bill_error for r in rows), default=None)
    result["plan_bill_error"] = max((r.plan_bill_error for r in rows), default=None)
    result["plan_error"] = max((r.plan_error for r in rows), default=None)
    efficiencies = [r.efficiency for r in rows if r.efficiency is not None]
    result["min_efficiency"] = min(efficiencies) if efficiencies else None
    for stop in stops:
        key = "storm" if "without headers" in stop.name else "usage_cap"
        worst = result.get(f"hang_seconds_{key}")
        result[f"hang_seconds_{key}"] = max(worst or 0.0, stop.hang_seconds)
    result["refusals_end_nonzero"] = all(s.exit != 0 for s in stops) if stops else None
    result["refusals_lost"] = sum(s.lost for s in stops)
    result["load_median"] = round(statistics.median([r.load for r in rows]), 2) if rows else None
    return result
