"""What the dashboard does beyond showing results: the daily schedule (fired locally, a
CommunityJob in the cluster), keys in a Kubernetes Secret, members looked up on X, run
logs, a hardened login (CSRF token, throttling, an OIDC proxy's header, the probe), and
``python -m dwt_dashboard`` in cluster mode against the Kubernetes API emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask
import kubernetes
import pytest
import requests
import yaml

from dashboard_client import csrf_token, login
from dwt.collect.keys import KeySource
from dwt.generate import generate_community
from dwt.pipeline.collection import CollectConfig
from dwt.store import Coll, Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard import data
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import LoginThrottle, SessionStore, UserDirectory, user_line
from dwt_dashboard.kube_launcher import KubeLauncher
from dwt_dashboard.launcher import DailySchedule, LocalLauncher
from dwt_dashboard.login import install

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "manifests" / "crds" / "communityjobs.yaml").read_text())
JOBS = "discoverweekly.io/v1alpha1/communityjobs"
GOOD, BAD = "good-bearer-token-123", "typo-bearer-token-456"
# Sunday 29 November 2026, 05:30 UTC = 06:30 in Paris (CET, UTC+1).
NOW = datetime(2026, 11, 29, 5, 30, tzinfo=UTC)
FIRED = NOW + timedelta(minutes=31)  # 07:01 in Paris, when the daily run below fires


@pytest.fixture(scope="module")
def dataset():
    """A week ending at the schedule's firing (the test's clock, not the calendar's)."""
    return generate_community(members=16, communities=2, days=2, seed=5, now=FIRED)


@pytest.fixture(scope="module")
def x_api(dataset):
    config = EmulatorConfig(tokens=[GOOD], rate_limit=10_000, shift_to_now=False)
    with EmulatorServer(dataset, config) as server:
        yield server.base_url


def _users() -> UserDirectory:
    return UserDirectory.parse(
        user_line("ann", "right", ["demo"], iterations=1000)
        + "\n"
        + user_line("bob", "bobpw", ["other"], iterations=1000)
    )


def _with_members(store: Store, dataset, n: int = 10) -> list[dict]:
    users = dataset.users.filter(dataset.users["is_member"]).select(["id", "username"])
    members = users.to_pylist()
    store.add_members("demo", members[:n], source="import")
    return members


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_local_schedule_is_saved_shown_and_fires_at_the_hour_in_its_zone(
    store, dataset, x_api, tmp_path
):
    _with_members(store, dataset)
    keys_file = tmp_path / "keys"
    keys_file.write_text(GOOD)
    clock = Clock(NOW)
    collect = CollectConfig(KeySource(file=str(keys_file), from_env=False), x_api, use_ray=False)
    launcher = LocalLauncher(store, collect, clock=clock)
    app = create_app(store, launcher, _users(), clock=clock)
    handlers = app.handlers

    assert "No daily run yet" in str(handlers.page("ann", "/collection", "demo"))
    assert handlers.set_schedule("bob", "demo", 7, "Europe/Paris").startswith("You may not")
    assert "unknown time zone" in handlers.set_schedule("ann", "demo", 7, "Mars/Olympus")
    assert "0 to 23" in handlers.set_schedule("ann", "demo", 24, "UTC")
    saved = handlers.set_schedule("ann", "demo", 7, "Europe/Paris")
    assert saved == "Saved: daily at 07:00 Europe/Paris, next 2026-11-29 07:00 CET."
    assert launcher.schedule("demo") == DailySchedule(7, "Europe/Paris")
    page = str(handlers.page("ann", "/collection", "demo"))
    assert "Runs daily at 07:00 Europe/Paris" in page

    clock.now = NOW + timedelta(minutes=29)  # 06:59 in Paris
    assert launcher.tick() == []
    clock.now = FIRED  # 07:01 in Paris (06:01 UTC)
    (run_id,) = launcher.tick()
    assert launcher.tick() == []  # fired once for today
    launcher.threads[run_id].join(60)
    run = store[Coll.RUNS].find_one({"_id": run_id})
    assert run["status"] == "succeeded", run.get("error")
    assert run["steps"][0] == "collect" and run["counts"]["tweets"] > 0
    log = handlers.log_tail("ann", "demo", run_id)
    assert "collect: done" in log and log.rstrip().endswith("succeeded")
    assert handlers.log_tail("ann", "demo", "someone-elses-run") == "No such run of this community."
    assert run_id == "demo-s202611290700"  # named by its firing, as the operator names it
    assert data.runs(store, "demo")[0]["kind"] == "scheduled"

    # Finalising an addition collects the new member at once: a "discovery" run.
    candidate = data.candidates(store, "demo")[0]
    told = handlers.finalise("ann", "demo", {candidate["account_id"]: "add"})
    assert told.startswith(f"Added @{candidate['username']}. Collecting them in run ")
    discovery = told.split("Collecting them in run ")[1].rstrip(".")
    launcher.threads[discovery].join(60)
    run = store[Coll.RUNS].find_one({"_id": discovery})
    assert run["status"] == "succeeded" and run["counts"]["accounts"] == 1
    assert {r["run_id"]: r["kind"] for r in data.runs(store, "demo")}[discovery] == "discovery"
    assert handlers.log_tail("bob", "demo", run_id) == ""

    clock.now = NOW + timedelta(days=3)  # three missed days collapse into one run
    (late,) = launcher.tick()
    launcher.threads[late].join(60)  # done before the store closes


# The cluster schedule and the Secret-backed key store run on a real kube-apiserver under
# the chart's dashboard account: tests/unit/test_dashboard_kube.py, test_dashboard_keys.py.


def test_members_are_looked_up_on_x(store, dataset, x_api):
    members = _with_members(store, dataset, n=4)
    outside = members[8]["username"]
    launcher = LocalLauncher(store, lookup_token=lambda: GOOD, x_api_base_url=x_api)
    handlers = create_app(store, launcher, _users()).handlers
    message = handlers.add_member("ann", "demo", f"https://x.com/{outside}?s=20", False)
    # This launcher cannot collect: the member is added and collected on the next run; X
    # billed the lookup, and the person is told what it cost.
    assert message.startswith(
        f"Added @{outside}. Looked up on X: 1 user lookups $0.01 = $0.01. "
        "They are collected on the next run"
    )
    assert store[Coll.CHARGES].find_one({"community": "demo", "source": "lookup"})["usd"] == 0.01
    assert not message.error
    assert store[Coll.MEMBERS].find_one({"community": "demo", "username": outside})
    again = handlers.add_member("ann", "demo", outside.upper(), False)
    assert again == f"@{outside.upper()} is already a member." and not again.error
    missing = handlers.add_member("ann", "demo", "nosuchuser_xyz", False)
    assert missing == "@nosuchuser_xyz: not found on X, not added."
    offline = LocalLauncher(store, lookup_token=lambda: GOOD, x_api_base_url="http://127.0.0.1:9")
    assert offline.add_members("demo", ["another_one"]).startswith("Not added: X could not be")


def test_login_needs_the_forms_token_and_is_throttled(store):
    ticks = [0.0]
    server = flask.Flask(__name__)
    throttle = LoginThrottle(limit=3, window_s=60, clock=lambda: ticks[0])
    install(server, _users(), SessionStore(store), throttle=throttle)
    client = server.test_client()
    assert client.get("/healthz").status_code == 200
    no_token = client.post("/login", data={"username": "ann", "password": "right"})
    assert no_token.status_code == 400 and "expired" in no_token.text
    forged = client.post(
        "/login", data={"username": "ann", "password": "right", "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    for _ in range(3):
        assert login(client, "ann", "wrong").status_code == 401
    refused = login(client, "ann", "right")
    assert refused.status_code == 429 and "Too many failed logins" in refused.text
    assert int(refused.headers["Retry-After"]) == 61
    ticks[0] = 61.0
    assert login(client, "ann", "right").status_code == 302
    assert client.get("/login").status_code == 200 and csrf_token(client)


def test_an_oidc_proxys_header_names_the_user(store):
    """oauth2-proxy (at 10.0.0.5) names the user in X-Forwarded-Email; the same header sent
    straight to the dashboard by anyone else names nobody."""
    users = UserDirectory.parse(
        user_line("ann@example.org", "unused", ["demo"], iterations=1000) + "\n"
    )
    header = {"X-Forwarded-Email": "ann@example.org"}
    with pytest.raises(ValueError, match="--trusted-proxy"):  # a header anyone could send
        create_app(store, LocalLauncher(store), users, trusted_user_header="X-Forwarded-Email")
    app = create_app(
        store,
        LocalLauncher(store),
        users,
        trusted_user_header="X-Forwarded-Email",
        trusted_proxies=["10.0.0.5/32"],
    )
    proxy = app.server.test_client()
    proxy.environ_base["REMOTE_ADDR"] = "10.0.0.5"
    assert proxy.get("/", headers=header).status_code == 200
    assert proxy.get("/_dash-layout", headers=header).status_code == 200
    stranger = proxy.get("/", headers={"X-Forwarded-Email": "mallory@example.org"})
    assert stranger.status_code == 403 and "mallory@example.org may not" in stranger.text
    assert proxy.get("/").status_code == 403  # no header: nobody
    direct = app.server.test_client()
    direct.environ_base["REMOTE_ADDR"] = "10.9.8.7"  # not the proxy: the header is ignored
    for path in ("/", "/_dash-layout"):
        refused = direct.get(path, headers=header)
        assert refused.status_code == 403 and "ann" not in refused.text
    forwarded = {**header, "X-Forwarded-For": "10.0.0.5"}  # claiming to be it does not help
    assert direct.get("/_dash-layout", headers=forwarded).status_code == 403


def test_dashboard_serves_in_cluster_mode(tmp_path, store_url, kube_api):
    """``python -m dwt_dashboard --kube`` against the real API server (its kubeconfig)."""
    users = tmp_path / "users"
    users.write_text(user_line("ann", "right", ["demo"], iterations=1000) + "\n")
    namespace = f"dash-{uuid.uuid4().hex[:8]}"
    kube_api.ensure_namespace(namespace)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
    env.update(KUBECONFIG=str(kube_api.kubeconfig))
    env.update(DWT_STORE_URL=store_url, DWT_DASHBOARD_SECRET_KEY="s" * 32)
    args = [sys.executable, "-m", "dwt_dashboard", "--users", str(users), "--port", "0"]
    wrong = subprocess.run(
        [*args, "--kube", "--keys-file", "k"], env=env, capture_output=True, text=True
    )
    assert wrong.returncode != 0 and "with --kube give --keys-secret" in wrong.stderr
    proc = subprocess.Popen(
        [*args, "--kube", "--namespace", namespace, "--keys-secret", "x-api-keys"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "serving http://" in line:
                url = line.split("serving ")[1].strip()
        assert url, "the dashboard did not start"
        assert requests.get(url + "healthz", timeout=10).text == "ok\n"
        session = requests.Session()
        form = session.get(url + "login", timeout=10).text
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        done = session.post(
            url + "login",
            data={"username": "ann", "password": "right", "csrf_token": token},
            timeout=30,
        )
        assert done.status_code == 200 and done.url == url  # redirected home
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_unreachable_cluster_is_said_not_hidden(store):
    config = kubernetes.client.Configuration()
    config.host = "http://127.0.0.1:9"  # nothing listens: connection refused
    custom = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(config))
    handlers = create_app(store, KubeLauncher(custom, "default", store), _users()).handlers
    store.add_members("demo", [{"id": "1", "username": "one"}])
    page = str(handlers.page("ann", "/jobs", "demo"))
    assert "This page needs the cluster" in page and "could not be reached" in page
    assert handlers.launch("ann", "demo", {}).startswith(
        "Not started: the Kubernetes API could not be reached"
    )
    assert "could not be reached" in handlers.set_schedule("ann", "demo", 6, "UTC")
    assert "could not be reached" in str(handlers.jobs_tables("demo"))
