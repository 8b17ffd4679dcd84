"""The dashboard as deployed behind an ingress (issue 23): ``python -m dwt_dashboard``
served by waitress, a reverse proxy on loopback in front (tests/revproxy.py) that appends
the client's address to ``X-Forwarded-For`` and sets ``X-Forwarded-Proto``, clients from
distinct loopback addresses.

waitress drops those headers by default (``clear_untrusted_proxy_headers``): every client
then looked like the proxy, so one person's wrong passwords locked everyone out and the
session cookie was never ``Secure``. Bodies over the caps are refused before they are read.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dwt_dashboard.auth import FORM_BODY_MAX, LoginThrottle, client_network, user_line
from revproxy import Client, ReverseProxy, readable

pytestmark = pytest.mark.slow  # processes, servers or thousands of requests

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def dashboard(tmp_path: Path, *flags: str) -> Iterator[tuple[int, int]]:
    """``python -m dwt_dashboard`` on a free loopback port: (port, pid)."""
    users = tmp_path / "users"
    users.write_text(
        user_line("ann", "ann-password", ["demo"], iterations=1000)
        + "\n"
        + user_line("bob", "bob-password", ["demo"], iterations=1000)
        + "\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
    env["DWT_DASHBOARD_SECRET_KEY"] = "s" * 32
    args = [sys.executable, "-m", "dwt_dashboard", "--users", str(users), "--port", "0",
            "--data-dir", str(tmp_path / "data"), *flags]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 120
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            log.append(line)
            if not line and proc.poll() is not None:
                break
            if found := re.search(r"serving http://127\.0\.0\.1:(\d+)/", line):
                port = int(found.group(1))
        assert port, "the dashboard did not start:\n" + "".join(log)
        # Its log is read on (a full pipe would stall the server) and shown if the test fails.
        threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
        yield port, proc.pid
    except BaseException:
        print(f"the dashboard (exit {proc.poll()}) logged:\n" + "".join(log[-60:]))
        raise
    finally:
        proc.terminate()
        proc.wait(10)


def _login(client: Client, user: str, password: str) -> tuple[int, list[str]]:
    status, _, _, form = client.request("GET", "/login")
    assert status == 200
    token = CSRF.search(form)
    assert token
    status, _, cookies, _ = client.request(
        "POST", "/login", {"username": user, "password": password, "csrf_token": token.group(1)}
    )
    return status, cookies


def test_a_lock_out_behind_the_proxy_is_one_clients_and_cookies_follow_its_scheme(tmp_path):
    with (
        dashboard(tmp_path, "--trusted-proxy", "127.0.0.1/32") as (port, _),
        ReverseProxy(("127.0.0.1", port), proto="https") as proxy,
    ):
        mallory = Client(proxy.port, "127.0.0.2")
        for _ in range(LoginThrottle().limit):
            assert _login(mallory, "ann", "wrong")[0] == 401
        assert _login(mallory, "ann", "ann-password")[0] == 429  # this client is locked out
        ann = Client(proxy.port, "127.0.0.3")
        status, cookies = _login(ann, "ann", "ann-password")
        assert status == 302  # another client is not
        session = [c for c in cookies if c.startswith("session=")]
        assert session and "Secure" in session[-1]  # the proxy says https
        # Failures under many names from one client lock that client out, nobody else.
        for i in range(LoginThrottle().address_limit):
            _login(mallory, f"nobody{i}", "x")
        assert _login(mallory, "bob", "bob-password")[0] == 429
        assert _login(Client(proxy.port, "127.0.0.4"), "bob", "bob-password")[0] == 302

    # Over plain http the cookie is not Secure (auto: it follows the proxy's word).
    with (
        dashboard(tmp_path, "--trusted-proxy", "127.0.0.1/32") as (port, _),
        ReverseProxy(("127.0.0.1", port), proto="http") as proxy,
    ):
        status, cookies = _login(Client(proxy.port, "127.0.0.5"), "ann", "ann-password")
        assert status == 302
        assert not any("Secure" in c for c in cookies)


def test_an_untrusted_proxys_headers_are_not_believed(tmp_path):
    """Without --trusted-proxy nobody's X-Forwarded-For counts: behind the proxy every client
    is the proxy (as it should be when the proxy is not named), and a client cannot claim
    an address of its own."""
    with (
        dashboard(tmp_path) as (port, _),
        ReverseProxy(("127.0.0.1", port), proto="https") as proxy,
    ):
        mallory = Client(proxy.port, "127.0.0.2")
        for _ in range(LoginThrottle().limit):
            _login(mallory, "ann", "wrong")
        status, _ = _login(Client(proxy.port, "127.0.0.3"), "ann", "ann-password")
        assert status == 429  # one client for the dashboard: the proxy


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def _post_head(port: int, path: str, length: int, first: bytes) -> tuple[int, float]:
    """POST declaring ``length`` bytes and read the answer's status; ``first`` bytes of the
    body are sent only if no answer came within 10 s of the head.

    An answer before the body is the refusal asked for. Sending the body anyway would race
    the server's close: a socket closed with unread data resets the connection, and the
    client may see the reset before the answer (CI did: ECONNRESET)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.7", 0)) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: dashboard\r\nContent-Length: {length}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
        )
        if not readable([s], 10):
            with contextlib.suppress(OSError):  # refused meanwhile: the answer waits
                s.sendall(first)
        s.settimeout(60)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ")[1]), time.monotonic() - started


def test_bodies_over_the_caps_are_refused_before_they_are_read(tmp_path):
    with (
        dashboard(tmp_path, "--trusted-proxy", "127.0.0.1/32") as (port, pid),
        ReverseProxy(("127.0.0.1", port), proto="https") as proxy,
    ):
        client = Client(proxy.port, "127.0.0.2")
        assert client.request("GET", "/healthz")[0] == 200
        before = _rss_kib(pid)
        for target in (port, proxy.port):  # straight to waitress, and through the proxy
            for path in ("/login", "/_dash-update-component"):
                status, _ = _post_head(target, path, 100 * 1024 * 1024, b"x" * (1 << 20))
                assert status == 413, (target, path)
        grown = _rss_kib(pid) - before
        assert grown < 16 * 1024, f"the dashboard grew {grown} KiB on refused bodies"

        # A 2 MB password (under the app's cap, over the form's): 413, never hashed.
        status, _, _, form = client.request("GET", "/login")
        token = CSRF.search(form).group(1)
        status, *_ = client.request(
            "POST", "/login", {"username": "ann", "password": "p" * (2 << 20), "csrf_token": token}
        )
        assert status == 413
        # A field over its own cap inside a small form: 413 as well, urlencoded or not.
        long_name = "a" * 300
        assert len(long_name) < FORM_BODY_MAX
        status, *_ = client.request(
            "POST", "/login", {"username": long_name, "password": "x", "csrf_token": token}
        )
        assert status == 413
        assert _login(client, "ann", "ann-password")[0] == 302  # the form itself still works


def test_the_throttle_keys_an_ipv6_client_by_its_64():
    throttle = LoginThrottle(limit=2)
    a, b = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"  # one /64
    assert client_network(a) == client_network(b) == "2001:db8:1:2::/64"
    assert client_network("203.0.113.9") == "203.0.113.9"
    assert client_network("::ffff:203.0.113.9") == "203.0.113.9"
    throttle.failed(a, "ann")
    throttle.failed(b, "ann")
    assert throttle.retry_after("2001:db8:1:2::42", "ann") > 0  # the whole /64 waits
    assert throttle.retry_after("2001:db8:1:3::1", "ann") == 0  # the next /64 does not
