"""``dwt emulator``: serve a dataset as a local X API v2 until interrupted.

Point the product at it with ``--x-api-base-url http://HOST:PORT`` (or
``DWT_X_API_BASE_URL``) and give it one of the emulator's tokens as an API key.
Tokens come from ``--token`` / ``--tokens-file``, else from the configured API keys
(``DWT_API_KEYS`` …), so the same keys work on both sides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dwt.config import Settings
from dwt.xapi.dataset import Dataset, DatasetError
from dwt.xapi.emulator import EmulatorConfig, EmulatorConfigError, EmulatorServer
from dwt.xapi.endpoints import DEFAULT_WINDOW_S, ENDPOINTS
from dwt.xapi.prices import MONTHLY_POST_CAP, Resource, parse_prices


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="serve a dataset as a local X API v2 (endpoints, pagination, rate limits, errors)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", type=Path, required=True, help="dataset directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)"
    )
    tokens = parser.add_argument_group("bearer tokens the emulator accepts")
    tokens.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="T",
        help="a token (repeatable); visible in the process list, so prefer --tokens-file",
    )
    tokens.add_argument("--tokens-file", type=Path, help="file with one token per line")
    limits = parser.add_argument_group("rate limits (default: X's app-auth limits per 15 min)")
    limits.add_argument(
        "--rate-window", type=float, default=DEFAULT_WINDOW_S, metavar="S", help="window, seconds"
    )
    limits.add_argument(
        "--rate-limit", type=int, metavar="N", help="requests per window for every endpoint"
    )
    limits.add_argument(
        "--endpoint-limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help=f"requests per window for one endpoint (repeatable); NAME is one of "
        f"{', '.join(ENDPOINTS)}",
    )
    billing = parser.add_argument_group("billing (default: X's pay-per-use prices and cap)")
    billing.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="RESOURCE=USD",
        help="price per resource (repeatable); RESOURCE is one of "
        + ", ".join(r.value for r in Resource),
    )
    billing.add_argument(
        "--monthly-post-cap",
        type=int,
        default=MONTHLY_POST_CAP,
        metavar="N",
        help=f"post reads a month before 429 UsageCapExceeded (default {MONTHLY_POST_CAP:,}; "
        "0: none)",
    )
    billing.add_argument(
        "--credits",
        type=float,
        metavar="USD",
        help="prepaid credit balance; once spent, 402 CreditsDepleted (default: unlimited)",
    )
    faults = parser.add_argument_group("injected faults")
    faults.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of requests answered 503 (0-1)"
    )
    faults.add_argument(
        "--garble-rate",
        type=float,
        default=0.0,
        help="share of 200 answers whose body is cut short or garbled (0-1)",
    )
    faults.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        help="share of requests answered 429 without rate-limit headers (0-1)",
    )
    faults.add_argument("--fail-seed", type=int, default=0, help="seed of the fault draws")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    shift = parser.add_mutually_exclusive_group()
    shift.add_argument(
        "--shift-to-now",
        dest="shift_to_now",
        action="store_true",
        default=True,
        help="serve the dataset's 'now' as the server's start time (default)",
    )
    shift.add_argument(
        "--no-shift", dest="shift_to_now", action="store_false", help="serve timestamps as stored"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (werkzeug's access log)"
    )
    parser.set_defaults(handler=run)


class UsageError(ValueError):
    """A flag value the emulator cannot use; the message says which."""


def build_config(args: argparse.Namespace, settings: Settings) -> EmulatorConfig:
    """The emulator settings from the command line (tokens fall back to the API keys)."""
    tokens = list(args.token)
    if args.tokens_file is not None:
        try:
            text = args.tokens_file.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --tokens-file: {exc}") from exc
        tokens += [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not tokens:
        tokens = [t.get_secret_value() for t in settings.bearer_tokens()]
    if not tokens:
        raise UsageError("no tokens: give --token, --tokens-file or configure DWT_API_KEYS")
    per_endpoint: dict[str, int] = {}
    for item in args.endpoint_limit:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise UsageError(f"--endpoint-limit wants NAME=N, got {item!r}")
        per_endpoint[name.strip()] = int(value)
    try:
        prices = {r.value: v for r, v in parse_prices(",".join(args.price)).items()}
    except ValueError as exc:
        raise UsageError(f"--price: {exc}") from exc
    try:
        return EmulatorConfig(
            tokens=tuple(tokens),
            rate_window_s=args.rate_window,
            rate_limit=args.rate_limit,
            rate_limits=per_endpoint,
            fail_rate=args.fail_rate,
            fail_seed=args.fail_seed,
            latency_ms=args.latency_ms,
            shift_to_now=args.shift_to_now,
            garble_rate=args.garble_rate,
            throttle_rate=args.throttle_rate,
            prices=prices,
            monthly_post_cap=args.monthly_post_cap or None,
            credits_usd=args.credits,
        )
    except EmulatorConfigError as exc:
        raise UsageError(str(exc)) from exc


def build_server(args: argparse.Namespace, settings: Settings) -> EmulatorServer:
    """Load the dataset and bind the server (not serving yet)."""
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be within 0-65535 (0 picks a free one), got {args.port}")
    config = build_config(args, settings)
    try:
        dataset = Dataset.load(args.dataset)
    except DatasetError as exc:
        raise UsageError(str(exc)) from exc
    server = EmulatorServer(
        dataset, config, host=args.host, port=args.port, quiet=not args.access_log
    )
    return server.bind()


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        server = build_server(args, settings)
    except (UsageError, OSError, OverflowError) as exc:
        print(f"dwt emulator: {exc}", file=sys.stderr)
        return 2
    index = server.emulator.index
    print(
        f"X API v2 emulator on {server.base_url} — {len(index.user_ids)} users, "
        f"{index.n_tweets} tweets, {len(server.emulator.keys.labels)} key(s); "
        f"stats at {server.base_url}/_emulator/stats; Ctrl-C stops",
        flush=True,
    )
    server.serve_forever()
    return 0
