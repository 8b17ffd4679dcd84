"""Users: candidates to decide on, adding a member, the members (and removing one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import ask_first, notice, scroll, view_only
from dwt_dashboard.replies import is_error

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/users"
NEED = Need.READ


def candidate_rows(candidates: list[dict[str, Any]], act: bool = True) -> html.Div | html.P:
    """Pending candidates, with the add / core / mute / block buttons for those who may act."""
    if not candidates:
        return html.P("No pending candidates.")
    rows = [
        html.Tr(
            [
                html.Td(
                    html.A(f"@{c['username'] or c['account_id']}", href=c["url"], target="_blank")
                ),
                html.Td(str(c["interactions"])),
                html.Td(str(c["members"])),
                *(
                    [
                        html.Td(
                            [
                                html.Button(
                                    action,
                                    id={"type": "cand", "account": c["account_id"],
                                        "action": action},
                                    n_clicks=0,
                                )
                                for action in ("add", "core", "mute", "block")
                            ]
                        )
                    ]
                    if act
                    else []
                ),
            ]
        )
        for c in candidates
    ]  # fmt: skip
    titles = ("account", "interactions", "from members", *(("decide",) if act else ()))
    head = html.Tr([html.Th(h) for h in titles])
    return scroll(html.Table([html.Thead(head), html.Tbody(rows)]))


def preview(decisions: dict[str, str], candidates: list[dict[str, Any]]) -> html.Div:
    """The decisions chosen so far, to check before they are finalised together."""
    names = {c["account_id"]: c["username"] or c["account_id"] for c in candidates}
    listed = (
        html.Ul([html.Li(f"{act} @{names.get(a, a)}") for a, act in decisions.items()])
        if decisions
        else html.P("Choose add, core, mute or block for candidates above.")
    )
    return html.Div(
        [
            listed,
            html.Button(
                f"Finalise {len(decisions)} decision(s)",
                id="finalise",
                n_clicks=0,
                disabled=not decisions,
            ),
            html.Button("Clear", id="decisions-clear", n_clicks=0, disabled=not decisions),
        ]
    )


def member_rows(members: list[dict[str, Any]], act: bool = True) -> html.Div:
    """Members, with a "remove" button each for those who may act."""
    rows = [
        html.Tr(
            [
                html.Td(
                    html.A(
                        f"@{m['username']}", href=f"https://x.com/{m['username']}", target="_blank"
                    )
                ),
                html.Td("core" if m["core"] else ""),
                html.Td("" if m["activity"] is None else str(m["activity"])),
                html.Td("" if m["cluster"] is None else str(m["cluster"])),
                *(
                    [
                        html.Td(
                            html.Button(
                                "remove",
                                id={"type": "member-del", "account": m["account_id"]},
                                n_clicks=0,
                            )
                        )
                    ]
                    if act
                    else []
                ),
            ]
        )
        for m in members
    ]
    head = html.Tr([html.Th(h) for h in ("member", "", "tweets", "cluster", "")])
    return scroll(html.Table([html.Thead(head), html.Tbody(rows)]))


def members_title(count: int) -> str:
    return f"Members ({count:,})"


def layout(
    members: list[dict[str, Any]], candidates: list[dict[str, Any]], act: bool = True
) -> html.Div:
    """Candidates to decide on, adding a member, the members; without ``act`` (a viewer)
    the lists only, and a line saying why there is nothing to click."""
    if not act:
        return html.Div(
            [
                view_only("decide on candidates, add and remove members", id="view-only"),
                html.H2("Candidates"),
                html.Div(candidate_rows(candidates, act=False), id="cand-list"),
                html.H2(members_title(len(members)), id="members-title"),
                html.Div(member_rows(members, act=False), id="member-list"),
            ]
        )
    return html.Div(
        [
            html.H2("Candidates"),
            html.P(
                "Accounts the members interact with most, outside the community. Choose, "
                "check the preview, then finalise: added accounts are collected at once.",
                className="help",
            ),
            html.Div(candidate_rows(candidates), id="cand-list"),
            dcc.Store(id="decisions", data={}),
            html.H3("Preview"),
            html.Div(preview({}, candidates), id="preview"),
            html.Div(id="cand-result", className="message"),
            html.H2("Add a member"),
            html.Div(
                [
                    dcc.Input(
                        id="add-username",
                        placeholder="name, @name or x.com/name",
                        type="text",
                        className="grow",
                    ),
                    dcc.Checklist(
                        id="add-core", options=[{"label": "core", "value": "core"}], value=[]
                    ),
                    html.Button("Add", id="add-button", n_clicks=0),
                ],
                className="row wrap",
            ),
            html.Div(id="add-result", className="message"),
            html.H2(members_title(len(members)), id="members-title"),
            html.Div(id="member-result", className="message"),
            # Removing asks first (a member's history is kept, but the member leaves the
            # clusters and the candidates from the next run).
            dcc.ConfirmDialog(id="member-del-confirm"),
            dcc.Store(id="member-del-pending"),
            html.Div(member_rows(members), id="member-list"),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    store = handlers.store
    return layout(data.members(store, community), data.candidates(store, community), act)


def skeleton() -> Any:
    return layout([], [])


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    store = handlers.store
    ask_first(
        callback, "member-del", "account", Need.WRITE,
        lambda account, community: (
            f"Remove @{data.member_name(store, community, account) or account} from {community}?"
        ),
    )  # fmt: skip

    def member_views(community: str) -> tuple[Any, str]:
        """What an action on members refreshes: the list and its count."""
        members = data.members(store, community)
        return member_rows(members), members_title(len(members))

    @callback(
        Output("decisions", "data"),
        Output("preview", "children"),
        Output("cand-result", "children"),
        Output("cand-list", "children"),
        Output("member-list", "children", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Input({"type": "cand", "account": ALL, "action": ALL}, "n_clicks"),
        Input("finalise", "n_clicks"),
        Input("decisions-clear", "n_clicks"),
        State("decisions", "data"),
        State("community", "value"),
        need=Need.WRITE,  # choosing is the first step of acting: editors only
        message=2,
        prevent_initial_call=True,
    )
    def _decide(
        clicks: list[int | None], _f: int, _c: int, decisions: dict | None, community: str
    ) -> tuple[Any, ...]:
        trigger = ctx.triggered_id
        decisions = dict(decisions or {})
        if trigger == "finalise":
            message = handlers.finalise(current_user(), community, decisions)
            candidates = data.candidates(store, community)
            return (
                {},
                preview({}, candidates),
                notice(message),
                candidate_rows(candidates),
                *member_views(community),
            )
        if trigger == "decisions-clear":
            decisions = {}
        elif isinstance(trigger, dict) and any(clicks):
            account, action = trigger["account"], trigger["action"]
            # The same choice again takes it back; another replaces it.
            if decisions.get(account) == action:
                del decisions[account]
            else:
                decisions[account] = action
        else:
            raise PreventUpdate
        candidates = data.candidates(store, community)
        keep = dash.no_update
        return decisions, preview(decisions, candidates), keep, keep, keep, keep

    @callback(
        Output("member-result", "children"),
        Output("member-list", "children"),
        Output("members-title", "children"),
        Input("member-del-confirm", "submit_n_clicks"),
        State("member-del-pending", "data"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _remove(confirmed: int | None, account: str | None, community: str) -> tuple[Any, ...]:
        if not confirmed or not account:
            raise PreventUpdate
        message = handlers.remove_member(current_user(), community, account)
        return notice(message), *member_views(community)

    @callback(
        Output("add-result", "children"),
        Output("add-username", "value"),
        Output("member-list", "children", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Output("cand-list", "children", allow_duplicate=True),
        Input("add-button", "n_clicks"),
        Input("add-username", "n_submit"),
        State("add-username", "value"),
        State("add-core", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _add(
        _: int, _s: int, username: str | None, core: list[str], community: str
    ) -> tuple[Any, ...]:
        message = handlers.add_member(
            current_user(), community, username or "", "core" in (core or [])
        )
        kept = username if is_error(message) else ""  # a typo stays to be corrected
        candidates = candidate_rows(data.candidates(store, community))
        return notice(message), kept, *member_views(community), candidates
