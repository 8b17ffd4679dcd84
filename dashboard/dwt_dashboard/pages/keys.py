"""API keys: the X API keys every community's collection shares (fingerprints only: a key
is never sent back to the page)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import ask_first, notice
from dwt_dashboard.keys import KeyRefused

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/keys"
NEED = Need.KEYS


def key_rows(keys: list[Any]) -> html.Div:
    if not keys:
        return html.P("No API key yet: collection cannot run.")
    return html.Ul(
        [
            html.Li(
                [
                    html.Code(k.fingerprint),
                    f" ({k.length} characters) ",
                    html.Button(
                        "delete", id={"type": "key-del", "fingerprint": k.fingerprint}, n_clicks=0
                    ),
                ]
            )
            for k in keys
        ]
    )


def layout(listed: list[Any] | None) -> html.Div:
    """X API keys, shown by fingerprint only; a new one is checked with X before it is kept."""
    if listed is None:
        return html.Div(
            [
                html.H2("API keys"),
                html.P(
                    "Keys live in the cluster's Secret (one entry per key); the operator "
                    "counts them and scales the collectors."
                ),
            ]
        )
    return html.Div(
        [
            html.H2("API keys"),
            dcc.ConfirmDialog(id="key-del-confirm"),
            dcc.Store(id="key-del-pending"),
            html.Div(key_rows(listed), id="key-list"),
            html.H3("Add a key"),
            dcc.Input(
                id="key-input", type="password", placeholder="bearer token", autoComplete="off"
            ),
            html.Button("Check and add", id="key-add", n_clicks=0),
            html.Div(id="key-result", className="message"),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    try:
        return layout(handlers.keys.list() if handlers.keys else None)
    except KeyRefused as exc:
        return html.P(f"The keys cannot be shown: {exc}.", className="error")


def skeleton() -> Any:
    return layout([])


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    ask_first(
        callback, "key-del", "fingerprint", Need.KEYS,
        lambda fingerprint, _: f"Delete key {fingerprint}? Collection stops using it.",
    )  # fmt: skip

    @callback(
        Output("key-result", "children"),
        Output("key-input", "value"),
        Output("key-list", "children"),
        Input("key-add", "n_clicks"),
        Input("key-del-confirm", "submit_n_clicks"),
        State("key-input", "value"),
        State("key-del-pending", "data"),
        need=Need.KEYS,
        message=0,
        prevent_initial_call=True,
    )
    def _keys(_: int, confirmed: int | None, token: str | None, fingerprint: str | None) -> tuple:
        user = current_user()
        if ctx.triggered_id == "key-add":
            message = handlers.add_key(user, token)
        elif ctx.triggered_id == "key-del-confirm" and confirmed and fingerprint:
            message = handlers.delete_key(user, fingerprint)
        else:
            raise PreventUpdate
        # The field is cleared whatever happened: a key is never sent back to the page.
        return notice(message), "", handlers.key_rows()
