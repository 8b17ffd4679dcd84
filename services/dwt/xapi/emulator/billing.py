"""The emulator's meter: what X would bill, the monthly post cap and the credit balance.

Every resource an answer returns as ``data`` is billed at its price (:mod:`dwt.xapi.prices`),
once per UTC day: a post or a user by its id, a follow-list account by the relationship
(list owner, account). Billed post reads count toward the month's post cap; once it is
reached, post endpoints are answered 429 ``UsageCapExceeded``; once the credit balance is
spent, every billed endpoint is answered 402 ``CreditsDepleted``. The bill is truth the
product cannot read (X shows it in its console only): benchmarks score dwt's own account
against it.

Kept apart from the emulator's data and clock code: the meter only sees what an answer
returned, and its own clock may be moved on (:meth:`Billing.advance`) so a benchmark can
bill "a week later" without waiting a week.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dwt.xapi.prices import BILLED_AS, PRICES, Resource

from . import problems


class Billing:
    """Thread-safe meter of one emulated developer account (all its keys)."""

    def __init__(
        self,
        prices: Mapping[Resource, float] | None = None,
        monthly_post_cap: int | None = None,
        credits_usd: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prices = {**PRICES, **(prices or {})}
        self.monthly_post_cap = monthly_post_cap
        self.credits_usd = credits_usd
        self._clock = clock
        self._offset_s = 0.0
        self._lock = threading.Lock()
        self._day: str | None = None
        self._seen: dict[Resource, set[Any]] = {r: set() for r in Resource}
        self._charged: Counter[tuple[str, Resource]] = Counter()  # (key label, resource)
        self._month_posts: Counter[str] = Counter()  # "YYYY-MM" → posts billed
        self._refused: Counter[str] = Counter()  # "usage_capped" / "credits_depleted"
        self._spent = 0.0

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock() + self._offset_s, tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move the meter's clock on (a benchmark's "a week later"): a new UTC day bills
        every resource again, a new month starts a new post cap."""
        with self._lock:
            self._offset_s += float(seconds)

    def refusal(self, endpoint: str) -> tuple[int, dict[str, Any]] | None:
        """The answer X gives instead of serving ``endpoint`` (status, body), or None."""
        resource = BILLED_AS.get(endpoint)
        if resource is None:
            return None
        with self._lock:
            if self.credits_usd is not None and self._spent >= self.credits_usd:
                self._refused["credits_depleted"] += 1
                return 402, problems.credits_depleted()
            month = f"{self._now():%Y-%m}"
            cap = self.monthly_post_cap
            if resource is Resource.POST and cap is not None and self._month_posts[month] >= cap:
                self._refused["usage_capped"] += 1
                return 429, problems.usage_capped()
        return None

    def charge(
        self, key_label: str, endpoint: str, body: Mapping[str, Any], owner: str = ""
    ) -> int:
        """Bill what ``body`` returned as ``data`` on ``endpoint``; returns the resources
        charged (those already billed today are free). ``owner``: a follow list's account."""
        resource = BILLED_AS.get(endpoint)
        data = body.get("data")
        if resource is None or not data:
            return 0
        items: Iterable[Mapping[str, Any]] = data if isinstance(data, list) else [data]
        ids = [str(item.get("id")) for item in items if isinstance(item, Mapping)]
        keys = [(owner, i) for i in ids] if resource is Resource.FOLLOWING else ids
        now = self._now()
        with self._lock:
            day = f"{now:%Y-%m-%d}"
            if day != self._day:
                self._day = day
                self._seen = {r: set() for r in Resource}
            seen = self._seen[resource]
            new = [k for k in dict.fromkeys(keys) if k not in seen]
            seen.update(new)
            self._charged[key_label, resource] += len(new)
            self._spent += len(new) * self.prices[resource]
            if resource is Resource.POST:
                self._month_posts[f"{now:%Y-%m}"] += len(new)
        return len(new)

    def stats(self) -> dict[str, Any]:
        """The bill so far: resources charged and dollars, in total and per key."""
        with self._lock:
            charged = dict(self._charged)
            spent, refused = self._spent, dict(self._refused)
            month = f"{self._now():%Y-%m}"
            month_posts = self._month_posts[month]
        totals = {r.value: sum(n for (_, res), n in charged.items() if res is r) for r in Resource}
        usd = {r.value: round(totals[r.value] * self.prices[r], 6) for r in Resource}
        by_key: dict[str, dict[str, int]] = {}
        for (label, resource), n in sorted(charged.items()):
            by_key.setdefault(label, {})[resource.value] = n
        return {
            **totals,
            "usd": usd | {"total": round(spent, 6)},
            "by_key": by_key,
            "month": month,
            "month_posts": month_posts,
            "monthly_post_cap": self.monthly_post_cap,
            "credits_left_usd": (
                None if self.credits_usd is None else round(self.credits_usd - spent, 6)
            ),
            "refused": refused,
        }
