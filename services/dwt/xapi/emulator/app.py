"""The Flask app: X's routes, with authentication, rate limiting and faults in front.

Order of checks per request, as X applies them: latency, bearer token (401 / 403 before any
budget is spent), the endpoint's budget (429), an injected 503 or header-less 429, then the
endpoint itself (400 for bad parameters, 200 otherwise; an injected fault may garble the
200's body). Rate-limit headers go on every answer to a known,
usable key; X's own 401 carries none, and neither does ours.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from dwt.xapi.endpoints import endpoint_of

from . import handlers, problems
from .auth import KeyState
from .core import Emulator

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"
UNAUTHENTICATED = "(unauthenticated)"


def _json(body: Any, status: int = 200, content_type: str = JSON) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, content_type=content_type)


def create_app(emulator: Emulator) -> Flask:
    """A WSGI app serving ``emulator``; one app per emulator (no global state)."""
    app = Flask("dwt.xapi.emulator")
    em = emulator

    def _billed(body: dict[str, Any], owner: str = "") -> Response:
        """Answer ``body`` (200) and bill what it returns (:mod:`.billing`)."""
        em.billing.charge(g.label or UNAUTHENTICATED, g.endpoint or "unknown", body, owner)
        return _json(body)

    @app.before_request
    def _gate() -> Response | None:
        g.label, g.endpoint, g.decision = None, None, None
        if request.path.startswith("/_emulator/"):
            return None
        em.faults.delay()
        label, state = em.keys.identify(request.headers.get("Authorization"))
        g.endpoint = endpoint_of(request.path) or "unknown"
        if label is None or state is KeyState.REVOKED:
            g.label = UNAUTHENTICATED if label is None else label
            return _json(problems.UNAUTHORIZED, 401, PROBLEM_JSON)
        g.label = label
        if state is KeyState.SUSPENDED:
            return _json(problems.client_forbidden(label), 403, PROBLEM_JSON)
        if g.endpoint == "unknown":
            return _json(problems.route_not_found(request.path), 404)
        refused = em.billing.refusal(g.endpoint)
        if refused is not None:  # X's billing answers: no budget spent, no reset promised
            return _json(refused[1], refused[0], PROBLEM_JSON)
        decision = em.limiter.acquire(label, g.endpoint)
        g.decision = decision
        if not decision.allowed:
            return _json(problems.TOO_MANY_REQUESTS, 429, PROBLEM_JSON)
        if em.faults.should_fail(label, g.endpoint):
            return _json(problems.SERVICE_UNAVAILABLE, 503, PROBLEM_JSON)
        if em.faults.should_throttle(label, g.endpoint):
            g.decision = None  # X's edge 429 carries no x-rate-limit-* headers
            return _json(problems.TOO_MANY_REQUESTS, 429, PROBLEM_JSON)
        return None

    @app.after_request
    def _finish(response: Response) -> Response:
        if g.get("decision") is not None:
            response.headers.update(g.decision.headers)
        if response.status_code == 200 and g.get("label") not in (None, UNAUTHENTICATED):
            garbled = em.faults.garbled(response.get_data(), g.label, g.endpoint or "unknown")
            if garbled is not None:
                response.set_data(garbled)  # Content-Length follows: a complete, bad body
        if g.get("label") is not None:
            em.record(g.label, g.get("endpoint") or "unknown", response.status_code)
        return response

    @app.errorhandler(problems.InvalidRequest)
    def _invalid(exc: problems.InvalidRequest) -> Response:
        return _json(exc.body(), 400)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if exc.code == 404:
            return _json(problems.route_not_found(request.path), 404)
        body = {
            "title": exc.name,
            "detail": exc.description,
            "type": "about:blank",
            "status": exc.code,
        }
        return _json(body, exc.code or 500, PROBLEM_JSON)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("emulator failed on %s %s", request.method, request.path)
        body = {
            "title": "Internal Server Error",
            "detail": f"{type(exc).__name__}: {exc}",
            "type": "about:blank",
            "status": 500,
        }
        return _json(body, 500, PROBLEM_JSON)

    # --- admin (not part of X) -----------------------------------------------------------
    @app.get("/_emulator/stats")
    def _stats() -> Response:
        return _json(em.stats())

    @app.post("/_emulator/billing/advance")
    def _advance_billing() -> Response:
        """Move the meter's clock on by ``?seconds=`` (a benchmark's "a week later")."""
        try:
            seconds = float(request.args.get("seconds", "0"))
        except ValueError:
            return _json({"detail": "seconds must be a number"}, 400)
        em.billing.advance(seconds)
        return _json(em.billing.stats())

    @app.get("/_emulator/health")
    def _health() -> Response:
        return _json({"status": "ok", "tweets": em.index.n_tweets, "users": len(em.index.user_ids)})

    # --- users ---------------------------------------------------------------------------
    @app.get("/2/users/by")
    def _users_by() -> Response:
        return _billed(handlers.users_by(em, request.args))

    @app.get("/2/users")
    def _users() -> Response:
        return _billed(handlers.users(em, request.args))

    @app.get("/2/users/<user_id>/tweets")
    def _user_tweets(user_id: str) -> Response:
        return _billed(handlers.user_tweets(em, user_id, request.args))

    @app.get("/2/users/<user_id>/following")
    def _following(user_id: str) -> Response:
        return _billed(handlers.following(em, user_id, request.args), owner=user_id)

    return app
