"""How an emulator instance behaves: who may call it, how fast, and how often it fails."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dwt.xapi.endpoints import DEFAULT_LIMITS, DEFAULT_WINDOW_S, ENDPOINTS
from dwt.xapi.prices import MONTHLY_POST_CAP, Resource


class EmulatorConfigError(ValueError):
    """A setting is out of range or names an unknown endpoint."""


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator.

    ``rate_limit`` replaces every endpoint's limit (handy for benchmarks); ``rate_limits``
    sets single endpoints and wins over both. ``fail_rate`` is the share of authenticated
    requests answered with an injected 503, drawn deterministically from ``fail_seed``;
    ``garble_rate`` the share of 200 answers whose body is cut short or garbled (a proxy or
    a dropped connection does that to X's answers now and then; X cannot be asked to);
    ``throttle_rate`` the share answered 429 *without* any ``x-rate-limit-*`` header (X's
    edge sends those when it sheds load, whatever the key's budget).
    ``shift_to_now`` moves the world so that the dataset's ``meta["now"]`` is the moment
    the server started: a generated week then looks like the past seven days. Tweet ids
    move with the timestamps (X's ids carry their time), so what a client derives from an
    id agrees with the served ``created_at``. A test with its own clock serves a week
    generated to end at that clock, unshifted.

    Billing (:mod:`.billing`): ``prices`` replaces list prices per resource (``posts``,
    ``following_accounts``, ``user_lookups``); ``monthly_post_cap`` post reads a month
    before post endpoints answer 429 ``UsageCapExceeded`` (None: no cap); ``credits_usd``
    the prepaid balance, after which billed endpoints answer 402 ``CreditsDepleted``
    (None: unlimited).
    """

    tokens: tuple[str, ...] = ()
    rate_window_s: float = DEFAULT_WINDOW_S
    rate_limit: int | None = None
    rate_limits: Mapping[str, int] = field(default_factory=dict)
    fail_rate: float = 0.0
    fail_seed: int = 0
    latency_ms: float = 0.0
    shift_to_now: bool = True
    garble_rate: float = 0.0
    throttle_rate: float = 0.0
    prices: Mapping[str, float] = field(default_factory=dict)
    monthly_post_cap: int | None = MONTHLY_POST_CAP
    credits_usd: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(t.strip() for t in self.tokens if t.strip()))
        object.__setattr__(self, "rate_limits", dict(self.rate_limits))
        if not self.tokens:
            raise EmulatorConfigError("at least one bearer token is needed")
        if not (math.isfinite(self.rate_window_s) and self.rate_window_s > 0):
            raise EmulatorConfigError(
                f"rate_window_s must be a number > 0, got {self.rate_window_s}"
            )
        if self.rate_limit is not None and self.rate_limit < 1:
            raise EmulatorConfigError(f"rate_limit must be >= 1, got {self.rate_limit}")
        for name, limit in self.rate_limits.items():
            if name not in ENDPOINTS:
                raise EmulatorConfigError(
                    f"unknown endpoint {name!r} in rate_limits; one of {', '.join(ENDPOINTS)}"
                )
            if limit < 1:
                raise EmulatorConfigError(f"rate limit of {name} must be >= 1, got {limit}")
        for name in ("fail_rate", "garble_rate", "throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # NaN fails this too
                raise EmulatorConfigError(f"{name} must be within [0, 1], got {value}")
        names = {r.value for r in Resource}
        for name, price in dict(self.prices).items():
            if name not in names:
                raise EmulatorConfigError(f"unknown resource {name!r} in prices; one of {names}")
            if not (math.isfinite(price) and 0 <= price <= 10):
                raise EmulatorConfigError(f"price of {name} must be within 0-10, got {price}")
        object.__setattr__(self, "prices", dict(self.prices))
        if self.monthly_post_cap is not None and self.monthly_post_cap < 0:
            raise EmulatorConfigError(f"monthly_post_cap must be >= 0, got {self.monthly_post_cap}")
        if self.credits_usd is not None and not (
            math.isfinite(self.credits_usd) and self.credits_usd >= 0
        ):
            raise EmulatorConfigError(f"credits_usd must be >= 0, got {self.credits_usd}")
        if not (math.isfinite(self.latency_ms) and 0 <= self.latency_ms <= 60_000):
            raise EmulatorConfigError(
                f"latency_ms must be within [0, 60000], got {self.latency_ms}"
            )

    def limit_of(self, endpoint: str) -> int:
        """The request budget of ``endpoint`` per window."""
        if endpoint in self.rate_limits:
            return self.rate_limits[endpoint]
        if self.rate_limit is not None:
            return self.rate_limit
        return DEFAULT_LIMITS[endpoint]

    def __repr__(self) -> str:  # tokens are credentials, even fake ones: count them only
        return (
            f"EmulatorConfig(tokens=<{len(self.tokens)}>, rate_window_s={self.rate_window_s}, "
            f"rate_limit={self.rate_limit}, rate_limits={self.rate_limits}, "
            f"fail_rate={self.fail_rate}, fail_seed={self.fail_seed}, "
            f"latency_ms={self.latency_ms}, shift_to_now={self.shift_to_now}, "
            f"garble_rate={self.garble_rate}, throttle_rate={self.throttle_rate}, "
            f"prices={self.prices}, monthly_post_cap={self.monthly_post_cap}, "
            f"credits_usd={self.credits_usd})"
        )
