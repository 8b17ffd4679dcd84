"""Page layouts, built from :mod:`dwt_dashboard.data` results only (never from settings)."""

from __future__ import annotations

import math
import re
from typing import Any
from zoneinfo import available_timezones

from dash import dcc, html

from dwt.xapi.prices import bill_words
from dwt_dashboard import data, insights_map
from dwt_dashboard.replies import is_error

#: Members named in a cluster's detail (the Users page lists them all).
MEMBERS_SHOWN = 40


def notice(message: Any) -> Any:
    """An action's answer, styled as what it is: ``notice-error`` for a refusal or a
    failure, ``notice-ok`` otherwise, with the place to fix it when the reply names one."""
    if message is None or message == "":
        return ""
    error = is_error(message)
    link = getattr(message, "link", None)
    parts: list[Any] = [str(message)]
    if link:
        parts += [" ", dcc.Link(link[0], href=link[1], className="notice-link")]
    return html.Div(
        parts,
        className="notice notice-error" if error else "notice notice-ok",
        role="alert" if error else "status",
    )


def logout(csrf: str | None) -> Any:
    """Logging out is a form post (a link on another site cannot log anyone out); behind an
    OIDC proxy, a link to the proxy's own sign-out."""
    if csrf is None:
        return html.A("Log out", href="/logout")
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=csrf),
            html.Button("Log out", type="submit", id="logout", className="link-button"),
        ],
        action="/logout",
        method="POST",
        className="logout",
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
                    html.Span(username, className="who"),
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


#: Run statuses told as errors: a step failed, or the run's process died (its heartbeat
#: stopped: dwt.store.leases).
ENDED_BADLY = ("failed", "abandoned")


def _stopped(run: dict[str, Any], progress: dict[str, Any]) -> dict[str, Any]:
    """A step an abandoned run left "running" is shown stopped, not running."""
    if run["status"] == "abandoned" and progress.get("state") == "running":
        return {**progress, "state": "stopped"}
    return progress


def runs_table(runs: list[dict[str, Any]]) -> html.Table:
    head = html.Tr(
        [html.Th(h) for h in ("run", "kind", "status", "steps", "started", "progress", "counts")]
    )
    rows = []
    for run in runs:
        counts = " · ".join(p for p in (data.count_words(run["counts"]),
                                        data.spend_words(run)) if p)  # fmt: skip
        status = run["status"] + (f" ({run['error']})" if run.get("error") else "")
        rows.append(
            html.Tr(
                [
                    html.Td(run["run_id"]),
                    html.Td(run["kind"]),
                    html.Td(
                        status,
                        className={
                            "failed": "error",
                            "abandoned": "error",
                            "capped": "warning",
                        }.get(run["status"], ""),
                    ),
                    html.Td(" ".join(run["steps"])),
                    html.Td(_fmt_time(run["started_at"])),
                    html.Td(
                        [step_progress(s, _stopped(run, p)) for s, p in run["progress"].items()]
                    ),
                    html.Td(counts),
                ]
            )
        )
    return scroll(html.Table([html.Thead(head), html.Tbody(rows)], id="runs-table"))


def scroll(table: Any) -> html.Div:
    """A wide table in a box that scrolls sideways on a phone (the page itself does not)."""
    return html.Div(table, className="scroll")


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
            f", started {_fmt_time(run['started_at'])} UTC",
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
                        f"{where} · {data.TIERS[t['tier']]} · {t['size']} tweets · "
                        f"{t['participants']} members",
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
                            title=f"{t.get('kind') or ''}: {t.get('count') or 0} tweets, "
                            f"{t.get('members') or 0} members",
                        )
                        for t in c["topics"]
                    ],
                ]
            )
            for c in clusters
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


def home(overview: dict[str, Any]) -> html.Div:
    """The weekly digest: numbers, what trends, how the clusters moved, who to look at,
    and the last run's state (``overview``: :func:`dwt_dashboard.data.digest`)."""
    cards = [
        ("members", overview["members"]),
        ("tweets this week", overview["tweets"]),
        ("clusters", overview["clusters"]),
        ("trending conversations", len(overview.get("trending", []))),
    ]
    moved = overview.get("cluster_changes", [])
    shown = overview.get("clusters_run")
    return html.Div(
        [
            html.H2("This week"),
            html.P(f"{_fmt_time(overview['since'])} → {_fmt_time(overview['until'])} (UTC)"),
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


#: Why a viewer sees no action buttons (the server refuses their actions in any case).
VIEW_ONLY = (
    "You can look at this community but not change it (your role here is viewer): "
    "an editor or admin can {what}."
)


def view_only(what: str, id: str | None = None) -> html.P:
    """The line that stands where a viewer's action buttons would be, with the reason."""
    kw = {"id": id} if id else {}
    return html.P(VIEW_ONLY.format(what=what), className="notice notice-info view-only", **kw)


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


def users(
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


#: The slider position meaning "off" (weight 0); the others are log10 of the weight.
OFF = -4
SLIDER_MIN, SLIDER_MAX = -3, 3


def slider_position(weight: float) -> float:
    """A weight as a slider position: log10, clamped to the slider, 0 at :data:`OFF`."""
    if weight <= 0:
        return OFF
    return min(max(round(math.log10(weight), 1), SLIDER_MIN), SLIDER_MAX)


def position_weight(position: float | None) -> float:
    """A slider position back to a weight (:data:`OFF` and below: 0), to two significant
    digits: the slider's 0.1 steps land on 4, 0.5 or 50, not 3.981, 0.501 or 50.12."""
    if position is None or position <= OFF:
        return 0.0
    return float(f"{10**position:.2g}")


def weight_text(weight: Any, name: str | None = None) -> str:
    """A weight as a person reads it: "on"/"off" for a switch, a share as a percentage
    (``name`` ending in "share"), else the number, "off" for 0."""
    if isinstance(weight, bool):
        return "on" if weight else "off"
    if weight == 0:
        return "off"
    if name is not None and data.weight_kinds().get(name) == "share":
        return f"{weight:.0%}"
    return f"{weight:.3g}"


def control_value(name: str, weight: Any) -> Any:
    """A weight as its control's value (see :func:`dwt_dashboard.data.weight_kinds`)."""
    kind = data.weight_kinds()[name]
    if kind == "switch":
        return ["on"] if weight else []
    if kind == "share":
        return round(float(weight), 2)
    return slider_position(float(weight))


def value_of(name: str, control: Any) -> Any:
    """A control's value back to the weight a run uses."""
    kind = data.weight_kinds()[name]
    if kind == "switch":
        return bool(control)
    if kind == "share":
        return round(float(control or 0.0), 2)
    return position_weight(control)


def _slider(name: str, weight: Any) -> html.Div:
    kind = data.weight_kinds()[name]
    if kind == "switch":
        control: Any = dcc.Checklist(
            id=f"w-{name}",
            options=[{"label": " on (off: follows and interactions mixed raw)", "value": "on"}],
            value=control_value(name, weight),
        )
    elif kind == "share":
        control = dcc.Slider(
            id=f"w-{name}", min=0, max=1, step=0.05, value=control_value(name, weight),
            marks={0: "0%", 0.5: "50%", 1: "100%"}, allow_direct_input=False,
        )  # fmt: skip
    else:
        # Log scale (weights span 0.001 to 1000), with "off" below the smallest.
        control = dcc.Slider(
            id=f"w-{name}",
            min=OFF,
            max=SLIDER_MAX,
            step=0.1,
            value=control_value(name, weight),
            marks={OFF: "off", **{i: f"{10**i:g}" for i in range(SLIDER_MIN + 1, SLIDER_MAX, 2)}},
            allow_direct_input=False,  # the box would show the exponent, not the weight
        )
    return html.Div(
        [
            html.Label(
                [
                    html.B(data.WEIGHT_LABELS.get(name, name)),
                    ": ",
                    html.Span(weight_text(weight, name), id=f"w-{name}-value", className="value"),
                ],
                htmlFor=f"w-{name}",
                title=f"{name}: {data.WEIGHT_HELP.get(name, '')}",
            ),
            control,
            html.Span(data.WEIGHT_HELP.get(name, ""), className="help"),
        ],
        className="weight",
    )


def weights_panel(
    weights: dict[str, float],
    run_id: str | None,
    busy: str | None,
    presets: dict[str, dict[str, float]] | None = None,
    *,
    opened: bool = False,
) -> html.Details:
    """The bond weights, compact and near the top: their values in one line, starting from
    the weights of the run the clusters come from (``run_id``). The controls come when the
    panel is opened (:func:`weights_body`; ``opened``: drawn at once): ten sliders nobody
    sees cost the page a tenth of a second on every visit."""
    source = (
        f"The clusters come from run {run_id}; the sliders start from its weights."
        if run_id
        else "No analysis yet; the sliders start from the default weights."
    )
    return html.Details(
        [
            html.Summary(
                [
                    html.H3("Bond weights", className="inline"),
                    html.Span(
                        " · ".join(
                            f"{data.WEIGHT_LABELS.get(n, n).lower()} {weight_text(v, n)}"
                            for n, v in weights.items()
                        ),
                        className="help",
                    ),
                ],
                id="weights-open",
                n_clicks=0,
            ),
            html.P(source, id="weights-source", className="help"),
            html.Div(
                weights_body(weights, busy, presets) if opened else "",
                id="weights-body",
            ),
        ],
        id="weights",
        open=opened,
    )


def weights_body(
    weights: dict[str, Any], busy: str | None, presets: dict[str, dict[str, Any]] | None
) -> list[Any]:
    """The weights' controls: a preset picker, one labelled control per weight (its value
    beside, "off" allowed) and the run button, disabled with the reason while a run of the
    community is running (or for a viewer, who may not start one)."""
    picker = (
        [
            html.Label("Preset", htmlFor="weights-preset"),
            dcc.Dropdown(
                id="weights-preset",
                options=list(presets),
                placeholder="choose a preset…",
                className="short",
            ),
        ]
        if presets
        else []
    )
    return [
        *picker,
        html.Div([_slider(n, v) for n, v in weights.items()], className="weights-grid"),
        html.Button(
            "Run bonds + cluster + content",
            id="run-button",
            n_clicks=0,
            disabled=bool(busy),
            title=busy or "",
        ),
        html.Span(busy or "", id="run-state", className="help"),
        dcc.Interval(id="run-tick", interval=4000),
        html.Div(id="run-result", className="message"),
    ]


def cohesion(cluster: dict[str, Any]) -> str:
    """How tight a cluster is, in words: the share of its members' bond weight that stays
    among them (the raw "internal weight" sums meant nothing to a reader)."""
    inside = cluster.get("internal_weight") or 0.0
    outside = cluster.get("external_weight") or 0.0
    if inside + outside <= 0:
        return f"{cluster['size']:,} members · no bonds this week"
    share = inside / (inside + outside)
    return (
        f"{cluster['size']:,} members · {share:.0%} of their bond weight (follows and "
        "interactions, as the run weighed them) stays inside the cluster"
    )


def cluster_detail(cluster: dict[str, Any] | None) -> html.Div:
    if cluster is None:
        return html.Div("No clusters yet: run bonds + cluster.")
    return html.Div(
        [
            html.H3(f"Cluster {cluster['cluster']}: {cluster['label']}"),
            html.P(cohesion(cluster), className="cohesion"),
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


TOPIC_KINDS = {"hashtag": "hashtag", "term": "word", "url": "link"}


def topic_list(topics: list[dict[str, Any]]) -> html.Div | html.P:
    """A cluster's topics (``data.cluster_topics``), trending first: the topic, its kind,
    how many tweets and members, and the tweets that make it, each linking to X."""
    if not topics:
        return html.P("No topics for this cluster this week.", className="help")
    items = []
    for t in topics:
        more = (t.get("count") or 0) - len(t["tweets"])
        summary = html.Summary(
            [
                html.Span("TRENDING ", className="trending") if t.get("trending") else "",
                html.B(t["topic"], className="topic-name"),
                html.Span(
                    f" · {TOPIC_KINDS.get(t.get('kind') or '', t.get('kind') or 'topic')} · "
                    f"{t.get('count') or 0:,} tweets · {t.get('members') or 0:,} members · "
                    f"{data.TIERS.get(t.get('tier') or 1, '')}",
                    className="meta",
                ),
            ]
        )
        body = [tweet_list(t["tweets"], "tweets topic-tweets")]
        if more > 0:
            body.append(html.P(f"… and {more:,} more tweets", className="help"))
        items.append(html.Li(html.Details([summary, *body], className="topic-item")))
    return html.Div(html.Ol(items), id="topic-list")


#: Conversations listed at first, and added by each "show more".
CONVERSATIONS_SHOWN = 20
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def _markdown_text(text: str) -> str:
    """Text shown literally in Markdown: its punctuation escaped, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def tweet_list(tweets: list[dict[str, Any]], class_name: str = "tweets") -> dcc.Markdown:
    """Tweets (author, time, link to X, text) as ONE component: a list drawn as Dash
    components costs the browser about a millisecond per component at every update, and a
    cluster's conversations held thousands (seconds of frozen page on each cluster tap)."""
    lines = [
        f"- **@{_markdown_text(t['author'])}** {_fmt_time(t['created_at'])} "
        f"[open on X]({t['url']})  \n  {_markdown_text(t['text'])}"
        for t in tweets
    ]
    return dcc.Markdown("\n".join(lines), className=class_name, link_target="_blank")


def conversation_list(
    convs: list[dict[str, Any]],
    total: int | None = None,
    opened: str | None = None,
) -> html.Div | html.P:
    """Conversations, trending first; each opens to its tweets, each tweet links to X.
    ``total``: how many there are (below it, a button shows more); ``opened``: the
    conversation shown open (a link from Home's digest)."""
    if not convs:
        return html.P("No conversations for this cluster and tier.")
    total = max(total or 0, len(convs))
    listed = convs
    counted = html.P(
        f"{total:,} conversations" if total == len(listed)
        else f"The first {len(listed):,} of {total:,} conversations, trending first.",
        className="help", id="conversation-count",
    )  # fmt: skip
    items = []
    for c in listed:
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
        is_open = c["conversation_id"] == opened
        key = {"type": "conversation-tweets", "conversation": c["conversation_id"]}
        details = html.Details(
            [
                html.Summary(
                    summary.children,
                    id={"type": "conversation-open", "conversation": c["conversation_id"]},
                    n_clicks=0,
                ),
                # The tweets come when the conversation is opened (one request, one
                # component): twenty conversations' tweets drawn up front froze the page.
                html.Div(conversation_tweets(c) if is_open else "", id=key),
            ],
            className="conversation opened" if is_open else "conversation",
            open=is_open,
            id=f"conversation-{c['conversation_id']}",
        )
        items.append(html.Li(details))
    return html.Div([counted, html.Ol(items)])


def conversation_tweets(conv: dict[str, Any]) -> list[Any]:
    """An opened conversation's tweets (each linking to X) and the thread's link on X."""
    more = conv["size"] - len(conv["tweets"])
    return [
        tweet_list(conv["tweets"]),
        html.A(conv["url"], href=conv["url"], target="_blank", className="thread"),
        f" ({more:,} more tweets there)" if more > 0 else "",
    ]


def more_conversations(shown: int, total: int) -> tuple[str, bool]:
    """The "show more" button's text, and whether it is hidden (all are listed)."""
    return f"Show {min(CONVERSATIONS_SHOWN, max(total - shown, 0)):,} more", shown >= total


def first_cluster(clusters: list[dict[str, Any]], selected: int | None = None) -> int | None:
    """The cluster Insights opens on: ``selected`` when it exists, else the first."""
    if selected is not None and any(c["cluster"] == selected for c in clusters):
        return selected
    return clusters[0]["cluster"] if clusters else None


def insights(
    clusters: list[dict[str, Any]],
    elements: list[dict[str, Any]],
    *,
    weights: dict[str, float] | None = None,
    weights_run: str | None = None,
    busy: str | None = None,
    presets: dict[str, dict[str, float]] | None = None,
    selected: int | None = None,
    tier: int = 1,
    shown: dict[str, Any] | None = None,
    topics: list[dict[str, Any]] | None = None,
) -> html.Div:
    """Clusters, the map, conversations and topics; the weights panel on top. ``selected``
    and ``tier`` open a cluster's conversations at a tier (links from Home's digest);
    ``shown`` is that cluster (``data.cluster``, members included) and ``topics`` its
    topics (``data.cluster_topics``)."""
    options = [
        {"label": f"{c['cluster']}: {c['label']} ({c['size']})", "value": c["cluster"]}
        for c in clusters
    ]
    first = first_cluster(clusters, selected)
    return html.Div(
        [
            weights_panel(weights or data.weight_defaults(), weights_run, busy, presets),
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
                        cluster_detail(shown),
                        id="cluster-detail",
                        className="detail",
                    ),
                    insights_map.map_area(clusters, elements),
                ],
                className="columns",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.H2("Conversations"),
                            dcc.RadioItems(
                                id="tier-pick",
                                options=[
                                    {"label": f"tier {t}: {d}", "value": t}
                                    for t, d in data.TIERS.items()
                                ],
                                value=tier if tier in data.TIERS else 1,
                                inline=True,
                            ),
                            html.Div(id="conversations"),
                            html.Button(
                                "Show more", id="conversations-more", n_clicks=0, hidden=True
                            ),
                            dcc.Store(id="conversations-shown", data=CONVERSATIONS_SHOWN),
                        ],
                        className="detail",
                    ),
                    html.Div(
                        [
                            html.H2("Trending topics"),
                            html.P(
                                "Hashtags, words and links this cluster's tweets used far "
                                "more than usual this week.",
                                className="help",
                            ),
                            html.Div(topic_list(topics or []), id="cluster-topics"),
                        ],
                        className="detail",
                    ),
                ],
                className="columns talk",
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
            f"About {_duration(plan['duration_s'])} with {max(keys, 1)} API key(s) "
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


def collection(
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
            schedule_editor(schedule, act),
            collection_plan(plan),
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
