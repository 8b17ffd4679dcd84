"""The tweet skeleton: who writes when, what kind, and which earlier tweet it points at.

Built in whole-array passes: draw every author's tweet count, times and kinds; add the
bursts; sort everything by time; then let each retweet, quote and reply pick an *earlier*
tweet from a pool (its own sub-community's tweets mostly, another community's sometimes,
a chosen outsider's otherwise) with a recency window, by weighted choice inside sorted
ranges. Reply trees and conversation ids follow by pointer jumping. Text is added later
(:mod:`dwt.generate.content`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dwt.generate.community import ACTIVE, DAY_MS, Community
from dwt.generate.sampling import (
    categorical,
    categorical_rows,
    choose_in_groups,
    choose_in_ranges,
    cumulative,
    group_starts,
    other_group,
    resolve_pointers,
)

KINDS = ("tweet", "retweet", "quote", "reply")
TWEET, RETWEET, QUOTE, REPLY = range(4)
HOUR_MS = 3_600_000

#: Average kind mix of members (each member varies around it) and of outsiders.
MEMBER_KIND_MIX = np.array([0.45, 0.20, 0.10, 0.25])
OUTSIDER_KIND_MIX = np.array([0.82, 0.10, 0.02, 0.06])
KIND_CONCENTRATION = 12.0
#: Whom a member's retweet/quote/reply/mention goes to: own community, another, outsider.
PARTNER_MIX = np.array([0.78, 0.10, 0.12])
#: Outsiders mostly talk among themselves (the pool of all outsider tweets).
OUTSIDER_TO_OUTSIDERS = 0.7
#: Typical age of the tweet a retweet/quote/reply points at.
RECENCY_MS = 6 * HOUR_MS
#: Number of mentions in a member's plain tweet: 0, 1, 2.
MENTION_MIX = np.array([0.72, 0.22, 0.06])
#: Share of tweets spread uniformly over the day (the rest follow a daily rhythm).
FLAT_SHARE = 0.5
PEAK_HOUR = 14.0

#: Bursts: authors (own community / other / outsider), kinds (reply / quote / retweet),
#: chance each kind points at the burst's root rather than at an earlier burst tweet.
BURST_AUTHOR_MIX = np.array([0.80, 0.15, 0.05])
BURST_KINDS = np.array([REPLY, QUOTE, RETWEET])
BURST_KIND_MIX = np.array([0.55, 0.30, 0.15])
BURST_ROOT_SHARE = np.array([0.5, 0.75, 0.7])
#: A burst is this many times the community's normal hourly traffic, at least MIN_BURST.
BURST_INTENSITY = 5.0
MIN_BURST = 40


@dataclass
class Burst:
    index: int
    community: int
    root: int  # row of the root tweet (after sorting)
    start_ms: int  # relative to the window start
    end_ms: int


@dataclass
class Skeleton:
    """Per-tweet arrays in time order (row = position in the final table)."""

    author: np.ndarray  # account index
    time: np.ndarray  # ms since the window start
    kind: np.ndarray  # int8 index into KINDS
    target: np.ndarray  # row of the retweeted/quoted/replied-to tweet, -1
    burst: np.ndarray  # int32 burst index, -1
    virality: np.ndarray  # how likely to be picked, and engagement scale
    mentions: np.ndarray  # (rows, 2) account indices mentioned in a plain tweet, -1
    conversation: np.ndarray  # row of the conversation's root
    outsider_events: np.ndarray  # per community: member interactions aimed outside
    bursts: list[Burst] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.author.shape[0])


def burst_count(communities: int, days: int) -> int:
    """Default number of bursts: about three a week, at most one per community."""
    return max(1, min(communities, round(3 * days / 7)))


def build_tweets(rng: np.random.Generator, world: Community, days: int, n_bursts: int) -> Skeleton:
    """Draw the whole skeleton (see the module doc)."""
    window = days * DAY_MS
    m = world.members
    counts = rng.poisson(world.activity)
    counts[m:] += 1  # every outsider has something to retweet, quote or reply to
    author = np.repeat(np.arange(world.accounts, dtype=np.int64), counts)
    time = _times(rng, world, author, days)
    kind = _kinds(rng, world, author)
    virality = np.sqrt(world.popularity[author]) * rng.lognormal(0.0, 0.8, author.shape[0])
    n = author.shape[0]

    parts = _bursts(rng, world, days, n_bursts, offset=n)
    b_author, b_time, b_kind, b_target, b_burst, bursts = parts
    b_vir = np.sqrt(world.popularity[b_author]) * rng.lognormal(0.0, 0.8, b_author.shape[0])
    author = np.concatenate([author, b_author])
    time = np.concatenate([time, b_time])
    kind = np.concatenate([kind, b_kind])
    target = np.concatenate([np.full(n, -1, dtype=np.int64), b_target])
    burst = np.concatenate([np.full(n, -1, dtype=np.int32), b_burst])
    virality = np.concatenate([virality, b_vir])

    order = np.argsort(time, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    author, time, kind, burst, virality = (a[order] for a in (author, time, kind, burst, virality))
    target = target[order]
    target = np.where(target >= 0, rank[np.maximum(target, 0)], -1)
    for b in bursts:
        b.root = int(rank[b.root])

    mentions = np.full((author.shape[0], 2), -1, dtype=np.int64)
    outsider_events = np.zeros(world.communities, dtype=np.int64)
    _pick_targets(
        rng, world, author, time, kind, target, burst, virality, mentions, outsider_events, window
    )
    _plain_mentions(rng, world, author, kind, burst, mentions, outsider_events)
    parent = np.where(kind == REPLY, target, np.arange(author.shape[0]))
    return Skeleton(
        author=author,
        time=time,
        kind=kind,
        target=target,
        burst=burst,
        virality=virality,
        mentions=mentions,
        conversation=resolve_pointers(parent),
        outsider_events=outsider_events,
        bursts=bursts,
    )


def _times(rng: np.random.Generator, world: Community, author: np.ndarray, days: int) -> np.ndarray:
    n = author.shape[0]
    group = np.where(author < world.members, world.community[author], world.communities)
    hour = (PEAK_HOUR + world.timezone_h[group] + rng.normal(0.0, 4.0, n)) % 24.0
    daily = rng.integers(0, days, n) * DAY_MS + (hour * HOUR_MS).astype(np.int64)
    flat = (rng.random(n) * days * DAY_MS).astype(np.int64)
    time = np.where(rng.random(n) < FLAT_SHARE, flat, daily)
    return np.clip(time, 0, days * DAY_MS - 1)


def _kinds(rng: np.random.Generator, world: Community, author: np.ndarray) -> np.ndarray:
    m = world.members
    mix = rng.dirichlet(KIND_CONCENTRATION * MEMBER_KIND_MIX, size=m)
    kind = np.empty(author.shape[0], dtype=np.int8)
    is_member = author < m
    kind[is_member] = categorical_rows(rng, mix[author[is_member]])
    kind[~is_member] = categorical(rng, OUTSIDER_KIND_MIX, int((~is_member).sum()))
    return kind


def _bursts(
    rng: np.random.Generator, world: Community, days: int, n_bursts: int, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Burst]]:
    """Bursts: a root by an active member of community k, then a dense wave around it.

    Returns author, time, kind, target (rows counted from ``offset``), burst index, and
    the burst descriptions; the root of burst b comes first among its rows.
    """
    empty = np.zeros(0, dtype=np.int64)
    if n_bursts == 0:
        return empty, empty, empty.astype(np.int8), empty, empty.astype(np.int32), []
    k_all, m = world.communities, world.members
    window = days * DAY_MS
    p_size = world.sizes / world.sizes.sum()
    picks = [
        rng.choice(k_all, size=min(k_all, n_bursts - i), replace=False, p=p_size)
        for i in range(0, n_bursts, k_all)
    ]
    community = np.concatenate(picks)
    slot = window // n_bursts
    duration = np.minimum(rng.uniform(1.0, 3.0, n_bursts) * HOUR_MS, slot // 2).astype(np.int64)
    start = np.arange(n_bursts) * slot + (rng.random(n_bursts) * (slot - duration)).astype(np.int64)

    root_weight = world.popularity[:m] * world.activity[:m] * (world.state[:m] == ACTIVE)
    root_cum = world.member_cum(root_weight + 1e-9)
    root = world.by_community[choose_in_groups(rng, root_cum, world.community_starts, community)]
    hourly = np.bincount(world.community[:m], weights=world.activity[:m], minlength=k_all)
    hourly = hourly / (days * 24.0)
    size = np.maximum(
        MIN_BURST, np.round(BURST_INTENSITY * hourly[community] * duration / HOUR_MS)
    ).astype(np.int64)

    burst = np.repeat(np.arange(n_bursts, dtype=np.int32), size)
    n = burst.shape[0]
    home = community[burst]
    who = categorical(rng, BURST_AUTHOR_MIX, n)
    if world.outsiders == 0:
        who[who == 2] = 0
    group = np.where(who == 1, other_group(rng, home, world.sizes.astype(float)), home)
    author = world.by_community[
        choose_in_groups(rng, world.member_cum(world.activity), world.community_starts, group)
    ]
    outsider = np.flatnonzero(who == 2)
    if outsider.size:
        everyone = cumulative(world.popularity)
        author[outsider] = choose_in_ranges(
            rng, everyone, np.full(outsider.size, m), np.full(outsider.size, world.accounts)
        )
    rel = (rng.beta(1.0, 2.5, n) * (duration[burst] - 1)).astype(np.int64)
    time = start[burst] + 1 + rel
    which = categorical(rng, BURST_KIND_MIX, n)
    kind = BURST_KINDS[which].astype(np.int8)

    # Targets: the root, or an earlier non-retweet of the same burst.
    order = np.lexsort((time, burst))
    burst, author, time, kind, which = (a[order] for a in (burst, author, time, kind, which))
    eligible = np.flatnonzero(kind != RETWEET)
    keys = burst.astype(np.int64) * (window + 1) + time
    elig_keys = keys[eligible]
    elig_starts = group_starts(burst[eligible], n_bursts)
    hi = np.searchsorted(elig_keys, keys, side="left")
    lo = elig_starts[burst]
    pick = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    to_root = (rng.random(n) < BURST_ROOT_SHARE[which]) | (hi <= lo)
    local = np.append(eligible, -1)[np.where(to_root, eligible.size, pick)]

    # Rows: the n_bursts roots first, then the burst tweets.
    target = np.where(local >= 0, offset + n_bursts + local, offset + burst.astype(np.int64))
    bursts = [
        Burst(
            index=b,
            community=int(community[b]),
            root=offset + b,
            start_ms=int(start[b]),
            end_ms=int(start[b] + duration[b]),
        )
        for b in range(n_bursts)
    ]
    return (
        np.concatenate([root, author]),
        np.concatenate([start, time]),
        np.concatenate([np.zeros(n_bursts, dtype=np.int8), kind]),
        np.concatenate([np.full(n_bursts, -1, dtype=np.int64), target]),
        np.concatenate([np.arange(n_bursts, dtype=np.int32), burst]),
        bursts,
    )


def _recent_pick(
    rng: np.random.Generator,
    keys: np.ndarray,
    cum: np.ndarray,
    starts: np.ndarray,
    group: np.ndarray,
    time: np.ndarray,
    width: int,
) -> np.ndarray:
    """Position in a (group, time)-sorted pool of an earlier tweet of ``group``, or -1.

    Prefers tweets from the last few hours (exponential look-back), weighted by virality;
    when the look-back window is empty, any earlier tweet of the group may be chosen.
    """
    base = group.astype(np.int64) * width
    hi = np.searchsorted(keys, base + time, side="left")
    lag = rng.exponential(RECENCY_MS, time.shape[0]).astype(np.int64)
    lo = np.searchsorted(keys, base + np.maximum(time - lag, 0), side="left")
    lo = np.where(lo >= hi, starts[group], lo)
    return choose_in_ranges(rng, cum, lo, hi)


def _pick_targets(
    rng: np.random.Generator,
    world: Community,
    author: np.ndarray,
    time: np.ndarray,
    kind: np.ndarray,
    target: np.ndarray,
    burst: np.ndarray,
    virality: np.ndarray,
    mentions: np.ndarray,
    outsider_events: np.ndarray,
    window: int,
) -> None:
    """Fill ``target`` for retweets/quotes/replies outside bursts (in place).

    A tweet that finds no earlier tweet to point at becomes a plain tweet; one that meant
    to reach an outsider then mentions that outsider instead, so the interaction stays.
    """
    m, k_all, width = world.members, world.communities, window + 1
    events = np.flatnonzero((kind != TWEET) & (burst < 0))
    ev_author = author[events]
    is_member = ev_author < m
    own = np.where(is_member, world.community[ev_author], k_all).astype(np.int64)
    partner = categorical(rng, PARTNER_MIX, events.size)
    if k_all == 1:
        partner[partner == 1] = 0
    if world.outsiders == 0:
        partner[partner == 2] = 0
    partner[~is_member] = np.where(
        rng.random(int((~is_member).sum())) < OUTSIDER_TO_OUTSIDERS, 3, 4
    )
    group = own.copy()
    other = partner == 1
    group[other] = other_group(rng, own[other], world.sizes.astype(float))
    from_outsider = partner == 4
    group[from_outsider] = categorical(rng, world.sizes.astype(float), int(from_outsider.sum()))

    # Pool of every non-retweet, grouped by community (outsiders' tweets: group K).
    eligible = np.flatnonzero(kind != RETWEET)
    pool_group = np.where(author[eligible] < m, world.community[author[eligible]], k_all)
    pool_order = np.argsort(pool_group, kind="stable")
    pool = eligible[pool_order]
    pool_group = pool_group[pool_order].astype(np.int64)
    keys = pool_group * width + time[pool]
    starts = group_starts(pool_group, k_all + 1)
    cum = cumulative(virality[pool])

    to_pool = partner != 2
    rows = events[to_pool]
    pick = _recent_pick(rng, keys, cum, starts, group[to_pool], time[rows], width)
    chosen = np.where(pick >= 0, pool[np.maximum(pick, 0)], -1)
    same = (partner[to_pool] == 0) & (chosen >= 0)
    self_hit = np.flatnonzero(same & (author[np.maximum(chosen, 0)] == author[rows]))
    if self_hit.size:  # one more try for members who picked their own tweet
        again = _recent_pick(
            rng, keys, cum, starts, group[to_pool][self_hit], time[rows[self_hit]], width
        )
        again_row = np.where(again >= 0, pool[np.maximum(again, 0)], -1)
        better = (again_row >= 0) & (author[np.maximum(again_row, 0)] != author[rows[self_hit]])
        chosen[self_hit[better]] = again_row[better]
    target[rows] = chosen

    # Outsider partners: choose the outsider first (hot ones dominate), then its tweet.
    reach = np.flatnonzero(partner == 2)
    if reach.size:
        rows = events[reach]
        np.add.at(outsider_events, own[reach], 1)
        flat = choose_in_groups(rng, world.outsider_cum(), world.outsider_starts(), own[reach])
        outsider = flat - own[reach] * world.outsiders
        by_outsider = eligible[author[eligible] >= m]
        o_group = author[by_outsider] - m
        o_order = np.argsort(o_group, kind="stable")
        by_outsider = by_outsider[o_order]
        o_group = o_group[o_order]
        o_pick = _recent_pick(
            rng,
            o_group * width + time[by_outsider],
            cumulative(virality[by_outsider]),
            group_starts(o_group, world.outsiders),
            outsider,
            time[rows],
            width,
        )
        target[rows] = np.where(o_pick >= 0, by_outsider[np.maximum(o_pick, 0)], -1)
        missed = o_pick < 0
        mentions[rows[missed], 0] = m + outsider[missed]

    failed = events[target[events] < 0]
    kind[failed] = TWEET


def _plain_mentions(
    rng: np.random.Generator,
    world: Community,
    author: np.ndarray,
    kind: np.ndarray,
    burst: np.ndarray,
    mentions: np.ndarray,
    outsider_events: np.ndarray,
) -> None:
    """Members' plain tweets mention 0-2 accounts, chosen like any other partner."""
    m, k_all = world.members, world.communities
    rows = np.flatnonzero((kind == TWEET) & (author < m) & (burst < 0) & (mentions[:, 0] < 0))
    n_mention = categorical(rng, MENTION_MIX, rows.size)
    member_cum = world.member_cum(world.popularity)
    for slot in (0, 1):
        slot_rows = rows[n_mention > slot]
        own = world.community[author[slot_rows]].astype(np.int64)
        partner = categorical(rng, PARTNER_MIX, slot_rows.size)
        if k_all == 1:
            partner[partner == 1] = 0
        if world.outsiders == 0:
            partner[partner == 2] = 0
        group = own.copy()
        other = partner == 1
        group[other] = other_group(rng, own[other], world.sizes.astype(float))
        who = world.by_community[
            choose_in_groups(rng, member_cum, world.community_starts, group)
        ].astype(np.int64)
        out = partner == 2
        if out.any():
            flat = choose_in_groups(rng, world.outsider_cum(), world.outsider_starts(), own[out])
            who[out] = m + flat - own[out] * world.outsiders
        keep = who != author[slot_rows]
        if slot == 1:  # a second mention only lands when the first did, and differs
            keep &= (mentions[slot_rows, 0] >= 0) & (who != mentions[slot_rows, 0])
        np.add.at(outsider_events, own[out & keep], 1)
        mentions[slot_rows[keep], slot] = who[keep]
