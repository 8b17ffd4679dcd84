"""What collection may spend: the tariff a spec runs under, its caps, and the month's bill.

A run is bounded by dollars (``collection.maxSpendPerRun``, ``maxSpendPerMonth``: every
charge X makes, :mod:`dwt.xapi.prices`), by post reads (``maxPostReads``) and by X's own
monthly post cap (the account's, across every community). :func:`run_caps` turns them into
what the scheduler checks (dollars and posts left, and which cap that is), and
:func:`month_budget` says where the month stands: spent so far and a forecast at the
community's cadence — the median gap between its latest collections (the window while it
has fewer than two) times the median cost of one (this plan's while it has none).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dwt.store import Store
from dwt.store.runs import month_bounds, month_spend, recent_charges, run_spend
from dwt.xapi.prices import Tariff


def tariff_for(base: Tariff, collection: Any) -> Tariff:
    """``base`` (X's tables with the settings' overrides) with a spec's ``collection``
    overrides (``prices``, ``rateLimits``, ``monthlyPostCap``) in their place."""
    tariff = base.override(
        "spec", prices=collection.prices.given(), limits=collection.rate_limits.given()
    )
    if collection.monthly_post_cap is not None:
        tariff = tariff.override("spec", monthly_post_cap=collection.monthly_post_cap or None)
    return tariff


@dataclass(frozen=True)
class RunCaps:
    """What a run may still spend: USD and post reads (None: no cap), and why."""

    usd: float | None
    usd_reason: str
    post_reads: int | None
    posts_reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_caps(
    store: Store,
    community: str,
    collection: Any,
    tariff: Tariff,
    now: datetime,
    run_id: str | None = None,
) -> RunCaps:
    """The caps of a run of ``community`` starting ``now`` (a retried ``run_id``: what its
    earlier attempts spent counts against its run cap)."""
    usd: float | None = None
    usd_reason = ""
    if collection.max_spend_per_run is not None:
        spent = run_spend(store, run_id) if run_id else 0.0
        usd = max(0.0, collection.max_spend_per_run - spent)
        usd_reason = f"collection.maxSpendPerRun ${collection.max_spend_per_run:,.2f}" + (
            f" (${spent:,.2f} spent by earlier attempts)" if spent else ""
        )
    if collection.max_spend_per_month is not None:
        spent = month_spend(store, community, now)["spend_usd"]
        left = max(0.0, collection.max_spend_per_month - spent)
        if usd is None or left < usd:
            usd = left
            usd_reason = (
                f"collection.maxSpendPerMonth ${collection.max_spend_per_month:,.2f} "
                f"(${spent:,.2f} spent in {now:%Y-%m})"
            )
    posts: int | None = collection.max_post_reads
    posts_reason = f"collection.maxPostReads {posts:,}" if posts is not None else ""
    if tariff.monthly_post_cap:
        read = month_spend(store, None, now)["posts"]
        left_posts = max(0, tariff.monthly_post_cap - read)
        if posts is None or left_posts < posts:
            posts = left_posts
            posts_reason = (
                f"X's monthly post cap {tariff.monthly_post_cap:,} ({read:,} read in "
                f"{now:%Y-%m} by every community)"
            )
    return RunCaps(usd, usd_reason, posts, posts_reason)


@dataclass(frozen=True)
class MonthBudget:
    """The community's month: spent so far, the cap, and a forecast at its cadence."""

    month: str
    spent_usd: float
    forecast_usd: float
    cadence_days: float
    runs_left: int
    per_run_usd: float
    cap_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def month_budget(
    store: Store,
    community: str,
    now: datetime,
    *,
    planned_usd: float = 0.0,
    window_days: float = 7.0,
    cap_usd: float | None = None,
) -> MonthBudget:
    """Where ``now``'s month stands for ``community``; ``planned_usd``: a run about to
    start (counted in the forecast, and its cost while no run has been billed)."""
    spent = float(month_spend(store, community, now)["spend_usd"])
    charges = recent_charges(store, community)
    costs = [float(c.get("usd") or 0.0) for c in charges]
    per_run = statistics.median(costs) if costs else planned_usd
    times = sorted(_aware(c["at"]) for c in charges if isinstance(c.get("at"), datetime))
    gaps = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0.5]  # retries and resumes the same day are one run
    cadence = statistics.median(gaps) if gaps else float(window_days)
    _, month_end = month_bounds(now)
    left_days = (month_end - now) / timedelta(days=1)
    runs_left = max(0, math.floor(left_days / cadence)) if cadence > 0 else 0
    forecast = spent + planned_usd + runs_left * per_run
    return MonthBudget(f"{now:%Y-%m}", spent, forecast, cadence, runs_left, per_run, cap_usd)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
