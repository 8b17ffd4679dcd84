"""Logging a Flask test client into the dashboard the way the browser does: fetch the
form (which sets the session's CSRF token), then post it back with the credentials."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: Any) -> str:
    found = _TOKEN.search(client.get("/login").text)
    assert found, "the login form carries no CSRF token"
    return found.group(1)


def login(client: Any, username: str, password: str) -> Any:
    token = csrf_token(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
