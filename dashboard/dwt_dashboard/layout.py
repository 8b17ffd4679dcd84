"""Page layouts, built from :mod:`dwt_dashboard.data` results only (never from settings)."""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import available_timezones

import dash_cytoscape as cyto
from dash import dcc, html

from dwt_dashboard import data

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
GRAPH_STYLE = [
    # Labels appear as one zooms in (all at once they would hide the graph); the central
    # members of each cluster are larger and always named.
    {
        "selector": "node",
        "style": {
            "width": 8,
            "height": 8,
            "label": "data(label)",
            "font-size": 5,
            "min-zoomed-font-size": 14,
            "color": "#333",
        },
    },
    {
        "selector": ".central",
        "style": {"width": 16, "height": 16, "font-size": 9, "min-zoomed-font-size": 0},
    },
    {"selector": "edge", "style": {"width": 0.5, "line-color": "#c8ccd0", "opacity": 0.6}},
    {"selector": ".isolated", "style": {"background-color": "#cccccc"}},
    *[{"selector": f".c{i}", "style": {"background-color": c}} for i, c in enumerate(PALETTE)],
]


#: Members named in a cluster's detail (the Users page lists them all).
MEMBERS_SHOWN = 40


def graph_style(selected: int | None) -> list[dict[str, Any]]:
    """The graph's style with the selected cluster in front and the others faded."""
    if selected is None:
        return GRAPH_STYLE
    return [
        *GRAPH_STYLE,
        {"selector": f"node[cluster != {int(selected)}]", "style": {"opacity": 0.2}},
    ]


_LINK_BUTTON = {
    "background": "none",
    "border": "none",
    "color": "#fff",
    "cursor": "pointer",
    "font": "inherit",
    "padding": 0,
}


def logout(csrf: str | None) -> Any:
    """Logging out is a form post (a link on another site cannot log anyone out); behind an
    OIDC proxy, a link to the proxy's own sign-out."""
    if csrf is None:
        return html.A("Log out", href="/logout")
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=csrf),
            html.Button("Log out", type="submit", id="logout", style=_LINK_BUTTON),
        ],
        action="/logout",
        method="POST",
        style={"margin": 0},
    )


def shell(
    communities: list[str],
    username: str,
    *,
    keys: bool = False,
    people: bool = False,
    csrf: str | None = None,
) -> html.Div:
    """The frame around every page: navigation (the API keys and People pages only for
    those who may use them) and the community selector."""
    links = [
        dcc.Link("Home", href="/"),
        dcc.Link("Collection", href="/collection"),
        dcc.Link("Users", href="/users"),
        dcc.Link("Insights", href="/insights"),
        dcc.Link("Jobs", href="/jobs"),
    ]
    if keys:
        links.append(dcc.Link("API keys", href="/keys"))
    if people:
        links.append(dcc.Link("People", href="/people"))
    return html.Div(
        [
            dcc.Location(id="url"),
            html.Nav(
                [
                    *links,
                    dcc.Dropdown(
                        id="community",
                        options=communities,
                        value=communities[0] if communities else None,
                        clearable=False,
                        className="community",
                    ),
                    html.Span(username, style={"color": "#fff"}),
                    logout(csrf),
                ],
                className="top",
            ),
            html.Div(id="page", className="page"),
        ]
    )


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else ""


def step_progress(step: str, p: dict[str, Any]) -> html.Div:
    """One step's state, with a bar when its size is known."""
    state = p.get("state") or "?"
    parts: list[Any] = [html.Span(f"{step} {state}", className=f"step {state}")]
    if p.get("total"):
        parts += [
            html.Progress(value=str(p.get("done") or 0), max=str(p["total"])),
            html.Span(f" {p.get('done') or 0}/{p['total']}"),
        ]
    if p.get("eta_s"):
        parts.append(html.Span(f" ETA {p['eta_s']:.0f}s"))
    return html.Div(parts, className="progress")


def runs_table(runs: list[dict[str, Any]]) -> html.Table:
    head = html.Tr(
        [html.Th(h) for h in ("run", "kind", "status", "steps", "started", "progress", "counts")]
    )
    rows = []
    for run in runs:
        counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
        status = run["status"] + (f" ({run['error']})" if run.get("error") else "")
        rows.append(
            html.Tr(
                [
                    html.Td(run["run_id"]),
                    html.Td(run["kind"]),
                    html.Td(status, className="error" if run["status"] == "failed" else ""),
                    html.Td(" ".join(run["steps"])),
                    html.Td(_fmt_time(run["started_at"])),
                    html.Td([step_progress(s, p) for s, p in run["progress"].items()]),
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
                [html.Div([html.B(f"{v:,}"), k], className="card") for k, v in cards],
                className="cards",
            ),
            html.H3("Since last week"),
            html.Ul([html.Li(line) for line in overview["changes"]], id="changes"),
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


def member_rows(members: list[dict[str, Any]]) -> html.Table:
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
                html.Td(
                    html.Button(
                        "remove", id={"type": "member-del", "account": m["account_id"]}, n_clicks=0
                    )
                ),
            ]
        )
        for m in members
    ]
    head = html.Tr([html.Th(h) for h in ("member", "", "tweets", "cluster", "")])
    return html.Table([html.Thead(head), html.Tbody(rows)])


def users(members: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> html.Div:
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
            dcc.Input(id="add-username", placeholder="username", type="text"),
            dcc.Checklist(id="add-core", options=[{"label": "core", "value": "core"}], value=[]),
            html.Button("Add", id="add-button", n_clicks=0),
            html.Div(id="add-result", className="message"),
            html.H2(f"Members ({len(members)})"),
            html.Div(id="member-result", className="message"),
            html.Div(member_rows(members), id="member-list"),
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
            html.P(
                "Members: "
                + ", ".join(f"@{n}" for n in cluster["members"][:MEMBERS_SHOWN])
                + (
                    f" … and {len(cluster['members']) - MEMBERS_SHOWN} more"
                    if len(cluster["members"]) > MEMBERS_SHOWN
                    else ""
                )
            ),
        ]
    )


def conversation_list(convs: list[dict[str, Any]]) -> html.Ol | html.P:
    """Conversations, trending first; each opens to its tweets, each tweet links to X."""
    if not convs:
        return html.P("No conversations for this cluster and tier.")
    items = []
    for c in convs:
        first = c["tweets"][0]["text"] if c["tweets"] else ""
        summary = html.Summary(
            [
                html.Span("TRENDING ", className="trending") if c["trending"] else "",
                html.Span(first[:140] + ("…" if len(first) > 140 else ""), className="opening"),
                html.Span(
                    f" · {c['size']} tweets · {c['participants']} members · "
                    f"engagement {c['engagement']}",
                    className="meta",
                ),
            ]
        )
        tweets = html.Ul(
            [
                html.Li(
                    [
                        html.B(f"@{t['author']}"),
                        f" {_fmt_time(t['created_at'])} ",
                        html.A("open on X", href=t["url"], target="_blank"),
                        html.Div(t["text"], className="tweet"),
                    ]
                )
                for t in c["tweets"]
            ],
            className="tweets",
        )
        thread = html.A(c["url"], href=c["url"], target="_blank")
        items.append(html.Li(html.Details([summary, tweets, thread], className="conversation")))
    return html.Ol(items)


def insights(clusters: list[dict[str, Any]], elements: list[dict[str, Any]]) -> html.Div:
    options = [
        {"label": f"{c['cluster']}: {c['label']} ({c['size']})", "value": c["cluster"]}
        for c in clusters
    ]
    first = clusters[0]["cluster"] if clusters else None
    return html.Div(
        [
            html.H2("Clusters"),
            html.Div(
                [
                    html.Button("◀ previous", id="cluster-prev", n_clicks=0),
                    dcc.Dropdown(
                        id="cluster-pick",
                        options=options,
                        value=first,
                        clearable=False,
                        className="grow",
                    ),
                    html.Button("next ▶", id="cluster-next", n_clicks=0),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Div(
                        cluster_detail(clusters[0] if clusters else None),
                        id="cluster-detail",
                        className="detail",
                    ),
                    cyto.Cytoscape(
                        id="bond-graph",
                        elements=elements,
                        stylesheet=graph_style(first),
                        layout={"name": "cose", "animate": False},
                        className="graph",
                        style={"height": "480px"},
                    ),
                ],
                className="columns",
            ),
            html.H2("Conversations"),
            dcc.RadioItems(
                id="tier-pick",
                options=[{"label": f"tier {t}: {d}", "value": t} for t, d in data.TIERS.items()],
                value=1,
                inline=True,
            ),
            html.Div(id="conversations"),
            html.Details(
                [
                    html.Summary(html.H2("Bond weights: re-run with others", className="inline")),
                    *[_slider(name, value) for name, value in data.weight_defaults().items()],
                    html.Button("Run bonds + cluster + content", id="run-button", n_clicks=0),
                    html.Div(id="run-result", className="message"),
                ],
                id="weights",
            ),
        ]
    )


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


def jobs_tables(runs: list[dict[str, Any]], jobs: list[dict[str, Any]] | None) -> html.Div:
    """What the Jobs page refreshes: runs with progress, and CommunityJobs in the cluster."""
    parts: list[Any] = [runs_table(runs)]
    if jobs is not None:
        parts += [html.H3("CommunityJobs"), community_jobs_table(jobs)]
    return html.Div(parts)


def jobs(runs: list[dict[str, Any]], community_jobs: list[dict[str, Any]] | None) -> html.Div:
    return html.Div(
        [
            html.H2("Runs"),
            dcc.Interval(id="jobs-tick", interval=3000),
            html.Div(jobs_tables(runs, community_jobs), id="jobs-table"),
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


#: Time zones offered by the schedule editor (every IANA zone this Python knows).
TIME_ZONES = sorted(available_timezones())


def schedule_editor(schedule: dict[str, Any] | None) -> html.Div:
    """The daily run: an hour and a time zone (the CommunityJob's schedule in the cluster)."""
    return html.Div(
        [
            html.H3("Daily schedule"),
            html.P(
                f"Runs {schedule['text']}." if schedule else "No daily run yet.",
                id="schedule-now",
            ),
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
            html.Button("Save schedule", id="schedule-save", n_clicks=0),
            html.Div(id="schedule-result", className="message"),
        ],
        className="schedule",
    )


def collection(status: dict[str, Any], schedule: dict[str, Any] | None) -> html.Div:
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
            schedule_editor(schedule),
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
                html.Td(_fmt_time(p["seen_at"])),
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


def people(rows: list[dict[str, Any]]) -> html.Div:
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
