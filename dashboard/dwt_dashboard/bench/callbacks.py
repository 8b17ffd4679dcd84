"""Hostile callback requests: can a user of one community read or change another's?

Two generated communities are analysed in one store (:func:`build_world`), each with an
admin, an editor and a viewer, beside an admin of every community. Every server callback
the dashboard registers (``app.callback_map``) is replayed, once per input as the trigger
(and per page for the page callback), then in each hostile shape (:data:`SHAPES`): the
positional community slot naming the victim while the attacker's own community hides
nested in a wildcard list, under a renamed id, as an extra or duplicated entry; entries
missing, swapped or of the wrong type; unknown outputs and changed properties; and the
attacker's own community with the victim's ids in the values. Each request goes through
the login of the user (a real session), as each user of the other community.

A case *leaks* when the answer holds one of the victim's usernames, account ids or
conversation ids that the request itself did not carry; it is *wrong* when the status is not
the one its shape must get (400 for a request the page could not have sent, a refusal for
a well-formed one naming the victim, never 500); and the store must not change. The unit
test (tests/unit/test_dashboard_hostile.py) and ``dwt bench faults`` (:func:`fault_check`)
run it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dwt.bench.load import load_week
from dwt.generate.generator import generate_community
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from dwt_dashboard import data
from dwt_dashboard.access import REFUSALS, Need
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import SessionPolicy, UserDirectory, user_line
from dwt_dashboard.bench.hostile_shapes import RAW_BODIES, SHAPES
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher

COMMUNITIES = ("alpha", "beta")
ROLES = ("admin", "editor", "viewer")
KEY = "shared-bearer-token-0123456789"
PATHS = ["/", "/collection", "/users", "/insights", "/jobs", "/keys", "/people"]
#: Collections a callback could change (tweets, follows and checkpoints only collection
#: writes, and sessions change with every login).
WATCHED = (Coll.COMMUNITIES, Coll.MEMBERS, Coll.CANDIDATES, Coll.ACCOUNTS, Coll.RUNS,
           Coll.BONDS, Coll.CLUSTERS, Coll.CONVERSATIONS, Coll.TOPICS)  # fmt: skip
#: Statuses of a refusal before the callback ran: no session, not allowed, or no output.
REFUSED = (204, 401, 403)
STOPPED = datetime(2026, 11, 30, tzinfo=UTC)


def user_name(community: str, role: str) -> str:
    return f"{community}-{role}"


def password(user: str) -> str:
    return f"{user}-password"


@dataclass
class Marks:
    """What only one community's data would put in an answer."""

    names: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    conversations: set[str] = field(default_factory=set)
    _pattern: tuple[list[str], re.Pattern[str]] | None = field(default=None, repr=False)

    def found(self, text: str, sent: str) -> list[str]:
        """The marks in ``text`` that ``sent`` (the request) did not carry."""
        marks = sorted(self.names | self.ids | self.conversations, key=len, reverse=True)
        if not marks:
            return []
        if self._pattern is None or self._pattern[0] != marks:
            either = "|".join(re.escape(m) for m in marks)
            self._pattern = (marks, re.compile(rf"(?<![\w])(?:{either})(?![\w])"))
        pattern = self._pattern[1]
        return sorted(set(pattern.findall(text)) - set(pattern.findall(sent)))


@dataclass
class World:
    app: Any
    store: Store
    path: Path
    keys_file: Path
    marks: dict[str, Marks]
    samples: dict[str, dict[str, Any]]


def _analyse(store: Store, community: str, seed: int) -> None:
    dataset = generate_community(members=40, communities=4, seed=seed, tweets_per_member=5)
    load_week(store, dataset, community)
    run_id = f"{community}-analysed"
    run_pipeline(
        store,
        RunSpec(community=community, steps=["discover", "bonds", "cluster", "content"]),
        now=datetime.fromisoformat(dataset.meta["now"]),
        progress=Progress(store, run_id, stream=None),
        run_id=run_id,
    )


def build_world(directory: Path) -> World:
    """Two analysed communities, their users, the dashboard over them (local launcher)."""

    path = directory / "dwt.db"
    store = Store.open(f"sqlite:///{path}")
    for seed, community in enumerate(COMMUNITIES, 1):
        _analyse(store, community, seed)
    keys_file = directory / "keys"
    keys_file.write_text(KEY + "\n")
    lines = [
        user_line(user_name(c, r), password(user_name(c, r)), {c: r}, iterations=1000)
        for c in COMMUNITIES
        for r in ROLES
    ]
    lines.append(user_line("root", password("root"), {"*": "admin"}, iterations=1000))
    keys = FileKeyStore(keys_file, "http://127.0.0.1:9")  # X unreachable: nothing is added
    # Sessions on a stopped clock: a session record is never touched while replaying, so
    # any write the store sees comes from a callback.
    app = create_app(
        store,
        LocalLauncher(store),
        UserDirectory.parse("\n".join(lines)),
        keys=keys,
        session_policy=SessionPolicy(clock=lambda: STOPPED),
    )
    marks = {c: _marks(store, c, data) for c in COMMUNITIES}
    # Names or accounts both communities hold are neither one's secret.
    shared_names = set.intersection(*(m.names for m in marks.values()))
    shared_ids = set.intersection(*(m.ids for m in marks.values()))
    for own in marks.values():
        own.names -= shared_names
        own.ids -= shared_ids
    samples = {c: _values(store, c, data) for c in COMMUNITIES}
    return World(app, store, path, keys_file, marks, samples)


def _marks(store: Store, community: str, data: Any) -> Marks:
    marks = Marks()
    for m in data.members(store, community):
        marks.names.add(m["username"])
        marks.ids.add(m["account_id"])
    for c in data.candidates(store, community):
        if c["username"]:
            marks.names.add(c["username"])
        marks.ids.add(c["account_id"])
    for cluster in data.clusters(store, community, members=False):
        for tier in (1, 2, 3):
            for conv in data.conversations(store, community, cluster["cluster"], tier, 1000, 0):
                marks.conversations.add(conv["conversation_id"])
    return marks


def _values(store: Store, community: str, data: Any) -> dict[str, Any]:
    """A plausible value for each input and state the callbacks take, from ``community``."""
    from dwt.xapi.client import key_fingerprint

    cands = data.candidates(store, community)
    members = data.members(store, community)
    clusters = data.clusters(store, community, members=False)
    cluster = next(c["cluster"] for c in clusters if c["cluster"] >= 0)
    conversation = next(
        c["conversation_id"]
        for t in (1, 2, 3)
        for c in data.conversations(store, community, cluster, t, 1, 0)
    )
    values: dict[str, Any] = {
        "community.value": community,
        "decisions.data": {cands[0]["account_id"]: "mute"},
        "key-input.value": "another-bearer-token-42",
        "add-username.value": cands[0]["username"],
        "add-core.value": ["core"],
        "cluster-pick.value": cluster,
        "cluster-pick.options": [{"label": "a", "value": cluster}, {"label": "b", "value": -1}],
        "tier-pick.value": 1,
        "log-run.value": f"{community}-analysed",
        "schedule-hour.value": 7,
        "schedule-tz.value": "UTC",
        "url.pathname": "/",
        "url.search": f"?conversation={conversation}",
        "map-search.value": members[0]["username"],
        "map-view.data": {"cluster": cluster, "all": False},
        "map-k.value": 3,
        "bond-graph.tapNodeData": {"id": members[0]["account_id"], "kind": "member"},
        "map-gl.clickData": {
            "points": [{"curveNumber": 1, "customdata": members[0]["username"], "x": 4}],
            "timestamp": 1796690781893,
        },
        "weights-preset.value": "seed",
        "conversations-shown.data": 10,
        "key-del-pending.data": key_fingerprint(KEY),
        "member-del-pending.data": members[0]["account_id"],
        "member-search.value": members[0]["username"],
        "member-sort.value": "name",
        "member-view.data": {"page": 0, "ids": [m["account_id"] for m in members[:3]]},
        "cand-search.value": cands[0]["username"],
        "cand-sort.value": "members",
        "cand-view.data": {"page": 0, "ids": [c["account_id"] for c in cands[:3]]},
    }
    values.update({f"w-{n}.value": 0.0 for n in data.weight_defaults()})
    wildcards = {
        ("cand", "account"): cands[0]["account_id"],
        ("cand", "action"): "mute",
        ("member-del", "account"): members[0]["account_id"],
        ("key-del", "fingerprint"): key_fingerprint(KEY),
        ("people-end", "user"): user_name(community, "viewer"),
        ("map-legend", "cluster"): cluster,
        ("map-heavy-go", "k"): 3,
        ("conversation-open", "conversation"): conversation,
        ("conversation-tweets", "conversation"): conversation,
    }
    return {"values": values, "wildcards": wildcards}


# ---- well-formed requests ------------------------------------------------------------------


def concrete(raw_id: str, wildcards: dict) -> dict | str:
    """A registered id with its wildcards filled from ``wildcards``."""
    if not raw_id.startswith("{"):
        return raw_id
    pattern = json.loads(raw_id)
    out = {}
    for key, value in pattern.items():
        if isinstance(value, list):  # ["ALL"] and the like
            if (pattern["type"], key) not in wildcards:
                raise KeyError(f"no sample value for {pattern['type']}.{key}: add one")
            value = wildcards[(pattern["type"], key)]
        out[key] = value
    return out


def _entry(dep: dict, concrete_id: dict | str, value: Any) -> Any:
    """A request's entry for ``dep``: a list of them for an ALL wildcard."""
    entry = {"id": concrete_id, "property": dep["property"], "value": value}
    return [entry] if '"ALL"' in dep["id"] else entry


def _value_of(dep: dict, values: dict) -> Any:
    if dep["property"] in ("n_clicks", "n_intervals", "n_submit", "submit_n_clicks"):
        return 1
    return values.get(f"{dep['id']}.{dep['property']}")


def _prop_id(concrete_id: dict | str, prop: str) -> str:
    if isinstance(concrete_id, dict):
        concrete_id = json.dumps(concrete_id, separators=(",", ":"), sort_keys=True)
    return f"{concrete_id}.{prop}"


def replays(output: str, spec: dict, sample: dict) -> list[tuple[str, dict]]:
    """Requests as the page sends them: one per input as the trigger, and per page for the
    page callback (the body's ``_path`` names it)."""
    values, wildcards = sample["values"], sample["wildcards"]
    parts = output.strip(".").split("...")
    outputs = [(o.rsplit(".", 1)[0], *o.rsplit(".", 1)) for o in parts]
    sent_outputs = [
        [{"id": concrete(i, wildcards), "property": p}]
        if '"ALL"' in raw
        else {"id": concrete(i, wildcards), "property": p}
        for raw, i, p in outputs
    ]
    paths = PATHS if any(d["id"] == "url" for d in spec["inputs"]) else [None]
    found = []
    for path in paths:
        given = {**values, **({"url.pathname": path} if path else {})}
        inputs = [
            _entry(d, concrete(d["id"], wildcards), _value_of(d, given)) for d in spec["inputs"]
        ]
        state = [
            _entry(d, concrete(d["id"], wildcards), _value_of(d, given)) for d in spec["state"]
        ]
        for dep in spec["inputs"]:
            trigger = _prop_id(concrete(dep["id"], wildcards), dep["property"])
            body = {
                "output": output,
                "outputs": sent_outputs if len(outputs) > 1 else sent_outputs[0],
                "inputs": inputs,
                "state": state,
                "changedPropIds": [trigger],
            }
            name = f"{output} ← {trigger}" + (f" at {path}" if path else "")
            found.append((name, copy.deepcopy(body) | {"_path": path}))
    return found


def server_callbacks(app: Any) -> dict[str, dict]:
    """The callbacks the server runs (clientside ones never send a request)."""
    return {k: s for k, s in app.callback_map.items() if "callback" in s}


# ---- the replay ----------------------------------------------------------------------------


@dataclass
class Report:
    cases: int = 0
    leaks: int = 0
    wrong_status: int = 0
    store_changes: int = 0
    server_errors: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < 30:
            self.problems.append(problem)


def _digest(store: Store, keys_file: Path) -> str:
    hashed = hashlib.sha256(keys_file.read_bytes())
    for coll in WATCHED:
        for doc in sorted(store[coll].find({}), key=lambda d: d["_id"]):
            hashed.update(json.dumps(doc, default=str, sort_keys=True).encode())
    return hashed.hexdigest()


class Watch:
    """Whether the store or the keys file changed since the last look: SQLite's
    ``data_version`` (on a connection of its own, so every other connection's commit
    counts) says when to compare the watched collections' contents."""

    def __init__(self, store: Store, path: Path, keys_file: Path) -> None:
        self.store, self.keys_file = store, keys_file
        self.conn = sqlite3.connect(path)
        self.version = self._version()
        self.keys = keys_file.read_bytes()
        self.digest = _digest(store, keys_file)

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        version = self._version()
        if version == self.version and self.keys_file.read_bytes() == self.keys:
            return False
        self.version, self.keys = version, self.keys_file.read_bytes()
        digest = _digest(self.store, self.keys_file)
        changed, self.digest = digest != self.digest, digest
        return changed

    def close(self) -> None:
        self.conn.close()


def _refusal(response: Any, refusals: set[str]) -> bool:
    """No output, an HTTP refusal, or only a refusal message."""
    if response.status_code in REFUSED:
        return True
    if response.status_code != 200:
        return False
    answer = (response.get_json(silent=True) or {}).get("response") or {}
    shown = [v for props in answer.values() for v in props.values()]
    return bool(shown) and all(_refusal_text(v, refusals) for v in shown)


def _refusal_text(value: Any, refusals: set[str]) -> bool:
    if isinstance(value, dict):
        value = value.get("props", {}).get("children")
    return isinstance(value, str) and value in refusals


def _reads(spec: dict) -> bool:
    """Whether a callback only shows (what a viewer may run; the page callback's need
    depends on the page)."""

    need = getattr(spec["callback"], "dwt_need", None)
    return need is Need.READ or callable(need)


def _sessions(world: World) -> Iterator[tuple[str, str, str, Any]]:
    """(user, own community, victim, logged-in client) for every user of one community."""
    for own in COMMUNITIES:
        victim = next(c for c in COMMUNITIES if c != own)
        for role in ROLES:
            user = user_name(own, role)
            client = world.app.server.test_client()
            form = client.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            answer = client.post(
                "/login",
                data={"username": user, "password": password(user),
                      "csrf_token": token.group(1) if token else ""},
            )  # fmt: skip
            if answer.status_code != 302:
                raise RuntimeError(f"{user} could not log in ({answer.status_code})")
            yield user, own, victim, client


def run_replay(world: World) -> Report:
    """Every callback × user × shape (see the module doc); the callbacks that only show
    also get the victim's ids in a well-formed request for the attacker's own community."""

    refusals = set(REFUSALS.values())
    report = Report()
    watch = Watch(world.store, world.path, world.keys_file)
    callbacks = server_callbacks(world.app)
    for user, own, victim, client in _sessions(world):
        cases: list[tuple[str, dict | bytes, str, str]] = []
        shaped: set[tuple[str, Any]] = set()  # every shape once per callback (and page)
        for output, spec in callbacks.items():
            for name, body in replays(output, spec, world.samples[victim]):
                first = (output, body["_path"]) not in shaped
                shaped.add((output, body["_path"]))
                for shape_name, shape, expect in SHAPES if first else SHAPES[:1]:
                    made = shape(body, own, victim)
                    if made is not None:
                        cases.append((f"{name} [{shape_name}]", made, expect, "application/json"))
            if not _reads(spec):
                continue
            for name, body in replays(output, spec, world.samples[own]):
                made = _swap_ids(body, world.samples[own], world.samples[victim])
                if made is not None:
                    cases.append((f"{name} [own, victim's ids]", made, "no leak",
                                  "application/json"))  # fmt: skip
        cases += [(f"raw: {n}", raw, "400", kind) for n, raw, kind in RAW_BODIES]
        for name, body, expect, kind in cases:
            report.cases += 1
            if isinstance(body, bytes):
                sent = body.decode(errors="replace")[:2000]
                response = client.post("/_dash-update-component", data=body, content_type=kind)
            else:
                payload = {k: v for k, v in body.items() if k != "_path"}
                sent = json.dumps(payload)
                response = client.post("/_dash-update-component", json=payload)
            text = response.get_data(as_text=True)
            leaked = world.marks[victim].found(text, sent)
            if leaked:
                report.leaks += 1
                report.note(f"{user}: {name}: LEAK {leaked[:5]}")
            status = response.status_code
            if status >= 500:
                report.server_errors += 1
            ok = {
                "400": status == 400,
                "refused": _refusal(response, refusals) or status == 400,
                "no leak": status in (200, *REFUSED),
            }[expect]
            if not ok:
                report.wrong_status += 1
                report.note(f"{user}: {name}: {status} (expected {expect}) {text[:160]!r}")
            if watch.changed():
                report.store_changes += 1
                report.note(f"{user}: {name}: the store or the keys changed")
    watch.close()
    return report


def fault_check(workdir: Path, echo: Callable[[str], None]) -> dict[str, Any]:
    """``dwt bench faults``' part from the dashboard (entry point group ``dwt.bench.faults``):
    the replay on a world of its own in ``workdir``, its figures and one line."""
    logging.getLogger("dwt_dashboard").setLevel(logging.ERROR)  # a line per refusal
    world = build_world(workdir)
    report = run_replay(world)
    world.store.close()
    echo(
        f"callbacks: {report.cases} hostile requests, cross-community leaks: {report.leaks} "
        f"(goal 0), wrong status: {report.wrong_status}, store changes: {report.store_changes}"
    )
    return {
        "callback_cases": report.cases,
        "cross_community_leaks": report.leaks,
        "callback_wrong_status": report.wrong_status,
        "callback_store_changes": report.store_changes,
        "callback_server_errors": report.server_errors,
        "callback_problems": report.problems[:10],
    }


def _swap_ids(body: dict, own: dict, victim: dict) -> dict | None:
    """``body`` (for the attacker's own community) with every sample id of the own
    community replaced by the victim's (wildcard ids and values alike), the changed
    properties named after the swapped inputs."""
    pairs = {own["wildcards"][k]: victim["wildcards"][k] for k in own["wildcards"]}
    for k in ("member-del-pending.data", "url.search", "map-search.value", "log-run.value"):
        pairs[own["values"][k]] = victim["values"][k]
    pairs = {a: b for a, b in pairs.items() if isinstance(a, str) and a != b}

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return pairs.get(value, value) if isinstance(value, str) else value

    swapped = {k: swap(v) for k, v in body.items() if k not in ("_path", "changedPropIds")}
    if swapped == {k: v for k, v in body.items() if k in swapped}:
        return None
    names = {
        _prop_id(a["id"], a["property"]): _prop_id(b["id"], b["property"])
        for a, b in zip(_flat(body["inputs"]), _flat(swapped["inputs"]), strict=True)
    }
    swapped["changedPropIds"] = [names.get(c, c) for c in body["changedPropIds"]]
    return swapped | {"_path": body.get("_path")}


def _flat(entries: list) -> list[dict]:
    return [e for entry in entries for e in (entry if isinstance(entry, list) else [entry])]
