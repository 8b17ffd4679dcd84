"""``dwt bench``: benchmarks that print a table (and, with ``--json``, one JSON line)."""

from __future__ import annotations

import argparse
import json
import sys

from dwt.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="measure speed against the goals")
    which = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    collect = which.add_parser(
        "collect", help="rate-limit budget used by collection, for 1, 2, 4 and 8 keys"
    )
    collect.add_argument("--keys", default="1,2,4,8", help="key counts (comma-separated)")
    collect.add_argument("--window", type=float, default=2.0, help="rate window, seconds")
    collect.add_argument("--limit", type=int, default=60, help="requests per window per key")
    collect.add_argument("--windows", type=int, default=5, help="windows measured")
    collect.add_argument("--members", type=int, help="generated members (default: enough)")
    collect.add_argument("--no-ray", action="store_true", help="threads instead of Ray actors")
    collect.add_argument("--json", action="store_true", help="end with one JSON line")
    insights = which.add_parser(
        "insights",
        help="bonds vs the original prototype, 10k-member scale, quality on planted truth and LFR",
    )
    insights.add_argument(
        "--quick",
        action="store_true",
        help="CI size: no 3,000-member comparison, a 1,000-member scale row, fewer LFR runs",
    )
    insights.add_argument("--seeds", type=int, default=3, help="generated communities scored")
    insights.add_argument("--no-ray", action="store_true", help="skip the Ray-sharded bonds")
    insights.add_argument("--json", action="store_true", help="end with one JSON line")
    faults = which.add_parser(
        "faults",
        help="collection under injected API faults and bad command-line inputs: data lost "
        "and tracebacks shown (goal: 0 and 0)",
    )
    faults.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.bench == "insights":
        return run_insights(args)
    if args.bench == "faults":
        return run_faults(args)
    from dwt.bench.collect import run_bench, summary

    keys = [int(k) for k in args.keys.split(",") if k.strip()]
    if not keys or min(keys) < 1:
        print("dwt bench collect: --keys needs positive integers", file=sys.stderr)
        return 2
    rows = run_bench(
        keys,
        window=args.window,
        limit=args.limit,
        windows=args.windows,
        members=args.members,
        use_ray=not args.no_ray,
        echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout),
    )
    result = summary(rows)
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            if name != "rows":
                print(f"{name}: {value}")
    return 0


def run_insights(args: argparse.Namespace) -> int:
    from dwt.bench.insights import configure, run_bench

    if args.seeds < 1:
        print("dwt bench insights: --seeds needs a positive integer", file=sys.stderr)
        return 2
    config = configure(quick=args.quick, seeds=args.seeds, use_ray=False if args.no_ray else None)
    result = run_bench(
        config, echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout)
    )
    if args.json:
        print(json.dumps(result))
    return 0


def run_faults(args: argparse.Namespace) -> int:
    from dwt.bench.faults import run_bench

    result = run_bench(echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout))
    if args.json:
        print(json.dumps(result))
    return 0
