"""The Insights map's member panel: a member's cluster, share of attention, strongest
partner per tier, strongest bonds, recent tweets and the link to X, in words a person reads
(the technical terms in tooltips)."""

from __future__ import annotations

from dash import html

from dwt.stages.cluster import ISOLATED
from dwt.store import Coll, Store
from dwt.words import plural
from dwt_dashboard import mapdata

#: Recent tweets shown in the member panel.
RECENT_TWEETS = 5
TIER_NAMES = {1: "in its cluster", 2: "in other clusters", 3: "outside the community"}

ATTENTION_TIP = (
    "Infomap flow: the share of the time a walk along the week's bonds spends at this "
    "member (all members' shares add up to 100 %). Higher: more central."
)
STRENGTH_TIP = (
    "Bond weight: follows and interactions between the two, weighed as the run's bond "
    "weights say (0 to 1 for a follow alone; each reply, quote or mention adds)."
)


def attention(flow: float) -> html.Abbr:
    """A member's Infomap flow for a person: its share of attention in per cent, the term
    in a tooltip."""
    return html.Abbr(f"share of attention {flow * 100:.2f} %", title=ATTENTION_TIP)


def strength(weight: float) -> html.Abbr:
    """A bond's weight for a person, the term in a tooltip."""
    return html.Abbr(f"(bond strength {weight:.2f})", title=STRENGTH_TIP)


def member_panel(store: Store, community: str, data: mapdata.MapData, i: int) -> html.Div:
    """A member's card: cluster, strongest partner per tier, strongest bonds, recent tweets
    and the link to the profile on X."""
    account, name = data.ids[i], data.names[i]
    cluster = data.cluster_of(int(data.cluster[i]))
    doc = (
        store[Coll.PLACEMENTS].find_one(
            store.shown(Coll.PLACEMENTS, community, account_id=account), {"bond_stats": 1}
        )
        or {}
    )
    stats = doc.get("bond_stats") or {}
    member = (
        store[Coll.MEMBERS].find_one({"community": community, "account_id": account}, {"core": 1})
        or {}
    )
    partners = data.partners(i)
    tier_ids = [stats.get(f"tier{t}_partner") for t in TIER_NAMES]
    names = store.usernames(a for a in tier_ids if a)
    tiers = [
        html.Li(
            [f"{TIER_NAMES[t]}: @{names.get(a, a)} ", strength(stats.get(f"tier{t}_weight", 0))]
        )
        for t, a in zip(TIER_NAMES, tier_ids, strict=True)
        if a
    ]
    tweets = list(
        store[Coll.TWEETS]
        .find({"author_id": account}, {"text": 1, "created_at": 1})
        .sort("created_at", -1)
        .limit(RECENT_TWEETS)
    )
    label = cluster["label"] if cluster else ""
    return html.Div(
        [
            html.H4(
                [
                    html.A(
                        f"@{name}",
                        href=f"https://x.com/{name}",
                        target="_blank",
                        rel="noopener",
                        id="member-link",
                    ),
                    " (core)" if member.get("core") else "",
                ]
            ),
            html.P(
                [
                    f"Cluster {int(data.cluster[i])}: {label} · "
                    f"{plural(int(data.activity[i]), 'tweet')} this week · ",
                    attention(float(data.flow[i])),
                ]
                if data.cluster[i] != ISOLATED
                else f"{label} · {plural(int(data.activity[i]), 'tweet')} this week"
            ),
            html.H5("Strongest partner per tier"),
            html.Ul(tiers or [html.Li("none this week")], className="tiers"),
            html.H5("Strongest bonds"),
            html.Ul(
                [html.Li([f"@{data.names[j]} ", strength(w)]) for j, w in partners]
                or [html.Li("none this week")],
                className="partners",
            ),
            html.H5("Recent tweets"),
            html.Ul(
                [
                    html.Li(
                        [
                            html.A(
                                t["created_at"].strftime("%Y-%m-%d %H:%M")
                                if hasattr(t.get("created_at"), "strftime")
                                else "open",
                                href=f"https://x.com/{name}/status/{t['_id']}",
                                target="_blank",
                                rel="noopener",
                            ),
                            " ",
                            (t.get("text") or "")[:200],
                        ]
                    )
                    for t in tweets
                ]
                or [html.Li("no tweets stored")],
                className="recent",
            ),
        ],
        id="member-card",
    )
