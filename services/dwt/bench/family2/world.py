"""Two consecutive weeks of a community whose assumptions break the product's (issue 27).

The model, in the order it is drawn (every step vectorised with numpy, one seeded stream):

* **Communities** have Dirichlet-drawn sizes; each member has a home community, a share are
  *bridges* with a second one, a few accounts are *bots* (members of none).
* **Relations** (the truth the oracle sees): each member draws contacts, each inside one of
  its communities (a bridge picks either) or, with probability ``mixing``, in a community
  picked uniformly among the others; partners in proportion to a heavy-tailed popularity.
* **Follows** are a partial view of relations: each direction of a contact is followed with
  ``follow_share`` probability (often neither: members talk with accounts they do not
  follow), plus random follows and follows of the most popular accounts.
* **Tweets**: Gamma-distributed activity, a share of members *silent* (no tweet at all) yet
  in everyone's contact pools, so they are mentioned; diurnal times, shifted per community.
  Each interaction first picks a side (inside / across) and then a contact on that side, or
  any member on that side (``drive_by``). The side's probability is solved so that the
  *interactions'* cross-community share is ``mixing``: *arguers* reply across with
  ``argue_cross`` probability (more likely than inside) and draw a reply back.
* **Bots** mention most members (``bot_reach``) over the week.
* **Bursts**: true ones — a fresh hashtag, term or URL taken up by half a community within
  three hours; a reply storm in one community — and noise ones that should not trend: a
  phrase posted by at most two members per community, one member spamming a phrase, a bot
  spamming one that members of many communities answer.
* **Week 2**: one community grows by ``growth`` (new members join it) and two others
  merge (their members draw as many contacts in the other as they have in their own).

The datasets carry no truth (``community`` -1, ``topic`` null, ``burst`` -1): only the
:class:`Truth` of each week says who is in which community, who is a bot and which tweets
make each burst.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

#: End of week 1 (a Monday); week 2 ends seven days later. Fixed so a seed fixes both weeks.
WEEK1_END = datetime(2026, 6, 8, tzinfo=UTC)
HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS
#: Tweet kind codes; shares of a speaking member's tweets by kind.
TWEET, MENTION, REPLY, RETWEET, QUOTE = range(5)
KIND_SHARES = (0.3, 0.17, 0.3, 0.13, 0.1)
RESPONSE_SHARE = 0.5  # an arguer's cross reply answered by its target
OUTSIDER_ROOTS = 4  # tweets of each outsider in a week, for members to answer
#: The lowest seed: 1–100 are never drawn, so nobody tunes on this family by accident.
FIRST_SEED = 101


@dataclass(frozen=True)
class Family2Config:
    """The knobs of two weeks (see the module doc); ``seed`` fixes everything."""

    members: int = 800
    communities: int = 8
    mixing: float = 0.35  # aimed share of member interactions across communities
    seed: int = FIRST_SEED
    silent_share: float = 0.15
    bridge_share: float = 0.06
    arguer_share: float = 0.08
    argue_cross: float = 0.75
    bots: int = 0  # 0: one per 300 members, at least 2
    bot_reach: float = 0.6  # share of members each bot mentions in a week
    contacts: float = 12.0  # mean contacts of a member
    follow_share: float = 0.55
    drive_by: float = 0.15
    outsider_share: float = 0.08
    activity: float = 14.0  # mean tweets a week of a speaking member
    growth: float = 0.3
    topic_bursts: int = 2  # per week
    thread_bursts: int = 1
    thread_replies: int = 25

    def __post_init__(self) -> None:
        if self.communities < 3:
            raise ValueError(
                f"communities must be >= 3 (one grows, two merge), got {self.communities}"
            )
        if self.members < 25 * self.communities:
            raise ValueError(
                f"members must be >= 25 per community ({25 * self.communities}), got {self.members}"
            )
        if not 0 <= self.mixing < 0.9:
            raise ValueError(f"mixing must be in [0, 0.9), got {self.mixing}")
        if self.seed < FIRST_SEED:
            raise ValueError(f"seeds start at {FIRST_SEED} (see the package doc), got {self.seed}")
        shares = (self.silent_share, self.bridge_share, self.arguer_share, self.argue_cross)
        if not all(0 <= s < 1 for s in shares) or not 0 < self.bot_reach <= 1:
            raise ValueError("shares must be in [0, 1) and bot_reach in (0, 1]")
        if self.activity <= 0 or self.contacts < 3 or self.growth < 0:
            raise ValueError("need activity > 0, contacts >= 3 and growth >= 0")

    @property
    def bot_count(self) -> int:
        return self.bots or max(2, self.members // 300)


@dataclass
class Truth:
    """What one week really is, kept apart from the dataset the emulator serves.

    ``members`` are the week's member ids (bots included); ``community`` each one's home
    community this week (-1 for a bot), ``second`` a bridge member's other one (-1);
    ``relations`` the true relation graph as (i, j, contacts) rows over ``members``'
    positions; ``bursts`` / ``noise`` one dict per true / noise burst (``kind``,
    ``phrase``, ``tweet_ids``, ``authors``; true ones also ``community``).
    """

    week: int
    members: list[str]
    community: list[int]
    second: list[int]
    bots: list[str]
    silent: list[str]
    arguers: list[str]
    relations: np.ndarray
    bursts: list[dict[str, Any]] = field(default_factory=list)
    noise: list[dict[str, Any]] = field(default_factory=list)
    mixing: float = 0.0  # realised: member→member interactions across, bots left out
    relation_mixing: float = 0.0
    silent_mentioned: float = 0.0  # share of silent members mentioned by a member
    bot_reach: float = 0.0  # share of non-bot members mentioned by some bot
    unfollowed: float = 0.0  # share of member→member interactions with an unfollowed account
    merged: tuple[int, int] | None = None  # (kept, absorbed) label in week 2
    grown: int | None = None


@dataclass
class Rows:
    """One week's tweets as columns (row order = creation order, refs point back)."""

    author: list[np.ndarray] = field(default_factory=list)
    ms: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    ref: list[np.ndarray] = field(default_factory=list)  # row referenced, -1
    mentions: list[list[list[int]]] = field(default_factory=list)
    phrase: list[list[str]] = field(default_factory=list)  # burst phrase in the text, ""
    size: int = 0

    def add(
        self,
        author: np.ndarray,
        ms: np.ndarray,
        kind: np.ndarray | int,
        ref: np.ndarray | None = None,
        mentions: list[list[int]] | None = None,
        phrase: str = "",
    ) -> np.ndarray:
        m = len(author)
        self.author.append(np.asarray(author, dtype=np.int64))
        self.ms.append(np.asarray(ms, dtype=np.int64))
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int8), (m,)).copy())
        self.ref.append(np.full(m, -1, np.int64) if ref is None else np.asarray(ref, np.int64))
        self.mentions.append(mentions if mentions is not None else [[] for _ in range(m)])
        self.phrase.append([phrase] * m)
        rows = np.arange(self.size, self.size + m)
        self.size += m
        return rows

    def column(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name)) if self.size else np.zeros(0, np.int64)

    def flat(self, name: str) -> list[Any]:
        return [x for block in getattr(self, name) for x in block]


@dataclass
class Accounts:
    """Everyone of both weeks: members ``[0, n_members)`` then outsiders."""

    n_members: int  # week 1's members and week 2's newcomers
    n_outsiders: int
    week1: np.ndarray  # bool per member: a member in week 1
    label: list[np.ndarray]  # per week, per member: home community (-1 bot / absent)
    second: list[np.ndarray]  # per week, per member: bridge's other community (-1)
    bot: np.ndarray
    arguer: np.ndarray
    silent: np.ndarray  # drawn silent (writes nothing either week)
    popularity: np.ndarray  # members then outsiders
    rate: np.ndarray  # tweets a week, per member
    tz: np.ndarray  # hours of shift of each member's day, by community

    @property
    def total(self) -> int:
        return self.n_members + self.n_outsiders


# ---- structure -------------------------------------------------------------------------------


def _sizes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Dirichlet shares of ``n``, every community at least 12 members."""
    floor = 12
    shares = rng.dirichlet(np.full(k, 2.0))
    sizes = floor + np.floor(shares * (n - floor * k)).astype(np.int64)
    sizes[: n - sizes.sum()] += 1
    return sizes


def draw_accounts(rng: np.random.Generator, cfg: Family2Config) -> tuple[Accounts, int, int, int]:
    """Accounts, labels of both weeks and the (grown, kept, absorbed) communities."""
    n1, k = cfg.members, cfg.communities
    label1 = np.repeat(np.arange(k), _sizes(rng, n1, k))
    rng.shuffle(label1)
    bot = np.zeros(n1, bool)
    bot[rng.choice(n1, cfg.bot_count, replace=False)] = True
    label1[bot] = -1
    grown, kept, absorbed = (int(c) for c in rng.choice(k, 3, replace=False))
    newcomers = round(float(cfg.growth * np.sum(label1 == grown)))
    n = n1 + newcomers
    label = np.r_[label1, np.full(newcomers, grown)]
    second = np.full(n, -1)
    bridges = rng.choice(np.flatnonzero(~bot), round(cfg.bridge_share * n1), replace=False)
    second[bridges] = (label[bridges] + 1 + rng.integers(0, k - 1, len(bridges))) % k
    week1 = np.arange(n) < n1
    label2 = np.where(label == absorbed, kept, label)
    second2 = np.where(second == absorbed, kept, second)
    second2[second2 == label2] = -1
    people = np.r_[~bot, np.ones(newcomers, bool)]
    outsiders = max(30, n1 // 20)
    arguer = people & (rng.random(n) < cfg.arguer_share)
    silent = people & ~arguer & (rng.random(n) < cfg.silent_share)
    popularity = 1.0 + rng.pareto(1.6, n + outsiders)
    # Popular members also write more: answers to them spread over many tweets instead of
    # piling onto a few (which would be bursts nobody planted).
    pull = popularity[:n]
    rate = rng.gamma(0.8, cfg.activity / 0.8, n) * pull / pull.mean()
    rate[silent | np.r_[bot, np.zeros(newcomers, bool)]] = 0.0
    tz_of = rng.choice([-8.0, -5.0, 0.0, 1.0, 5.5, 9.0], k)
    accounts = Accounts(
        n_members=n,
        n_outsiders=outsiders,
        week1=week1,
        label=[np.where(week1, label, -1), label2],
        second=[np.where(week1, second, -1), second2],
        bot=np.r_[bot, np.zeros(newcomers, bool)],
        arguer=arguer,
        silent=silent,
        popularity=popularity,
        rate=rate,
        tz=np.where(label >= 0, tz_of[np.maximum(label, 0)], 0.0),
    )
    return accounts, grown, kept, absorbed


def pick_in(
    rng: np.random.Generator, target: np.ndarray, label: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """For each entry of ``target`` (a community), a member of it drawn by ``weight``
    (-1 where the community is empty)."""
    out = np.full(len(target), -1, np.int64)
    for c in np.unique(target):
        pool = np.flatnonzero(label == c)
        where = np.flatnonzero(target == c)
        if len(pool) and c >= 0:
            p = weight[pool] / weight[pool].sum()
            out[where] = rng.choice(pool, len(where), p=p)
    return out


def _other(rng: np.random.Generator, home: np.ndarray, k: int) -> np.ndarray:
    """A community other than ``home``, uniformly."""
    return (home + 1 + rng.integers(0, k - 1, len(home))) % k


def draw_relations(
    rng: np.random.Generator, acc: Accounts, cfg: Family2Config, kept: int, absorbed: int
) -> list[np.ndarray]:
    """Each week's relation graph as unique (i, j, contacts) rows, i < j, over members."""
    k = cfg.communities
    label, second = acc.label[1], acc.second[1]
    # Week 1's structure is drawn on pre-merge labels: week 2's minus the merge.
    pre = np.where(acc.week1, acc.label[0], label)
    pre_second = np.where(acc.week1, acc.second[0], second)
    people = ~acc.bot
    degree = np.where(people, 3 + rng.geometric(1.0 / (cfg.contacts - 2.0), acc.n_members) - 1, 0)
    src = np.repeat(np.arange(acc.n_members), degree)
    bridge_side = (pre_second[src] >= 0) & (rng.random(len(src)) < 0.5)
    home = np.where(bridge_side, pre_second[src], pre[src])
    cross = rng.random(len(src)) < cfg.mixing
    target = np.where(cross, _other(rng, home, k), home)
    weight = acc.popularity[: acc.n_members]
    # Week 1's members draw among week 1's members; newcomers (week 2 only) among everyone.
    first = acc.week1[src]
    dst = np.empty(len(src), np.int64)
    dst[first] = pick_in(rng, target[first], np.where(acc.week1, pre, -1), weight)
    dst[~first] = pick_in(rng, target[~first], pre, weight)
    # The merge: each member of the two gains as many contacts in the other as it has in
    # its own community.
    merging = np.isin(pre[src], (kept, absorbed)) & ~cross & ~bridge_side
    m_src = src[merging]
    m_dst = pick_in(rng, np.where(pre[m_src] == kept, absorbed, kept), pre, weight)
    weeks = []
    for s, d in ((src[first], dst[first]), (np.r_[src, m_src], np.r_[dst, m_dst])):
        ok = (d >= 0) & (s != d)
        a, b = np.minimum(s[ok], d[ok]), np.maximum(s[ok], d[ok])
        keys, counts = np.unique(a * acc.n_members + b, return_counts=True)
        weeks.append(np.c_[keys // acc.n_members, keys % acc.n_members, counts])
    return weeks


def draw_follows(
    rng: np.random.Generator, acc: Accounts, cfg: Family2Config, relations: list[np.ndarray]
) -> list[np.ndarray]:
    """Each week's follow edges (source, target) over all accounts: week 2 keeps week 1's
    and adds those of its new contacts."""
    total = acc.total
    week_edges: list[np.ndarray] = []
    seen: np.ndarray = np.zeros(0, np.int64)
    known = np.zeros(0, np.int64)
    for w, rel in enumerate(relations):
        key = rel[:, 0] * acc.n_members + rel[:, 1]
        new = ~np.isin(key, known)  # week 2 follows its new contacts only
        known = key
        a, b = rel[new, 0], rel[new, 1]
        ab = rng.random(len(a)) < cfg.follow_share
        ba = rng.random(len(a)) < cfg.follow_share
        src, dst = [a[ab], b[ba]], [b[ab], a[ba]]
        members = np.flatnonzero(acc.week1 if w == 0 else np.ones(acc.n_members, bool))
        fresh = members if w == 0 else members[~acc.week1[members]]
        count = rng.poisson(3.0, len(fresh))
        src.append(np.repeat(fresh, count))
        dst.append(rng.choice(members, count.sum()))
        famous = np.argsort(-acc.popularity)[: max(3, total // 100)]
        fans = rng.random((len(fresh), len(famous))) < 0.2
        f_src, f_col = np.nonzero(fans)
        src.append(fresh[f_src])
        dst.append(famous[f_col])
        bots = np.flatnonzero(acc.bot)
        for bot in bots:
            followed = rng.choice(members, max(1, len(members) // 3), replace=False)
            src.append(np.full(len(followed), bot))
            dst.append(followed)
        s, d = np.concatenate(src), np.concatenate(dst)
        keys = np.unique(np.r_[seen, (s * total + d)[s != d]])
        seen = keys
        week_edges.append(np.c_[keys // total, keys % total])
    return week_edges
