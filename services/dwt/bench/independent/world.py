"""Draw one week of an independent community and its plan (the truth), for issue 15.

Written apart from :mod:`dwt.generate` on purpose: nothing here shares its structure,
follow rule, activity model, text or burst shapes, so a product tuned on that generator
meets data it has never seen.

* **Structure**: a degree-corrected stochastic block model. Community sizes are drawn from
  a power law, member degrees from a truncated Pareto; each stub of member ``i`` stays in
  its community with probability ``1 - mixing`` and otherwise goes to another, partners
  drawn in proportion to degree. The realised mixing (share of relation edges between
  communities) is measured and kept in the plan.
* **Follows** are noisy and asymmetric: each direction of a relation edge is followed with
  ``follow_back`` probability (at least one direction), plus random follows (``noise`` x
  degree, uniform over members), celebrity follows (a few members followed by a share of
  everyone) and follows of outsiders.
* **Activity** is heavy-tailed (log-normal rates); ``silent_share`` of the members write
  nothing, and nothing is ever aimed at a member without tweets.
* **Interactions** (mention, reply, retweet, quote) are aimed at graph neighbours that
  have tweets (an outsider now and then); their time follows the referenced tweet's.
* **Bursts**: topic bursts (many members of one community post standalone tweets with a new
  hashtag, term or URL within a few hours) and thread bursts (a reply thread in one
  community growing fast).

The dataset carries no truth (``community`` -1, ``topic`` null, ``burst`` -1 everywhere):
the :class:`Plan` alone says which community each member is in, who is silent and which
tweets make each burst.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dwt.xapi.dataset import FOLLOWS_SCHEMA, TWEETS_SCHEMA, USERS_SCHEMA, Dataset

NOW = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; fixed so a seed fixes the week
DAYS = 7
HOUR_MS = 3_600_000
_EPOCH_MS = 1288834974657  # X's snowflake epoch
TOPIC_KINDS = ("hashtag", "term", "url")
#: Shares of a member's tweets by kind (plain, mention, reply, retweet, quote).
KIND_SHARES = (0.35, 0.1, 0.25, 0.2, 0.1)
OUTSIDER_SHARE = 0.08  # interactions aimed at an outsider instead of a neighbour
BACKGROUND_LAG_HOURS = 12.0  # mean delay of a background interaction after its tweet


@dataclass(frozen=True)
class WorldConfig:
    """The knobs of one week (see the module doc); ``seed`` fixes everything."""

    members: int = 400
    mixing: float = 0.2
    noise: float = 0.3  # random follows per member, as a share of its degree
    activity: float = 20.0  # mean tweets a week of an active member
    silent_share: float = 0.15
    min_community: int = 20
    max_community: int = 60
    min_degree: int = 6
    max_degree: int = 40
    follow_back: float = 0.75
    celebrities: int = 4
    outsiders: int = 40
    topic_bursts: int = 2
    thread_bursts: int = 2
    burst_hours: float = 3.0
    thread_replies: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.members < 2 * self.min_community:
            raise ValueError(f"members must be >= {2 * self.min_community}, got {self.members}")
        if not 0 <= self.mixing < 1:
            raise ValueError(f"mixing must be in [0, 1), got {self.mixing}")
        if self.noise < 0 or self.activity <= 0 or not 0 <= self.silent_share < 1:
            raise ValueError("noise must be >= 0, activity > 0 and silent_share in [0, 1)")


@dataclass
class Plan:
    """The truth of one week, kept apart from the dataset the emulator serves.

    ``community[i]`` is the planted community of ``members[i]``; ``silent`` the members
    with no tweet (nothing is aimed at them either); ``bursts`` one dict per planted burst:
    ``kind`` ("thread" or "topic"), ``community``, ``tweet_ids``, and ``root_id`` (threads)
    or ``topic`` / ``topic_kind`` (topics); ``threads`` maps every tweet id of the week to
    its planted conversation (a retweet's is the retweeted tweet's).
    """

    config: dict[str, Any]
    members: list[str]
    community: list[int]
    silent: list[str]
    mixing: float
    follow_reciprocity: float
    noise_follows: int
    relations: list[list[int]] = field(default_factory=list)  # planted graph, member indices
    bursts: list[dict[str, Any]] = field(default_factory=list)
    threads: dict[str, str] = field(default_factory=dict)

    @property
    def communities(self) -> int:
        return len(set(self.community))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        return cls(**json.loads(Path(path).read_text()))


# ---- structure -------------------------------------------------------------------------------


def _community_sizes(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """Power-law sizes in [low, high] summing to n (the last ones trimmed or merged)."""
    sizes: list[int] = []
    while sum(sizes) < n:
        u = rng.random()
        size = int(low * (high / low) ** u)  # log-uniform: many small, few large
        sizes.append(min(size, n - sum(sizes)))
    if sizes[-1] < low and len(sizes) > 1:
        last = sizes.pop()
        sizes[-1] += last
    return np.array(sizes)


def _relations(
    rng: np.random.Generator, community: np.ndarray, cfg: WorldConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Undirected relation edges (i < j) of a degree-corrected planted partition."""
    n = len(community)
    degree = np.clip(
        np.round(cfg.min_degree * (1 + rng.pareto(2.5, n))), cfg.min_degree, cfg.max_degree
    ).astype(np.int64)
    src = np.repeat(np.arange(n), degree)
    inside = rng.random(len(src)) >= cfg.mixing
    dst = np.full(len(src), -1, dtype=np.int64)
    weight = degree.astype(np.float64)
    for c in np.unique(community):
        pool = np.flatnonzero(community == c)
        stubs = np.flatnonzero(inside & (community[src] == c))
        p = weight[pool] / weight[pool].sum()
        dst[stubs] = rng.choice(pool, size=len(stubs), p=p)
    out = np.flatnonzero(~inside)
    for _ in range(20):  # redraw partners that landed in the stub's own community
        if not len(out):
            break
        dst[out] = rng.choice(n, size=len(out), p=weight / weight.sum())
        out = out[community[dst[out]] == community[src[out]]]
    keep = (dst >= 0) & (dst != src) & (inside | (community[dst] != community[src]))
    a, b = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    pairs = np.unique(a * n + b)
    return pairs // n, pairs % n


def _calibrated_relations(
    rng: np.random.Generator, community: np.ndarray, cfg: WorldConfig
) -> tuple[np.ndarray, np.ndarray, float]:
    """Relations whose *realised* mixing is near ``cfg.mixing``: repeated within-community
    pairs collapse into one edge, so a graph drawn at the nominal mixing mixes more; the
    stubs' mixing is corrected twice by the ratio of aimed to realised."""
    aim = cfg.mixing
    for _ in range(3):
        state = rng.bit_generator.state
        a, b = _relations(rng, community, replace(cfg, mixing=aim))
        mixing = float(np.mean(community[a] != community[b])) if len(a) else 0.0
        if mixing <= 0 or abs(mixing - cfg.mixing) < 0.01:
            break
        rng.bit_generator.state = state
        aim = min(0.95, aim * cfg.mixing / mixing)
    return a, b, mixing


def _follows(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, n: int, cfg: WorldConfig
) -> tuple[np.ndarray, np.ndarray, int]:
    """Directed member follows (source follows target) and how many are noise."""
    ab = rng.random(len(a)) < cfg.follow_back
    ba = rng.random(len(a)) < cfg.follow_back
    neither = ~ab & ~ba
    coin = rng.random(len(a)) < 0.5
    ab |= neither & coin
    ba |= neither & ~coin
    src = [a[ab], b[ba]]
    dst = [b[ab], a[ba]]
    degree = np.bincount(np.r_[a, b], minlength=n)
    random_count = rng.poisson(cfg.noise * degree)
    noise_src = np.repeat(np.arange(n), random_count)
    noise_dst = rng.integers(0, n, len(noise_src))
    celebrities = rng.choice(n, size=min(cfg.celebrities, n), replace=False)
    fans = rng.random((n, len(celebrities))) < min(1.0, cfg.noise)
    fan_src, fan_col = np.nonzero(fans)
    src += [noise_src, fan_src]
    dst += [noise_dst, celebrities[fan_col]]
    s, d = np.concatenate(src), np.concatenate(dst)
    keep = s != d
    pairs = np.unique(s[keep] * n + d[keep])
    noise = len(pairs) - len(np.unique(np.r_[a[ab] * n + b[ab], b[ba] * n + a[ba]]))
    return pairs // n, pairs % n, int(noise)


# ---- text ------------------------------------------------------------------------------------


def _words(rng: np.random.Generator, count: int) -> np.ndarray:
    """Made-up pronounceable words (no dictionary shared with dwt.generate)."""
    consonants = list("bdfgklmnprstvz")
    vowels = list("aeiou")
    words: set[str] = set()
    while len(words) < count:
        syllables = rng.integers(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return np.array(sorted(words))


def _sentence(rng: np.random.Generator, vocabulary: np.ndarray) -> str:
    return " ".join(rng.choice(vocabulary, size=int(rng.integers(5, 11))))


# ---- tweets ----------------------------------------------------------------------------------


@dataclass
class _Tweets:
    """Tweets under construction, one list per column; ids come last (from times)."""

    author: list[int] = field(default_factory=list)
    ms: list[int] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)  # row of the referenced tweet, -1
    root: list[int] = field(default_factory=list)  # row of the conversation's root
    mentions: list[list[int]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)

    def add(
        self,
        author: int,
        ms: int,
        kind: str,
        text: str,
        ref: int = -1,
        mentions: list[int] | None = None,
        tags: list[str] | None = None,
    ) -> int:
        row = len(self.author)
        self.author.append(author)
        self.ms.append(ms)
        self.kind.append(kind)
        self.ref.append(ref)
        # A reply joins its parent's conversation; anything else starts its own (X gives a
        # quote and a retweet their own conversation id).
        self.root.append(self.root[ref] if kind == "reply" else row)
        self.mentions.append(mentions or [])
        self.text.append(text)
        self.tags.append(tags or [])
        return row


def generate_world(cfg: WorldConfig) -> tuple[Dataset, Plan]:
    """One week as a dataset the emulator serves, and its plan (the truth)."""
    rng = np.random.default_rng([cfg.seed, 15])
    n = cfg.members
    sizes = _community_sizes(rng, n, cfg.min_community, cfg.max_community)
    community = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(community)
    a, b, mixing = _calibrated_relations(rng, community, cfg)
    f_src, f_dst, noise_follows = _follows(rng, a, b, n, cfg)
    neighbours = [[] for _ in range(n)]
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        neighbours[i].append(j)
        neighbours[j].append(i)

    total = n + cfg.outsiders
    user_ids = (10**12 + rng.choice(10**9, size=total, replace=False)).astype(np.int64)
    names = [f"{'mb' if i < n else 'ox'}{cfg.seed % 100}x{i:04d}" for i in range(total)]
    vocabulary = _words(rng, 400)
    tags_of = [_words(rng, 3) for _ in range(len(sizes))]  # each community's usual tags

    start_ms = int((NOW - timedelta(days=DAYS)).timestamp() * 1000)
    end_ms = int(NOW.timestamp() * 1000) - 60_000
    rates = cfg.activity * rng.lognormal(-0.5, 1.0, n)  # mean ~ activity
    rates[rng.random(n) < cfg.silent_share] = 0.0
    counts = rng.poisson(rates)
    kinds = ("plain", "mention", "reply", "retweet", "quote")
    tweets = _Tweets()

    # Phase 1: plain and mention tweets (roots), spread over the week.
    draws = [rng.choice(5, size=c, p=KIND_SHARES) for c in counts]
    roots_of: list[list[int]] = [[] for _ in range(total)]
    for i in range(n):
        for k in draws[i][draws[i] <= 1]:
            ms = int(rng.integers(start_ms, end_ms))
            tags = [str(rng.choice(tags_of[community[i]]))] if rng.random() < 0.2 else []
            text = _sentence(rng, vocabulary) + "".join(f" #{t}" for t in tags)
            roots_of[i].append(tweets.add(i, ms, "plain", text, tags=tags))
            if kinds[k] == "mention":
                tweets.kind[-1] = "mention"
    for o in range(n, total):  # outsiders' tweets, for members to interact with
        for _ in range(3):
            roots_of[o].append(
                tweets.add(
                    o, int(rng.integers(start_ms, end_ms)), "plain", _sentence(rng, vocabulary)
                )
            )
    has_tweets = np.array([len(roots_of[i]) > 0 for i in range(n)])

    # Phase 2: interactions aimed at neighbours with tweets of their own (or an outsider).
    root_count = np.array([len(r) for r in roots_of], dtype=np.float64)

    def target_of(i: int) -> int:
        # In proportion to the neighbour's own tweets: a quiet member's one tweet drawing
        # every neighbour's replies would be an unplanned thread burst.
        near = np.array([j for j in neighbours[i] if has_tweets[j]], dtype=np.int64)
        if not len(near) or rng.random() < OUTSIDER_SHARE:
            return int(rng.integers(n, total))
        weight = root_count[near]
        return int(rng.choice(near, p=weight / weight.sum()))

    for row in range(len(tweets.author)):
        if tweets.kind[row] == "mention":
            i = tweets.author[row]
            j = target_of(i)
            tweets.kind[row] = "plain"
            tweets.mentions[row] = [j]
            tweets.text[row] = f"@{names[j]} {tweets.text[row]}"
    for i in range(n):
        for k in draws[i][draws[i] >= 2]:
            j = target_of(i)
            ref = roots_of[j][rng.integers(len(roots_of[j]))]
            lag = int(rng.exponential(BACKGROUND_LAG_HOURS * HOUR_MS))
            ms = tweets.ms[ref] + 1000 + lag
            if ms >= end_ms:
                ms = tweets.ms[ref] + int((end_ms - tweets.ms[ref]) * rng.random())
            kind = kinds[k]
            if kind == "retweet":
                text, mentions = f"RT @{names[j]}: {tweets.text[ref]}", [j]
            else:
                text, mentions = _sentence(rng, vocabulary), []
            tweets.add(i, max(ms, tweets.ms[ref] + 1), kind, text, ref=ref, mentions=mentions)

    bursts = _plant_bursts(rng, cfg, tweets, community, has_tweets, vocabulary, start_ms, end_ms)
    silent = ~np.isin(np.arange(n), np.asarray(tweets.author, dtype=np.int64))
    dataset, row_ids = _dataset(cfg, tweets, user_ids, names, n, f_src, f_dst, rng)
    for burst in bursts:
        burst["tweet_ids"] = [row_ids[r] for r in burst.pop("rows")]
        if "root" in burst:
            burst["root_id"] = row_ids[burst.pop("root")]
    threads = _planted_threads(tweets, row_ids)
    reciprocal = np.isin(f_src * n + f_dst, f_dst * n + f_src).mean() if len(f_src) else 0.0
    plan = Plan(
        config=asdict(cfg),
        members=[str(u) for u in user_ids[:n]],
        community=community.tolist(),
        silent=[str(u) for u in user_ids[:n][silent]],
        mixing=round(mixing, 4),
        follow_reciprocity=round(float(reciprocal), 4),
        noise_follows=noise_follows,
        relations=np.c_[a, b].tolist(),
        bursts=bursts,
        threads=threads,
    )
    return dataset, plan


def _plant_bursts(
    rng: np.random.Generator,
    cfg: WorldConfig,
    tweets: _Tweets,
    community: np.ndarray,
    has_tweets: np.ndarray,
    vocabulary: np.ndarray,
    start_ms: int,
    end_ms: int,
) -> list[dict[str, Any]]:
    """Topic bursts (standalone tweets on a new topic) and thread bursts (a fast thread),
    each in one community within ``burst_hours``; bursts never overlap in time."""
    span = int(cfg.burst_hours * HOUR_MS)
    count = cfg.topic_bursts + cfg.thread_bursts
    slots = rng.permutation(np.arange(1, (end_ms - start_ms) // (span * 2) - 1))[:count]
    active = [np.flatnonzero((community == c) & has_tweets) for c in np.unique(community)]
    eligible = [c for c, members in enumerate(active) if len(members) >= 8]
    bursts: list[dict[str, Any]] = []
    fresh = _words(rng, 3 * count + 3)
    fresh = fresh[~np.isin(fresh, vocabulary)]
    for b, slot in enumerate(slots):
        c = int(rng.choice(eligible))
        t0 = start_ms + int(slot) * span * 2
        members = active[c]
        if b < cfg.topic_bursts:
            kind = TOPIC_KINDS[b % len(TOPIC_KINDS)]
            word = f"{fresh[b]}{rng.integers(10, 99)}"
            topic = {"hashtag": f"#{word}", "term": word, "url": f"https://news.example/{word}"}
            who = rng.choice(members, size=max(8, int(0.7 * len(members))), replace=False)
            authors = np.r_[who, rng.choice(who, size=len(who) // 3)]
            rows = []
            for i, ms in zip(
                authors, np.sort(rng.integers(t0, t0 + span, len(authors))), strict=True
            ):
                tags = [word] if kind == "hashtag" else []
                text = f"{_sentence(rng, vocabulary)} {topic[kind]} {_sentence(rng, vocabulary)}"
                rows.append(tweets.add(int(i), int(ms), "plain", text, tags=tags))
            bursts.append(
                {
                    "kind": "topic",
                    "community": c,
                    "topic": topic[kind].lower(),
                    "topic_kind": kind,
                    "rows": rows,
                }
            )
        else:
            author = int(rng.choice(members))
            root = tweets.add(author, t0, "plain", _sentence(rng, vocabulary))
            rows = [root]
            times = np.sort(rng.integers(t0 + 60_000, t0 + span, cfg.thread_replies))
            for ms in times:
                parent = rows[0] if rng.random() < 0.5 else int(rng.choice(rows))
                replier = int(rng.choice(members))
                rows.append(
                    tweets.add(replier, int(ms), "reply", _sentence(rng, vocabulary), ref=parent)
                )
            bursts.append({"kind": "thread", "community": c, "root": root, "rows": rows})
    return bursts


def _snowflakes(ms: np.ndarray) -> np.ndarray:
    """Ids that grow with time, like X's: (ms - epoch) << 22 | sequence within the ms."""
    order = np.argsort(ms, kind="stable")
    sorted_ms = ms[order]
    new = np.r_[True, sorted_ms[1:] != sorted_ms[:-1]]
    group = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    sequence = np.arange(len(ms)) - first[group]
    ids = np.empty(len(ms), dtype=np.int64)
    ids[order] = ((sorted_ms - _EPOCH_MS) << 22) | sequence
    return ids


def _dataset(
    cfg: WorldConfig,
    tweets: _Tweets,
    user_ids: np.ndarray,
    names: list[str],
    n: int,
    f_src: np.ndarray,
    f_dst: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Dataset, list[str]]:
    """The emulator's dataset (no truth in it) and each tweet row's id."""
    ms = np.asarray(tweets.ms, dtype=np.int64)
    ids = _snowflakes(ms)
    row_ids = [str(i) for i in ids.tolist()]
    ref = np.asarray(tweets.ref)
    root = np.asarray(tweets.root)
    author = np.asarray(tweets.author)
    kind = np.array(["tweet" if k == "plain" else k for k in tweets.kind])
    has_ref = ref >= 0
    ref_id = np.where(has_ref, ids[np.where(has_ref, ref, 0)], 0)
    reply_to = np.where(kind == "reply", user_ids[author[np.where(has_ref, ref, 0)]], 0)
    order = np.argsort(ids)
    n_tweets = len(ids)
    zeros = pa.array(np.zeros(n_tweets, dtype=np.int64))

    def opt(values: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array([str(v) if m else None for v, m in zip(values, mask, strict=True)])

    table = pa.table(
        {
            "id": pa.array(row_ids),
            "author_id": pa.array([str(u) for u in user_ids[author]]),
            "created_at": pa.array(ms, pa.timestamp("ms", tz="UTC")),
            "text": pa.array(tweets.text),
            "kind": pa.array(kind),
            "referenced_id": opt(ref_id, has_ref),
            "in_reply_to_user_id": opt(reply_to, kind == "reply"),
            "conversation_id": pa.array([str(i) for i in ids[root]]),
            "mentions": pa.array(
                [[str(user_ids[j]) for j in m] for m in tweets.mentions], pa.list_(pa.string())
            ),
            "hashtags": pa.array(tweets.tags, pa.list_(pa.string())),
            "lang": pa.array(["en"] * n_tweets),
            "retweet_count": zeros,
            "reply_count": zeros,
            "like_count": pa.array(rng.poisson(2.0, n_tweets).astype(np.int64)),
            "quote_count": zeros,
            "impression_count": pa.array(rng.poisson(200.0, n_tweets).astype(np.int64)),
            "topic": pa.nulls(n_tweets, pa.string()),  # truth lives in the Plan
            "burst": pa.array(np.full(n_tweets, -1, dtype=np.int32)),
        },
        schema=TWEETS_SCHEMA,
    ).take(pa.array(order))

    total = len(user_ids)
    tweet_count = np.bincount(author, minlength=total)
    out_src = np.repeat(np.arange(n), rng.poisson(3, n)) if total > n else np.zeros(0, int)
    out_dst = rng.integers(n, max(total, n + 1), len(out_src))
    src = np.r_[f_src, out_src].astype(np.int64)
    dst = np.r_[f_dst, out_dst].astype(np.int64)
    pairs = np.unique(src * total + dst)
    src, dst = pairs // total, pairs % total
    follows = pa.table(
        {
            "source_id": [str(u) for u in user_ids[src]],
            "target_id": [str(u) for u in user_ids[dst]],
        },
        schema=FOLLOWS_SCHEMA,
    )
    created = datetime(2015, 1, 1, tzinfo=UTC)
    users = pa.table(
        {
            "id": [str(u) for u in user_ids],
            "username": names,
            "name": [name.upper() for name in names],
            "created_at": pa.array([created] * total, pa.timestamp("ms", tz="UTC")),
            "description": [""] * total,
            "protected": [False] * total,
            "followers_count": np.bincount(dst, minlength=total).astype(np.int64),
            "following_count": np.bincount(src, minlength=total).astype(np.int64),
            "tweet_count": tweet_count.astype(np.int64),
            "listed_count": np.zeros(total, dtype=np.int64),
            "state": ["active"] * total,
            "is_member": np.arange(total) < n,
            "community": pa.array(np.full(total, -1, dtype=np.int32)),  # truth: in the Plan
        },
        schema=USERS_SCHEMA,
    )
    meta = {
        "seed": cfg.seed,
        "members": n,
        "communities": 0,  # not told: the Plan has it
        "days": DAYS,
        "now": NOW.isoformat().replace("+00:00", "Z"),
        "generator": "dwt.bench.independent",
        "topics": {},
        "bursts": [],
        "hot_outsiders": [],
    }
    return Dataset(users=users, tweets=table, follows=follows, meta=meta), row_ids


def _planted_threads(tweets: _Tweets, row_ids: list[str]) -> dict[str, str]:
    """Each tweet's planted conversation: the root it descends from by replies; a retweet
    belongs to the conversation of the tweet it retweets."""
    root = np.asarray(tweets.root)
    ref = np.asarray(tweets.ref)
    retweet = np.asarray(tweets.kind) == "retweet"
    conversation = np.where(retweet, root[np.where(ref >= 0, ref, 0)], root)
    return {row_ids[r]: row_ids[c] for r, c in enumerate(conversation.tolist())}
