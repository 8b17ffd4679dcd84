"""Hostile shapes of a callback request (:mod:`dwt_dashboard.bench.callbacks` replays them).

Each shape takes a well-formed request (a body as Dash's page sends it), the attacker's own
community and the victim's, and returns the hostile request (or None when the callback has
nothing the shape could change): the victim in the positional community slot while the own
community hides nested in a wildcard list, under a renamed id, as an extra or duplicated
entry; entries missing, swapped, renamed or of the wrong type; unknown outputs and changed
properties. :data:`SHAPES` says what each must get: 400 (a request the page could not
send) or a refusal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

COMMUNITY = {"id": "community", "property": "value"}
Shape = Callable[[dict, str, str], dict | str | None]


def _community_slot(body: dict) -> tuple[str, int] | None:
    for where in ("inputs", "state"):
        for i, entry in enumerate(body.get(where) or []):
            if isinstance(entry, dict) and entry.get("id") == "community":
                return where, i
    return None


def _with_victim(body: dict, victim: str) -> dict:
    body = copy.deepcopy(body)
    slot = _community_slot(body)
    if slot:
        body[slot[0]][slot[1]]["value"] = victim
    return body


def _nested(body: dict, own: str, victim: str) -> dict | None:
    """The victim in the positional slot, the attacker's own community nested in a list."""
    body = _with_victim(body, victim)
    lists = [e for w in ("inputs", "state") for e in body.get(w) or [] if isinstance(e, list)]
    if not lists:
        return None
    for entries in lists:
        entries.append({**COMMUNITY, "value": own})
    return body


def _renamed(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    slot = _community_slot(body)
    if not slot:
        return None
    body[slot[0]][slot[1]]["id"] = "community-view"
    body["state"] = [*(body.get("state") or []), {**COMMUNITY, "value": own}]
    return body


def _renamed_nested(body: dict, own: str, victim: str) -> dict | None:
    """The attack that passed the guard which read ``dash.ctx``: the victim in the
    positional slot under another id, the own community nested in a wildcard list."""
    body = _nested(body, own, victim)
    slot = _community_slot(body) if body else None
    if body is None or not slot:
        return None
    body[slot[0]][slot[1]]["id"] = "community-view"
    return body


def _extra(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    body["inputs"] = [*body["inputs"], {**COMMUNITY, "value": own}]
    return body


def _duplicated(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    slot = _community_slot(body)
    if not slot:
        return None
    body[slot[0]].insert(slot[1], {**COMMUNITY, "value": own})
    return body


def _missing(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    slot = _community_slot(body)
    if not slot:
        return None
    del body[slot[0]][slot[1]]
    return body


def _swapped(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    state = body.get("state") or []
    if len(state) < 2 or state[0] == state[-1]:
        return None
    body["state"] = list(reversed(state))
    return body


def _community_as(value: Callable[[str, str], Any]) -> Shape:
    def shape(body: dict, own: str, victim: str) -> dict | None:
        body = copy.deepcopy(body)
        slot = _community_slot(body)
        if not slot:
            return None
        body[slot[0]][slot[1]]["value"] = value(own, victim)
        return body

    return shape


def _entry_as_string(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    slot = _community_slot(body)
    if not slot:
        return None
    body[slot[0]][slot[1]] = "community.value"
    return body


def _property_renamed(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    slot = _community_slot(body)
    if not slot:
        return None
    body[slot[0]][slot[1]]["property"] = "label"
    return body


def _inputs_as_object(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    body["inputs"] = {str(i): e for i, e in enumerate(body["inputs"])}
    return body


def _wildcard_as_single(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    for where in ("inputs", "state"):
        for i, entry in enumerate(body.get(where) or []):
            if isinstance(entry, list) and entry:
                body[where][i] = entry[0]
                return body
    return None


def _injected(operator: str, operand: Any) -> dict[str, Any]:
    """A MongoDB query operator where a plain value goes (``{"$ne": None}``): an attacker's
    NoSQL injection, which the dashboard must refuse; never a query of ours (those are
    written only in :mod:`dwt.store`)."""
    return {f"${operator}": operand}


#: A value of another type than the component gives, per value seen.
def _wrong(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return _injected("ne", None)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {"0": value}
    return 7


def _wrong_types(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    for where in ("inputs", "state"):
        for entry in body.get(where) or []:
            for e in entry if isinstance(entry, list) else [entry]:
                if e.get("id") != "community" and not e["property"].endswith("children"):
                    e["value"] = _wrong(e.get("value"))
    return body


def _wildcard_id_type(body: dict, own: str, victim: str) -> dict | None:
    body = _with_victim(body, victim)
    for where in ("inputs", "state"):
        for entry in body.get(where) or []:
            if isinstance(entry, list) and entry:
                for key in entry[0]["id"]:
                    if key != "type":
                        entry[0]["id"][key] = _injected("gt", "")
                        return body
    return None


def _unknown_output(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    body["output"] = "page.children-of-another-kind"
    return body


def _foreign_change(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    body["changedPropIds"] = ["community-secret.value"]
    return body


def _extra_field(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    body["community"] = own
    return body


def _outputs_renamed(body: dict, own: str, victim: str) -> dict:
    body = _with_victim(body, victim)
    outs = body["outputs"]
    first = outs[0] if isinstance(outs, list) else outs
    first = first[0] if isinstance(first, list) else first
    first["id"] = "page-of-another-kind"
    return body


#: (name, shape, what it must get: "400", "refused" or "no leak").
SHAPES: list[tuple[str, Shape, str]] = [
    ("victim named", lambda b, o, v: _with_victim(b, v), "refused"),
    ("own nested in a list", _nested, "400"),
    ("positional id renamed", _renamed, "400"),
    ("positional renamed, own nested", _renamed_nested, "400"),
    ("extra entry", _extra, "400"),
    ("duplicated entry", _duplicated, "400"),
    ("missing entry", _missing, "400"),
    ("state swapped", _swapped, "400"),
    ("community as a list", _community_as(lambda o, v: [o, v]), "400"),
    ("community as an object", _community_as(lambda o, v: {"value": v, "own": o}), "400"),
    ("community as a number", _community_as(lambda o, v: 7), "400"),
    ("entry as a string", _entry_as_string, "400"),
    ("property renamed", _property_renamed, "400"),
    ("inputs as an object", _inputs_as_object, "400"),
    ("wildcard as one entry", _wildcard_as_single, "400"),
    ("values of wrong types", _wrong_types, "400"),
    ("wildcard id of wrong type", _wildcard_id_type, "400"),
    ("unknown output", _unknown_output, "400"),
    ("changed property not an input", _foreign_change, "400"),
    ("extra top-level field", _extra_field, "400"),
    ("output renamed", _outputs_renamed, "400"),
]
#: Raw bodies that are not a callback at all (sent once per user).
RAW_BODIES: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{", "application/json"),
    ("a JSON list", b"[1, 2]", "application/json"),
    ("an empty object", b"{}", "application/json"),
    ("nested 50,000 deep", b"[" * 50_000 + b"]" * 50_000, "application/json"),
    ("a form, not JSON", b"output=page.children", "application/x-www-form-urlencoded"),
]
