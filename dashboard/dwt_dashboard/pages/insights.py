"""Insights: the clusters, the map (:mod:`dwt_dashboard.insights_map`), a cluster's details,
conversations and trending topics; the bond weights panel on top (:mod:`.weights`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt.words import plural
from dwt_dashboard import data, insights_map
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import fmt_time
from dwt_dashboard.insights_map import register_map_callbacks
from dwt_dashboard.pages import weights as weights_page

#: Members named in a cluster's detail (the Users page lists them all).
MEMBERS_SHOWN = 40

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

PATH = "/insights"
NEED = Need.READ


def cohesion(cluster: dict[str, Any]) -> str:
    """How tight a cluster is, in words: the share of its members' bond weight that stays
    among them (the raw "internal weight" sums meant nothing to a reader)."""
    inside = cluster.get("internal_weight") or 0.0
    outside = cluster.get("external_weight") or 0.0
    if inside + outside <= 0:
        return f"{plural(cluster['size'], 'member')} · no bonds this week"
    share = inside / (inside + outside)
    return (
        f"{plural(cluster['size'], 'member')} · {share:.0%} of their bond weight (follows and "
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


#: What a conversation's "reactions" count (the content step's engagement).
ENGAGEMENT_TIP = (
    "Engagement: the likes, retweets, replies and quotes the conversation's tweets drew "
    "(as X counted them when they were read)."
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
                    f"{plural(t.get('count') or 0, 'tweet')} · "
                    f"{plural(t.get('members') or 0, 'member')} · "
                    f"{data.TIERS.get(t.get('tier') or 1, '')}",
                    className="meta",
                ),
            ]
        )
        body = [tweet_list(t["tweets"], "tweets topic-tweets")]
        if more > 0:
            body.append(html.P(f"… and {plural(more, 'more tweet')}", className="help"))
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
        f"- **@{_markdown_text(t['author'])}** {fmt_time(t['created_at'])} "
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
        plural(total, "conversation") if total == len(listed)
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
                    [
                        f" · {plural(c['size'], 'tweet')} · "
                        f"{plural(c['participants'], 'member')} · ",
                        html.Abbr(
                            f"{plural(c['engagement'] or 0, 'reaction')}",
                            title=ENGAGEMENT_TIP,
                        ),
                    ],
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
        f" ({plural(more, 'more tweet')} there)" if more > 0 else "",
    ]


def more_conversations(shown: int, total: int) -> tuple[str, bool]:
    """The "show more" button's text, and whether it is hidden (all are listed)."""
    return f"Show {min(CONVERSATIONS_SHOWN, max(total - shown, 0)):,} more", shown >= total


def first_cluster(clusters: list[dict[str, Any]], selected: int | None = None) -> int | None:
    """The cluster Insights opens on: ``selected`` when it exists, else the first."""
    if selected is not None and any(c["cluster"] == selected for c in clusters):
        return selected
    return clusters[0]["cluster"] if clusters else None


#: Said above the clusters when the analysis found no groups (dwt.stages.cluster).
NO_STRUCTURE = (
    "No sub-communities this week: who talks to whom is too evenly mixed for the analysis "
    "to tell groups apart (neither the flow of interactions nor modularity found any), so "
    "the members are shown as one cluster. This is a finding about the week, not an error."
)


def layout(
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
    start: dict[str, Any] | None = None,
    no_structure: bool = False,
) -> html.Div:
    """Clusters, the map, conversations and topics; the weights panel on top. ``selected``
    and ``tier`` open a cluster's conversations at a tier (links from Home's digest);
    ``shown`` is that cluster (``data.cluster``, members included) and ``topics`` its
    topics (``data.cluster_topics``); ``start`` is where the map opens
    (:meth:`~dwt_dashboard.insights_map.MapHandlers.start`); ``no_structure``: the run
    behind them found no groups, which the page says before anyone reads one as a finding."""
    options = [
        {"label": f"{c['cluster']}: {c['label']} ({c['size']})", "value": c["cluster"]}
        for c in clusters
    ]
    first = first_cluster(clusters, selected)
    return html.Div(
        [
            weights_page.panel(weights or data.weight_defaults(), weights_run, busy, presets),
            html.H2("Clusters"),
            html.P(NO_STRUCTURE, id="no-structure", className="notice notice-info")
            if no_structure
            else "",
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
                    insights_map.map_area(clusters, elements, start),
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


def _int(values: list[str] | None) -> int | None:
    """The first of a query parameter's values as an int (None: absent or not a number)."""
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def view(handlers: Handlers, community: str, query: dict[str, list[str]], act: bool) -> Any:
    store = handlers.store
    shown_run = data.clusters_run(store, community)
    chosen, weights_run = data.current_weights(store, community, shown_run)
    clusters = data.clusters(store, community, members=False)
    member = (query.get("member") or [None])[0]
    start = insights_map.MapHandlers(store).start(community, _int(query.get("cluster")), member)
    first = first_cluster(clusters, start["cluster"])
    return layout(
        clusters,
        start["elements"],
        start=start,
        weights=chosen,
        weights_run=weights_run,
        busy=handlers.busy(community) if act else weights_page.VIEWER_RUN,
        presets=weights_page.weight_presets(),
        selected=first,
        tier=_int(query.get("tier")) or 1,
        shown=data.cluster(store, community, first),
        topics=data.cluster_topics(store, community, first),
        no_structure=bool(shown_run and shown_run["no_structure"]),
    )


def skeleton() -> Any:
    return html.Div([layout([], []), weights_page.skeleton()])


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    store = handlers.store
    weights_page.register(app, callback, handlers)
    # The map's own callbacks (dwt_dashboard.insights_map), through the same guard.
    register_map_callbacks(app, callback, store)

    @callback(
        Output("cluster-pick", "value"),
        Input("cluster-prev", "n_clicks"),
        Input("cluster-next", "n_clicks"),
        State("cluster-pick", "value"),
        State("cluster-pick", "options"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _step(
        _p: int, _n: int, current: int | None, options: list[dict[str, Any]], _community: str
    ) -> int:
        values = [o["value"] for o in options or []]
        if not values:
            raise PreventUpdate
        index = values.index(current) if current in values else 0
        index += -1 if ctx.triggered_id == "cluster-prev" else 1
        return values[index % len(values)]

    @callback(
        Output("cluster-detail", "children"),
        Output("cluster-topics", "children"),
        Input("cluster-pick", "value"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _cluster(cluster: int | None, community: str) -> tuple[Any, Any]:
        return handlers.cluster(current_user(), community, cluster)

    @callback(
        Output("conversations", "children"),
        Output("conversations-shown", "data"),
        Output("conversations-more", "children"),
        Output("conversations-more", "hidden"),
        Input("cluster-pick", "value"),
        Input("tier-pick", "value"),
        Input("conversations-more", "n_clicks"),
        State("conversations-shown", "data"),
        State("community", "value"),
        State("url", "search"),
        need=Need.READ,
    )
    def _conversations(
        cluster: int | None,
        tier: int,
        more: int | None,
        shown: int | None,
        community: str,
        search: str | None,
    ) -> tuple[Any, int, str, bool]:
        """A page of conversations at a time: a new cluster or tier starts again at the
        first page, "show more" adds one."""
        opened = (parse_qs((search or "").lstrip("?")).get("conversation") or [None])[0]
        page = CONVERSATIONS_SHOWN
        more_clicked = ctx.triggered_id == "conversations-more"
        if more_clicked and not more:
            raise PreventUpdate
        shown = (shown or page) + page if more_clicked else page
        listed, (text, hidden) = handlers.conversations(
            current_user(), community, cluster, tier, opened, shown
        )
        return listed, shown, text, hidden

    @callback(
        Output({"type": "conversation-tweets", "conversation": ALL}, "children"),
        Input({"type": "conversation-open", "conversation": ALL}, "n_clicks"),
        State({"type": "conversation-tweets", "conversation": ALL}, "children"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _open_conversation(clicks: list[int | None], shown: list[Any], community: str) -> list:
        """A conversation's tweets, fetched the first time it is opened (the others'
        stay as they are)."""
        trigger = ctx.triggered_id
        ids = [i["id"]["conversation"] for i in ctx.inputs_list[0]]
        if not isinstance(trigger, dict) or trigger["conversation"] not in ids:
            raise PreventUpdate
        at = ids.index(trigger["conversation"])
        if not clicks[at] or shown[at]:
            raise PreventUpdate
        found = data.conversation(store, community, str(trigger["conversation"]))
        tweets = (
            conversation_tweets(found)
            if found
            else html.P("This conversation is gone (a newer analysis replaced it).")
        )
        return [tweets if i == at else dash.no_update for i in range(len(ids))]
