"""The dashboard's login under attack: no username enumeration by timing, bounded throttle
memory, no locking a person out from elsewhere, the client's address from X-Forwarded-For
only through a configured proxy; and the OIDC proxy's header as the docs and chart name it."""

from __future__ import annotations

import hashlib
import re
import statistics
import sys
import time
from pathlib import Path

import flask
import pytest
import yaml

from dashboard_client import csrf_token, login
from dwt_dashboard import auth
from dwt_dashboard.auth import (
    OIDC_USER_HEADER,
    LoginThrottle,
    SessionStore,
    TrustedProxies,
    UserDirectory,
    user_line,
)
from dwt_dashboard.login import install

REPO = Path(__file__).resolve().parents[2]


def _server(store, users: UserDirectory, **kw) -> flask.Flask:
    server = flask.Flask(__name__)
    install(server, users, SessionStore(store), **kw)
    server.add_url_rule("/", "home", lambda: "home")
    return server


def _client(server: flask.Flask, address: str):
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_unknown_users_cost_the_same_pbkdf2_as_real_ones(monkeypatch):
    users = UserDirectory.parse(
        user_line("ann", "right", ["demo"], iterations=5000) + "\n" + "oidc@example.org:!:demo\n"
    )
    rounds: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counted(name, password, salt, iterations, *rest):
        rounds.append(iterations)
        return real(name, password, salt, iterations, *rest)

    users.authenticate("nobody", "warm-up")  # the dummy hash is made once, then reused
    monkeypatch.setattr(auth.hashlib, "pbkdf2_hmac", counted)
    attempts = {
        "a real user, wrong password": ("ann", "wrong"),
        "an unknown user": ("mallory", "wrong"),
        "an OIDC-only user": ("oidc@example.org", "!"),
        "a 100 KB username": ("x" * 100_000, "wrong"),
        "a 100 KB password": ("ann", "p" * 100_000),
    }
    for what, (username, password) in attempts.items():
        rounds.clear()
        assert users.authenticate(username, password) is None
        assert rounds == [5000], what
    rounds.clear()
    assert users.authenticate("ann", "right") is not None and rounds == [5000]


def test_unknown_and_known_users_take_as_long(store):
    users = UserDirectory.parse(user_line("ann", "right", ["demo"], iterations=60_000))
    users.authenticate("warm", "up")

    def median(username: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            users.authenticate(username, "wrong")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = median("ann"), median("nobody")
    assert unknown > 0.5 * known, (known, unknown)


def test_throttle_memory_is_bounded():
    """400 failed logins with 100 KB usernames, each from another address (the worst case),
    keep kilobytes, not the 40 MB the usernames weigh."""
    throttle = LoginThrottle()
    for i in range(400):
        throttle.failed(f"10.{i // 256}.{i % 256}.1", f"{i}" + "u" * 100_000)
    kept = sum(sys.getsizeof(k) + sys.getsizeof(d) for k, d in throttle._failures.items())
    assert kept < 1_000_000 and max(map(len, throttle._failures)) <= 70
    small = LoginThrottle(max_keys=10)
    for i in range(50):
        small.failed(f"10.0.0.{i}", "ann")
    assert len(small) == 10 and "a:10.0.0.49" in small._failures
    assert "a:10.0.0.0" not in small._failures  # the least recently failed went first


def test_login_attempts_with_huge_usernames_keep_no_memory(store):
    users = UserDirectory.parse(user_line("ann", "right", ["demo"], iterations=1000))
    throttle = LoginThrottle()
    server = _server(store, users, throttle=throttle)
    for i in range(400):
        client = _client(server, f"10.1.{i // 256}.{i % 256}")
        token = csrf_token(client)
        answer = client.post(
            "/login",
            data={"username": "u" * 100_000, "password": "x", "csrf_token": token},
        )
        assert answer.status_code in (401, 413) and len(answer.text) < 5_000  # not echoed
    assert sum(len(k) for k in throttle._failures) < 400 * 2 * 70


def test_nobody_elsewhere_can_lock_a_person_out(store):
    users = UserDirectory.parse(user_line("ann", "right", ["demo"], iterations=1000))
    server = _server(store, users, throttle=LoginThrottle(limit=5, address_limit=12))
    attacker = _client(server, "203.0.113.66")
    for _ in range(5):
        assert login(attacker, "ann", "guess").status_code == 401
    assert login(attacker, "ann", "right").status_code == 429  # the attacker is slowed down
    assert login(_client(server, "198.51.100.7"), "ann", "right").status_code == 302  # ann not
    for name in ("bob", "cat", "dan", "eve", "fay", "gus", "hal"):  # many names, one address
        login(attacker, name, "guess")
    assert login(attacker, "zed", "guess").status_code == 429


def test_the_client_address_comes_from_a_trusted_proxy_only(store):
    proxies = TrustedProxies(["10.0.0.0/24", "fd00::/64"])
    cases = [
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # what the proxy appended
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("::ffff:10.0.0.5", "203.0.113.9", "203.0.113.9"),
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not a proxy: its header is ignored
    ]
    app = flask.Flask(__name__)
    for peer, forwarded, expected in cases:
        environ = {"REMOTE_ADDR": peer}
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        with app.test_request_context(environ_base=environ, headers=headers):
            assert proxies.client_address(flask.request) == expected, (peer, forwarded)
    two = TrustedProxies(["10.0.0.0/24"], hops=2)  # an ingress, then oauth2-proxy
    with app.test_request_context(
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.7"},
    ):
        assert two.client_address(flask.request) == "203.0.113.9"


def test_behind_a_proxy_people_are_told_apart_by_their_own_address(store):
    """Behind an ingress every request comes from its address; with it configured as a
    trusted proxy, an attacker's failures do not lock out a person coming through it."""
    users = UserDirectory.parse(user_line("ann", "right", ["demo"], iterations=1000))
    server = _server(store, users, proxies=TrustedProxies(["10.0.0.5/32"]))
    ingress = _client(server, "10.0.0.5")
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    token = csrf_token(ingress)
    for _ in range(5):
        answer = ingress.post(
            "/login",
            headers=attacker,
            data={"username": "ann", "password": "guess", "csrf_token": token},
        )
        assert answer.status_code == 401
    answer = ingress.post(
        "/login",
        headers={"X-Forwarded-For": "198.51.100.7"},
        data={"username": "ann", "password": "right", "csrf_token": token},
    )
    assert answer.status_code == 302
    # Sent straight to the dashboard, X-Forwarded-For is the sender's own invention.
    direct = _client(server, "192.0.2.44")
    token = csrf_token(direct)
    for i in range(6):
        answer = direct.post(
            "/login",
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
            data={"username": "ann", "password": "guess", "csrf_token": token},
        )
    assert answer.status_code == 429


def test_the_oidc_header_is_taken_from_the_proxy_only(store, tmp_path, monkeypatch):
    from dwt_dashboard.__main__ import main

    users_file = tmp_path / "users"
    users_file.write_text("ann@example.org:!:demo=viewer\n")
    with pytest.raises(SystemExit, match="needs --trusted-proxy"):
        main(["--users", str(users_file), "--trusted-user-header", OIDC_USER_HEADER])
    monkeypatch.setenv("DWT_DASHBOARD_TRUSTED_PROXIES", "10.0.0.0/33")
    with pytest.raises(SystemExit, match="--trusted-proxy"):
        main(["--users", str(users_file), "--trusted-user-header", OIDC_USER_HEADER])
    users = UserDirectory.load(users_file)
    with pytest.raises(ValueError, match="--trusted-proxy"):
        _server(store, users, trusted_header=OIDC_USER_HEADER)
    server = _server(
        store, users, trusted_header=OIDC_USER_HEADER, proxies=TrustedProxies(["10.0.0.5/32"])
    )
    claim = {OIDC_USER_HEADER: "ann@example.org"}
    assert _client(server, "10.0.0.5").get("/", headers=claim).text == "home"
    direct = _client(server, "10.0.0.99").get("/", headers=claim)
    assert direct.status_code == 403 and "home" not in direct.text
    assert _client(server, "10.0.0.5").get("/login").status_code == 302  # no password login
    assert (
        _client(server, "10.0.0.5")
        .get("/logout", headers=claim)
        .location.endswith("/oauth2/sign_out")
    )


def test_docs_and_chart_name_the_header_oauth2_proxy_sets():
    """oauth2-proxy as the reverse proxy sets X-Forwarded-Email (--pass-user-headers, on by
    default, replacing a client's value); X-Auth-Request-* are response headers for nginx's
    auth_request, which the proxy never sends upstream."""
    texts = {
        "docs/dashboard.md": (REPO / "docs" / "dashboard.md").read_text(),
        "docs/helm.md": (REPO / "docs" / "helm.md").read_text(),
        "values.yaml": (REPO / "charts" / "discover-weekly" / "values.yaml").read_text(),
    }
    for name, text in texts.items():
        named = re.findall(r"(?:--trusted-user-header[ =]|trustedUserHeader: )([\w-]+)", text)
        named += re.findall(r"\b(X-[A-Za-z-]+)\)? *\(?oauth2-proxy", text)
        assert OIDC_USER_HEADER in text, name
        assert set(named) <= {OIDC_USER_HEADER}, (name, named)
        assert "X-Auth-Request-User" not in text, name
    assert "--trusted-proxy" in texts["docs/dashboard.md"]


def test_the_chart_trusts_the_header_only_behind_its_network_policy():
    import helm_python as helm

    values = {
        "dashboard": {"trustedUserHeader": OIDC_USER_HEADER},
        "networkPolicy": {"dashboardFrom": [{"podSelector": {"matchLabels": {"app": "o2p"}}}]},
    }
    with helm.Chart.load(REPO / "charts" / "discover-weekly") as chart:
        files = chart.render(values, name="dwt", namespace="ns")
    docs = [d for p, t in files.items() if p.endswith(".yaml") for d in yaml.safe_load_all(t)]
    (deployment,) = [
        d
        for d in docs
        if d and d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-dashboard")
    ]
    command = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    from dwt_dashboard.__main__ import _parser

    args = _parser().parse_args(command[3:])
    assert args.trusted_user_header == OIDC_USER_HEADER and args.trusted_proxy
