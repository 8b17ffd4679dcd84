"""The dashboard's benchmarks, which the core's ``dwt bench`` finds through entry points:
``dwt bench dashboard`` (group ``dwt.bench``: :func:`register`) and the hostile callback
replay in ``dwt bench faults`` (group ``dwt.bench.faults``: :func:`callbacks.fault_check`)."""

from __future__ import annotations

import argparse
import json
import sys

from dwt.config import Settings


def register(which: argparse._SubParsersAction) -> None:
    """Adds ``dwt bench dashboard`` to ``dwt bench``'s sub-parsers."""
    parser = which.add_parser(
        "dashboard",
        help="a person's session (Insights, map views, search, a conversation, Users, an add "
        "and a remove) in headless Chromium, desktop and phone, for 300, 3,000 and 10,000 "
        "members: each action's main-thread blocking (Long Tasks API) and answer time",
    )
    parser.add_argument(
        "--sizes", default="300,3000,10000", help="community sizes, members (comma-separated)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="sessions per size and viewport (the median)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dwt_dashboard.bench.dashboard import run_bench

    try:
        sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 10:
        print("dwt bench dashboard: --sizes needs member counts of at least 10", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("dwt bench dashboard: --repeats needs at least 1", file=sys.stderr)
        return 2
    result = run_bench(
        sizes,
        echo=lambda line: print(line, file=sys.stderr if args.json else sys.stdout),
        repeats=args.repeats,
    )
    if args.json:
        print(json.dumps(result))
    return 0
