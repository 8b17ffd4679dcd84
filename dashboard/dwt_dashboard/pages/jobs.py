"""Jobs: the community's runs with their progress (refreshing), CommunityJobs in the
cluster, and a run's log."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import Input, Output, State, ctx, dcc, html

from dwt.words import span
from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import runs_table

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/jobs"
NEED = Need.READ


def community_jobs_table(jobs: list[dict[str, Any]]) -> html.Table | html.P:
    """CommunityJobs as the operator reports them (cluster mode)."""
    if not jobs:
        return html.P("No CommunityJobs for this community yet.")
    head = html.Tr(
        [html.Th(h) for h in ("CommunityJob", "phase", "schedule", "steps", "workers", "message")]
    )
    rows = [
        html.Tr(
            [
                html.Td(j["name"]),
                html.Td(j["phase"], className="error" if j["phase"] == "Failed" else ""),
                html.Td(f"{j['schedule']} {j['time_zone']}" if j["schedule"] else "once"),
                html.Td(" ".join(j["steps"])),
                html.Td("" if j["workers"] is None else f"{j['workers']} ({j['keys']} keys)"),
                html.Td(j["message"].splitlines()[0][:200] if j["message"] else ""),
            ]
        )
        for j in jobs
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], id="community-jobs")


def runs_pager(page: int, shown: int, total: int) -> html.P:
    """Which runs the table shows: "Runs 21–40 of 57 (newest first)"."""
    if not total:
        return html.P("", className="help")
    words = f"Runs {span(page, data.RUNS_PAGE, shown, total)}, newest first"
    return html.P(words, id="runs-shown", className="help")


def jobs_tables(
    runs: list[dict[str, Any]], jobs: list[dict[str, Any]] | None, shown: Any = ""
) -> html.Div:
    """What the Jobs page refreshes: runs with progress (``shown``: which, in words), and
    CommunityJobs in the cluster."""
    parts: list[Any] = [runs_table(runs), shown]
    if jobs is not None:
        parts += [html.H3("CommunityJobs"), community_jobs_table(jobs)]
    return html.Div(parts)


def layout(
    runs: list[dict[str, Any]], community_jobs: list[dict[str, Any]] | None, shown: Any = ""
) -> html.Div:
    return html.Div(
        [
            html.H2("Runs"),
            dcc.Interval(id="jobs-tick", interval=3000),
            html.Div(jobs_tables(runs, community_jobs, shown), id="jobs-table"),
            html.Div(
                [
                    html.Button("◀ newer runs", id="runs-newer", n_clicks=0),
                    html.Button("older runs ▶", id="runs-older", n_clicks=0),
                ],
                className="row",
            ),
            dcc.Store(id="runs-page", data=0),
            html.H3("Log"),
            dcc.Dropdown(
                id="log-run",
                options=[r["run_id"] for r in runs],
                value=runs[0]["run_id"] if runs else None,
                placeholder="a run",
            ),
            html.Pre(id="log-tail", className="log"),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    runs, _, total = data.runs_page(handlers.store, community, 0)
    shown = runs_pager(0, len(runs), total)
    return layout(runs, handlers.launcher.jobs(community), shown)  # LauncherError: it says


def skeleton() -> Any:
    return layout([], [])


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    @callback(
        Output("jobs-table", "children"),
        Input("jobs-tick", "n_intervals"),
        Input("runs-page", "data"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _jobs(_: int, page: Any, community: str) -> Any:
        return handlers.jobs_tables(community, page if isinstance(page, int) else 0)

    @callback(
        Output("runs-page", "data"),
        Input("runs-newer", "n_clicks"),
        Input("runs-older", "n_clicks"),
        State("runs-page", "data"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _page(_n: int, _o: int, page: Any, community: str) -> int:
        page = page if isinstance(page, int) else 0
        step = {"runs-newer": -1, "runs-older": 1}.get(ctx.triggered_id, 0)
        return data.runs_page_number(page + step, data.run_count(handlers.store, community))

    @callback(
        Output("log-tail", "children"),
        Input("log-run", "value"),
        Input("jobs-tick", "n_intervals"),
        State("community", "value"),
        need=Need.READ,
    )
    def _log(run_id: str | None, _: int, community: str) -> str:
        return handlers.log_tail(current_user(), community, run_id)
