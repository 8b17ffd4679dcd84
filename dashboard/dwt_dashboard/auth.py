"""Who may log in, and to which communities.

The users file holds one ``username:hash:community1,community2`` line per person (``#``
comments allowed); the hash is ``pbkdf2_sha256$iterations$salt_hex$hash_hex`` so no
password is ever stored. Login is a plain Flask form (with a CSRF token, and throttled
after repeated failures) and a session cookie; every other request (Dash's included) is
refused until the session names a user. Behind an OIDC proxy (oauth2-proxy and the like),
``trusted_header`` names the header carrying the proxy's authenticated user instead — only
safe when nothing but the proxy can reach the dashboard (the chart's NetworkPolicy).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flask

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Paths served without a session: the login form, the static CSS it uses, the probe.
PUBLIC_PATHS = ("/login", "/healthz")
PUBLIC_PREFIX = "/assets/"


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash, in the users file's format."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time compare)."""
    try:
        algorithm, iterations, salt_hex, hash_hex = encoded.split("$")
        salt, expected, rounds = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex), int(iterations)
    except ValueError:
        return False
    if algorithm != ALGORITHM:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return hmac.compare_digest(digest, expected)


def user_line(username: str, password: str, communities: list[str], **kw: int) -> str:
    """One users-file line (the CLI-free way to make an entry)."""
    if not _USERNAME.match(username):
        raise ValueError(f"not a valid dashboard username: {username!r}")
    return f"{username}:{hash_password(password, **kw)}:{','.join(communities)}"


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    communities: tuple[str, ...]


class UserDirectory:
    """The people allowed in, and the communities each may see and act on."""

    def __init__(self, users: list[User]) -> None:
        self._users = {u.username: u for u in users}

    @classmethod
    def parse(cls, text: str) -> UserDirectory:
        users = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) != 3 or not _USERNAME.match(parts[0]):
                raise ValueError(f"users file line {number}: expected username:hash:communities")
            names = tuple(c.strip() for c in parts[2].split(",") if c.strip())
            users.append(User(parts[0], parts[1], names))
        return cls(users)

    @classmethod
    def load(cls, path: str | Path) -> UserDirectory:
        return cls.parse(Path(path).read_text())

    def authenticate(self, username: str, password: str) -> User | None:
        user = self._users.get(username)
        if user is None:
            hash_password(password, iterations=1000)  # similar work whether or not the user exists
            return None
        return user if verify_password(password, user.password_hash) else None

    def communities(self, username: str | None) -> list[str]:
        user = self._users.get(username or "")
        return list(user.communities) if user else []

    def allowed(self, username: str | None, community: str | None) -> bool:
        return bool(community) and community in self.communities(username)


def current_user() -> str | None:
    """The logged-in username of the current request, if any."""
    return flask.session.get("user")


class LoginThrottle:
    """Refuses logins for a while after ``limit`` failures from one address (or for one
    username) within ``window_s``: guessing passwords becomes slow, one person's typos don't
    lock anyone else out for long."""

    def __init__(
        self, limit: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        found = self._failures[key]
        while found and found[0] <= self.clock() - self.window_s:
            found.popleft()
        return found

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login may be tried again for these keys (0: now)."""
        waits = [
            found[0] + self.window_s - self.clock()
            for found in map(self._recent, keys)
            if len(found) >= self.limit
        ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(self.clock())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>Discover Weekly · login</title>
<link rel="stylesheet" href="/assets/style.css"></head><body><main class="login">
<h1>Discover Weekly</h1>{error}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label><button type="submit">Log in</button></form></main></body></html>"""


def _form(error: str = "") -> str:
    """The login form with this session's CSRF token (made on first sight)."""
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(32))
    return _FORM.format(error=error, csrf=token)


def install(
    server: flask.Flask,
    users: UserDirectory,
    trusted_header: str | None = None,
    throttle: LoginThrottle | None = None,
) -> None:
    """Add /login, /logout, /healthz and the guard that sends anyone without a session to
    /login (or, with ``trusted_header``, takes the user an OIDC proxy vouches for)."""
    server.secret_key = os.environ.get("DWT_DASHBOARD_SECRET_KEY") or secrets.token_hex(32)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    throttle = throttle or LoginThrottle()

    @server.before_request
    def _guard() -> flask.Response | None:
        path = flask.request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX):
            return None
        if trusted_header:
            proxied = flask.request.headers.get(trusted_header, "")
            if not users.communities(proxied):
                return flask.Response(
                    f"{html.escape(proxied or 'nobody')} may not use this dashboard.\n",
                    403,
                    mimetype="text/plain",
                )
            flask.session["user"] = proxied
            return None
        return None if current_user() else flask.redirect("/login")

    @server.route("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok\n", 200

    @server.route("/login", methods=["GET", "POST"])
    def login() -> flask.Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
        if flask.request.method == "GET":
            return _form()
        form = flask.request.form
        expected = flask.session.get("csrf")
        if not expected or not hmac.compare_digest(expected, form.get("csrf_token", "")):
            return _form('<p class="error">The form expired: log in again.</p>'), 400
        username = form.get("username", "")
        keys = (f"addr:{flask.request.remote_addr}", f"user:{username}")
        wait = throttle.retry_after(*keys)
        if wait > 0:
            error = f'<p class="error">Too many failed logins: try again in {wait:.0f} s.</p>'
            return _form(error), 429, {"Retry-After": str(int(wait) + 1)}
        user = users.authenticate(username, form.get("password", ""))
        if user is None:
            throttle.failed(*keys)
            error = f'<p class="error">Wrong username or password for {html.escape(username)}.</p>'
            return _form(error), 401
        throttle.succeeded(*keys)
        flask.session.clear()  # a fresh session (and CSRF token) once logged in
        flask.session["user"] = user.username
        return flask.redirect("/")

    @server.route("/logout")
    def logout() -> flask.Response:
        flask.session.clear()
        return flask.redirect("/login")
