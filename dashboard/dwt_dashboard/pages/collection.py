"""Collection: what was collected, the plan of the next collection, the daily schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

import dash
from dash import Input, Output, State, dcc, html

from dwt.words import plural
from dwt.xapi.prices import bill_words
from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import VIEW_ONLY, fmt_time, notice, runs_table, view_only
from dwt_dashboard.launcher import LauncherError

#: Time zones offered by the schedule editor (every IANA zone this Python knows).
TIME_ZONES = sorted(available_timezones())

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/collection"
NEED = Need.READ


def schedule_line(schedule: dict[str, Any] | None) -> str:
    return f"Runs {schedule['text']}." if schedule else "No daily run yet."


def schedule_editor(schedule: dict[str, Any] | None, act: bool = True) -> html.Div:
    """The daily run: an hour and a time zone (the CommunityJob's schedule in the cluster);
    without ``act`` (a viewer) the save button is disabled and says why."""
    why = "" if act else VIEW_ONLY.format(what="change the daily run")
    return html.Div(
        [
            html.H3("Daily schedule"),
            html.P(schedule_line(schedule), id="schedule-now"),
            html.Label("Hour"),
            dcc.Dropdown(
                id="schedule-hour",
                options=[{"label": f"{h:02d}:00", "value": h} for h in range(24)],
                value=schedule["hour"] if schedule else 6,
                clearable=False,
                className="short",
            ),
            html.Label("Time zone"),
            dcc.Dropdown(
                id="schedule-tz",
                options=TIME_ZONES,
                value=schedule["time_zone"] if schedule else "UTC",
                clearable=False,
                className="short",
            ),
            html.Button(
                "Save schedule", id="schedule-save", n_clicks=0, disabled=not act, title=why
            ),
            html.Div(
                why and view_only("change the daily run"), id="schedule-result", className="message"
            ),
        ],
        className="schedule",
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def collection_plan(plan: dict[str, Any] | str | None) -> Any:
    """The next collection, before it runs: passes, the binding endpoint's time with the
    keys there are, estimated post reads and cost (``dwt.pipeline.estimate``)."""
    if plan is None:
        return ""
    if isinstance(plan, str):
        return html.P(plan, id="collect-plan", className="help")
    t, f = plan["timeline"], plan["following"]
    keys = plan["keys"]
    lines = [
        f"{plan['accounts']:,} accounts: {t.get('new', 0):,} timelines to read "
        f"({t.get('incremental', 0):,} since their last read), {t.get('resumed', 0):,} resumed; "
        f"{f.get('new', 0):,} follow lists to read.",
        (
            f"About {_duration(plan['duration_s'])} with {plural(max(keys, 1), 'API key')} "
            f"({plan['bound']})."
            if plan["binding_endpoint"]
            else "Nothing to fetch."
        ),
        f"X would bill about {bill_words(plan['charges'])}.",
        *(
            [
                f"This month: ${plan['month']['spent_usd']:,.2f} spent; about "
                f"${plan['month']['forecast_usd']:,.2f} at a run every "
                f"{plan['month']['cadence_days']:.1f} days."
            ]
            if plan.get("month")
            else []
        ),
        *(f"Warning: {w}" for w in plan.get("warnings") or []),
        *plan["notes"],
    ]
    if not keys:
        lines.append("No API key yet: add one before collecting (timed here as with one).")
    return html.Div(
        [html.H3("Next collection, planned"), html.Ul([html.Li(x) for x in lines])],
        id="collect-plan",
    )


def layout(
    status: dict[str, Any], schedule: dict[str, Any] | None, plan: Any = None, act: bool = True
) -> html.Div:
    """Data collection: how much is stored, over which time, what could not be read, and
    what the next collection would cost."""
    unreadable = status["unreadable"]
    rows = [
        html.Tr(
            [
                html.Td(f"@{u['username'] or u['account_id']}"),
                html.Td(u["status"]),
                html.Td(fmt_time(u["seen_at"])),
            ]
        )
        for u in unreadable
    ]
    accounts = (
        html.Table(
            [
                html.Thead(html.Tr([html.Th(h) for h in ("account", "state", "seen")])),
                html.Tbody(rows),
            ],
            id="unreadable",
        )
        if rows
        else html.P("Every member could be read.", id="unreadable")
    )
    return html.Div(
        [
            html.H2("Data collection"),
            html.Div(
                [html.Div([html.B(f"{status['tweets']:,}"), "tweets collected"], className="card")],
                className="cards",
            ),
            html.P(
                f"Time frame: {fmt_time(status['first'])} → {fmt_time(status['last'])} (UTC)",
                id="time-frame",
            ),
            schedule_editor(schedule, act),
            collection_plan(plan),
            html.H3("Accounts that could not be read"),
            accounts,
            html.H3("Collection runs"),
            runs_table(status["runs"]),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    return layout(
        data.collection(handlers.store, community),
        handlers.schedule_view(community),
        plan=handlers.collection_plan(community),
        act=act,
    )


def skeleton() -> Any:
    return schedule_editor(None)


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    @callback(
        Output("schedule-result", "children"),
        Output("schedule-now", "children"),
        Input("schedule-save", "n_clicks"),
        State("schedule-hour", "value"),
        State("schedule-tz", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _schedule(_: int, hour: int | None, time_zone: str | None, community: str) -> tuple:
        message = handlers.set_schedule(current_user(), community, hour, time_zone)
        try:  # the line above the editor says what is set now, whatever happened
            now = schedule_line(handlers.schedule_view(community))
        except LauncherError as exc:
            now = f"The schedule cannot be read: {exc}"
        return notice(message), now
