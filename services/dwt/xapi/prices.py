"""What X charges for reads: the one price table, X's monthly post cap, and a bill's items.

Since February 2026 the X API is pay-per-use by default. Prices per resource returned:

* source: X's pricing page, https://docs.x.com/x-api/getting-started/pricing ("Posts: Read
  $0.005 per resource", "User: Read $0.010", "Following/Followers: Read $0.010"), and its
  Usage and Billing page (``x-api/fundamentals/post-cap.mdx`` of github.com/xdevplatform/docs,
  commit 0bfed9f09b71), as read on :data:`PRICES_AS_OF`.
* Every resource is deduplicated within a UTC day: the same post, user or follow read twice
  the same UTC day is billed once. A follow list bills each account it returns as one
  "Following/Followers: Read" — the relationship is the resource, so an account in two
  members' lists is two charges, the same list re-read the same day none.
* Only resources returned as ``data`` are charged (expansions in ``includes`` are not);
  failed requests are not charged.
* Pay-per-use plans are capped at :data:`MONTHLY_POST_CAP` post reads per monthly billing
  cycle (the pricing page says 3 million; the Usage and Billing page, older, 2 million); past
  it X answers 429 ``UsageCapExceeded``. An exhausted credit balance is answered 402
  ``CreditsDepleted``.

A user on a legacy Basic/Pro subscription has other limits and a monthly post cap (Basic
10,000, Pro 1,000,000 posts) and pays no per-resource price: a :class:`Tariff` takes
overrides from the settings (``DWT_X_PRICES``, ``DWT_X_RATE_LIMITS``, ``DWT_X_MONTHLY_POST_CAP``)
and the CommunityJob (``collection.prices``, ``rateLimits``, ``monthlyPostCap``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dwt.xapi.endpoints import DEFAULT_LIMITS, DEFAULT_WINDOW_S, ENDPOINTS, LIMITS_AS_OF

#: When the table below was read from X's documentation.
PRICES_AS_OF = "2026-09"
PRICES_SOURCE = "https://docs.x.com/x-api/getting-started/pricing"


class Resource(enum.StrEnum):
    """What X bills a read for; the values are the items of every bill dwt reports."""

    POST = "posts"  # Posts: Read — each post a timeline, lookup or search returns
    FOLLOWING = "following_accounts"  # Following/Followers: Read — each account of a list
    USER = "user_lookups"  # User: Read — each user a lookup returns


#: USD per resource returned (pay-per-use list price).
PRICES: dict[Resource, float] = {
    Resource.POST: 0.005,
    Resource.FOLLOWING: 0.010,
    Resource.USER: 0.010,
}

#: Post reads per monthly billing cycle on pay-per-use (X answers 429 UsageCapExceeded past it).
MONTHLY_POST_CAP = 3_000_000

#: The resource each endpoint's ``data`` is billed as (dwt.xapi.endpoints names).
BILLED_AS: dict[str, Resource] = {
    "user_tweets": Resource.POST,
    "users": Resource.USER,
    "users_by": Resource.USER,
    "following": Resource.FOLLOWING,
}
assert set(BILLED_AS) == set(ENDPOINTS), "every endpoint is billed as something"


def parse_prices(text: str) -> dict[Resource, float]:
    """``"posts=0.005,following_accounts=0"`` → prices by resource (clear errors)."""
    prices: dict[Resource, float] = {}
    names = ", ".join(r.value for r in Resource)
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            resource = Resource(name.strip())
        except ValueError:
            raise ValueError(
                f"{item!r}: expected RESOURCE=USD with RESOURCE one of {names}"
            ) from None
        try:
            price = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: the price must be a number of dollars") from None
        if not sep or not 0 <= price <= 10:
            raise ValueError(f"{item!r}: the price must be within 0-10 USD")
        prices[resource] = price
    return prices


@dataclass(frozen=True)
class Tariff:
    """The prices, per-endpoint limits and monthly post cap one account has: X's tables
    unless overridden (a legacy plan, a negotiated price). ``sources`` says, per part, where
    it came from: ``"X's table (2026-09)"``, ``"settings"`` or ``"spec"``."""

    prices: Mapping[Resource, float] = field(default_factory=lambda: dict(PRICES))
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    monthly_post_cap: int | None = MONTHLY_POST_CAP
    window_s: float = DEFAULT_WINDOW_S
    sources: Mapping[str, str] = field(
        default_factory=lambda: {
            "prices": f"X's table ({PRICES_AS_OF})",
            "limits": f"X's table ({LIMITS_AS_OF})",
            "monthly_post_cap": f"X's table ({PRICES_AS_OF})",
        }
    )

    def override(
        self,
        source: str,
        *,
        prices: Mapping[Resource | str, float] | None = None,
        limits: Mapping[str, int] | None = None,
        monthly_post_cap: int | bool | None = False,
    ) -> Tariff:
        """A copy with the given parts replaced (``monthly_post_cap=False``: kept; ``None``:
        no cap), each replaced part attributed to ``source``."""
        sources = dict(self.sources)
        new_prices, new_limits, cap = dict(self.prices), dict(self.limits), self.monthly_post_cap
        if prices:
            new_prices.update({Resource(k): float(v) for k, v in prices.items()})
            sources["prices"] = source
        if limits:
            unknown = set(limits) - set(ENDPOINTS)
            if unknown:
                raise ValueError(
                    f"unknown endpoint(s) in rate limits: {', '.join(sorted(unknown))}"
                )
            new_limits.update({k: int(v) for k, v in limits.items()})
            sources["limits"] = source
        if monthly_post_cap is not False:
            cap = monthly_post_cap  # type: ignore[assignment]
            sources["monthly_post_cap"] = source
        return Tariff(new_prices, new_limits, cap, self.window_s, sources)

    def price(self, resource: Resource) -> float:
        return float(self.prices.get(resource, PRICES[resource]))


@dataclass
class Charges:
    """Resources a run (or a lookup) was billed for, by kind; :meth:`bill` prices them."""

    posts: int = 0
    following_accounts: int = 0
    user_lookups: int = 0

    def add(self, resource: Resource, count: int) -> None:
        setattr(self, resource.value, getattr(self, resource.value) + int(count))

    def __add__(self, other: Charges) -> Charges:
        return Charges(
            self.posts + other.posts,
            self.following_accounts + other.following_accounts,
            self.user_lookups + other.user_lookups,
        )

    def count(self, resource: Resource) -> int:
        return int(getattr(self, resource.value))

    def usd(self, tariff: Tariff) -> float:
        return round(sum(self.count(r) * tariff.price(r) for r in Resource), 6)

    def bill(self, tariff: Tariff) -> dict[str, Any]:
        """The itemised bill: counts per resource, dollars per resource and in total."""
        usd = {r.value: round(self.count(r) * tariff.price(r), 6) for r in Resource}
        return {
            **{r.value: self.count(r) for r in Resource},
            "usd": usd | {"total": round(sum(usd.values()), 6)},
        }

    @classmethod
    def of(cls, counts: Mapping[str, Any] | None) -> Charges:
        """Charges from a bill (or any mapping with the resource names as keys)."""
        counts = counts or {}
        return cls(**{r.value: int(counts.get(r.value) or 0) for r in Resource})


def bill_words(bill: Mapping[str, Any]) -> str:
    """``"812 posts $4.06 + 31,397 follow-list accounts $313.97 = $318.03"``."""
    usd = bill.get("usd") or {}
    words = {
        Resource.POST: "posts",
        Resource.FOLLOWING: "follow-list accounts",
        Resource.USER: "user lookups",
    }
    parts = [
        f"{int(bill.get(r.value) or 0):,} {words[r]} ${float(usd.get(r.value) or 0):,.2f}"
        for r in Resource
        if bill.get(r.value)
    ]
    total = f"${float(usd.get('total') or 0):,.2f}"
    return f"{' + '.join(parts)} = {total}" if parts else f"nothing billed ({total})"
