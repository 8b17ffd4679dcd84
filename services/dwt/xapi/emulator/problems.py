"""Error bodies exactly as X API v2 sends them.

Two families: request-level problems (401, 403, 429, 503, 400 invalid request) that replace
the whole answer, and resource errors (not found, suspended, not authorized) that X puts in
an ``errors`` list of an HTTP 200 answer, next to whatever ``data`` could be served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PROBLEMS = "https://api.twitter.com/2/problems"

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
SERVICE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}


def client_forbidden(client_label: str) -> dict[str, Any]:
    """403 for an App whose access X withdrew (suspended or not enrolled)."""
    return {
        "client_id": client_label,
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
        "keys and tokens from a Twitter developer App that is attached to a Project. You can "
        "create a project via the developer portal.",
        "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": f"{PROBLEMS}/client-forbidden",
    }


def route_not_found(path: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {}, "message": "The requested resource does not exist"}],
        "title": "Not Found Error",
        "detail": f"Sorry, the requested resource {path} does not exist.",
        "type": f"{PROBLEMS}/resource-not-found",
    }


class InvalidRequest(Exception):
    """Raised by parameter checks; the app turns it into X's 400 ``Invalid Request`` body."""

    def __init__(self, errors: Sequence[tuple[dict[str, list[str]], str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = list(errors)

    @classmethod
    def one(cls, parameter: str, value: str | Sequence[str], message: str) -> InvalidRequest:
        values = [value] if isinstance(value, str) else list(value)
        return cls([({parameter: values}, message)])

    def body(self) -> dict[str, Any]:
        return {
            "errors": [{"parameters": params, "message": msg} for params, msg in self.errors],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{PROBLEMS}/invalid-request",
        }


def _resource_error(
    kind: str,
    title: str,
    detail: str,
    resource_type: str,
    parameter: str,
    value: str,
    section: str | None,
) -> dict:
    """One entry of a response's ``errors``, about one requested resource (X's shape)."""
    error = {
        "value": value,
        "detail": detail,
        "title": title,
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": f"{PROBLEMS}/{kind}",
    }
    if section:
        error["section"] = section
    return error


def not_found(resource_type: str, parameter: str, value: str, section: str | None = None) -> dict:
    """``Could not find user with id: [42].`` (deleted or never existed)."""
    detail = f"Could not find {resource_type} with {parameter}: [{value}]."
    return _resource_error(
        "resource-not-found", "Not Found Error", detail, resource_type, parameter, value, section
    )


def suspended(parameter: str, value: str, section: str | None = None) -> dict:
    """X reports a suspended account as 'Forbidden' with the resource-not-found type."""
    detail = f"User has been suspended: [{value}]."
    return _resource_error(
        "resource-not-found", "Forbidden", detail, "user", parameter, value, section
    )


def not_authorized(resource_type: str, parameter: str, value: str, section: str = "data") -> dict:
    """A protected account (or its tweets) seen with an app-only token."""
    noun = "Tweet" if resource_type == "tweet" else resource_type
    detail = f"Sorry, you are not authorized to see the {noun} with {parameter}: [{value}]."
    return _resource_error(
        "not-authorized-for-resource",
        "Authorization Error",
        detail,
        resource_type,
        parameter,
        value,
        section,
    )


#: The emulated developer account's id, as X quotes it in billing answers.
ACCOUNT_ID = 1_790_000_000_000_000_000


def usage_capped(period: str = "Monthly", scope: str = "Product") -> dict[str, Any]:
    """429 past the plan's monthly post cap, as X sends it (no ``x-rate-limit-*`` headers
    promise a reset: the cap lasts until the billing cycle ends)."""
    return {
        "account_id": ACCOUNT_ID,
        "product_name": "pay-per-use",
        "title": "UsageCapExceeded",
        "period": period,
        "scope": scope,
        "detail": f"Usage cap exceeded: {period} {scope.lower()} cap",
        "type": f"{PROBLEMS}/usage-capped",
    }


def credits_depleted() -> dict[str, Any]:
    """402 when the account's prepaid credit balance is spent (X: "Payment Required")."""
    return {
        "title": "CreditsDepleted",
        "detail": f"Your enrolled account [{ACCOUNT_ID}] does not have any credits to fulfill "
        "this request.",
        "type": f"{PROBLEMS}/credits",
    }
