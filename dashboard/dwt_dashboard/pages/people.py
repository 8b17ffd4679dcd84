"""People: who may see the community, their role and live sessions; an admin ends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import ALL, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import fmt_time, notice

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/people"
NEED = Need.ADMIN


def people_rows(people: list[dict[str, Any]]) -> html.Table | html.P:
    if not people:
        return html.P("Nobody else uses this community.")
    head = html.Tr([html.Th(h) for h in ("person", "role here", "sessions", "last seen", "")])
    rows = [
        html.Tr(
            [
                html.Td(p["username"]),
                html.Td(p["role"]),
                html.Td(str(p["sessions"])),
                html.Td(fmt_time(p["seen_at"])),
                html.Td(
                    html.Button(
                        "end sessions",
                        id={"type": "people-end", "user": p["username"]},
                        n_clicks=0,
                        disabled=not p["sessions"],
                    )
                ),
            ]
        )
        for p in people
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)])


def layout(rows: list[dict[str, Any]]) -> html.Div:
    """Who may see the community, in which role, and their live sessions (admins only)."""
    return html.Div(
        [
            html.H2("People"),
            html.P(
                "Roles come from the users file (username:hash:community=role,…); change them "
                "there. Ending someone's sessions logs them out everywhere.",
                className="help",
            ),
            html.Div(id="people-result", className="message"),
            html.Div(people_rows(rows), id="people-list"),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    return layout(handlers.people(community))


def skeleton() -> Any:
    return layout([])


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    @callback(
        Output("people-result", "children"),
        Output("people-list", "children"),
        Input({"type": "people-end", "user": ALL}, "n_clicks"),
        State("community", "value"),
        need=Need.ADMIN,
        message=0,
        prevent_initial_call=True,
    )
    def _end_sessions(clicks: list[int | None], community: str) -> tuple[str, Any]:
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            raise PreventUpdate
        message = handlers.end_sessions(current_user(), community, trigger["user"])
        return notice(message), people_rows(handlers.people(community))
