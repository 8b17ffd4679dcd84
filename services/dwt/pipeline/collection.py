"""The collect step: members in scope → work items → collectors per key → the store.

One collector per API key × ``workersPerKey`` (capped by ``maxWorkers``), as Ray actors when
a Ray runtime is up, else as threads. Keys are checked before any work starts.

Before the first request the step makes the collection plan (:mod:`dwt.pipeline.estimate`)
and reports it as progress (``plan``), so the CommunityJob status shows what the run will
take and cost; the plan's items are the work the run does (planned once), under the caps it
worked out (:mod:`dwt.collect.budget`). At the end it reports and records what X billed,
item by item (posts, follow-list accounts), the month so far and its forecast, whether it
stopped at a cap and what it skipped, the limits X's answers reported per key (the next
plan uses them), the time requests took, and how old the follow lists the bond stage will
use are. A run stopped by a cap — ours, or X's bill refusing (``UsageCapExceeded``,
``CreditsDepleted``) — ends the step with :class:`~dwt.pipeline.runner.StepCapped`; one
that X keeps answering 429 without rate-limit headers ends with :class:`CollectionStopped`.
Either way what was read is stored and the next run resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dwt.collect.budget import month_budget
from dwt.collect.keys import KeySource
from dwt.collect.pool import Pool, RayPool, ThreadPool
from dwt.collect.scheduler import CollectReport, Scheduler
from dwt.collect.state import follows_age_days, start_passes
from dwt.pipeline.estimate import plan_collection
from dwt.pipeline.insights import Week, ray_ready
from dwt.pipeline.runner import StepCapped
from dwt.pipeline.scope import slots
from dwt.store import Store
from dwt.store.limits import put_learned_limits
from dwt.store.runs import record_collection, update_run
from dwt.xapi.prices import Tariff, bill_words

log = logging.getLogger(__name__)


class CollectionStopped(RuntimeError):
    """X kept refusing without saying until when (429s without rate-limit headers): the
    run stopped sending; what it read is stored and the next run resumes."""


@dataclass(frozen=True)
class CollectConfig:
    """How to reach the API; no secrets (keys are read by the collectors themselves)."""

    keys: KeySource
    base_url: str
    page_size: int = 100
    retries: int = 3
    backoff_s: float = 0.25
    timeout_s: float = 30.0
    max_attempts: int = 5
    use_ray: bool | None = None  # None: Ray when a runtime is up
    tariff: Tariff | None = None  # the account's (settings); None: X's tables
    give_up_s: float = 240.0  # header-less 429s with no success this long stop the run
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # UTC


def make_pool(config: CollectConfig, key_slots: list[str], store: Store) -> Pool:
    worker = {
        "page_size": config.page_size,
        "retries": config.retries,
        "backoff_s": config.backoff_s,
        "timeout_s": config.timeout_s,
    }
    use_ray = ray_ready() if config.use_ray is None else config.use_ray
    cls = RayPool if use_ray else ThreadPool
    return cls(config.keys, key_slots, config.base_url, store, **worker)


def collect(week: Week, run_id: str, config: CollectConfig) -> dict[str, int]:
    """Collect the week of every member in scope; returns the run's counts (raises
    :class:`StepCapped` with them when a cap stopped it)."""
    key_ids = config.keys.fingerprints()  # NoKeysError before any work
    spec = week.spec.collection
    now = config.clock()
    planned = plan_collection(
        week, key_ids, now=now, run_id=run_id, tariff=config.tariff, page_size=config.page_size
    )
    forecast = planned.summary()
    for warning in planned.warnings:
        log.warning("plan: %s", warning)
    start_passes(week.store, planned.new_passes, now)
    items = planned.items
    accounts = planned.accounts
    caps = planned.caps
    pool = make_pool(config, slots(key_ids, spec.workers_per_key, spec.max_workers), week.store)
    if week.progress is not None:
        week.progress.advance("collect", 0, accounts, workers=len(pool.key_ids), plan=forecast)

    def told(report: CollectReport, waiting: float, eta: float | None) -> None:
        if week.progress is not None:
            week.progress.advance(
                "collect", report.done, report.accounts, **_extra(report, waiting, eta)
            )

    try:
        report = Scheduler(
            pool,
            max_attempts=config.max_attempts,
            on_progress=told,
            max_post_reads=caps.post_reads if caps else None,
            max_spend_usd=caps.usd if caps else None,
            cap_reason=caps.usd_reason if caps else "",
            posts_reason=caps.posts_reason if caps else "",
            page_size=config.page_size,
            tariff=planned.tariff,
            list_sizes=planned.list_sizes,
            give_up_s=config.give_up_s,
        ).run(items)
    finally:
        pool.close()
    warnings = [f"{kind} of {account}: {message}" for account, kind, message in report.failed]
    disabled = {k: r.disabled for k, r in report.keys.items() if r.disabled}
    if warnings or disabled:
        update_run(week.store, run_id, warnings=warnings[:100], disabled_keys=disabled)
    put_learned_limits(week.store, _learned(report), config.clock())
    spend = _spend(week, run_id, report, forecast, planned.tariff, config.clock())
    if week.progress is not None:
        week.progress.advance(
            "collect", report.done, report.accounts, **_extra(report, 0.0, None), spend=spend
        )
    counts = {
        "accounts": report.accounts,
        "tweets_fetched": report.tweets,
        "tweets_new": report.new_tweets,
        "follows": report.follows,
        "follow_lists": report.follow_lists,
        "requests": report.requests,
        "unavailable": sum(report.unavailable.values()),
        "failed": len(report.failed),
        "keys_disabled": len(disabled),
        "post_reads": report.tweets,
        "capped": int(report.capped),
    }
    if report.gave_up is not None:
        raise CollectionStopped(report.gave_up)
    if report.capped:
        message = _capped_message(report, spend)
        log.warning("run %s: %s", run_id, message)
        raise StepCapped(counts, message)
    return counts


def _learned(report: CollectReport) -> dict[str, dict[str, int]]:
    """The limit X's answers reported, per key and endpoint."""
    return {
        key: {e: b.limit for e, b in state.budgets.items() if b.limit}
        for key, state in report.keys.items()
    }


def _capped_message(report: CollectReport, spend: dict[str, Any]) -> str:
    """One sentence: which cap, what was read and billed, what was left for the next run."""
    words = {"user_tweets": "timelines", "following": "follow lists"}
    left = ", ".join(f"{words.get(e, e)} of {len(a)} account(s)" for e, a in report.skipped.items())
    return (
        f"collection stopped at {report.cap_reason} after {bill_words(spend['charges'])}; "
        f"skipped {left or 'nothing'}; insight steps not run — the next run resumes"
    )


#: Accounts listed per endpoint in a run's ``collection.skipped`` (the counts are whole).
SKIPPED_LISTED = 1000


def _spend(
    week: Week,
    run_id: str,
    report: CollectReport,
    forecast: dict[str, Any],
    tariff: Tariff,
    now: datetime,
) -> dict[str, Any]:
    """Record the attempt's charges, caps, skipped work and timing on the run; return what
    the progress event (and so the CommunityJob status) carries."""
    spec = week.spec.collection
    members = week.member_table.column("account_id").to_pylist()  # what bonds will read
    ages = follows_age_days(week.store, members, now)
    skipped = {
        e: {"accounts": len(a), "listed": a[:SKIPPED_LISTED]} for e, a in report.skipped.items()
    }
    timing = {
        e: {k: round(v, 4) for k, v in t.items()} for e, t in report.timing.items() if t["requests"]
    }
    bill = record_collection(
        week.store,
        run_id,
        report.charges,
        tariff,
        now,
        max_post_reads=spec.max_post_reads,
        max_spend_per_run=spec.max_spend_per_run,
        max_spend_per_month=spec.max_spend_per_month,
        capped=report.capped,
        cap_reason=report.cap_reason,
        refused_by_x=report.refused_by_x,
        skipped=skipped,
        follows_age_days=ages,
        follow_lists=report.follow_lists,
        plan=forecast,
        timing=timing,
        tariff_sources=dict(tariff.sources),
    )
    month = month_budget(
        week.store,
        week.spec.community,
        now,
        window_days=week.spec.window_days,
        cap_usd=spec.max_spend_per_month,
    )
    return {
        "post_reads": report.charges.posts,
        "following_accounts": report.charges.following_accounts,
        "user_lookups": report.charges.user_lookups,
        "estimated_spend_usd": bill["usd"]["total"],
        "charges": bill,
        "month": month.as_dict(),
        "max_post_reads": spec.max_post_reads,
        "capped": report.capped,
        "cap_reason": report.cap_reason,
        "skipped": {e: len(a) for e, a in report.skipped.items()},
        "follow_lists": report.follow_lists,
        "follows_age_days": ages,
    }


def _extra(report: CollectReport, waiting: float, eta: float | None) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    keys = {}
    for key, state in report.keys.items():
        budget = state.budgets.get("user_tweets")
        keys[key] = {
            "requests": state.requests,
            "remaining": budget.remaining if budget else None,
            "reset_in": round(max(0.0, budget.reset_at - now), 1)
            if budget and budget.reset_at
            else None,
            "disabled": state.disabled,
        }
    return {
        "tweets": report.tweets,
        "requests": report.requests,
        "keys": keys,
        "waiting_s": round(waiting, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
    }
