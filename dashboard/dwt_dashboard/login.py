"""The Flask side of logging in: the login and logout forms (CSRF token, throttling, a
safe ``next``), the guard every request passes (a live session, or a trusted proxy's
user header), the session cookie and the security headers (:func:`install`)."""

from __future__ import annotations

import hmac
import html
import logging
import os
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import flask
from flask.sessions import SecureCookieSessionInterface

from dwt_dashboard.auth import (
    ASSETS_ENDPOINT,
    FORM_BODY_MAX,
    FORM_FIELDS_MAX,
    FORM_PATHS,
    MAX_BODY,
    PUBLIC_ENDPOINTS,
    USERNAME_MAX,
    LoginThrottle,
    SessionStore,
    TrustedProxies,
    UserDirectory,
)

log = logging.getLogger(__name__)

SECURE_COOKIE_MODES = ("auto", "always", "never")
#: The policy every response carries (Dash's inline script hashes are added by the app).
DEFAULT_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",  # Dash components set inline styles
    # blob: Plotly draws the WebGL map's PNG from an image of its own making.
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    policy = dict(DEFAULT_CSP)
    policy["script-src"] = " ".join(["'self'", *script_hashes])
    return "; ".join(f"{k} {v}" for k, v in policy.items())


class _CookieInterface(SecureCookieSessionInterface):
    """Flask's signed cookie (it carries the session id and the CSRF token only), ``Secure``
    when the request came over TLS (directly or through a trusted proxy), or always/never."""

    def __init__(self, mode: str, proxies: TrustedProxies) -> None:
        if mode not in SECURE_COOKIE_MODES:
            raise ValueError(f"secure cookies: {mode!r} is not one of {SECURE_COOKIE_MODES}")
        self.mode = mode
        self.proxies = proxies

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        if self.mode != "auto":
            return self.mode == "always"
        return flask.has_request_context() and self.proxies.is_https(flask.request)


_FORM = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Discover Weekly · {title}</title>
<link rel="stylesheet" href="/assets/style.css"></head><body>
<nav class="top"><b class="brand">Discover Weekly</b></nav>
<main class="login"><h1>{title}</h1>{body}</main></body></html>"""
_LOGIN = """{error}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label><button type="submit">Log in</button></form>"""
_LOGOUT = """<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{csrf}">
<button type="submit">Log out</button></form>"""


def csrf_token() -> str:
    """This session's CSRF token (made on first sight)."""
    return flask.session.setdefault("csrf", secrets.token_urlsafe(32))


def _form(error: str = "", next_path: str = "/") -> str:
    body = _LOGIN.format(error=error, csrf=csrf_token(), next=html.escape(next_path, quote=True))
    return _FORM.format(title="Log in", body=body)


#: Requests the Dash page itself makes (callbacks, its layout and dependencies): answered
#: 401 JSON when the session ended, which the page's script turns into a visit to /login.
DASH_REQUESTS = ("/_dash-update-component", "/_dash-layout", "/_dash-dependencies")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (``/insights?cluster=3``),
    never another site (``//evil.example``, ``https://…``, ``/\\evil``), nor the login
    or logout pages; ``/`` otherwise."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return "/"
    # Browsers read "\\" as "/" and drop tabs and new lines: "/\\evil" is "//evil".
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return target


def login_url(target: str | None) -> str:
    """``/login``, with ``next`` when there is somewhere to come back to."""
    back = safe_next(target)
    return "/login" if back == "/" else f"/login?{urlencode({'next': back})}"


def _form_fields() -> Any:
    """The posted form, or None when a field is longer than :data:`FORM_FIELDS_MAX` allows
    (Werkzeug caps multipart fields only; the body cap bounds the whole form first)."""
    form = flask.request.form
    for name, values in form.lists():
        limit = FORM_FIELDS_MAX.get(name, 0)
        if any(len(v) > limit for v in values):
            log.warning("form field %.40r too long from %s", name, flask.request.remote_addr)
            return None
    return form


def _csrf_ok() -> bool:
    expected = flask.session.get("csrf")
    given = flask.request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(expected, given)


def _polling() -> bool:
    """A callback request only a timer fired (the Jobs page): not a person's activity."""
    if flask.request.path != "/_dash-update-component":
        return False
    try:
        body = flask.request.get_json(silent=True)
    except RecursionError:  # refused by dwt_dashboard.callback_shapes
        return False
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    return (
        isinstance(changed, list)
        and bool(changed)
        and all(str(c).endswith(".n_intervals") for c in changed)
    )


def _refuse(status: int, text: str) -> flask.Response:
    return flask.Response(text + "\n", status, mimetype="text/plain")


def install(
    server: flask.Flask,
    users: UserDirectory,
    sessions: SessionStore,
    *,
    trusted_header: str | None = None,
    proxies: TrustedProxies | None = None,
    throttle: LoginThrottle | None = None,
    secure_cookies: str = "auto",
    csp: str | None = None,
) -> None:
    """Add /login, /logout, /healthz, the guard that authenticates every other request (a
    live session record, or an OIDC proxy's header from a trusted proxy address) and the
    security headers every response carries."""
    proxies = TrustedProxies() if proxies is None else proxies
    if trusted_header and not proxies:
        raise ValueError(
            "a trusted user header needs the proxy's address (--trusted-proxy CIDR): "
            "otherwise anyone could send it"
        )
    server.secret_key = os.environ.get("DWT_DASHBOARD_SECRET_KEY") or secrets.token_hex(32)
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=FORM_BODY_MAX,  # multipart fields (urlencoded: _form_fields)
        MAX_FORM_PARTS=len(FORM_FIELDS_MAX) + 4,
    )
    server.session_interface = _CookieInterface(secure_cookies, proxies)
    throttle = LoginThrottle() if throttle is None else throttle
    policy = csp or content_security_policy()

    def _public() -> bool:
        endpoint = flask.request.endpoint
        if endpoint in PUBLIC_ENDPOINTS:
            return True
        return endpoint == ASSETS_ENDPOINT and flask.request.path.endswith(".css")

    def _proxied_user() -> tuple[str | None, flask.Response | None]:
        assert trusted_header
        if not proxies.peer_trusted(flask.request):
            log.warning(
                "identity header refused from %s: not a trusted proxy", flask.request.remote_addr
            )
            return None, _refuse(403, "Sign in through the dashboard's proxy.")
        claimed = flask.request.headers.get(trusted_header, "").strip()
        if users.get(claimed) is None:
            shown = html.escape(claimed[:USERNAME_MAX] or "nobody")
            return None, _refuse(403, f"{shown} may not use this dashboard.")
        return claimed, None

    @server.before_request
    def _body_cap() -> flask.Response | None:
        """A declared body over the cap is refused before a byte of it is read (the forms
        have a smaller one); an undeclared one is cut at the cap as it is read."""
        request = flask.request
        if request.path in FORM_PATHS:
            request.max_content_length = FORM_BODY_MAX
        cap = request.max_content_length
        if cap is not None and (request.content_length or 0) > cap:
            return _refuse(413, f"The request is larger than {cap:,} bytes.")
        return None

    @server.before_request
    def _guard() -> flask.Response | None:
        flask.g.user = None
        if _public():
            return None
        if trusted_header:
            flask.g.user, refused = _proxied_user()
            return refused
        token = flask.session.get("sid")
        if isinstance(token, str):
            user = sessions.resolve(token, users.fingerprint, touch=not _polling())
            if user:
                flask.g.user = user
                return None
        flask.session.pop("sid", None)
        if flask.request.path in DASH_REQUESTS:  # the page's script sends the person to log in
            answer = flask.jsonify(error="Your session ended: log in again.", login="/login")
            answer.status_code = 401
            return answer
        if flask.request.method != "GET":  # a form post: nothing to redirect
            return _refuse(401, "Log in again.")
        here = flask.request.full_path.removesuffix("?")
        return flask.redirect(login_url(here))

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if flask.request.endpoint not in (ASSETS_ENDPOINT, None) and not (
            flask.request.path.startswith("/_dash-component-suites/")
        ):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @server.route("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok\n", 200

    @server.route("/login", methods=["GET", "POST"])
    def login() -> flask.Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
        if trusted_header:
            return flask.redirect("/")  # the proxy logs people in
        if flask.request.method == "GET":
            return _form(next_path=safe_next(flask.request.args.get("next")))
        form = _form_fields()
        if form is None:
            return _refuse(413, "A field of the form is too long.")
        back = safe_next(form.get("next"))
        if not _csrf_ok():
            return _form('<p class="error">The form expired: log in again.</p>', back), 400
        username = form.get("username", "")[: USERNAME_MAX + 1]
        address = proxies.client_address(flask.request)
        wait = throttle.retry_after(address, username)
        if wait > 0:
            error = f'<p class="error">Too many failed logins: try again in {wait:.0f} s.</p>'
            return _form(error, back), 429, {"Retry-After": str(int(wait) + 1)}
        user = users.authenticate(username, form.get("password", ""))
        if user is None:
            throttle.failed(address, username)
            shown = html.escape(username[:64])
            error = f'<p class="error">Wrong username or password for {shown}.</p>'
            return _form(error, back), 401
        throttle.succeeded(address, username)
        old = flask.session.get("sid")
        if isinstance(old, str):
            sessions.revoke(old)
        flask.session.clear()  # a fresh session id and CSRF token once logged in
        fingerprint = users.fingerprint(user.username) or ""
        flask.session["sid"] = sessions.create(user.username, fingerprint, address)
        csrf_token()
        return flask.redirect(back)  # the page the person was sent away from

    @server.route("/logout", methods=["GET", "POST"])
    def logout() -> flask.Response | str | tuple[str, int]:
        if trusted_header:
            return flask.redirect("/oauth2/sign_out")  # oauth2-proxy's own
        if flask.request.method == "GET":  # a link cannot log anyone out from another site
            return _FORM.format(title="Log out", body=_LOGOUT.format(csrf=csrf_token()))
        if not _csrf_ok():
            return _FORM.format(title="Log out", body=_LOGOUT.format(csrf=csrf_token())), 400
        token = flask.session.get("sid")
        if isinstance(token, str):
            sessions.revoke(token)
        flask.session.clear()
        return flask.redirect("/login")
