"""The dashboard: login, access per community, data functions and callbacks, no secrets."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard_client import login
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.stages.weights import BondWeights
from dwt.store import Coll, Store
from dwt_dashboard import data, digest, insights_map
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, hash_password, user_line, verify_password
from dwt_dashboard.launcher import LocalLauncher
from dwt_dashboard.pages import collection, weights
from dwt_dashboard.pages.weights import slider_weights
from sample_week import load_sample

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)

NOW = datetime(2026, 11, 28, tzinfo=UTC)
SECRET_KEY = "xkey-SECRET-123456"
MONGO_URL = "mongodb://dwt:pa55w0rd-SECRET@db.example:27017/dwt"


def analysed_sample(store: Store, run_id: str = "r", **spec: Any) -> Store:
    """The packaged sample community in ``store``, analysed by run ``run_id`` (discover,
    bonds, cluster, content; ``spec``: more of the run's spec, weights say)."""
    load_sample(store)
    run_pipeline(
        store,
        RunSpec(community="sample", steps=["discover", "bonds", "cluster", "content"], **spec),
        now=NOW,
        progress=Progress(store, run_id, stream=None),
        run_id=run_id,
    )
    return store


@pytest.fixture
def sample(store: Store) -> Store:
    return analysed_sample(store)


@pytest.fixture
def users() -> UserDirectory:
    return UserDirectory.parse(
        "# test users\n"
        + user_line("ann", "right", ["sample"], iterations=1000)
        + "\n"
        + user_line("bob", "bobpw", ["other"], iterations=1000)
        + "\n"
    )


@pytest.fixture
def app(sample: Store, users: UserDirectory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DWT_API_KEYS", SECRET_KEY)
    monkeypatch.setenv("DWT_STORE_URL", MONGO_URL)
    monkeypatch.setenv("DWT_DASHBOARD_SECRET_KEY", "test-session-key")
    launcher = LocalLauncher(sample, clock=lambda: NOW)
    return create_app(sample, launcher, users, clock=lambda: NOW)


def _login(client, username="ann", password="right"):
    return login(client, username, password)


def _callback_key(app, prefix: str) -> str:
    """The callback's key in the app (outputs shared by several callbacks carry a hash)."""
    (key,) = [k for k in app.callback_map if k.startswith(prefix)]
    return key


def _update(client, output, inputs, state=(), triggered=None):
    """POST a Dash callback request the way the browser does (``a.x...b.y`` for several)."""
    parts = [o.split(".") for o in output.strip(".").split("...")]
    outputs = [{"id": i, "property": p} for i, p in parts]
    body = {
        "output": output,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs,
        "state": list(state),
        "changedPropIds": triggered or [f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    return client.post("/_dash-update-component", json=body)


def test_password_hash_round_trip():
    encoded = hash_password("s3cret", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("wrong", encoded)
    assert hash_password("s3cret", iterations=1000) != encoded  # a fresh salt each time


def test_login_guard(app):
    client = app.server.test_client()
    assert client.get("/").location == "/login"
    response = client.get("/insights?cluster=3")  # a deep link: back there after login
    assert (
        response.status_code == 302 and response.location == "/login?next=%2Finsights%3Fcluster%3D3"
    )
    for path in ("/_dash-layout", "/_dash-dependencies"):  # the page's own requests: 401
        response = client.get(path)
        assert response.status_code == 401 and response.get_json()["login"] == "/login"
    callback = client.post("/_dash-update-component", json={"output": "page.children"})
    assert callback.status_code == 401 and "log in again" in callback.get_json()["error"]
    login_page = client.get("/login?next=/insights").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in login_page
    assert 'name="next" value="/insights"' in login_page
    assert client.get("/login").status_code == 200
    assert client.get("/assets/style.css").status_code == 200
    refused = _login(client, password="nope")
    assert refused.status_code == 401 and "Wrong username or password" in refused.text
    assert client.get("/").status_code == 302
    assert _login(client).status_code == 302
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout").text
    assert "sample" in layout and "other" not in layout


def test_data_functions(sample: Store):
    overview = digest.overview(sample, "sample")
    assert overview["members"] == 4 and overview["tweets"] == 7 and overview["clusters"] == 1
    assert overview["runs"][0]["status"] == "succeeded"
    assert overview["changes"][0] == "7 tweets this week against 0 the week before (+7)."
    assert overview["changes"][-1] == "First analysis of this community: nothing to compare yet."
    clusters = data.clusters(sample, "sample")
    assert [c["cluster"] for c in clusters] == [0, -1]
    assert {"ada", "brook"} <= set(clusters[0]["members"])
    (cand,) = data.candidates(sample, "sample")
    assert cand["url"] == f"https://x.com/{cand['username']}" and cand["interactions"] > 0
    convs = data.conversations(sample, "sample", 0, 1)
    assert convs[0]["url"] == "https://x.com/i/status/1862000000000000001"
    first = convs[0]["tweets"][0]
    assert first["text"].startswith("Weekly notes on #graphs")
    assert first["url"] == f"https://x.com/{first['author']}/status/1862000000000000001"
    assert len(convs[0]["tweets"]) == convs[0]["size"] == 3
    assert [c["rank"] for c in convs if not c["trending"]] == sorted(
        c["rank"] for c in convs if not c["trending"]
    )
    # The map opens on the cluster overview, at the positions the cluster step stored
    # (dwt_dashboard.insights_map; tests/unit/test_dashboard_map.py has the rest).
    elements = insights_map.initial_elements(sample, "sample")
    nodes = [e for e in elements if "position" in e]
    assert sorted(n["data"]["cluster"] for n in nodes) == sorted(c["cluster"] for c in clusters)
    assert all(n["data"]["kind"] == "cluster" for n in nodes)
    defaults = data.weight_defaults()  # the pipeline's own, for the fields a run accepts
    assert defaults and all(v == getattr(BondWeights(), k) for k, v in defaults.items())
    assert slider_weights([weights.control_value(n, v) for n, v in defaults.items()]) == defaults
    raw = {n: v for n, v in zip(defaults, [0.01, 0.1, 1.0, 10.0, 100.0], strict=False)}
    raw = {**defaults, **raw}  # the 2020 weights: log positions round-trip exactly
    assert slider_weights([weights.control_value(n, v) for n, v in raw.items()]) == raw
    off = slider_weights([weights.OFF] + [weights.control_value(n, raw[n]) for n in list(raw)[1:]])
    assert off[next(iter(raw))] == 0  # "off" is a weight of 0
    assert weights.weight_text(0) == "off" and weights.weight_text(100.0) == "100"


def test_pages_render_and_hold_no_secrets(app):
    client = app.server.test_client()
    _login(client)
    texts = [client.get(p).text for p in ("/", "/login")]
    texts.append(json.dumps(client.get("/_dash-layout").get_json(), ensure_ascii=False))
    for path in ("/", "/users", "/insights", "/jobs"):
        response = _update(
            client,
            "page.children",
            [
                {"id": "url", "property": "pathname", "value": path},
                {"id": "community", "property": "value", "value": "sample"},
                {"id": "url", "property": "search", "value": ""},
            ],
        )
        assert response.status_code == 200, response.text
        # Dash escapes "/" in JSON: compare the decoded text.
        texts.append(json.dumps(response.get_json(), ensure_ascii=False))
    joined = "\n".join(texts)
    assert "https://x.com/i/status/" not in texts[3]  # conversations load on their own
    assert "Bond weights" in joined and "https://x.com/" in joined
    for secret in (SECRET_KEY, "pa55w0rd", MONGO_URL, "sqlite://", "mongodb://"):
        assert secret not in joined


def test_candidates_are_previewed_then_finalised_via_callbacks(app, sample: Store):
    client = app.server.test_client()
    _login(client)
    (cand,) = data.candidates(sample, "sample")
    button = {"type": "cand", "account": cand["account_id"], "action": "mute"}
    outputs = _callback_key(app, "..decisions.data...")

    def click(trigger: str, decisions: dict, clicks: int = 1):
        response = _update(
            client,
            outputs,
            [
                [{"id": button, "property": "n_clicks", "value": clicks}],
                {"id": "finalise", "property": "n_clicks", "value": 1},
                {"id": "decisions-clear", "property": "n_clicks", "value": 0},
            ],
            [
                {"id": "decisions", "property": "data", "value": decisions},
                {"id": "community", "property": "value", "value": "sample"},
            ],
            triggered=[trigger],
        )
        assert response.status_code == 200, response.text
        return response.get_json()["response"]

    staged = click(json.dumps(button, separators=(",", ":"), sort_keys=True) + ".n_clicks", {})
    assert staged["decisions"]["data"] == {cand["account_id"]: "mute"}
    assert f"mute @{cand['username']}" in json.dumps(staged["preview"])
    assert sample[Coll.CANDIDATES].find_one({"account_id": cand["account_id"]})["status"] == (
        "pending"
    )  # nothing is decided before finalising
    done = click("finalise.n_clicks", staged["decisions"]["data"])
    result = done["cand-result"]["children"]["props"]
    assert result["children"] == [f"Muted for 7 days: @{cand['username']}."]
    assert result["className"] == "notice notice-ok"
    assert done["decisions"]["data"] == {}
    assert "Members (4)" in json.dumps(done)  # finalising refreshes the member list too
    doc = sample[Coll.CANDIDATES].find_one({"account_id": cand["account_id"]})
    assert doc["status"] == "muted"
    assert data.candidates(sample, "sample") == []


def test_finalised_additions_are_collected_at_once(app, sample: Store):
    (cand,) = data.candidates(sample, "sample")
    message = app.handlers.finalise("ann", "sample", {cand["account_id"]: "core"})
    # This app's launcher cannot reach X: the member is added and collected next time.
    assert message.startswith(f"Added @{cand['username']}. They are collected on the next run")
    member = sample[Coll.MEMBERS].find_one({"account_id": cand["account_id"]})
    assert member["core"] and member["community"] == "sample"
    assert app.handlers.finalise("ann", "sample", {}).startswith("Nothing to finalise")
    assert app.handlers.finalise("ann", "sample", {"999": "add"}).startswith("Nothing done")
    removed = app.handlers.remove_member("ann", "sample", cand["account_id"])
    assert removed == f"Removed @{cand['username']}."
    assert not sample[Coll.MEMBERS].find_one({"account_id": cand["account_id"]})
    assert "is not a member" in app.handlers.remove_member("ann", "sample", cand["account_id"])
    assert "may not" in app.handlers.remove_member("bob", "sample", "1001")


def test_add_member_and_access(app, sample: Store):
    handlers = app.handlers
    known = sample[Coll.ACCOUNTS].find_one(
        {"_id": data.candidates(sample, "sample")[0]["account_id"]}
    )
    assert "may not" in handlers.add_member("bob", "sample", known["username"], False)
    assert "may not" in handlers.finalise("bob", "sample", {known["_id"]: "block"})
    assert "Choose one of your communities" in str(handlers.page("bob", "/users", "sample"))
    message = handlers.add_member("ann", "sample", known["username"], True)
    assert message.startswith("Added @")
    member = sample[Coll.MEMBERS].find_one({"account_id": known["_id"]})
    assert member["core"] and member["source"] == "manual"
    assert "Unknown account" in handlers.add_member("ann", "sample", "nobody_here", False)
    assert "Not a valid" in handlers.add_member("ann", "sample", "bad name!", False)


def test_launch_run_completes(app, sample: Store):
    client = app.server.test_client()
    _login(client)
    sliders = [
        {"id": f"w-{name}", "property": "value", "value": value}
        for name, value in zip(
            data.weight_defaults(),
            [weights.control_value(n, v) for n, v in data.weight_defaults().items()],
            strict=True,
        )
    ]
    response = _update(
        client,
        _callback_key(app, "..run-result.children"),
        [{"id": "run-button", "property": "n_clicks", "value": 1}],
        [{"id": "community", "property": "value", "value": "sample"}, *sliders],
    )
    assert response.status_code == 200, response.text
    message = response.get_json()["response"]["run-result"]["children"]["props"]["children"][0]
    run_id = message.split("Started run ")[1].split(";")[0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run = sample[Coll.RUNS].find_one({"_id": run_id})
        if run and run.get("status") in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert run["status"] == "succeeded", run
    assert run["steps"] == ["bonds", "cluster", "content"]
    assert data.weights_of(run["params"]["weights"]) == data.weight_defaults()
    assert run_id in {r["run_id"] for r in data.runs(sample, "sample")}
    # bob may not launch on sample
    assert "may not" in app.handlers.launch("bob", "sample", BondWeights().to_dict())


def test_collection_page_shows_volume_time_frame_and_unreadable_accounts(sample: Store):

    sample[Coll.MEMBERS].update_one(
        {"account_id": "1004", "community": "sample"},
        {"$set": {"status": "protected", "status_seen_at": NOW}},
    )
    status = data.collection(sample, "sample")
    assert status["tweets"] == 7
    assert status["first"].isoformat().startswith("2026-11-23T09:00")
    assert status["last"].isoformat().startswith("2026-11-26T08:30")
    assert [(u["username"], u["status"]) for u in status["unreadable"]] == [("dee", "protected")]
    page = str(collection.layout(status, None))
    assert "@dee" in page and "protected" in page and "tweets collected" in page


def test_every_demo_flag_says_what_it_does(capsys):
    """``dwt demo --help`` explains each flag, ``--host`` chooses the address, and sizes
    that cannot be generated are refused with a sentence (issue 26)."""
    import argparse

    from dwt.cli import build_parser, main

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    demo = commands.choices["demo"]
    flags = {a.option_strings[-1]: a for a in demo._actions if a.option_strings}
    assert "--host" in flags and flags["--host"].default == "127.0.0.1"
    assert all(a.help for a in flags.values()), [f for f, a in flags.items() if not a.help]
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--members", "0", "--no-serve"])
    assert exited.value.code == 2 and "needs a positive number" in capsys.readouterr().err


def test_home_says_which_members_wait_to_be_collected(store):
    """Members added without an API key are never collected by themselves: Home says how
    many wait and leads to the Users page's collect button (issue 26)."""
    from dwt_dashboard.pages import home

    store.add_members("c", [{"id": "1", "username": "one"}, {"id": "2", "username": "two"}])
    shown = digest.digest(store, "c")
    assert shown["uncollected"] == 2
    page = str(home.layout(shown))
    assert "2 members not collected yet" in page and "/users" in page
    assert "not collected yet" not in str(home.layout({**shown, "uncollected": 0}))


def test_collecting_what_waits_says_how_many_and_refuses_viewers(store, tmp_path):
    """The Users page's collect button: how many members wait and the run that collects
    them (no key here: it says to add one first), nothing started when none waits."""
    from dwt_dashboard.keys import FileKeyStore

    keys = tmp_path / "keys"
    keys.write_text("")  # no API key yet
    users = UserDirectory.parse(
        user_line("ed", "pw", {"c": "editor", "d": "editor"}, iterations=1000)
        + "\n"
        + user_line("vi", "pw", {"c": "viewer"}, iterations=1000)
    )
    store.add_members("c", [{"id": "1", "username": "one"}, {"id": "2", "username": "two"}])
    app = create_app(store, LocalLauncher(store), users, keys=FileKeyStore(keys, "http://x"))
    told = app.handlers.collect_uncollected("ed", "c")
    assert told.startswith("2 members not collected yet. Add an API key first") and told.error
    assert app.handlers.collect_uncollected("vi", "c") == "You may not act on this community."
    assert app.handlers.collect_uncollected("ed", "d").startswith("Every member has been")


def test_the_jobs_page_shows_runs_a_page_at_a_time(app, sample: Store):
    """45 runs: the Jobs page shows the newest 20 and says so; "older runs" moves a page
    (clamped at the last), and a page number the page never sends is clamped too."""
    from datetime import timedelta

    from dwt.store.runs import start_run

    for i in range(44):  # beside the sample's own run
        start_run(sample, f"old-{i:02}", "sample", ["bonds"], {}, NOW - timedelta(days=i + 1))
    client = app.server.test_client()
    _login(client)
    state = [{"id": "community", "property": "value", "value": "sample"}]

    def older(page: int | None) -> int:
        response = _update(
            client,
            "runs-page.data",
            [{"id": "runs-newer", "property": "n_clicks", "value": 0},
             {"id": "runs-older", "property": "n_clicks", "value": 1}],
            [{"id": "runs-page", "property": "data", "value": page}, *state],
            triggered=["runs-older.n_clicks"],
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.get_json()["response"]["runs-page"]["data"]

    def table(page: int) -> str:
        response = _update(
            client,
            "jobs-table.children",
            [{"id": "jobs-tick", "property": "n_intervals", "value": 1},
             {"id": "runs-page", "property": "data", "value": page}],
            state,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return json.dumps(response.get_json(), ensure_ascii=False)

    assert "Runs 1–20 of 45, newest first" in table(0) and "old-18" in table(0)
    assert older(0) == 1 and older(1) == 2 and older(2) == 2  # the last page holds
    assert older(None) == 1
    last = table(2)
    assert "Runs 41–45 of 45" in last and "old-43" in last and "old-18" not in last
    assert "Runs 41–45 of 45" in table(10**9)  # clamped, not an empty page
    assert "Runs 1–20 of 45" in table(-3)
