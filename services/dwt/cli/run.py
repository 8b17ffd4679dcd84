"""``dwt run``: run pipeline steps for a community (locally or as a Ray job's driver)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dwt.cli.progressbar import StepBars
from dwt.collect.budget import month_budget
from dwt.collect.keys import KeySource, NoKeysError
from dwt.config import Settings
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.estimate import plan_collection
from dwt.pipeline.insights import Week
from dwt.pipeline.lease import HeldLease, hold
from dwt.pipeline.progress import PREFIX, Progress
from dwt.pipeline.runner import (
    RUN_ID_MAX,
    RunCapped,
    RunFailed,
    RunRefused,
    community_known,
    new_run_id,
    run_id_problem,
    run_pipeline,
    unknown_community,
    window_end_problem,
)
from dwt.pipeline.scope import ScopeError
from dwt.pipeline.spec import MAX_SHARDS, STEP_ORDER, CommunityJobSpec, RunSpec, Step
from dwt.store import Coll, Store
from dwt.store.leases import RunBusy
from dwt.xapi.prices import bill_words

#: Exit status of a run that stopped at a cap (ours or X's): not a failure, not a success.
EXIT_CAPPED = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run pipeline steps for a community",
        description="Run any subset of the steps "
        + ", ".join(STEP_ORDER)
        + ". The spec comes from --spec (a CommunityJob or a bare spec, YAML or JSON), "
        "--spec-json, or the flags; flags override the spec. Refused (exit 2, nothing "
        "changed): an unknown community, a window before 2006 or in the future, and — "
        "unless --allow-empty — a window in which no member tweeted. Exit status: 0 "
        "succeeded, 1 failed, 2 refused, 3 stopped at a spend or read cap (ours or X's: "
        "what was read is kept, the next run resumes).",
    )
    parser.add_argument("--community", help="community name (overrides the spec's)")
    parser.add_argument("--steps", help="comma-separated steps (default: all)")
    parser.add_argument("--spec", type=Path, help="CommunityJob or spec file (YAML or JSON)")
    parser.add_argument("--spec-json", help="the spec as JSON (what the operator passes)")
    parser.add_argument("--window-days", type=int, help="days the window spans (1-30; default 7)")
    parser.add_argument("--weights", help="e.g. reply=50,quote=5")
    parser.add_argument(
        "--run-id",
        type=_run_id,
        help=f"run id (a retried run reuses it; 1-{RUN_ID_MAX} letters, digits, - or _); "
        "default: new",
    )
    parser.add_argument(
        "--now",
        type=_window_end,
        help="end of the window (ISO time, UTC unless it has an offset; default: now); "
        "not before 2006 (X's birth), not in the future",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="run the insight steps even when no member tweeted in the window (their "
        "results are then replaced with nothing); refused otherwise",
    )
    parser.add_argument(
        "--ray",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fan work out on Ray (default: when a Ray address is configured)",
    )
    parser.add_argument(
        "--shards",
        type=_shards,
        help=f"with Ray: shards of authors the insight steps run over, 1-{MAX_SHARDS} "
        "(default: the spec's shards, else by the week's size; small weeks run in this "
        "process)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--plan",
        action="store_true",
        help="with collect among the steps: print the collection plan (passes, requests "
        "per endpoint, the time the rate limits and request latency imply on the "
        "configured keys, what X would bill item by item, the month's spend and forecast, "
        "and a warning for each cap the estimate passes) and exit, without any request to "
        "X or write",
    )
    parser.add_argument(
        "--max-spend-per-run",
        type=_price,
        default=None,
        metavar="USD",
        help="stop collecting before a run spends more, every charge counted (overrides "
        "collection.maxSpendPerRun)",
    )
    parser.add_argument(
        "--max-spend-per-month",
        type=_price,
        default=None,
        metavar="USD",
        help="stop collecting before the community's UTC month spends more (overrides "
        "collection.maxSpendPerMonth)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="print DWT_PROGRESS lines (structured events; set when run as a Ray job)",
    )
    parser.set_defaults(handler=run)


def _shards(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be within 1-{MAX_SHARDS}, got {value}")
    return value


def _run_id(text: str) -> str:
    problem = run_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _window_end(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO time: {text!r} (e.g. 2026-11-28 or 2026-11-28T06:00:00+00:00)"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    problem = window_end_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


class SpecError(ValueError):
    """The spec cannot be read; the message says why."""


def _parse_spec(text: str, what: str, parse: Any) -> Any:
    try:
        return parse(text)
    except RecursionError:
        raise SpecError(f"{what} is nested too deeply to be a spec") from None


def build_spec(args: argparse.Namespace) -> RunSpec:
    """Merge spec file / JSON and flags into a validated RunSpec (clear error otherwise)."""
    raw: Any = {}
    if args.spec is not None:
        loaded = _parse_spec(args.spec.read_text(), str(args.spec), yaml.safe_load)
        raw = (
            loaded.get("spec", loaded) if isinstance(loaded, dict) and "kind" in loaded else loaded
        )
    if args.spec_json:
        raw = _parse_spec(args.spec_json, "--spec-json", json.loads)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(
            f"the spec must be a mapping of fields (community, steps, …), "
            f"not a {type(raw).__name__}"
        )
    raw = dict(raw)
    if args.community:
        raw["community"] = args.community
    if args.steps:
        raw["steps"] = [s.strip() for s in args.steps.split(",") if s.strip()]
    if args.window_days is not None:
        raw["windowDays"] = args.window_days
    for flag, name in (
        ("max_spend_per_run", "maxSpendPerRun"),
        ("max_spend_per_month", "maxSpendPerMonth"),
    ):
        if getattr(args, flag, None) is not None:
            raw["collection"] = dict(raw.get("collection") or {}) | {name: getattr(args, flag)}
    if args.weights:
        weights = dict(raw.get("weights") or {})
        for item in args.weights.split(","):
            name, _, value = item.partition("=")
            weights[name.strip()] = value.strip()
        raw["weights"] = weights
    # A CommunityJob spec is accepted whole; its operator fields are not the pipeline's.
    return CommunityJobSpec.model_validate(raw).run_spec()


def _problems(exc: ValidationError) -> str:
    """Pydantic's errors on one line each: ``windowDays: Input should be …``."""
    lines = [
        f"{'.'.join(str(part) for part in error['loc']) or 'spec'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    ]
    return "; ".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        spec = build_spec(args)
    except ValidationError as exc:
        print(f"dwt run: invalid spec: {_problems(exc)}", file=sys.stderr)
        return 2
    except (ValueError, OSError, yaml.YAMLError) as exc:
        print(f"dwt run: invalid spec: {exc}", file=sys.stderr)
        return 2
    if args.plan:
        return _print_plan(args, settings, spec)
    handlers = {}
    if Step.COLLECT in spec.steps:
        keys = KeySource.of(settings)
        try:
            count = len(
                keys.wait_for_fingerprints(
                    keys.wait_s,
                    told=lambda line: print(f"collect: {line}", file=sys.stderr),
                )
            )
        except NoKeysError as exc:
            print(f"dwt run: {exc}", file=sys.stderr)
            return 2
        print(f"collect: {count} API key(s), X API at {settings.x_api_base_url}", file=sys.stderr)
        # --no-ray means threads even when a Ray runtime is already up in this process.
        config = CollectConfig(
            keys=keys,
            base_url=settings.x_api_base_url,
            use_ray=args.ray,
            tariff=settings.tariff(),
            give_up_s=settings.collect_give_up_s,
        )
        handlers[Step.COLLECT] = functools.partial(collect, config=config)
    store = Store.open(settings.store_url_value)
    if not community_known(store, spec.community):  # before Ray starts
        print(f"dwt run: refused: {unknown_community(store, spec.community)}", file=sys.stderr)
        return 2
    now = args.now or datetime.now(UTC)
    run_id = args.run_id or new_run_id(spec.community, now)
    try:  # one run per community: before Ray starts, before anything is written
        lease = hold(store, spec.community, run_id)
    except RunBusy as exc:
        return _busy(exc)
    try:
        return _run(args, settings, spec, store, handlers, lease, now, run_id)
    finally:
        lease.release()


#: The exit status of a run refused because another run of the community goes on (BSD's
#: EX_TEMPFAIL: try again later); the operator requeues on it.
EXIT_BUSY = 75


def _busy(exc: RunBusy) -> int:
    """Another run holds the lease: one ``DWT_PROGRESS`` line for whoever watches the logs
    (the operator reads it from the Ray job's), a sentence, exit :data:`EXIT_BUSY`."""
    event = {"event": "busy", "community": exc.community, "holder": exc.holder,
             "message": str(exc)}  # fmt: skip
    print(PREFIX + json.dumps(event), flush=True)
    print(f"dwt run: not started: {exc}", file=sys.stderr)
    return EXIT_BUSY


def _run(
    args: argparse.Namespace,
    settings: Settings,
    spec: RunSpec,
    store: Store,
    handlers: dict,
    lease: HeldLease,
    now: datetime,
    run_id: str,
) -> int:
    use_ray = args.ray if args.ray is not None else bool(settings.ray_address)
    if use_ray:
        from dwt.pipeline.ray_runtime import ensure_ray

        print(f"ray: {ensure_ray(settings.ray_address)}", file=sys.stderr)
    shards = (args.shards or spec.shards) if use_ray else 0
    human = None if args.json else (lambda line: print(line, file=sys.stderr))
    bars = StepBars() if sys.stderr.isatty() and not args.json else None
    progress = Progress(
        store,
        run_id,
        stream=sys.stdout if args.progress else None,
        human=human,
        on_advance=bars,
    )
    try:
        result = run_pipeline(
            store,
            spec,
            run_id=run_id,
            now=now,
            shards=shards,
            progress=progress,
            steps=handlers,
            allow_empty=args.allow_empty,
            lease=lease,
        )
    except RunRefused as exc:
        print(f"dwt run: refused: {exc.reason}", file=sys.stderr)
        return 2
    except RunCapped as exc:
        print(f"dwt run: {exc.message}", file=sys.stderr)
        summary = {"run_id": exc.run_id, "status": "capped", **_recorded(store, exc.run_id)}
        summary.update(_spending(store, spec, exc.run_id))
        print(json.dumps(summary, default=str) if args.json else _table(summary))
        return EXIT_CAPPED
    except RunFailed as exc:
        print(f"dwt run: {exc}", file=sys.stderr)
        return 1
    finally:
        if bars is not None:
            bars.close()
    summary = {
        "run_id": result.run_id,
        "status": result.status,
        "counts": result.counts,
        "timings": result.timings,
    }
    if Step.COLLECT in spec.steps:
        summary.update(_spending(store, spec, result.run_id))
    print(json.dumps(summary, default=str) if args.json else _table(summary))
    return 0


def _recorded(store: Store, run_id: str) -> dict[str, Any]:
    doc = store[Coll.RUNS].find_one({"_id": run_id}, {"counts": 1, "timings": 1}) or {}
    return {"counts": doc.get("counts") or {}, "timings": doc.get("timings") or {}}


def _spending(store: Store, spec: RunSpec, run_id: str) -> dict[str, Any]:
    """The run's charges, caps and follow-list ages, and the month: spent and forecast."""
    doc = store[Coll.RUNS].find_one({"_id": run_id}, {"collection": 1}) or {}
    collection = doc.get("collection") or {}
    for name in ("plan", "timing", "tariff_sources"):  # the plan was shown when it started
        collection.pop(name, None)
    for skipped in (collection.get("skipped") or {}).values():
        skipped.pop("listed", None)  # counts here; the run record lists the accounts
    month = month_budget(
        store,
        spec.community,
        datetime.now(UTC),
        window_days=spec.window_days,
        cap_usd=spec.collection.max_spend_per_month,
    )
    return {"collection": collection, "month": month.as_dict()}


def _print_plan(args: argparse.Namespace, settings: Settings, spec: RunSpec) -> int:
    """``--plan``: the collection plan, from the store alone (no request, no write)."""
    if Step.COLLECT not in spec.steps:
        print("dwt run: --plan needs collect among the steps", file=sys.stderr)
        return 2
    try:
        keys = KeySource.of(settings).fingerprints()
    except NoKeysError:
        keys = []
    store = Store.open(settings.store_url_value)
    if not community_known(store, spec.community):
        print(f"dwt run: refused: {unknown_community(store, spec.community)}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    week = Week(store, spec, args.now or now)
    try:
        plan = plan_collection(
            week, keys or 0, now=now, run_id=args.run_id, tariff=settings.tariff()
        )
    except ScopeError as exc:
        print(f"dwt run: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(plan.as_dict()) if args.json else plan.text())
    return 0


def _table(summary: dict[str, Any]) -> str:
    lines = [f"run {summary['run_id']}: {summary['status']}"]
    lines += [f"  {k:<16} {v}" for k, v in summary["counts"].items()]
    lines += [f"  {k + ' time':<16} {v:.2f}s" for k, v in summary["timings"].items()]
    collection, month = summary.get("collection"), summary.get("month")
    if collection:
        charges = collection.get("charges") or {}
        lines.append(f"  {'X billed':<16} {bill_words(charges)}")
        caps = [
            f"{name} {collection[key]:,}"
            if key == "max_post_reads"
            else f"{name} ${collection[key]:,.2f}"
            for key, name in (
                ("max_post_reads", "post reads"),
                ("max_spend_per_run", "per run"),
                ("max_spend_per_month", "per month"),
            )
            if collection.get(key) is not None
        ]
        if caps:
            lines.append(f"  {'caps':<16} {', '.join(caps)}")
        if collection.get("capped"):
            left = ", ".join(
                f"{e} {s['accounts']}" for e, s in (collection.get("skipped") or {}).items()
            )
            lines.append(f"  {'stopped at':<16} {collection.get('cap_reason') or 'a cap'}")
            lines.append(f"  {'skipped':<16} {left or 'nothing'}")
        ages = collection.get("follows_age_days") or {}
        if ages.get("max") is not None:
            lines.append(
                f"  {'follow lists':<16} median {ages['median']:.1f} d old, oldest "
                f"{ages['max']:.1f} d, {ages.get('never_read', 0)} never read"
            )
    if month:
        cap = f" of ${month['cap_usd']:,.2f}" if month.get("cap_usd") is not None else ""
        lines.append(
            f"  {'month ' + month['month']:<16} ${month['spent_usd']:,.2f} spent{cap}; about "
            f"${month['forecast_usd']:,.2f} at a run every {month['cadence_days']:.1f} d"
        )
    return "\n".join(lines)
