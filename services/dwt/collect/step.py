"""The collect step: members in scope → work items → collectors per key → the store.

One collector per API key × ``workersPerKey`` (capped by ``maxWorkers``), as Ray actors when
a Ray runtime is up, else as threads. Keys are checked before any work starts.

Before the first request the step makes the collection plan (:mod:`dwt.collect.estimate`)
and reports it as progress (``plan``), so the CommunityJob status shows what the run will
take; the plan's items are the work the run does (planned once). At the end it reports and
records the post reads, their estimated spend at ``collection.pricePerRead``, whether it
stopped at ``collection.maxPostReads`` and what it skipped, and how old the follow lists the
bond stage will use are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc

from dwt.collect.keys import KeySource
from dwt.collect.pool import Pool, RayPool, ThreadPool
from dwt.collect.scheduler import CollectReport, Scheduler
from dwt.collect.state import follows_age_days, never_collected, start_passes
from dwt.pipeline.insights import Week
from dwt.pipeline.parallel import ray_ready
from dwt.store.runs import record_collection, update_run

log = logging.getLogger(__name__)


class ScopeError(ValueError):
    """A listed account is not a member of the community."""


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


def slots(key_ids: list[str], workers_per_key: int, max_workers: int) -> list[str]:
    """Worker slots, round-robin over keys, so a cap keeps every key busy."""
    return [k for _ in range(workers_per_key) for k in key_ids][:max_workers]


def accounts_in_scope(week: Week) -> list[str]:
    spec = week.spec.members
    members = week.member_table
    ids = members.column("account_id").to_pylist()
    if spec.scope == "all":
        return ids
    if spec.scope == "new":
        return never_collected(week.store, ids)
    by_name = dict(zip(pc.utf8_lower(members.column("username")).to_pylist(), ids, strict=True))
    wanted, unknown = [], []
    for account in spec.accounts:
        account_id = account if account in set(ids) else by_name.get(account.lstrip("@").lower())
        (wanted if account_id else unknown).append(account_id or account)
    if unknown:
        raise ScopeError(f"not members of {week.spec.community!r}: {', '.join(unknown)}")
    return list(dict.fromkeys(wanted))


def make_pool(config: CollectConfig, key_slots: list[str]) -> Pool:
    worker = {
        "page_size": config.page_size,
        "retries": config.retries,
        "backoff_s": config.backoff_s,
        "timeout_s": config.timeout_s,
    }
    use_ray = ray_ready() if config.use_ray is None else config.use_ray
    cls = RayPool if use_ray else ThreadPool
    return cls(config.keys, key_slots, config.base_url, **worker)


def collect(week: Week, run_id: str, config: CollectConfig) -> dict[str, int]:
    """Collect the week of every member in scope; returns the run's counts."""
    from dwt.collect.estimate import plan_collection  # it plans with this module's scope

    key_ids = config.keys.fingerprints()  # NoKeysError before any work
    spec = week.spec.collection
    now = datetime.now(UTC)
    planned = plan_collection(
        week, len(key_ids), now=now, run_id=run_id, price_per_read=spec.price_per_read
    )
    forecast = planned.summary()
    start_passes(week.store, planned.new_passes, now)
    items = planned.items
    accounts = planned.accounts
    pool = make_pool(config, slots(key_ids, spec.workers_per_key, spec.max_workers))
    if week.progress is not None:
        week.progress.advance("collect", 0, accounts, workers=len(pool.key_ids), plan=forecast)

    def told(report: CollectReport, waiting: float, eta: float | None) -> None:
        if week.progress is not None:
            week.progress.advance(
                "collect", report.done, report.accounts, **_extra(report, waiting, eta)
            )

    try:
        report = Scheduler(
            week.store,
            pool,
            max_attempts=config.max_attempts,
            on_progress=told,
            max_post_reads=spec.max_post_reads,
            page_size=config.page_size,
        ).run(items)
    finally:
        pool.close()
    warnings = [f"{kind} of {account}: {message}" for account, kind, message in report.failed]
    disabled = {k: r.disabled for k, r in report.keys.items() if r.disabled}
    if warnings or disabled:
        update_run(week.store, run_id, warnings=warnings[:100], disabled_keys=disabled)
    spend = _spend(week, run_id, report, forecast)
    if week.progress is not None:
        week.progress.advance(
            "collect", report.done, report.accounts, **_extra(report, 0.0, None), spend=spend
        )
    if report.capped:
        log.warning(
            "run %s stopped at the cap of %s post reads; skipped: %s",
            run_id,
            spec.max_post_reads,
            {e: len(a) for e, a in report.skipped.items()},
        )
    return {
        "accounts": report.accounts,
        "tweets_fetched": report.tweets,
        "tweets_new": report.new_tweets,
        "follows": report.follows,
        "requests": report.requests,
        "unavailable": sum(report.unavailable.values()),
        "failed": len(report.failed),
        "keys_disabled": len(disabled),
        "post_reads": report.tweets,
        "capped": int(report.capped),
    }


#: Accounts listed per endpoint in a run's ``collection.skipped`` (the counts are whole).
SKIPPED_LISTED = 1000


def _spend(
    week: Week,
    run_id: str,
    report: CollectReport,
    forecast: dict[str, Any],
) -> dict[str, Any]:
    """Record the attempt's post reads, spend, cap and skipped work on the run; return what
    the progress event (and so the CommunityJob status) carries."""
    spec = week.spec.collection
    members = week.member_table.column("account_id").to_pylist()  # what bonds will read
    ages = follows_age_days(week.store, members, datetime.now(UTC))
    skipped = {
        e: {"accounts": len(a), "listed": a[:SKIPPED_LISTED]} for e, a in report.skipped.items()
    }
    record_collection(
        week.store,
        run_id,
        report.tweets,
        spec.price_per_read,
        max_post_reads=spec.max_post_reads,
        capped=report.capped,
        skipped=skipped,
        follows_age_days=ages,
        plan=forecast,
    )
    return {
        "post_reads": report.tweets,
        "estimated_spend_usd": round(report.tweets * spec.price_per_read, 4),
        "price_per_read": spec.price_per_read,
        "max_post_reads": spec.max_post_reads,
        "capped": report.capped,
        "skipped": {e: len(a) for e, a in report.skipped.items()},
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
