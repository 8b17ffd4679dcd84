"""Typed outcomes of X API calls, so callers decide by kind instead of parsing messages.

What to do differs per kind: wait for the window (``RateLimited``), retire the key
(``UnauthorizedKey``, ``ForbiddenKey``), skip the account (``AccountUnavailable``), retry
later (``TransientServerError`` and its ``MalformedAnswer``), fix the code
(``InvalidRequest``), or stop collecting until the person pays or the month turns
(``BillingRefused``: ``UsageCapped``, ``CreditsDepleted``). No message ever contains a
bearer token; keys are named by a short fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

UnavailableReason = Literal["protected", "suspended", "not_found"]


class XApiError(Exception):
    """Base of every X API failure the client reports.

    ``endpoint`` is the :mod:`dwt.xapi.endpoints` name, ``status`` the HTTP status (None
    when no answer came), ``api_errors`` the ``errors`` objects X sent, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        api_errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.api_errors = [dict(e) for e in api_errors]


class RateLimited(XApiError):
    """The key's budget for ``endpoint`` is spent until ``reset_at`` (epoch seconds)."""

    def __init__(self, *, endpoint: str | None, reset_at: float | None, limit: int | None) -> None:
        when = f"until {reset_at:.0f}" if reset_at is not None else "(no reset time given)"
        super().__init__(
            f"rate limited on {endpoint} {when} (limit {limit})", endpoint=endpoint, status=429
        )
        self.reset_at = reset_at
        self.limit = limit


class BillingRefused(XApiError):
    """X refuses to serve more until its bill allows it: nothing any key can do, so a run
    stops at once (its checkpoints let the next run resume). The message is X's own."""


class UsageCapped(BillingRefused):
    """429 ``UsageCapExceeded``: the plan's monthly post cap is reached (no reset header:
    it lasts until the billing cycle ends)."""


class CreditsDepleted(BillingRefused):
    """402 ``CreditsDepleted``: the account's prepaid credit balance is spent."""


def billing_refusal(status: int, body: Any) -> tuple[type[BillingRefused], str] | None:
    """Which billing refusal an answer is, with X's words (None when it is not one): a 429
    whose body says ``UsageCapExceeded`` (type ``…/usage-capped``), or a 402."""
    body = body if isinstance(body, Mapping) else {}
    title, detail = str(body.get("title") or ""), str(body.get("detail") or "")
    kind = str(body.get("type") or "")
    words = f"{title}: {detail}" if detail else title
    if status == 402:
        return CreditsDepleted, words or "Payment Required (credits depleted)"
    if status == 429 and (title == "UsageCapExceeded" or kind.endswith("/usage-capped")):
        return UsageCapped, words or "UsageCapExceeded"
    return None


class UnauthorizedKey(XApiError):
    """401: X does not accept this bearer token (wrong, revoked or regenerated)."""


class ForbiddenKey(XApiError):
    """403: the token is valid but its App may not use this endpoint (e.g. suspended App)."""


class AccountUnavailable(XApiError):
    """The account's data cannot be read: ``protected``, ``suspended`` or ``not_found``."""

    def __init__(
        self,
        user_id: str,
        reason: UnavailableReason,
        *,
        endpoint: str | None = None,
        api_errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(
            f"account {user_id} is {reason.replace('_', ' ')}",
            endpoint=endpoint,
            status=200,
            api_errors=api_errors,
        )
        self.user_id = user_id
        self.reason: UnavailableReason = reason


class TransientServerError(XApiError):
    """5xx, a timeout or a dropped connection: nothing is wrong with the request; retry."""


class MalformedAnswer(TransientServerError):
    """A 2xx whose body is not the JSON object X sends (cut short, an HTML page from a proxy,
    the wrong shape): the request was fine and the answer got mangled on the way, so it is
    retried like a 5xx."""


class InvalidRequest(XApiError):
    """400: X refused the parameters; retrying the same request cannot succeed."""


def unavailable_reason(error: Mapping[str, Any]) -> UnavailableReason | None:
    """Classify one of X's resource ``errors`` objects (None if it is not about access)."""
    kind = str(error.get("type", ""))
    detail = str(error.get("detail", ""))
    if kind.endswith("/not-authorized-for-resource"):
        return "protected"
    if kind.endswith("/resource-not-found"):
        return "suspended" if "suspended" in detail.lower() else "not_found"
    return None
