"""Users: candidates to decide on, adding a member, the members (and removing one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt.words import span
from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import ask_first, notice, view_only
from dwt_dashboard.replies import is_error

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/users"
NEED = Need.READ


#: Rows a list shows at a time: the browser draws only these (at 3,000 members the whole
#: list took seconds of its main thread, and an add re-drew all of it).
PAGE_SIZE = 50
#: How each list can be ordered: value → words.
MEMBER_SORTS = {"activity": "most tweets", "cluster": "by cluster", "name": "by name"}
CANDIDATE_SORTS = {
    "interactions": "most interactions",
    "members": "most members",
    "name": "by name",
}
ACTIONS = ("add", "core", "mute", "block")


def candidate_row(c: dict[str, Any], act: bool = True) -> html.Tr:
    """One candidate: name, figures, and the add / core / mute / block buttons for those
    who may act (on a phone they wrap under the name)."""
    buttons = [
        html.Button(action, id={"type": "cand", "account": c["account_id"], "action": action},
                    n_clicks=0)
        for action in ACTIONS
    ]  # fmt: skip
    return html.Tr(
        [
            html.Td(html.A(f"@{c['username'] or c['account_id']}", href=c["url"], target="_blank"),
                    className="who"),
            html.Td(f"{c['interactions']:,}", title="interactions", className="figure"),
            html.Td(f"{c['members']:,}", title="from members", className="figure"),
            *([html.Td(buttons, className="actions")] if act else []),
        ]
    )  # fmt: skip


def member_row(m: dict[str, Any], act: bool = True) -> html.Tr:
    """One member: name, core, tweets, cluster, and a "remove" button for those who may act."""
    name = m["username"]
    return html.Tr(
        [
            html.Td(html.A(f"@{name}", href=f"https://x.com/{name}", target="_blank"),
                    className="who"),
            html.Td("core" if m["core"] else "", className="figure"),
            html.Td("" if m["activity"] is None else f"{m['activity']:,}", title="tweets",
                    className="figure"),
            html.Td("" if m["cluster"] is None else str(m["cluster"]), title="cluster",
                    className="figure"),
            *([html.Td(html.Button("remove", id={"type": "member-del", "account": m["account_id"]},
                                   n_clicks=0), className="actions")] if act else []),
        ]
    )  # fmt: skip


def paged_list(
    prefix: str,
    rows: list[Any],
    heads: tuple[str, ...],
    sorts: dict[str, str],
    pager: str,
    ids: list[str],
) -> html.Div:
    """A list that shows one page: search, order, the rows (``{prefix}-list``, a table body
    partial updates add to and remove from), previous/next; ``{prefix}-view`` holds the
    page and the ids of its rows, in order."""
    return html.Div(
        [
            html.Div(
                [
                    dcc.Input(id=f"{prefix}-search", type="search", placeholder="search names",
                              debounce=True, className="grow"),
                    dcc.Dropdown(id=f"{prefix}-sort", value=next(iter(sorts)), clearable=False,
                                 options=[{"label": w, "value": v} for v, w in sorts.items()],
                                 className="short"),
                ],
                className="row wrap",
            ),
            html.Table(
                [html.Thead(html.Tr([html.Th(h) for h in heads])),
                 html.Tbody(rows, id=f"{prefix}-list")],
                className="list-table",
            ),
            html.Div(
                [
                    html.Button("◀ previous", id=f"{prefix}-prev", n_clicks=0),
                    html.Span(pager, id=f"{prefix}-pager", className="help"),
                    html.Button("next ▶", id=f"{prefix}-next", n_clicks=0),
                ],
                className="row pager",
            ),
            dcc.Store(id=f"{prefix}-view", data={"page": 0, "ids": ids}),
        ]
    )  # fmt: skip


def pager_text(page: int, shown: int, total: int, noun: str) -> str:
    if not total:
        return f"No {noun}s."
    return f"{span(page, PAGE_SIZE, shown, total)} {noun}{'' if total == 1 else 's'}"


def page_of(rows: list[dict[str, Any]], page: int) -> tuple[list[dict[str, Any]], int]:
    """The rows of ``page`` (clamped to the pages there are), and that page."""
    last = max(0, (len(rows) - 1) // PAGE_SIZE)
    page = min(max(page, 0), last)
    return rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], page


def ordered(rows: list[dict[str, Any]], search: str | None, sort: str | None) -> list[dict]:
    """``rows`` whose username holds ``search`` (any case), in ``sort``'s order (the lists
    come most active / most interactions first; unknown orders keep that)."""
    needle = (search or "").strip().lstrip("@").lower()
    if needle:
        rows = [r for r in rows if needle in (r.get("username") or "").lower()]
    name = lambda r: (r.get("username") or r["account_id"]).lower()  # noqa: E731
    if sort == "name":
        return sorted(rows, key=name)
    if sort == "cluster":
        return sorted(rows, key=lambda r: (r.get("cluster") is None, r.get("cluster") or 0))
    if sort == "members":
        return sorted(rows, key=lambda r: -(r.get("members") or 0))
    return rows


def members_view(
    members: list[dict[str, Any]], act: bool, page: int = 0, search: str = "", sort: str = ""
) -> tuple[list[Any], dict[str, Any], str]:
    """One page of members: its rows, the ``member-view`` data and the pager's words."""
    found = ordered(members, search, sort)
    rows, page = page_of(found, page)
    view = {"page": page, "ids": [m["account_id"] for m in rows]}
    return [member_row(m, act) for m in rows], view, pager_text(page, len(rows), len(found),
                                                                "member")  # fmt: skip


def candidates_view(
    candidates: list[dict[str, Any]], act: bool, page: int = 0, search: str = "", sort: str = ""
) -> tuple[list[Any], dict[str, Any], str]:
    found = ordered(candidates, search, sort)
    rows, page = page_of(found, page)
    view = {"page": page, "ids": [c["account_id"] for c in rows]}
    return [candidate_row(c, act) for c in rows], view, pager_text(page, len(rows), len(found),
                                                                   "candidate")  # fmt: skip


def preview(decisions: dict[str, str], candidates: list[dict[str, Any]]) -> html.Div:
    """The decisions chosen so far, to check before they are finalised together."""
    names = {c["account_id"]: c["username"] or c["account_id"] for c in candidates}
    listed = (
        html.Ul([html.Li(f"{act} @{names.get(a, a)}") for a, act in decisions.items()])
        if decisions
        else html.P("Choose add, core, mute or block for candidates above.")
    )
    count = len(decisions)
    return html.Div(
        [
            listed,
            html.Button(
                f"Finalise {count} decision{'' if count == 1 else 's'}",
                id="finalise",
                n_clicks=0,
                disabled=not decisions,
            ),
            html.Button("Clear", id="decisions-clear", n_clicks=0, disabled=not decisions),
        ]
    )


def members_title(count: int) -> str:
    return f"Members ({count:,})"


def layout(
    members: list[dict[str, Any]], candidates: list[dict[str, Any]], act: bool = True
) -> html.Div:
    """Candidates to decide on, adding a member, the members, each list a page at a time;
    without ``act`` (a viewer) the lists only, and a line saying why there is nothing to
    click."""
    cand_rows, cand_view, cand_pager = candidates_view(candidates, act)
    member_list, member_view, member_pager = members_view(members, act)
    candidate_list = paged_list("cand", cand_rows, ("account", "interactions", "from members",
                                *(("decide",) if act else ())), CANDIDATE_SORTS, cand_pager,
                                cand_view["ids"])  # fmt: skip
    member_list = paged_list("member", member_list, ("member", "", "tweets", "cluster",
                             *(("",) if act else ())), MEMBER_SORTS, member_pager,
                             member_view["ids"])  # fmt: skip
    if not act:
        return html.Div(
            [
                view_only("decide on candidates, add and remove members", id="view-only"),
                html.H2("Candidates"),
                candidate_list,
                html.H2(members_title(len(members)), id="members-title"),
                member_list,
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
            candidate_list,
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
            html.Div(
                [
                    html.Button("Collect members not collected yet", id="collect-new", n_clicks=0),
                    html.Span(
                        "members added without an API key, or whose collection failed",
                        className="help",
                    ),
                ],
                className="row wrap",
            ),
            html.Div(id="member-result", className="message"),
            # Removing asks first (a member's history is kept, but the member leaves the
            # clusters and the candidates from the next run).
            dcc.ConfirmDialog(id="member-del-confirm"),
            dcc.Store(id="member-del-pending"),
            member_list,
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    store = handlers.store
    return layout(data.members(store, community), data.candidates(store, community), act)


def skeleton() -> Any:
    return layout([], [])


def _moved(trigger: Any, prefix: str, page: int) -> int:
    """The page a click on previous / next asks for (a new search or order: the first)."""
    return {f"{prefix}-prev": page - 1, f"{prefix}-next": page + 1}.get(trigger, 0)


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    """The lists draw a page at a time; an add or a remove changes its row and the counts
    (Dash ``Patch``), never the whole list."""
    store = handlers.store
    ask_first(
        callback, "member-del", "account", Need.WRITE,
        lambda account, community: (
            f"Remove @{data.member_name(store, community, account) or account} from {community}?"
        ),
    )  # fmt: skip

    def may_act(community: str) -> bool:
        return handlers.allows(current_user(), community, Need.WRITE)

    def pager(view: Any, search: str | None, community: str, change: int) -> str:
        """The member pager's words after ``change`` rows came (or went) on its page."""
        total = len(ordered(data.members(store, community), search, None))
        return pager_text(_page(view), max(0, len(_ids(view)) + change), total, "member")

    def paged(prefix: str, rows: Callable[[str], Any], view_of: Callable[..., Any]) -> None:
        """The list ``prefix`` (``member``, ``cand``) redrawn a page at a time as its search,
        sort or pager changes; ``rows`` reads the community's rows, ``view_of`` draws them."""

        @callback(
            Output(f"{prefix}-list", "children"),
            Output(f"{prefix}-view", "data"),
            Output(f"{prefix}-pager", "children"),
            Input(f"{prefix}-search", "value"),
            Input(f"{prefix}-sort", "value"),
            Input(f"{prefix}-prev", "n_clicks"),
            Input(f"{prefix}-next", "n_clicks"),
            State(f"{prefix}-view", "data"),
            State("community", "value"),
            need=Need.READ,
            prevent_initial_call=True,
        )
        def _page_of(
            search: str | None, sort: str | None, _p: int, _n: int, view: Any, community: str
        ) -> tuple[Any, ...]:
            page = _moved(ctx.triggered_id, prefix, _page(view))
            return view_of(rows(community), may_act(community), page, search or "", sort or "")

    paged("member", lambda community: data.members(store, community), members_view)
    paged("cand", lambda community: data.candidates(store, community), candidates_view)

    @callback(
        Output("decisions", "data"),
        Output("preview", "children"),
        Output("cand-result", "children"),
        Output("cand-list", "children", allow_duplicate=True),
        Output("cand-view", "data", allow_duplicate=True),
        Output("cand-pager", "children", allow_duplicate=True),
        Output("member-list", "children", allow_duplicate=True),
        Output("member-view", "data", allow_duplicate=True),
        Output("member-pager", "children", allow_duplicate=True),
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
            members = data.members(store, community)
            return (
                {},
                preview({}, candidates),
                notice(message),
                *candidates_view(candidates, True),
                *members_view(members, True),
                members_title(len(members)),
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
        keep = (dash.no_update,) * 8
        return decisions, preview(decisions, candidates), *keep

    @callback(
        Output("member-result", "children"),
        Output("member-list", "children", allow_duplicate=True),
        Output("member-view", "data", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Output("member-pager", "children", allow_duplicate=True),
        Input("member-del-confirm", "submit_n_clicks"),
        State("member-del-pending", "data"),
        State("member-view", "data"),
        State("member-search", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _remove(
        confirmed: int | None, account: str | None, view: Any, search: str | None, community: str
    ) -> tuple[Any, ...]:
        if not confirmed or not account:
            raise PreventUpdate
        message = handlers.remove_member(current_user(), community, account)
        rows, ids = Patch(), Patch()
        shown = _ids(view)
        gone = not is_error(message) and account in shown
        if gone:
            at = shown.index(account)
            del rows[at]
            del ids["ids"][at]
        title = members_title(data.member_count(store, community))
        return notice(message), rows, ids, title, pager(view, search, community, -gone)

    @callback(
        Output("add-result", "children"),
        Output("add-username", "value"),
        Output("member-list", "children", allow_duplicate=True),
        Output("member-view", "data", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Output("cand-list", "children", allow_duplicate=True),
        Output("cand-view", "data", allow_duplicate=True),
        Output("member-pager", "children", allow_duplicate=True),
        Input("add-button", "n_clicks"),
        Input("add-username", "n_submit"),
        State("add-username", "value"),
        State("add-core", "value"),
        State("cand-view", "data"),
        State("member-view", "data"),
        State("member-search", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _add(
        _: int,
        _s: int,
        username: str | None,
        core: list[str],
        cands: Any,
        members: Any,
        search: str | None,
        community: str,
    ) -> tuple[Any, ...]:
        before = data.member_ids(store, community)
        message = handlers.add_member(
            current_user(), community, username or "", "core" in (core or [])
        )
        added = data.member_ids(store, community) - before
        # Added (even when collecting must wait for a key): the field is cleared; a typo
        # stays to be corrected.
        kept = username if is_error(message) and not added else ""
        rows, view = Patch(), Patch()
        for member in data.members_named(store, community, added):
            rows.prepend(member_row(member))
            view["ids"].prepend(member["account_id"])
        cand_rows, cand_ids = Patch(), Patch()
        shown = _ids(cands)
        for at in sorted((shown.index(a) for a in added if a in shown), reverse=True):
            del cand_rows[at]  # an added candidate is not a candidate any more
            del cand_ids["ids"][at]
        title = members_title(data.member_count(store, community))
        shown_now = pager(members, search, community, len(added))
        return notice(message), kept, rows, view, title, cand_rows, cand_ids, shown_now

    @callback(
        Output("member-result", "children", allow_duplicate=True),
        Input("collect-new", "n_clicks"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _collect_new(clicks: int | None, community: str) -> Any:
        if not clicks:
            raise PreventUpdate
        return notice(handlers.collect_uncollected(current_user(), community))


def _page(view: Any) -> int:
    page = view.get("page") if isinstance(view, dict) else 0
    return page if isinstance(page, int) and not isinstance(page, bool) else 0


def _ids(view: Any) -> list[str]:
    """The account ids a list's view says it shows (what the browser sent: only positions
    are taken from it, nothing is read by it)."""
    ids = view.get("ids") if isinstance(view, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
