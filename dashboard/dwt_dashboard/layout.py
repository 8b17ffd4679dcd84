"""Page layouts, built from :mod:`dwt_dashboard.data` results only (never from settings)."""

from __future__ import annotations

import math
from typing import Any

import dash_cytoscape as cyto
from dash import dcc, html

from dwt_dashboard import data

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
GRAPH_STYLE = [
    {"selector": "node", "style": {"width": 8, "height": 8, "label": ""}},
    {"selector": "edge", "style": {"width": 0.5, "line-color": "#c8ccd0", "opacity": 0.6}},
    {"selector": ".isolated", "style": {"background-color": "#cccccc"}},
    *[{"selector": f".c{i}", "style": {"background-color": c}} for i, c in enumerate(PALETTE)],
]


def shell(communities: list[str], username: str) -> html.Div:
    """The frame around every page: navigation and the community selector."""
    return html.Div(
        [
            dcc.Location(id="url"),
            html.Nav(
                [
                    dcc.Link("Home", href="/"),
                    dcc.Link("Collection", href="/collection"),
                    dcc.Link("Users", href="/users"),
                    dcc.Link("Insights", href="/insights"),
                    dcc.Link("Jobs", href="/jobs"),
                    dcc.Link("API keys", href="/keys"),
                    dcc.Dropdown(
                        id="community",
                        options=communities,
                        value=communities[0] if communities else None,
                        clearable=False,
                        className="community",
                    ),
                    html.Span(username, style={"color": "#fff"}),
                    html.A("Log out", href="/logout"),
                ],
                className="top",
            ),
            html.Div(id="page", className="page"),
        ]
    )


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else ""


def runs_table(runs: list[dict[str, Any]]) -> html.Table:
    head = html.Tr(
        [html.Th(h) for h in ("run", "status", "steps", "started", "progress", "counts")]
    )
    rows = []
    for run in runs:
        progress = ", ".join(
            f"{step}: {p.get('state')}"
            + (f" {p.get('done')}/{p['total']}" if p.get("total") else "")
            for step, p in run["progress"].items()
        )
        counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
        status = run["status"] + (f" ({run['error']})" if run.get("error") else "")
        rows.append(
            html.Tr(
                [
                    html.Td(run["run_id"]),
                    html.Td(status, className="error" if run["status"] == "failed" else ""),
                    html.Td(" ".join(run["steps"])),
                    html.Td(_fmt_time(run["started_at"])),
                    html.Td(progress),
                    html.Td(counts),
                ]
            )
        )
    return html.Table([html.Thead(head), html.Tbody(rows)], id="runs-table")


def home(overview: dict[str, Any]) -> html.Div:
    cards = [
        ("members", overview["members"]),
        ("tweets this week", overview["tweets"]),
        ("clusters", overview["clusters"]),
    ]
    return html.Div(
        [
            html.H2("This week"),
            html.P(f"{_fmt_time(overview['since'])} → {_fmt_time(overview['until'])} (UTC)"),
            html.Div(
                [html.Div([html.B(str(v)), k], className="card") for k, v in cards],
                className="cards",
            ),
            html.H3("Last runs"),
            runs_table(overview["runs"]),
        ]
    )


def candidate_rows(candidates: list[dict[str, Any]]) -> html.Table | html.P:
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
                html.Td(
                    [
                        html.Button(
                            action,
                            id={"type": "cand", "account": c["account_id"], "action": action},
                            n_clicks=0,
                        )
                        for action in ("add", "core", "mute", "block")
                    ]
                ),
            ]
        )
        for c in candidates
    ]
    head = html.Tr([html.Th(h) for h in ("account", "interactions", "from members", "decide")])
    return html.Table([html.Thead(head), html.Tbody(rows)])


def users(members: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> html.Div:
    member_rows = [
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
            ]
        )
        for m in members
    ]
    head = html.Tr([html.Th(h) for h in ("member", "", "tweets", "cluster")])
    return html.Div(
        [
            html.H2("Candidates"),
            html.Div(id="cand-result", className="message"),
            html.Div(candidate_rows(candidates), id="cand-list"),
            html.H2("Add a member"),
            dcc.Input(id="add-username", placeholder="username", type="text"),
            dcc.Checklist(id="add-core", options=[{"label": "core", "value": "core"}], value=[]),
            html.Button("Add", id="add-button", n_clicks=0),
            html.Div(id="add-result", className="message"),
            html.H2(f"Members ({len(members)})"),
            html.Table([html.Thead(head), html.Tbody(member_rows)]),
        ]
    )


def _slider(name: str, default: float) -> html.Div:
    # Log scale: the defaults span 0.01 to 100.
    return html.Div(
        [
            html.Label(f"{name}"),
            dcc.Slider(
                id=f"w-{name}",
                min=-3,
                max=3,
                step=0.1,
                value=round(math.log10(default), 1),
                marks={i: f"{10**i:g}" for i in range(-3, 4)},
                allow_direct_input=False,  # the box would show the exponent, not the weight
            ),
            html.Span(data.WEIGHT_HELP[name], className="help"),
        ]
    )


def cluster_detail(cluster: dict[str, Any] | None) -> html.Div:
    if cluster is None:
        return html.Div("No clusters yet: run bonds + cluster.")
    return html.Div(
        [
            html.H3(f"Cluster {cluster['cluster']}: {cluster['label']}"),
            html.P(
                f"{cluster['size']} members · internal weight {cluster['internal_weight']:.2f} · "
                f"external weight {cluster['external_weight']:.2f}"
            ),
            html.P("Central: " + ", ".join(f"@{n}" for n in cluster["central"])),
            html.P("Members: " + ", ".join(f"@{n}" for n in cluster["members"])),
        ]
    )


def conversation_list(convs: list[dict[str, Any]]) -> html.Ol | html.P:
    if not convs:
        return html.P("No conversations for this cluster and tier.")
    return html.Ol(
        [
            html.Li(
                [
                    html.Span("TRENDING ", className="trending") if c["trending"] else "",
                    html.A(c["url"], href=c["url"], target="_blank"),
                    f" · {c['size']} tweets · {c['participants']} members · "
                    f"engagement {c['engagement']}",
                ]
            )
            for c in convs
        ]
    )


def insights(clusters: list[dict[str, Any]], elements: list[dict[str, Any]]) -> html.Div:
    options = [
        {"label": f"{c['cluster']}: {c['label']} ({c['size']})", "value": c["cluster"]}
        for c in clusters
    ]
    first = clusters[0]["cluster"] if clusters else None
    return html.Div(
        [
            html.H2("Bond weights"),
            *[_slider(name, value) for name, value in data.weight_defaults().items()],
            html.Button("Run bonds + cluster + content", id="run-button", n_clicks=0),
            html.Div(id="run-result", className="message"),
            html.H2("Clusters"),
            html.Button("◀ previous", id="cluster-prev", n_clicks=0),
            dcc.Dropdown(id="cluster-pick", options=options, value=first, clearable=False),
            html.Button("next ▶", id="cluster-next", n_clicks=0),
            html.Div(cluster_detail(clusters[0] if clusters else None), id="cluster-detail"),
            cyto.Cytoscape(
                id="bond-graph",
                elements=elements,
                stylesheet=GRAPH_STYLE,
                layout={"name": "cose", "animate": False},
                style={"width": "100%", "height": "480px", "background": "#fff"},
            ),
            html.H2("Conversations"),
            dcc.RadioItems(
                id="tier-pick",
                options=[{"label": f"tier {t}: {d}", "value": t} for t, d in data.TIERS.items()],
                value=1,
                inline=True,
            ),
            html.Div(id="conversations"),
        ]
    )


def jobs(runs: list[dict[str, Any]]) -> html.Div:
    return html.Div(
        [
            html.H2("Runs"),
            dcc.Interval(id="jobs-tick", interval=3000),
            html.Div(runs_table(runs), id="jobs-table"),
        ]
    )


def collection(status: dict[str, Any]) -> html.Div:
    """Data collection: how much is stored, over which time, and what could not be read."""
    unreadable = status["unreadable"]
    rows = [
        html.Tr(
            [
                html.Td(f"@{u['username'] or u['account_id']}"),
                html.Td(u["status"]),
                html.Td(_fmt_time(u["seen_at"])),
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
                f"Time frame: {_fmt_time(status['first'])} → {_fmt_time(status['last'])} (UTC)",
                id="time-frame",
            ),
            html.H3("Accounts that could not be read"),
            accounts,
            html.H3("Collection runs"),
            runs_table(status["runs"]),
        ]
    )


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


def keys(listed: list[Any] | None) -> html.Div:
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
            html.Div(key_rows(listed), id="key-list"),
            html.H3("Add a key"),
            dcc.Input(
                id="key-input", type="password", placeholder="bearer token", autoComplete="off"
            ),
            html.Button("Check and add", id="key-add", n_clicks=0),
            html.Div(id="key-result", className="message"),
        ]
    )
