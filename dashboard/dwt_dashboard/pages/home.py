"""Home: the weekly digest (numbers, what trends, how the clusters moved, candidates
worth a look, the last run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import dcc, html

from dwt.words import plural
from dwt_dashboard import data, mapdata
from dwt_dashboard.access import Need
from dwt_dashboard.components import ENDED_BADLY, fmt_time, runs_table
from dwt_dashboard.digest import digest

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/"
NEED = Need.READ


def _section(title: str, body: Any, section_id: str) -> html.Section:
    return html.Section([html.H3(title), body], id=section_id, className="digest-part")


def last_run(run: dict[str, Any] | None) -> html.Div | html.P:
    """The last run's state in one line: what, how it ended, what it counted."""
    if run is None:
        return html.P("No run yet: start one from Insights or set a daily schedule.")
    failed = run["status"] in ENDED_BADLY
    counts = data.count_words(run["counts"])
    return html.Div(
        [
            html.Span(f"{run['kind'].capitalize()} run {run['run_id']} ", className="run-id"),
            html.Span(run["status"], className=f"status {run['status']}"),
            f", started {fmt_time(run['started_at'])} UTC",
            html.Div(run["error"], className="error") if failed and run.get("error") else "",
            html.Div(counts, className="help") if counts else "",
        ],
        id="last-run",
    )


def _trending_list(items: list[dict[str, Any]]) -> Any:
    if not items:
        return html.P("No trending conversation this week.")
    rows = []
    for t in items:
        text = t["text"][:140] + ("…" if len(t["text"]) > 140 else "")
        where = f"cluster {t['cluster']}" + (f" ({t['label']})" if t["label"] else "")
        rows.append(
            html.Li(
                [
                    dcc.Link(text or "(no text)", href=t["href"], className="opening"),
                    html.Div(
                        f"{where} · {data.TIERS[t['tier']]} · {plural(t['size'], 'tweet')} · "
                        f"{plural(t['participants'], 'member')}",
                        className="meta",
                    ),
                ]
            )
        )
    return html.Ol(rows, className="trending-list")


def _topics_list(clusters: list[dict[str, Any]]) -> Any:
    if not clusters:
        return html.P("No topics yet.", className="help")
    return html.Ul(
        [
            html.Li(
                [
                    dcc.Link(  # to the cluster's topics, with their tweets, on Insights
                        html.B(
                            f"Cluster {c['cluster']}" + (f" ({c['label']})" if c["label"] else "")
                        ),
                        href=f"/insights?cluster={c['cluster']}",
                    ),
                    ": ",
                    *[
                        html.Span(
                            t["topic"],
                            className="topic trending-topic" if t.get("trending") else "topic",
                            title=f"{t.get('kind') or ''}: {plural(t.get('count') or 0, 'tweet')}, "
                            f"{plural(t.get('members') or 0, 'member')}",
                        )
                        for t in c["topics"]
                    ],
                ]
            )
            for c in clusters
        ]
        + [
            html.Li(
                [
                    html.Span("topic", className="topic"),
                    " used this week · ",
                    html.Span("topic", className="topic trending-topic"),
                    " trending: used far more than usual",
                ],
                className="topic-legend help",
            )
        ],
        className="topics",
    )


def _candidates_list(candidates: list[dict[str, Any]]) -> Any:
    if not candidates:
        return html.P("No new candidates.")
    return html.Div(
        [
            html.Ul(
                [
                    html.Li(
                        [
                            html.A(
                                f"@{c['username'] or c['account_id']}",
                                href=c["url"],
                                target="_blank",
                            ),
                            f" · {c['interactions']:,} interactions from {c['members']} members",
                        ]
                    )
                    for c in candidates
                ]
            ),
            dcc.Link("Decide on the Users page", href="/users"),
        ]
    )


def layout(overview: dict[str, Any]) -> html.Div:
    """The weekly digest: numbers, what trends, how the clusters moved, who to look at,
    and the last run's state (``overview``: :func:`dwt_dashboard.digest.digest`)."""
    cards = [
        ("members", overview["members"]),
        ("tweets this week", overview["tweets"]),
        ("clusters", overview["clusters"]),
        ("trending conversations", len(overview.get("trending", []))),
    ]
    moved = overview.get("cluster_changes", [])
    shown = overview.get("clusters_run")
    waiting = overview.get("uncollected", 0)
    return html.Div(
        [
            html.H2("This week"),
            html.Div(
                [
                    f"{plural(waiting, 'member')} not collected yet (added without an API key, "
                    "or their collection failed): ",
                    dcc.Link("collect them on the Users page", href="/users"),
                ],
                id="uncollected",
                className="notice notice-info",
            )
            if waiting
            else "",
            html.P(f"{fmt_time(overview['since'])} → {fmt_time(overview['until'])} (UTC)"),
            html.Div(
                [html.Div([html.B(f"{v:,}"), k], className="card") for k, v in cards],
                className="cards",
            ),
            html.Div(
                [
                    _section(
                        "Trending conversations",
                        _trending_list(overview.get("trending", [])),
                        "digest-trending",
                    ),
                    _section(
                        "Trending topics per cluster",
                        _topics_list(overview.get("topics", [])),
                        "digest-topics",
                    ),
                    _section(
                        "How the clusters moved",
                        html.Ul([html.Li(c["text"]) for c in moved])
                        if moved
                        else html.P("No cluster grew, split or merged since the last analysis."),
                        "digest-clusters",
                    ),
                    _section(
                        "New candidates worth a look",
                        _candidates_list(overview.get("candidates", [])),
                        "digest-candidates",
                    ),
                ],
                className="digest",
            ),
            html.H3("Since last week"),
            html.Ul([html.Li(line) for line in overview["changes"]], id="changes"),
            html.H3("Last run"),
            last_run(overview.get("last_run")),
            html.P(
                f"Clusters from run {shown['run_id']}." if shown else "No clusters yet.",
                className="help",
            ),
            html.Details([html.Summary("Recent runs"), runs_table(overview["runs"])]),
        ]
    )


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    mapdata.prefetch(handlers.store, community)  # Insights, the usual next page, opens at once
    return layout(digest(handlers.store, community, handlers.clock()))


def skeleton() -> Any:
    return html.Div()


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    """Home has no callback of its own: its links go to the other pages."""
