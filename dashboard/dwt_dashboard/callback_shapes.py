"""What a callback request may carry, checked before Dash reads a byte of it.

Dash hands a callback its arguments by position from the request's top-level ``inputs`` and
``state`` entries and never checks their ids, while ``dash.ctx`` flattens every entry, nested
ones included: a request could carry one community where the guard looks and another where
the callback reads. So every ``/_dash-update-component`` request is compared with the
callback's registration first (:func:`check_body`): the callback must exist and run on the
server; its ``outputs``, ``inputs`` and ``state`` must list exactly the registered
dependencies, in order, with their ids and properties (a pattern's entries a list of ids of
that pattern); each value must have the type its component gives (:data:`VALUES`); the
changed properties must be among the inputs. Anything else is answered 400 with a sentence,
before Dash parses the request, so a malformed body never reaches a callback (nor a 500 and
its traceback). The access rule then reads the community from the positional argument the
callback itself receives (:func:`dwt_dashboard.access.guarded_callback`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import dash
import flask

log = logging.getLogger(__name__)

#: The path Dash's page posts callbacks to.
CALLBACK_PATH = "/_dash-update-component"
#: The keys Dash's page sends (dash-renderer 4's ``payload``); ``state`` only when there is
#: state to send.
BODY_KEYS = frozenset({"output", "outputs", "inputs", "state", "changedPropIds",
                       "parsedChangedPropsIds"})  # fmt: skip
REQUIRED_KEYS = frozenset({"output", "outputs", "inputs", "changedPropIds"})
ENTRY_KEYS = frozenset({"id", "property", "value"})
#: Wildcard entries at most (a page lists at most a few hundred buttons of one kind).
MAX_ENTRIES = 5_000
#: Characters of a text value at most (a username list, a key, a time zone, a page path).
MAX_TEXT = 10_000

Check = Callable[[Any], bool]


class BadCallback(ValueError):
    """The request is not one the page could have sent; the message says why."""


# ---- value types ---------------------------------------------------------------------------


def _int(value: Any) -> bool:
    return type(value) is int and abs(value) < 2**53


def clicks(value: Any) -> bool:
    return value is None or (_int(value) and value >= 0)


def integer(value: Any) -> bool:
    return value is None or _int(value)


def number(value: Any) -> bool:
    return value is None or _int(value) or (type(value) is float and math.isfinite(value))


def text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_TEXT)


def strings(value: Any) -> bool:
    return value is None or (
        isinstance(value, list) and len(value) <= MAX_ENTRIES and all(text(v) for v in value)
    )


def anything(value: Any) -> bool:
    """Component trees a state hands back as the page holds them (only their truth is read)."""
    return True


def mapping(keys: Check, values: Check) -> Check:
    def check(value: Any) -> bool:
        return value is None or (
            isinstance(value, dict)
            and len(value) <= MAX_ENTRIES
            and all(keys(k) and values(v) for k, v in value.items())
        )

    return check


def options(value: Any) -> bool:
    return value is None or (
        isinstance(value, list)
        and len(value) <= MAX_ENTRIES
        and all(
            isinstance(o, dict) and set(o) <= {"label", "value", "disabled", "title"}
            and text(o.get("label")) and (integer(o.get("value")) or text(o.get("value")))
            for o in value
        )
    )  # fmt: skip


def slider(value: Any) -> bool:
    """A weight's control: a slider's number, or a switch's checked options."""
    return number(value) or strings(value)


def _view(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and set(value) <= {"cluster", "all"}
        and integer(value.get("cluster"))
        and type(value.get("all", False)) is bool
    )


def _list_view(value: Any) -> bool:
    """A paged list's view (``member-view``, ``cand-view``): its page and its rows' ids."""
    return value is None or (
        isinstance(value, dict)
        and set(value) <= {"page", "ids"}
        and integer(value.get("page"))
        and strings(value.get("ids"))
    )


def _node(value: Any) -> bool:
    """A tapped map node's data (cytoscape hands back the element's ``data``)."""
    return mapping(text, lambda v: number(v) or text(v) or type(v) is bool)(value)


def _plot_click(value: Any) -> bool:
    """A tap on the WebGL map (Plotly's ``clickData``): points with their numbers, texts
    and box (``bbox``), and the tap's time, as dcc.Graph reports them."""
    scalar = lambda v: number(v) or text(v) or type(v) is bool  # noqa: E731
    point = mapping(text, lambda v: scalar(v) or mapping(text, number)(v))
    points = lambda v: isinstance(v, list) and len(v) <= 100 and all(point(p) for p in v)  # noqa: E731
    return value is None or (isinstance(value, dict) and set(value) <= {"points", "timestamp"}
                             and points(value.get("points", []))
                             and number(value.get("timestamp")))  # fmt: skip


#: Checks by property, for every component that has it.
BY_PROPERTY: dict[str, Check] = {
    "n_clicks": clicks,
    "n_submit": clicks,
    "n_intervals": clicks,
    "submit_n_clicks": clicks,
    "pathname": text,
    "search": text,
    "children": anything,
}

#: Checks by ``id.property`` (or ``pattern-type.property``): what each value the callbacks
#: take may be. A dependency named in neither table is refused by the test that replays
#: every callback, so a new one must be added here on purpose.
VALUES: dict[str, Check] = {
    "community.value": text,
    "cluster-pick.value": integer,
    "cluster-pick.options": options,
    "tier-pick.value": integer,
    "map-k.value": integer,
    "schedule-hour.value": integer,
    "conversations-shown.data": integer,
    "runs-page.data": integer,
    "log-run.value": text,
    "map-search.value": text,
    "add-username.value": text,
    "key-input.value": text,
    "schedule-tz.value": text,
    "weights-preset.value": text,
    "key-del-pending.data": text,
    "member-del-pending.data": text,
    "add-core.value": strings,
    "decisions.data": mapping(text, text),
    "map-view.data": _view,
    "member-view.data": _list_view,
    "cand-view.data": _list_view,
    "member-search.value": text,
    "cand-search.value": text,
    "member-sort.value": text,
    "cand-sort.value": text,
    "bond-graph.tapNodeData": _node,
    "map-gl.clickData": _plot_click,
}

#: The values a wildcard id's keys may take (``pattern-type.key``).
WILDCARD_VALUES: dict[str, Check] = {
    "map-legend.cluster": lambda v: _int(v),
    "map-heavy-go.k": lambda v: _int(v),
}


def value_check(key: str) -> Check | None:
    """The check for a dependency's value (``id.property``), or None when none is known."""
    if key in VALUES:
        return VALUES[key]
    if key.startswith("w-") and key.endswith(".value"):
        return slider
    return BY_PROPERTY.get(key.rsplit(".", 1)[-1])


def _wildcard_ok(pattern_type: str, key: str, value: Any) -> bool:
    check = WILDCARD_VALUES.get(f"{pattern_type}.{key}")
    if check is not None:
        return check(value)
    return isinstance(value, str) and 0 < len(value) <= 256


# ---- ids -----------------------------------------------------------------------------------


def _pattern(registered: str) -> dict[str, Any] | None:
    """A registered pattern id (``{"type":"cand","account":["ALL"]}``) as a dict, or None for
    a plain id."""
    return json.loads(registered) if registered.startswith("{") else None


def _is_wildcard(value: Any) -> bool:
    return isinstance(value, list)


def _id_matches(registered: str, pattern: dict[str, Any] | None, given: Any) -> bool:
    if pattern is None:
        return isinstance(given, str) and given == registered
    if not isinstance(given, dict) or set(given) != set(pattern):
        return False
    for key, wanted in pattern.items():
        value = given[key]
        if _is_wildcard(wanted):
            if not _wildcard_ok(str(pattern.get("type")), key, value):
                return False
        elif value != wanted or type(value) is not type(wanted):
            return False
    return True


def _key_of(pattern: dict[str, Any] | None, registered: str, prop: str) -> str:
    """The :data:`VALUES` key of a dependency."""
    name = registered if pattern is None else str(pattern.get("type"))
    return f"{name}.{prop}"


def _many(pattern: dict[str, Any] | None) -> bool:
    """Whether the page sends a list of entries (an ALL or ALLSMALLER wildcard)."""
    return pattern is not None and any(
        _is_wildcard(v) and v and v[0] in ("ALL", "ALLSMALLER") for v in pattern.values()
    )


def _check_entry(entry: Any, registered: str, prop: str, with_value: bool, where: str) -> None:
    pattern = _pattern(registered)
    keys = ENTRY_KEYS if with_value else {"id", "property"}
    if not isinstance(entry, dict) or not set(entry) <= keys or "id" not in entry:
        raise BadCallback(f"{where}: not an entry of {registered}.{prop}")
    if entry.get("property") != prop or not _id_matches(registered, pattern, entry["id"]):
        raise BadCallback(f"{where}: {registered}.{prop} expected")
    if with_value:
        check = value_check(_key_of(pattern, registered, prop))
        if check is None:
            raise BadCallback(f"{where}: no value type known for {registered}.{prop}")
        if not check(entry.get("value")):
            raise BadCallback(f"{where}: the value of {registered}.{prop} has the wrong type")


def _check_dependency(
    given: Any, registered: str, prop: str, with_value: bool, where: str
) -> list[dict[str, Any]]:
    """The request's entries for one registered dependency (a list for a wildcard)."""
    if _many(_pattern(registered)):
        if not isinstance(given, list) or len(given) > MAX_ENTRIES:
            raise BadCallback(f"{where}: a list of {registered}.{prop} entries expected")
        for entry in given:
            _check_entry(entry, registered, prop, with_value, where)
        return list(given)
    _check_entry(given, registered, prop, with_value, where)
    return [given]


def _check_list(
    given: Any, registered: list[dict[str, str]], with_value: bool, where: str
) -> list[dict[str, Any]]:
    if not isinstance(given, list) or len(given) != len(registered):
        raise BadCallback(f"{where}: {len(registered)} entries expected")
    entries = []
    for i, (entry, dep) in enumerate(zip(given, registered, strict=True)):
        entries += _check_dependency(entry, dep["id"], dep["property"], with_value, f"{where}[{i}]")
    return entries


def _outputs(key: str) -> list[tuple[str, str]]:
    """A callback's outputs (id, property) from its key in ``callback_map``."""
    multi = key.startswith("..")
    parts = key.strip(".").split("...") if multi else [key]
    return [tuple(p.rsplit(".", 1)) for p in parts]  # type: ignore[misc]


def _prop_id(entry: Mapping[str, Any]) -> str:
    id_ = entry["id"]
    if isinstance(id_, dict):
        id_ = json.dumps(id_, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{id_}.{entry['property']}"


def _parsed(prop_id: Any) -> Any:
    """A changed property's id as a value to compare (a pattern id parsed)."""
    if not isinstance(prop_id, str) or "." not in prop_id:
        return None
    id_, prop = prop_id.rsplit(".", 1)
    if id_.startswith("{"):
        try:
            id_ = json.loads(id_)
        except ValueError:
            return None
    return (json.dumps(id_, sort_keys=True) if isinstance(id_, dict) else id_, prop)


def check_body(body: Any, callbacks: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise :class:`BadCallback` unless ``body`` is a request Dash's page could send for one
    of ``callbacks`` (``app.callback_map``)."""
    if not isinstance(body, dict):
        raise BadCallback("the body is not a JSON object")
    extra, missing = set(body) - BODY_KEYS, REQUIRED_KEYS - set(body)
    if extra or missing:
        raise BadCallback(f"unexpected fields {sorted(extra)}, missing {sorted(missing)}")
    output = body["output"]
    spec = callbacks.get(output) if isinstance(output, str) else None
    if spec is None or "callback" not in spec:
        raise BadCallback("no such callback")
    registered = _outputs(output)
    given = body["outputs"] if output.startswith("..") else [body["outputs"]]
    if not isinstance(given, list) or len(given) != len(registered):
        raise BadCallback(f"outputs: {len(registered)} expected")
    for i, (entry, (id_, prop)) in enumerate(zip(given, registered, strict=True)):
        _check_dependency(entry, id_, prop, False, f"outputs[{i}]")
    inputs = _check_list(body["inputs"], spec["inputs"], True, "inputs")
    _check_list(body.get("state", []), spec["state"], True, "state")
    changed = body["changedPropIds"]
    known = {_parsed(_prop_id(e)) for e in inputs}
    if not isinstance(changed, list) or not all(
        (p := _parsed(c)) is not None and p in known for c in changed
    ):
        raise BadCallback("changedPropIds: not among the inputs")
    parsed = body.get("parsedChangedPropsIds", changed)
    if not isinstance(parsed, list) or len(parsed) != len(changed):
        raise BadCallback("parsedChangedPropsIds: one per changed property expected")


def install(app: dash.Dash) -> None:
    """Check every callback request against ``app``'s registrations before Dash reads it
    (after the login guard: a request without a session was answered 401 already)."""

    @app.server.before_request
    def _check_callback() -> flask.Response | None:
        request = flask.request
        if request.path != CALLBACK_PATH:
            return None
        try:
            body = request.get_json(silent=True)
            check_body(body, app.callback_map)
        except (BadCallback, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, BadCallback) else "nested too deeply"
            log.warning("callback request refused (%s): %s", flask.g.get("user"), reason)
            return flask.Response(
                f"This request is not one the dashboard sends: {reason}.\n",
                400,
                mimetype="text/plain",
            )
        return None
