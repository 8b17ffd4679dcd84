"""Dashboard sessions are records in the store: logging out, a changed password, idle time
and the session's age end them whatever the cookie says; cookies are Secure over TLS; every
response carries the security headers; nothing but static CSS is served without a login."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard_client import login
from dwt.store import Coll, Store
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import SessionPolicy, UserDirectory, user_line
from dwt_dashboard.launcher import LocalLauncher

pytestmark = pytest.mark.both_stores  # the records live in the store: both engines


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _users_file(tmp_path, password: str = "right"):
    path = tmp_path / "users"
    path.write_text(user_line("ann", password, ["demo"], iterations=1000) + "\n")
    return path


def _app(store: Store, users: UserDirectory, clock: Clock | None = None, **kw):
    store.add_members("demo", [{"id": "1", "username": "one"}])
    policy = SessionPolicy(
        idle=timedelta(minutes=30), lifetime=timedelta(hours=2), clock=clock or Clock()
    )
    return create_app(store, LocalLauncher(store), users, session_policy=policy, **kw)


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _with_cookie(app, value: str):
    client = app.server.test_client()
    client.set_cookie("session", value)
    return client


def _logout(client):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/logout").text)
    return client.post("/logout", data={"csrf_token": token.group(1)})


def _page_callback(client):
    return client.post(
        "/_dash-update-component",
        json={
            "output": "page.children",
            "outputs": {"id": "page", "property": "children"},
            "inputs": [
                {"id": "url", "property": "pathname", "value": "/users"},
                {"id": "community", "property": "value", "value": "demo"},
                {"id": "url", "property": "search", "value": ""},
            ],
            "changedPropIds": ["url.pathname"],
        },
    )


def test_logout_ends_the_session_for_a_copied_cookie_too(store, tmp_path):
    app = _app(store, UserDirectory.load(_users_file(tmp_path)))
    client = app.server.test_client()
    assert login(client, "ann", "right").status_code == 302
    captured = _cookie(client)
    assert _with_cookie(app, captured).get("/_dash-layout").status_code == 200
    assert client.get("/logout").status_code == 200  # a page with a button: a link (or
    assert client.get("/_dash-layout").status_code == 200  # another site) logs nobody out
    assert _logout(client).status_code == 302
    replay = _with_cookie(app, captured)
    layout = replay.get("/_dash-layout")
    assert layout.status_code == 401 and layout.get_json()["login"] == "/login"
    assert _page_callback(replay).status_code == 401
    assert store[Coll.SESSIONS].count_documents({"user": "ann"}) == 0


def test_the_store_holds_no_usable_session_id(store, tmp_path):
    app = _app(store, UserDirectory.load(_users_file(tmp_path)))
    client = app.server.test_client()
    login(client, "ann", "right")
    (record,) = store[Coll.SESSIONS].find({})
    assert record["user"] == "ann" and record["_id"] not in _cookie(client)
    assert _page_callback(client).status_code == 200
    (ann,) = app.handlers.people("demo")  # what the People page shows an admin
    assert (ann["username"], ann["role"], ann["sessions"]) == ("ann", "admin", 1)
    assert app.handlers.end_sessions("ann", "demo", "ann") == "Ended 1 session of ann."
    assert _page_callback(client).status_code == 401


def test_a_changed_password_or_a_removed_user_ends_sessions(store, tmp_path):
    path = _users_file(tmp_path)
    users = UserDirectory.load(path)
    app = _app(store, users)
    client = app.server.test_client()
    login(client, "ann", "right")
    other = app.server.test_client()
    login(other, "ann", "right")
    assert client.get("/_dash-layout").status_code == 200
    path.write_text(user_line("ann", "changed", ["demo"], iterations=1000) + "\n")
    users.reload_if_changed(force=True)
    for old in (client, other):
        assert old.get("/_dash-layout").status_code == 401
    assert login(client, "ann", "right").status_code == 401
    assert login(client, "ann", "changed").status_code == 302
    assert client.get("/_dash-layout").status_code == 200
    path.write_text("# nobody\n")
    users.reload_if_changed(force=True)
    assert client.get("/_dash-layout").status_code == 401


def test_sessions_end_when_idle_and_at_their_age(store, tmp_path):
    clock = Clock()
    app = _app(store, UserDirectory.load(_users_file(tmp_path)), clock)
    client = app.server.test_client()
    login(client, "ann", "right")
    clock.now += timedelta(minutes=31)  # idle
    assert client.get("/_dash-layout").status_code == 401

    login(client, "ann", "right")
    for _ in range(4):  # in use: never 30 min idle...
        clock.now += timedelta(minutes=25)
        assert client.get("/_dash-layout").status_code == 200
    clock.now += timedelta(minutes=25)  # ...but 2 h 05 after login
    assert client.get("/_dash-layout").status_code == 401

    login(client, "ann", "right")
    tick = {
        "output": "jobs-table.children",
        "outputs": {"id": "jobs-table", "property": "children"},
        "inputs": [
            {"id": "jobs-tick", "property": "n_intervals", "value": 3},
            {"id": "runs-page", "property": "data", "value": 0},
        ],
        "state": [{"id": "community", "property": "value", "value": "demo"}],
        "changedPropIds": ["jobs-tick.n_intervals"],
    }
    for minutes in (10, 10, 9):  # an open Jobs page polls: that is not a person's activity
        clock.now += timedelta(minutes=minutes)
        assert client.post("/_dash-update-component", json=tick).status_code == 200
    clock.now += timedelta(minutes=2)  # 31 min since the person did anything
    assert client.get("/_dash-layout").status_code == 401


@pytest.mark.parametrize(
    ("mode", "base", "peer", "proto", "secure"),
    [
        ("auto", "http://localhost", "127.0.0.1", None, False),
        ("auto", "https://localhost", "127.0.0.1", None, True),
        ("auto", "http://localhost", "10.0.0.5", "https", True),  # a trusted TLS proxy
        ("auto", "http://localhost", "10.7.7.7", "https", False),  # anyone else's header
        ("always", "http://localhost", "127.0.0.1", None, True),
        ("never", "https://localhost", "127.0.0.1", None, False),
    ],
)
def test_secure_cookies(store, tmp_path, mode, base, peer, proto, secure):
    app = _app(
        store,
        UserDirectory.load(_users_file(tmp_path)),
        secure_cookies=mode,
        trusted_proxies=["10.0.0.5/32"],
    )
    client = app.server.test_client()
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    answer = client.get("/login", base_url=base, headers=headers,
                        environ_base={"REMOTE_ADDR": peer})  # fmt: skip
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("; Secure" in cookie) == secure


def test_security_headers_and_what_is_public(store, tmp_path):
    app = _app(store, UserDirectory.load(_users_file(tmp_path)))
    client = app.server.test_client()
    assert client.get("/assets/style.css").status_code == 200  # the login form's CSS
    for path in ("/assets/", "/assets/../", "/assets/nothing.js", "/_dash-dependencies"):
        shell = client.get(path)
        assert shell.status_code in (302, 401, 404), path
        assert "_dash-config" not in shell.text, path  # never the app shell
    login(client, "ann", "right")
    for path in ("/login", "/", "/_dash-layout", "/assets/style.css"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        assert "script-src 'self' 'sha256-" in csp  # Dash's one inline script, by its hash
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/_dash-layout").headers["Cache-Control"] == "no-store"
