"""A thin X API v2 client over the real ``tweepy.Client``: raw v2 JSON, budgets, typed errors.

tweepy hard-codes ``https://api.twitter.com``; to reach the emulator (or a proxy) a
``requests`` transport adapter mounted on the tweepy session rewrites each request's scheme
and host to the configured base URL — tweepy itself is used unchanged. With
``return_type=dict`` tweepy drops the response headers, so a session response hook records
the ``x-rate-limit-*`` headers of every response (per thread, and per endpoint for the
collector's budget tracking).

Requests ask for exactly the fields and expansions of :mod:`dwt.model.fields`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from pydantic import SecretStr
from requests.adapters import HTTPAdapter

from dwt.model.fields import EXPANSIONS, TWEET_FIELDS, USER_FIELDS
from dwt.xapi.endpoints import DEFAULT_WINDOW_S, endpoint_of
from dwt.xapi.errors import (
    AccountUnavailable,
    ForbiddenKey,
    InvalidRequest,
    MalformedAnswer,
    RateLimited,
    TransientServerError,
    UnauthorizedKey,
    XApiError,
    billing_refusal,
    unavailable_reason,
)

log = logging.getLogger(__name__)

X_API_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")
DEFAULT_BASE_URL = "https://api.twitter.com"
_BEARER = re.compile(r"Bearer\s+[^\s'\",}]+")
T = TypeVar("T")


class _RedactBearer(logging.Filter):
    """tweepy logs request headers at DEBUG, Authorization included; mask the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bearer" in message:
            record.msg = _BEARER.sub("Bearer ***", message)
            record.args = None
        return True


_tweepy_log = logging.getLogger("tweepy.client")
if not any(isinstance(f, _RedactBearer) for f in _tweepy_log.filters):
    _tweepy_log.addFilter(_RedactBearer())


def key_fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a bearer token (logs, errors, metrics)."""
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:8]


# --- transport -----------------------------------------------------------------------------
class BaseUrlAdapter(HTTPAdapter):
    """Sends requests for X's hosts to ``base_url`` instead, with a default timeout.

    The path and query are kept; ``base_url`` may carry a path prefix. Proxies are chosen
    for the URL actually contacted (a loopback emulator must not go through a proxy meant
    for api.twitter.com).
    """

    def __init__(self, base_url: str, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        base = urlsplit(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
        self._base = base
        self._rewrite = base_url.rstrip("/") != DEFAULT_BASE_URL
        self.timeout = timeout

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self._rewrite and request.url:
            parts = urlsplit(request.url)
            request = request.copy()
            request.url = urlunsplit(
                (
                    self._base.scheme,
                    self._base.netloc,
                    self._base.path + parts.path,
                    parts.query,
                    parts.fragment,
                )
            )
            proxies = requests.utils.get_environ_proxies(request.url)
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


# --- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimit:
    """One endpoint's budget as the last response reported it (``reset_at`` epoch seconds)."""

    limit: int | None
    remaining: int | None
    reset_at: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        values = [headers.get(f"x-rate-limit-{k}") for k in ("limit", "remaining", "reset")]
        if all(v is None for v in values):
            return None

        def number(value: str | None) -> int | None:
            try:
                return int(value) if value is not None else None
            except ValueError:
                return None

        limit, remaining, reset = (number(v) for v in values)
        return cls(limit, remaining, float(reset) if reset is not None else None)


@dataclass(frozen=True)
class Page:
    """One page of a paginated v2 answer, raw JSON parts plus the budget left after it."""

    data: list[dict[str, Any]]
    includes: dict[str, list[dict[str, Any]]]
    meta: dict[str, Any]
    rate: RateLimit | None
    next_token: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, body: Mapping[str, Any], rate: RateLimit | None) -> Page:
        meta = dict(body.get("meta") or {})
        data = body.get("data") or []
        return cls(
            data=list(data) if isinstance(data, list) else [data],
            includes=dict(body.get("includes") or {}),
            meta=meta,
            rate=rate,
            next_token=meta.get("next_token"),
            errors=list(body.get("errors") or []),
        )


@dataclass(frozen=True)
class Lookup:
    """A batch lookup: what was found, and why the rest is missing.

    ``unavailable`` maps each requested id (or username) X could not show to
    ``protected`` / ``suspended`` / ``not_found``; ``errors`` keeps the other error objects
    (e.g. an expansion that could not be resolved).
    """

    data: list[dict[str, Any]]
    includes: dict[str, list[dict[str, Any]]]
    unavailable: dict[str, str]
    errors: list[dict[str, Any]]
    rate: RateLimit | None


# --- client --------------------------------------------------------------------------------
class XClient:
    """X API v2 reads the product needs, over ``tweepy.Client`` (``return_type=dict``).

    ``wait_on_rate_limit=True`` sleeps until the window resets and retries the same page
    (if the reset is at most ``max_wait_s`` away); otherwise :class:`RateLimited` is raised
    and the caller resumes later from the last page's ``next_token``. Server errors and
    timeouts raise :class:`TransientServerError`, and so do mangled 2xx answers
    (:class:`MalformedAnswer`: not JSON, cut short, the wrong shape); the caller decides
    about retries.
    """

    def __init__(
        self,
        bearer_token: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        wait_on_rate_limit: bool = False,
        *,
        max_wait_s: float = DEFAULT_WINDOW_S + 60,
        wait_margin_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        token = (
            bearer_token.get_secret_value() if isinstance(bearer_token, SecretStr) else bearer_token
        )
        if not token:
            raise ValueError("a bearer token is required")
        self.key_id = key_fingerprint(token)
        self.base_url = base_url.rstrip("/")
        self.wait_on_rate_limit = wait_on_rate_limit
        self.max_wait_s = max_wait_s
        self.wait_margin_s = wait_margin_s
        self._sleep = sleep
        self._clock = clock
        self._tweepy = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        adapter = BaseUrlAdapter(self.base_url, timeout)
        for prefix in X_API_HOSTS:
            self._tweepy.session.mount(prefix, adapter)
        self._tweepy.session.hooks["response"].append(self._on_response)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._rates: dict[str, RateLimit] = {}
        self._last: RateLimit | None = None

    def __repr__(self) -> str:
        return f"XClient(base_url={self.base_url!r}, key={self.key_id})"

    def close(self) -> None:
        self._tweepy.session.close()

    # --- rate-limit bookkeeping ----------------------------------------------------------
    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.url).path
        endpoint = endpoint_of(path[path.find("/2/") :] if "/2/" in path else path)
        if 200 <= response.status_code < 300:
            _check_body(response, endpoint or path)
        rate = RateLimit.from_headers(response.headers)
        self._local.rate = rate
        if rate is not None:
            with self._lock:
                self._last = rate
                if endpoint is not None:
                    self._rates[endpoint] = rate

    @property
    def last_rate_limit(self) -> RateLimit | None:
        """The budget reported by this thread's latest response (any thread's if none)."""
        rate = getattr(self._local, "rate", None)
        if rate is not None:
            return rate
        with self._lock:
            return self._last

    def rate_limit(self, endpoint: str) -> RateLimit | None:
        """The latest budget X reported for ``endpoint`` (a :mod:`~dwt.xapi.endpoints` name)."""
        with self._lock:
            return self._rates.get(endpoint)

    # --- error mapping -------------------------------------------------------------------
    def _guard(self, endpoint: str, call: Callable[..., T], *args: Any) -> T:
        """Run one tweepy call; map failures to typed errors, waiting out 429s if asked."""
        while True:
            try:
                return call(*args)
            except tweepy.TooManyRequests as exc:
                _raise_if_billing(exc, endpoint)
                rate = RateLimit.from_headers(exc.response.headers)
                reset_at = rate.reset_at if rate else None
                limit = rate.limit if rate else None
                wait = (reset_at - self._clock()) if reset_at is not None else None
                if not self.wait_on_rate_limit or wait is None or wait > self.max_wait_s:
                    raise RateLimited(endpoint=endpoint, reset_at=reset_at, limit=limit) from None
                log.info("%s rate limited on %s; waiting %.1f s", self.key_id, endpoint, wait)
                self._sleep(max(0.0, wait) + self.wait_margin_s)
            except tweepy.Unauthorized as exc:
                raise UnauthorizedKey(
                    f"X refused {self.key_id} (401 {_detail(exc)})", endpoint=endpoint, status=401
                ) from None
            except tweepy.Forbidden as exc:
                raise ForbiddenKey(
                    f"X forbids {self.key_id} on {endpoint} (403 {_detail(exc)})",
                    endpoint=endpoint,
                    status=403,
                    api_errors=_errors(exc),
                ) from None
            except (tweepy.BadRequest, tweepy.NotFound) as exc:
                status = exc.response.status_code
                raise InvalidRequest(
                    f"{endpoint}: {status} {'; '.join(exc.api_messages) or _detail(exc)}",
                    endpoint=endpoint,
                    status=status,
                    api_errors=_errors(exc),
                ) from None
            except tweepy.TwitterServerError as exc:
                status = exc.response.status_code
                raise TransientServerError(
                    f"{endpoint}: X answered {status} {_detail(exc)}",
                    endpoint=endpoint,
                    status=status,
                ) from None
            except (requests.Timeout, requests.ConnectionError) as exc:
                raise TransientServerError(
                    f"{endpoint}: no answer ({type(exc).__name__})", endpoint=endpoint
                ) from None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:  # the answer broke off or cannot be decoded: as good as none
                raise MalformedAnswer(
                    f"{endpoint}: answer cut off ({type(exc).__name__})", endpoint=endpoint
                ) from None
            except tweepy.HTTPException as exc:
                _raise_if_billing(exc, endpoint)
                status = exc.response.status_code
                raise XApiError(
                    f"{endpoint}: unexpected HTTP {status} {_detail(exc)}",
                    endpoint=endpoint,
                    status=status,
                    api_errors=_errors(exc),
                ) from None

    def _pages(
        self,
        endpoint: str,
        method: Callable[..., Any],
        *args: Any,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Page]:
        """Drive ``tweepy.Paginator``; a failed page is retried by calling ``next`` again."""
        iterator = iter(tweepy.Paginator(method, *args, **kwargs))
        while True:
            try:
                body = self._guard(endpoint, next, iterator)
            except StopIteration:
                return
            if user_id is not None:
                _raise_if_unavailable(body, user_id, endpoint)
            yield Page.of(body, self.last_rate_limit)

    # --- endpoints -----------------------------------------------------------------------
    def user_tweets_pages(
        self,
        user_id: str,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        since_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> Iterator[Page]:
        """An account's tweets (newest first), page by page, with the product's fields.

        Raises :class:`AccountUnavailable` when the account is protected, suspended or gone.
        """
        return self._pages(
            "user_tweets",
            self._tweepy.get_users_tweets,
            user_id,
            user_id=user_id,
            start_time=start_time,
            end_time=end_time,
            since_id=since_id,
            pagination_token=pagination_token,
            max_results=max_results,
            **_tweet_params(),
        )

    def following_pages(
        self, user_id: str, pagination_token: str | None = None, max_results: int = 1000
    ) -> Iterator[Page]:
        """The accounts ``user_id`` follows, up to 1000 a page (each billed, dwt.xapi.prices)."""
        return self._pages(
            "following",
            self._tweepy.get_users_following,
            user_id,
            user_id=user_id,
            pagination_token=pagination_token,
            max_results=max_results,
            user_fields=list(USER_FIELDS),
        )

    def lookup_users(
        self, *, usernames: Sequence[str] | None = None, ids: Sequence[str] | None = None
    ) -> Lookup:
        """Users by username or id (any number; sent 100 per request)."""
        if (usernames is None) == (ids is None):
            raise ValueError("give exactly one of usernames= or ids=")
        keys = [str(k) for k in (usernames if usernames is not None else ids or ())]
        endpoint = "users_by" if usernames is not None else "users"
        kind = "usernames" if usernames is not None else "ids"

        def fetch(chunk: list[str]) -> dict[str, Any]:
            return self._guard(
                endpoint,
                lambda: self._tweepy.get_users(**{kind: chunk}, user_fields=list(USER_FIELDS)),
            )

        return self._lookup(keys, fetch)

    def _lookup(self, keys: list[str], fetch: Callable[[list[str]], dict[str, Any]]) -> Lookup:
        data: list[dict[str, Any]] = []
        includes: dict[str, dict[str, dict[str, Any]]] = {}
        unavailable: dict[str, str] = {}
        errors: list[dict[str, Any]] = []
        wanted = {k.lower() for k in keys}
        for start in range(0, len(keys), 100):
            body = fetch(keys[start : start + 100])
            data.extend(body.get("data") or [])
            for kind, objects in (body.get("includes") or {}).items():
                bucket = includes.setdefault(kind, {})
                for obj in objects:
                    bucket.setdefault(str(obj.get("id", obj.get("media_key", len(bucket)))), obj)
            for error in body.get("errors") or []:
                value = str(error.get("value", ""))
                reason = unavailable_reason(error)
                if reason and error.get("section") != "includes" and value.lower() in wanted:
                    unavailable[value] = reason
                else:
                    errors.append(error)
        return Lookup(
            data=data,
            includes={k: list(v.values()) for k, v in includes.items()},
            unavailable=unavailable,
            errors=errors,
            rate=self.last_rate_limit,
        )


def _tweet_params() -> dict[str, list[str]]:
    return {
        "tweet_fields": list(TWEET_FIELDS),
        "user_fields": list(USER_FIELDS),
        "expansions": list(EXPANSIONS),
    }


def _raise_if_unavailable(body: Mapping[str, Any], user_id: str, endpoint: str) -> None:
    """X answers a protected/suspended/missing account's timeline with 200 and ``errors``."""
    if body.get("data"):
        return
    for error in body.get("errors") or []:
        if error.get("parameter") == "id" and str(error.get("value")) == str(user_id):
            reason = unavailable_reason(error)
            if reason is not None:
                raise AccountUnavailable(user_id, reason, endpoint=endpoint, api_errors=[error])


def _check_body(response: requests.Response, endpoint: str) -> None:
    """Refuse a 2xx answer that is not a v2 JSON object, before tweepy or the paginator
    trip over it: a body cut short, an HTML page a proxy sent with 200, a JSON array, or
    parts of the wrong type. :class:`MalformedAnswer` is transient (retried like a 5xx).
    The parsed body is kept on the response, so tweepy does not parse it twice."""

    def malformed(why: str) -> MalformedAnswer:
        return MalformedAnswer(
            f"{endpoint}: malformed {response.status_code} answer ({why})",
            endpoint=endpoint,
            status=response.status_code,
        )

    try:
        body = response.json()
    except ValueError as exc:  # requests.JSONDecodeError, UnicodeDecodeError
        raise malformed(f"not JSON: {str(exc)[:80]}") from None
    except RecursionError:
        raise malformed("JSON nested too deep") from None
    if not isinstance(body, dict):
        raise malformed(f"a JSON {type(body).__name__}, not an object")
    data = body.get("data")
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
    if data is not None and (
        items is None or not all(isinstance(d, dict) and "id" in d for d in items)
    ):
        raise malformed("'data' is not a list of objects with ids")
    includes = body.get("includes")
    if includes is not None and not (
        isinstance(includes, dict)
        and all(
            isinstance(v, list) and all(isinstance(o, dict) for o in v) for v in includes.values()
        )
    ):
        raise malformed("'includes' is not a map of object lists")
    if body.get("meta") is not None and not isinstance(body["meta"], dict):
        raise malformed("'meta' is not an object")
    errors = body.get("errors")
    if errors is not None and not (
        isinstance(errors, list) and all(isinstance(e, dict) for e in errors)
    ):
        raise malformed("'errors' is not a list of objects")
    response.json = lambda **_: body  # type: ignore[method-assign]


def _raise_if_billing(exc: tweepy.HTTPException, endpoint: str) -> None:
    """429 ``UsageCapExceeded`` and 402 ``CreditsDepleted`` are X's bill, not a rate
    limit: raise them as such, with X's words."""
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    found = billing_refusal(exc.response.status_code, body)
    if found is not None:
        kind, words = found
        raise kind(
            f"X refused {endpoint} ({exc.response.status_code} {words})",
            endpoint=endpoint,
            status=exc.response.status_code,
        ) from None


def _errors(exc: tweepy.HTTPException) -> list[dict[str, Any]]:
    return [e for e in exc.api_errors if isinstance(e, dict)]


def _detail(exc: tweepy.HTTPException) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return exc.response.reason or ""
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or "")
    return ""
