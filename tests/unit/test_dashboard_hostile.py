"""Hostile callback requests (issue 23): the guard decides on what the callback will use.

Every server callback of the dashboard is replayed by each user of one community (admin,
editor, viewer) against the other, as sent and in every hostile shape of
:mod:`dwt_dashboard.bench.callbacks` — the victim in the positional slot with the attacker's own
community nested in a wildcard list, under a renamed id, extra, duplicated, missing, of the
wrong type; unknown outputs; the own community with the victim's ids — through real
logins. Each must be answered 400 (a request the page could not send) or refused, never
500, hold none of the victim's usernames, account ids or conversation ids, and change
nothing in the store."""

from __future__ import annotations

import json

import pytest

from dashboard_client import login
from dwt_dashboard.bench.callbacks import (
    COMMUNITIES,
    SHAPES,
    build_world,
    password,
    replays,
    run_replay,
    server_callbacks,
    user_name,
)
from dwt_dashboard.callback_shapes import value_check

pytestmark = pytest.mark.slow  # processes, servers or thousands of requests


def test_every_callback_in_every_hostile_shape_is_refused_and_leaks_nothing(tmp_path):
    world = build_world(tmp_path)
    callbacks = server_callbacks(world.app)
    report = run_replay(world)
    users = len(COMMUNITIES) * 3
    assert report.cases >= len(callbacks) * users * (len(SHAPES) // 2)
    assert report.problems == []
    assert (report.leaks, report.wrong_status, report.store_changes, report.server_errors) == (
        0, 0, 0, 0,
    )  # fmt: skip


def test_the_leak_check_sees_a_communitys_own_data(tmp_path):
    """The replays are real: the victim's own admin, sending the same requests, does get
    the names and ids the check looks for (so finding none above means something)."""
    world = build_world(tmp_path)
    victim = COMMUNITIES[0]
    owner = world.app.server.test_client()
    user = user_name(victim, "admin")
    assert login(owner, user, password(user)).status_code == 302
    seen: set[str] = set()
    for output, spec in server_callbacks(world.app).items():
        for _, body in replays(output, spec, world.samples[victim]):
            payload = {k: v for k, v in body.items() if k != "_path"}
            answer = owner.post("/_dash-update-component", json=payload)
            assert answer.status_code in (200, 204), (output, answer.get_data(as_text=True))
            seen |= set(world.marks[victim].found(answer.get_data(as_text=True), ""))
    marks = world.marks[victim]
    assert seen & marks.names and seen & marks.ids and seen & marks.conversations


def test_every_dependency_has_a_value_type(tmp_path):
    """A new callback's inputs and states must say what their values may be
    (dwt_dashboard.callback_shapes.VALUES), or every request for it is refused."""
    world = build_world(tmp_path)
    missing = set()
    for spec in server_callbacks(world.app).values():
        for dep in spec["inputs"] + spec["state"]:
            name = dep["id"]
            if name.startswith("{"):
                name = json.loads(name)["type"]
            if value_check(f"{name}.{dep['property']}") is None:
                missing.add(f"{name}.{dep['property']}")
    assert not missing, f"add value types for {sorted(missing)}"
