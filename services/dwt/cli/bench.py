"""``dwt bench``: benchmarks that print a table (and, with ``--json``, one JSON line).

Packages above the core add benchmarks of their own through the ``dwt.bench`` entry point
group: each names a module whose ``register(which)`` adds its parser to ``dwt bench``'s
sub-parsers and sets ``handler(args, settings) -> int`` on it (``dwt bench dashboard`` comes
from the dashboard, which the core never imports).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points

from dwt.config import Settings

#: The entry point group of benchmarks from the packages above.
PLUGINS = "dwt.bench"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="measure speed against the goals")
    which = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    collect = which.add_parser(
        "collect",
        help="collection on X's 2026 limits' ratios and prices, first (limit-bound) and "
        "weekly (latency-bound), for 1, 2, 4 and 8 keys, scored against the emulator's bill: "
        "bill and plan errors, efficiency, throughput, weekly cost; then a header-less 429 "
        "storm and X's monthly cap: time to end",
    )
    collect.add_argument("--keys", default="1,2,4,8", help="key counts (comma-separated)")
    collect.add_argument("--window", type=float, default=4.0, help="rate window, seconds")
    collect.add_argument(
        "--following-limit",
        type=int,
        default=5,
        help="following requests per window per key; the other limits keep X's ratios "
        "(timelines 33x, lookups 1x)",
    )
    collect.add_argument(
        "--windows", type=int, default=4, help="rate windows a first collection spans"
    )
    collect.add_argument(
        "--latency-ms",
        type=float,
        default=250.0,
        help="the emulator's added latency (a round trip to X takes 100-300 ms)",
    )
    collect.add_argument(
        "--share", type=float, default=0.15, help="follow lists re-read per week (0-1)"
    )
    collect.add_argument("--repeats", type=int, default=1, help="times to run it all")
    collect.add_argument("--no-ray", action="store_true", help="threads instead of Ray actors")
    collect.add_argument("--json", action="store_true", help="end with one JSON line")
    insights = which.add_parser(
        "insights",
        help="bonds vs the original prototype, 10k-member scale, quality on planted truth, LFR "
        "and both independent families",
    )
    insights.add_argument(
        "--quick",
        action="store_true",
        help="CI size: no 3,000-member comparison, a 1,000-member scale row, fewer LFR runs, "
        "one seed of each independent family",
    )
    insights.add_argument("--seeds", type=int, default=3, help="generated communities scored")
    insights.add_argument("--no-ray", action="store_true", help="skip the Ray-sharded bonds")
    insights.add_argument(
        "--churn",
        type=float,
        default=None,
        help="share of a follow list replaced a week, for the old-follow-list modes "
        "(default 0.02: dwt.bench.follow_modes says why)",
    )
    insights.add_argument("--json", action="store_true", help="end with one JSON line")
    faults = which.add_parser(
        "faults",
        help="collection under injected API faults and bad command-line inputs: data lost "
        "and tracebacks shown (goal: 0 and 0)",
    )
    faults.add_argument("--json", action="store_true", help="end with one JSON line")
    ray = which.add_parser(
        "ray",
        help="the insight steps on a real 2-raylet Ray cluster (in a network namespace) "
        "against the in-process run of the same week: off-driver CPU share, driver and "
        "worker memory, CPU per member, speed-up on 1 and 2 nodes with a model for K, "
        "NMI and trending conversations against the in-process run (needs root for "
        "`ip netns`)",
    )
    ray.add_argument("--members", type=int, default=10_000, help="members of the week")
    ray.add_argument(
        "--big-members",
        type=int,
        default=30_000,
        help="members of the large week run once on 2 nodes for the workers' memory "
        "(bulk-loaded; 0 skips it)",
    )
    ray.add_argument("--tweets-per-member", type=float, default=103.0)
    ray.add_argument("--repeats", type=int, default=1, help="runs on 1 and 2 nodes each")
    ray.add_argument("--shards", type=int, default=0, help="shards of authors (0: by size)")
    ray.add_argument(
        "--bulk", action="store_true", help="bulk-load the week too (not as collection writes)"
    )
    ray.add_argument("--json", action="store_true", help="end with one JSON line")
    for plugin in sorted(entry_points(group=PLUGINS), key=lambda p: p.name):
        plugin.load().register(which)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.bench == "insights":
        return run_insights(args)
    if args.bench == "faults":
        return run_faults(args)
    if args.bench == "ray":
        return run_ray(args)
    from dwt.bench.collect import run_bench, summary

    keys = [int(k) for k in args.keys.split(",") if k.strip().lstrip("-").isdigit()]
    if not keys or min(keys) < 1:
        print("dwt bench collect: --keys needs positive integers", file=sys.stderr)
        return 2
    bad = (
        not args.window > 0
        or args.windows < 1
        or args.following_limit < 1
        or args.repeats < 1
        or not 0 <= args.share <= 1
        or not 0 <= args.latency_ms <= 60_000
    )
    if bad:
        print(
            "dwt bench collect: needs --window > 0, --windows >= 1, --following-limit >= 1, "
            "--repeats >= 1, --share within 0-1 and --latency-ms within 0-60000",
            file=sys.stderr,
        )
        return 2
    rows, stops = run_bench(
        keys,
        window=args.window,
        following_limit=args.following_limit,
        windows=args.windows,
        share=args.share,
        latency_ms=args.latency_ms,
        repeats=args.repeats,
        use_ray=not args.no_ray,
        echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout),
    )
    result = summary(rows, stops)
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            if name not in ("rows", "refusals"):
                print(f"{name}: {value}")
    return 0


def run_insights(args: argparse.Namespace) -> int:
    from dwt.bench.insights import configure, run_bench

    if args.seeds < 1:
        print("dwt bench insights: --seeds needs a positive integer", file=sys.stderr)
        return 2
    if args.churn is not None and not 0 <= args.churn < 1:
        print("dwt bench insights: --churn needs a share in [0, 1)", file=sys.stderr)
        return 2
    churn = {} if args.churn is None else {"follow_churn": args.churn}
    config = configure(
        quick=args.quick, seeds=args.seeds, use_ray=False if args.no_ray else None, **churn
    )
    result = run_bench(
        config, echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout)
    )
    if args.json:
        print(json.dumps(result))
    return 0


def run_ray(args: argparse.Namespace) -> int:
    from dwt.bench.ray import run_bench

    if args.members < 10 or args.big_members < 0 or args.repeats < 1 or args.shards < 0:
        print(
            "dwt bench ray: needs --members >= 10, --big-members >= 0, --repeats >= 1 and "
            "--shards >= 0",
            file=sys.stderr,
        )
        return 2
    try:
        result = run_bench(
            args.members,
            big_members=args.big_members,
            tweets_per_member=args.tweets_per_member,
            repeats=args.repeats,
            shards=args.shards,
            bulk=args.bulk,
            echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout),
        )
    except RuntimeError as exc:
        print(f"dwt bench ray: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    return 0


def run_faults(args: argparse.Namespace) -> int:
    from dwt.bench.faults import run_bench

    result = run_bench(echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout))
    if args.json:
        print(json.dumps(result))
    return 0
