"""Access control in the dashboard: one rule, checked before any callback runs.

Every registered Dash callback (``app.callback_map``) is replayed, each of its inputs as the
trigger, as someone logged out, as a user of another community and as a viewer; each must be
refused, answer nothing of the community it was pointed at, and change nothing. A callback
added later is replayed the same way without touching this file (unless it brings a new
kind of input value; then the test says which to add)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard_client import login
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from dwt.xapi.client import key_fingerprint
from dwt_dashboard import data
from dwt_dashboard.access import REFUSALS, Need
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import DEFAULT_ROLE, Role, UserDirectory, user_line
from dwt_dashboard.bench.callbacks import replays, server_callbacks
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher
from sample_week import load_sample

NOW = datetime(2026, 11, 28, tzinfo=UTC)
A, B = "sample", "other"  # the community pointed at, and the other user's own
KEY = "shared-bearer-token-0123456789"
PATHS = ["/", "/collection", "/users", "/insights", "/jobs", "/keys", "/people"]
#: Callbacks that only show (a viewer may run them); any other is an action a viewer may not
#: take. A new read-only callback has to be named here, on purpose.
READ_OUTPUTS = {
    "page.children",
    "cluster-pick.value",
    "cluster-detail.children",
    "conversations.children",
    "weights-body.children",  # the weights panel's controls, drawn when it is opened
    '{"conversation":["ALL"],"type":"conversation-tweets"}.children',  # opened: its tweets
    "jobs-table.children",
    "runs-page.data",  # which page of the runs the Jobs page shows
    "member-list.children",  # a page of the members, searched and ordered
    "cand-list.children",  # a page of the candidates
    "log-tail.children",
    "run-button.disabled",  # the run button's state (one run at a time), polled
    "bond-graph.elements",  # the map (dwt_dashboard.insights_map)
    "member-panel.children",  # a member tapped on the WebGL map: its panel
    "map-download.data",
    *(f"w-{n}-value.children" for n in data.weight_defaults()),  # each weight's value shown
    f"w-{next(iter(data.weight_defaults()))}.value",  # a preset sets the sliders
}


def _reads(output: str) -> bool:
    """Whether a callback (by its output key) only shows what a viewer may see: its first
    output, without the hash Dash adds to outputs several callbacks share."""
    return output.strip(".").split("...")[0].split("@")[0] in READ_OUTPUTS


#: Pages a viewer may not open (shared keys, people).
ADMIN_PATHS = {"/keys", "/people"}


@pytest.fixture
def world(store: Store, tmp_path):
    """Community A analysed (members, candidates, clusters, conversations, a run), community
    B with one member, a shared key in the keys file."""
    load_sample(store)
    run_pipeline(
        store,
        RunSpec(community=A, steps=["discover", "bonds", "cluster", "content"]),
        now=NOW,
        progress=Progress(store, "r-sample-1", stream=None),
        run_id="r-sample-1",
    )
    store.add_members(B, [{"id": "9001", "username": "bea_other"}])
    keys_file = tmp_path / "keys"
    keys_file.write_text(KEY + "\n")
    users = UserDirectory.parse(
        "\n".join(
            [
                user_line("ann", "annpw", {A: "admin"}, iterations=1000),
                user_line("bob", "bobpw", {B: "admin"}, iterations=1000),
                user_line("vic", "vicpw", {A: "viewer"}, iterations=1000),
                user_line("eve", "evepw", {A: "editor"}, iterations=1000),
                user_line("root", "rootpw", {"*": "admin"}, iterations=1000),
            ]
        )
    )
    keys = FileKeyStore(keys_file, "http://127.0.0.1:9")  # X unreachable: nothing gets added
    app = create_app(
        store, LocalLauncher(store, clock=lambda: NOW), users, clock=lambda: NOW, keys=keys
    )
    return app, store, keys_file


def _markers(store: Store) -> set[str]:
    """Strings that only community A's data (or the shared key) would put in a response."""
    found = {key_fingerprint(KEY), KEY, "r-sample-1"}
    for m in data.members(store, A):
        found |= {f"@{m['username']}", m["account_id"]}
    for c in data.candidates(store, A):
        found |= {f"@{c['username']}", c["account_id"]}
    for c in data.clusters(store, A):
        found.add(c["label"])
    for conv in data.conversations(store, A, 0, 1):
        found |= {t["text"][:30] for t in conv["tweets"]}
    return {f for f in found if f}


def _snapshot(store: Store, keys_file) -> str:
    colls = (Coll.MEMBERS, Coll.CANDIDATES, Coll.COMMUNITIES, Coll.RUNS, Coll.ACCOUNTS)
    docs = {c.value: sorted(store[c].find({}), key=lambda d: d["_id"]) for c in colls}
    return json.dumps(docs, default=str, sort_keys=True) + keys_file.read_text()


def _values(store: Store) -> dict[str, Any]:
    """A plausible value for each input and state the callbacks take (A's own ids)."""
    (cand,) = data.candidates(store, A)
    member = data.members(store, A)[0]
    conversation = data.conversations(store, A, 0, 1)[0]["conversation_id"]
    values: dict[str, Any] = {
        "community.value": A,
        "decisions.data": {cand["account_id"]: "mute"},
        "key-input.value": "another-bearer-token-42",
        "add-username.value": cand["username"],
        "add-core.value": ["core"],
        "cluster-pick.value": 0,
        "cluster-pick.options": [{"label": "a", "value": 0}, {"label": "b", "value": -1}],
        "tier-pick.value": 1,
        "log-run.value": "r-sample-1",
        "schedule-hour.value": 7,
        "schedule-tz.value": "UTC",
        "url.pathname": "/",
        "member-search.value": member["username"],
        "member-view.data": {"page": 0, "ids": [member["account_id"]]},
        "cand-search.value": cand["username"],
        "cand-view.data": {"page": 0, "ids": [cand["account_id"]]},
    }
    values.update({f"w-{n}.value": 0.0 for n in data.weight_defaults()})
    wildcards = {
        ("cand", "account"): cand["account_id"],
        ("cand", "action"): "mute",
        ("member-del", "account"): member["account_id"],
        ("key-del", "fingerprint"): key_fingerprint(KEY),
        ("people-end", "user"): "ann",
        ("map-legend", "cluster"): 0,
        ("map-heavy-go", "k"): 3,
        ("conversation-open", "conversation"): conversation,
        ("conversation-tweets", "conversation"): conversation,
    }
    return {"values": values, "wildcards": wildcards}


def _refused(response) -> bool:
    """No output at all (204), an HTTP refusal, or only a refusal message."""
    if response.status_code in (204, 401, 403):
        return True
    if response.status_code != 200:
        return False
    answer = response.get_json()["response"]
    shown = [v for props in answer.values() for v in props.values()]
    return bool(shown) and all(
        v in REFUSALS.values()
        or (isinstance(v, dict) and v.get("props", {}).get("children") in REFUSALS.values())
        for v in shown
    )


def _post(client, body: dict):
    return client.post(
        "/_dash-update-component", json={k: v for k, v in body.items() if k != "_path"}
    )


def test_every_callback_goes_through_the_rule(world):
    app, _, _ = world
    assert app.callback_map, "no callbacks registered?"
    for key, spec in server_callbacks(app).items():
        assert hasattr(spec["callback"], "dwt_need"), f"{key} was not registered guarded"


def test_every_callback_refuses_outsiders_and_viewers_before_reading(world):
    app, store, keys_file = world
    sample = _values(store)
    markers = _markers(store)
    before = _snapshot(store, keys_file)
    server = server_callbacks(app)
    bodies = [r for key, spec in server.items() for r in replays(key, spec, sample)]
    assert len(bodies) >= len(server)

    outsider = app.server.test_client()
    assert login(outsider, "bob", "bobpw").status_code == 302
    viewer = app.server.test_client()
    assert login(viewer, "vic", "vicpw").status_code == 302
    anonymous = app.server.test_client()

    problems = []
    for name, body in bodies:
        for who, client in (("logged out", anonymous), ("bob (community B)", outsider)):
            response = _post(client, body)
            text = response.get_data(as_text=True)
            leaked = sorted(m for m in markers if m in text)
            if not _refused(response) or leaked:
                problems.append(f"{who}: {name}: {response.status_code} {leaked} {text[:200]}")
        is_read = _reads(body["output"]) and body["_path"] not in ADMIN_PATHS
        if not is_read:
            response = _post(viewer, body)
            if not _refused(response):
                problems.append(f"viewer: {name}: {response.status_code} {response.text[:200]}")
        if _snapshot(store, keys_file) != before:
            problems.append(f"{name}: the store or the keys changed")
            before = _snapshot(store, keys_file)
    assert not problems, "\n".join(problems)

    # The replays are real: the same requests from A's admin do show A's data and act.
    owner = app.server.test_client()
    login(owner, "ann", "annpw")
    page = [b for n, b in bodies if b["output"] == "page.children" and b["_path"] == "/users"]
    shown = _post(owner, page[0]).get_data(as_text=True)
    assert any(m in shown for m in markers)


def test_users_file_roles(tmp_path):
    users = UserDirectory.parse(
        "# the first format's lines still work: a bare community means editor\n"
        "old:pbkdf2_sha256$1000$00ff$abcd:ai-ethics,climate\n"
        "new:!:ai-ethics=viewer,climate=admin\n"
        "all:!:*=viewer,climate=editor\n"
        "mail@example.org:!:climate=viewer\n"
    )
    assert DEFAULT_ROLE == Role.EDITOR
    assert users.role("old", "ai-ethics") == Role.EDITOR
    assert users.role("new", "ai-ethics") == Role.VIEWER
    assert users.role("new", "climate") == Role.ADMIN
    assert users.role("new", "elsewhere") is None
    assert users.role("all", "anything") == Role.VIEWER
    assert users.role("all", "climate") == Role.EDITOR
    assert users.role("mail@example.org", "climate") == Role.VIEWER
    assert users.authenticate("new", "!") is None  # OIDC-only: no password works
    for bad in ("x:!:c=owner", "x:!:c=", "x y:!:c", "x:!:a:b"):
        with pytest.raises(ValueError, match="line 1"):
            UserDirectory.parse(bad)
    line = user_line("ada", "pw", {"c1": "viewer", "c2": Role.EDITOR}, iterations=1000)
    assert line.endswith(":c1=viewer,c2=editor")
    assert user_line("ada", "pw", ["c1"], iterations=1000).endswith(":c1=admin")
    assert user_line("ada", "pw", ["c1"], role="viewer", iterations=1000).endswith(":c1=viewer")
    with pytest.raises(ValueError):
        user_line("ada", "pw", ["a,b"], iterations=1000)


def test_only_an_admin_of_every_community_changes_the_shared_keys(world):
    """The keys serve every community: the admin of one of two may not delete them (a user
    of one community deleted another's only key), nor may an editor; ``*=admin`` may."""
    app, _, keys_file = world
    handlers = app.handlers
    fingerprint = key_fingerprint(KEY)
    for user in ("bob", "ann", "eve", "vic", None):
        assert handlers.delete_key(user, fingerprint) == REFUSALS[Need.KEYS], user
        assert handlers.add_key(user, "x" * 30) == REFUSALS[Need.KEYS], user
        assert REFUSALS[Need.KEYS] in str(handlers.page(user, "/keys", A))
    assert keys_file.read_text() == KEY + "\n"
    assert fingerprint in str(handlers.page("root", "/keys", A))
    assert handlers.delete_key("root", fingerprint).startswith("Deleted")
    assert keys_file.read_text() == ""


def test_the_navigation_offers_only_what_the_user_may_use(world):
    app, _, _ = world
    layouts = {}
    for user, password in (("root", "rootpw"), ("ann", "annpw"), ("vic", "vicpw")):
        client = app.server.test_client()
        login(client, user, password)
        layouts[user] = json.dumps(client.get("/_dash-layout").get_json())  # "/" unescaped
    assert '"/keys"' in layouts["root"] and '"/people"' in layouts["root"]
    assert B in layouts["root"]  # * = every community
    assert '"/keys"' not in layouts["ann"] and '"/people"' in layouts["ann"]
    assert '"/keys"' not in layouts["vic"] and '"/people"' not in layouts["vic"]
    assert B not in layouts["ann"] and B not in layouts["vic"]


def test_admins_see_the_people_of_their_community_and_end_their_sessions(world):
    app, _, _ = world
    handlers = app.handlers
    eve = app.server.test_client()
    login(eve, "eve", "evepw")
    assert eve.get("/_dash-layout").status_code == 200
    people = {p["username"]: p for p in handlers.people(A)}
    assert set(people) == {"ann", "vic", "eve", "root"}  # not bob (B only)
    assert people["eve"]["role"] == "editor" and people["eve"]["sessions"] == 1
    page = str(handlers.page("ann", "/people", A))
    assert "eve" in page and "bob" not in page
    assert REFUSALS[Need.ADMIN] in str(handlers.page("eve", "/people", A))
    assert handlers.end_sessions("eve", A, "vic") == REFUSALS[Need.ADMIN]
    assert handlers.end_sessions("ann", A, "bob") == "bob does not use this community."
    assert "also uses communities" in handlers.end_sessions("ann", A, "root")
    assert handlers.end_sessions("ann", A, "eve") == "Ended 1 session of eve."
    assert eve.get("/_dash-layout").status_code == 401  # logged out
