"""Who may log in, and to which communities.

The users file holds one ``username:hash:community1,community2`` line per person (``#``
comments allowed); the hash is ``pbkdf2_sha256$iterations$salt_hex$hash_hex`` so no
password is ever stored. Login is a plain Flask form and a session cookie; every other
request (Dash's included) is refused until the session names a user.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import flask

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Paths served without a session: the login form and the static CSS it uses.
PUBLIC_PREFIXES = ("/login", "/assets/")


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


_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>Discover Weekly · login</title>
<link rel="stylesheet" href="/assets/style.css"></head><body><main class="login">
<h1>Discover Weekly</h1>{error}<form method="post" action="/login">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label><button type="submit">Log in</button></form></main></body></html>"""


def install(server: flask.Flask, users: UserDirectory) -> None:
    """Add /login, /logout and the guard that sends anyone without a session to /login."""
    server.secret_key = os.environ.get("DWT_DASHBOARD_SECRET_KEY") or secrets.token_hex(32)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

    @server.before_request
    def _guard() -> flask.Response | None:
        path = flask.request.path
        if path == "/login" or path.startswith(PUBLIC_PREFIXES[1]) or current_user():
            return None
        return flask.redirect("/login")

    @server.route("/login", methods=["GET", "POST"])
    def login() -> flask.Response | str | tuple[str, int]:
        if flask.request.method == "GET":
            return _FORM.format(error="")
        username = flask.request.form.get("username", "")
        user = users.authenticate(username, flask.request.form.get("password", ""))
        if user is None:
            error = f'<p class="error">Wrong username or password for {html.escape(username)}.</p>'
            return _FORM.format(error=error), 401
        flask.session.clear()
        flask.session["user"] = user.username
        return flask.redirect("/")

    @server.route("/logout")
    def logout() -> flask.Response:
        flask.session.clear()
        return flask.redirect("/login")
