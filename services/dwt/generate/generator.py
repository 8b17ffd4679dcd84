"""``generate_community``: draw a whole community's week as a :class:`Dataset`.

Each part (structure, names, follows, tweets, text, metrics) draws from its own child of
one ``SeedSequence``, so the output is a pure function of the arguments and changing how
one part draws does not reshuffle the others.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from dwt.generate.community import (
    ACCOUNTS_SINCE_MS,
    DAY_MS,
    Community,
    build_community,
    hot_count,
)
from dwt.generate.content import build_content
from dwt.generate.follows import build_follows
from dwt.generate.metrics import engagement, user_metrics
from dwt.generate.sampling import snowflake_ids
from dwt.generate.text import (
    GENERAL_TAGS,
    OUTSIDER_SUFFIXES,
    WORDS_PER_TOPIC,
    Topics,
    display_names,
    join_tokens,
    make_topics,
    usernames,
)
from dwt.generate.topic_bursts import PlantedTopics, plant_topic_bursts, topic_burst_count
from dwt.generate.tweets import KINDS, REPLY, TWEET, Skeleton, build_tweets, burst_count
from dwt.xapi.dataset import (
    ACCOUNT_STATES,
    FOLLOWS_SCHEMA,
    TIMESTAMP,
    TWEETS_SCHEMA,
    USERS_SCHEMA,
    Dataset,
)

GENERATOR = "dwt.generate"
GENERATOR_VERSION = 1
#: The default end of the window: a fixed instant, so a seed alone fixes the dataset.
DEFAULT_NOW = datetime(2026, 11, 29, tzinfo=UTC)
#: Bursts last 1-3 hours; a window holds at most one burst per this many hours.
HOURS_PER_BURST = 4
MAX_DAYS = 366
#: Sizes past these are refused before any work (10^12 members asked for 5.46 TiB): the
#: product's goal is 10^4 members and 10^6 tweets a week; a hundred times that still fits.
MAX_MEMBERS = 1_000_000
MAX_ACCOUNTS = 5_000_000  # outsiders
MAX_TWEETS = 100_000_000  # members x tweets per member
MAX_SEED = 2**63 - 1


class GenerateError(ValueError):
    """The generator's arguments are impossible; the message says which and why."""


def generate_community(
    members: int = 300,
    communities: int = 6,
    days: int = 7,
    seed: int = 0,
    now: datetime | None = None,
    outsiders: int | None = None,
    tweets_per_member: float = 20.0,
    bursts: int | None = None,
    topic_bursts: int | None = None,
) -> Dataset:
    """A synthetic community's week, deterministic in its arguments.

    ``members`` accounts split into ``communities`` planted sub-communities of skewed sizes;
    ``outsiders`` (default members // 2, at least 10) are accounts they interact with, the
    most popular of which are listed in ``meta["hot_outsiders"]``. Members write
    ``tweets_per_member`` tweets on average (heavy-tailed) in the ``days`` before ``now``
    (default :data:`DEFAULT_NOW`; a naive datetime is taken as UTC); ``bursts`` (default
    about three a week) trending conversations are planted and listed in ``meta["bursts"]``;
    ``topic_bursts`` (default about three a week) bursts of standalone tweets sharing a new
    hashtag, term or URL in ``meta["topic_bursts"]`` (:mod:`dwt.generate.topic_bursts`).
    Raises :class:`GenerateError` for impossible arguments.
    """
    if outsiders is None:
        outsiders = max(10, members // 2)
    now = _check(members, communities, days, seed, now, outsiders, tweets_per_member, bursts)
    if bursts is None:
        bursts = burst_count(communities, days)
    if topic_bursts is None:
        topic_bursts = topic_burst_count(communities, days)
    _check_topic_bursts(topic_bursts, days)
    now_ms = int(now.timestamp() * 1000)
    window = days * DAY_MS
    start_ms = now_ms - window
    # An eighth stream for topic bursts: spawned children do not depend on how many there
    # are, so the first seven (and every table drawn from them) are as before.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    r_world, r_topics, r_names, r_follows, r_tweets, r_content, r_metrics, r_trends = streams

    world = build_community(
        r_world, members, communities, outsiders, tweets_per_member, now_ms, window
    )
    topics = make_topics(r_topics, communities)
    handles = usernames(r_names, world.accounts)
    user_ids = pa.array(world.ids).cast(pa.string())
    source, target = build_follows(r_follows, world)
    skel = build_tweets(r_tweets, world, days, bursts)
    content = build_content(r_content, world, skel, topics, handles, user_ids)

    planted = plant_topic_bursts(r_trends, world, topics, days, topic_bursts)
    # One id draw for both: a planted tweet in the same millisecond as another gets the
    # next sequence number, and the others keep theirs.
    all_ids = snowflake_ids(np.concatenate([start_ms + skel.time, start_ms + planted.time]))
    tweet_ids, planted_ids = all_ids[: skel.size], all_ids[skel.size :]
    tweet_id_str = pa.array(tweet_ids).cast(pa.string())
    has_target = skel.target >= 0
    safe_target = np.maximum(skel.target, 0)
    is_reply = skel.kind == REPLY
    counts = engagement(r_metrics, skel)
    tweets = pa.Table.from_arrays(
        [
            tweet_id_str,
            user_ids.take(pa.array(skel.author)),
            pa.array(start_ms + skel.time, type=pa.int64()).cast(TIMESTAMP),
            content.text,
            pa.array(KINDS).take(pa.array(skel.kind.astype(np.int64))),
            tweet_id_str.take(pa.array(safe_target, mask=~has_target)),
            user_ids.take(pa.array(skel.author[safe_target], mask=~is_reply)),
            tweet_id_str.take(pa.array(skel.conversation)),
            content.mentions,
            content.hashtags,
            content.lang,
            *(
                pa.array(counts[name])
                for name in (
                    "retweet_count",
                    "reply_count",
                    "like_count",
                    "quote_count",
                    "impression_count",
                )
            ),
            content.topic,
            pa.array(skel.burst, type=pa.int32()),
        ],
        schema=TWEETS_SCHEMA,
    )
    planted_id_str = pa.array(planted_ids).cast(pa.string())
    tweets = _with_planted(tweets, planted, planted_id_str, user_ids, start_ms, r_trends)

    tweets_by_account = np.bincount(
        np.concatenate([skel.author, planted.author]), minlength=world.accounts
    )
    users = _users_table(
        r_names,
        world,
        topics.words,
        handles,
        user_ids,
        user_metrics(r_metrics, world, source, target, tweets_by_account, now_ms, days),
        now_ms,
    )
    follow_order = np.lexsort((world.ids[target], world.ids[source]))
    follows = pa.Table.from_arrays(
        [
            user_ids.take(pa.array(source[follow_order])),
            user_ids.take(pa.array(target[follow_order])),
        ],
        schema=FOLLOWS_SCHEMA,
    )

    meta = _meta(
        world,
        skel,
        topics,
        handles,
        user_ids,
        tweet_id_str,
        content.tag_ids,
        seed=seed,
        days=days,
        now_ms=now_ms,
        start_ms=start_ms,
        tweets_per_member=tweets_per_member,
        follows=follows.num_rows,
    )
    _add_topic_bursts(meta, planted, planted_id_str, user_ids, start_ms)
    return Dataset(users=users, tweets=tweets, follows=follows, meta=meta)


def _check_topic_bursts(topic_bursts: Any, days: int) -> None:
    most = days * 24 // HOURS_PER_BURST
    if (
        not isinstance(topic_bursts, int | np.integer)
        or isinstance(topic_bursts, bool)
        or not 0 <= topic_bursts <= most
    ):
        raise GenerateError(
            f"topic_bursts must be an integer from 0 to {most} (one per {HOURS_PER_BURST} "
            f"hours of the window), got {topic_bursts!r}"
        )


def _with_planted(
    tweets: pa.Table,
    planted: PlantedTopics,
    ids: pa.Array,
    user_ids: pa.Array,
    start_ms: int,
    rng: np.random.Generator,
) -> pa.Table:
    """The week's tweets with the planted topic-burst tweets merged in, sorted by id:
    plain standalone tweets (each its own conversation) with a little engagement."""
    n = planted.size
    if n == 0:
        return tweets
    likes = rng.poisson(3.0, n)
    rows = pa.Table.from_arrays(
        [
            ids,
            user_ids.take(pa.array(planted.author)),
            pa.array(start_ms + planted.time, type=pa.int64()).cast(TIMESTAMP),
            planted.text,
            pa.array([KINDS[TWEET]] * n),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.string()),
            ids,
            pa.array([[]] * n, pa.list_(pa.string())),
            planted.hashtags,
            pa.array(["en"] * n),
            pa.array(rng.poisson(0.5, n)),
            pa.array(rng.poisson(0.3, n)),
            pa.array(likes),
            pa.array(np.zeros(n, dtype=np.int64)),
            pa.array(np.round((likes + 1) * rng.lognormal(4.0, 0.6, n)).astype(np.int64)),
            pa.array([str(b.community) for b in planted.bursts]).take(pa.array(planted.burst)),
            pa.array(np.full(n, -1, dtype=np.int32)),
        ],
        schema=TWEETS_SCHEMA,
    )
    merged = pa.concat_tables([tweets, rows])
    order = np.argsort(merged.column("id").cast(pa.int64()).to_numpy(), kind="stable")
    return merged.take(pa.array(order))


def _add_topic_bursts(
    meta: dict[str, Any],
    planted: PlantedTopics,
    ids: pa.Array,
    user_ids: pa.Array,
    start_ms: int,
) -> None:
    """Count the planted tweets in the totals and list the bursts with their tweets."""
    n = planted.size
    meta["tweets"] += n
    meta["member_tweets"] += n  # planted tweets are all by members
    meta["tweets_by_kind"][KINDS[TWEET]] += n
    authors = user_ids.take(pa.array(planted.author)).to_pylist() if n else []
    tweet_ids = ids.to_pylist()
    meta["topic_bursts"] = [
        {
            "index": b.index,
            "community": b.community,
            "kind": b.kind,
            "topic": b.topic,
            "start": _iso(start_ms + b.start_ms),
            "end": _iso(start_ms + b.end_ms),
            "tweets": int((planted.burst == b.index).sum()),
            "members": len({authors[i] for i in np.flatnonzero(planted.burst == b.index)}),
            "tweet_ids": [tweet_ids[i] for i in np.flatnonzero(planted.burst == b.index)],
        }
        for b in planted.bursts
    ]


def _check(
    members: Any,
    communities: Any,
    days: Any,
    seed: Any,
    now: datetime | None,
    outsiders: Any,
    tweets_per_member: Any,
    bursts: Any | None,
) -> datetime:
    """Validate the arguments; return ``now`` in UTC, truncated to the millisecond."""
    problems = []
    for name, value, low in (
        ("members", members, 1),
        ("communities", communities, 1),
        ("days", days, 1),
        ("seed", seed, 0),
        ("outsiders", outsiders, 0),
        ("bursts", 0 if bursts is None else bursts, 0),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            problems.append(f"{name} must be an integer >= {low}, got {value!r}")
    if not problems:
        for name, value, most in (
            ("members", members, MAX_MEMBERS),
            ("communities", communities, MAX_MEMBERS),
            ("outsiders", outsiders, MAX_ACCOUNTS),
            ("seed", seed, MAX_SEED),
        ):
            if value > most:
                problems.append(f"{name} must be at most {most:,}, got {value:,}")
    if (
        not problems
        and isinstance(tweets_per_member, int | float)
        and members * tweets_per_member > MAX_TWEETS
    ):
        problems.append(
            f"members x tweets per member must be at most {MAX_TWEETS:,} tweets, got "
            f"{members * tweets_per_member:,.0f}"
        )
    if not problems:
        if members < communities:
            problems.append(
                f"members ({members}) must be at least communities ({communities})"
                ": every sub-community needs a member"
            )
        if days > MAX_DAYS:
            problems.append(f"days must be at most {MAX_DAYS}, got {days}")
        elif bursts is not None and bursts > days * 24 // HOURS_PER_BURST:
            problems.append(
                f"bursts ({bursts}) must be at most one per {HOURS_PER_BURST} hours"
                f" of the window ({days * 24 // HOURS_PER_BURST})"
            )
    if (
        not isinstance(tweets_per_member, int | float)
        or isinstance(tweets_per_member, bool)
        or not math.isfinite(tweets_per_member)
        or tweets_per_member <= 0
    ):
        problems.append(f"tweets_per_member must be a positive number, got {tweets_per_member!r}")
    now = DEFAULT_NOW if now is None else now
    if not isinstance(now, datetime):
        problems.append(f"now must be a datetime, got {now!r}")
    else:
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        earliest = datetime.fromtimestamp(ACCOUNTS_SINCE_MS / 1000, UTC) + timedelta(days=60)
        if not problems and now - timedelta(days=days) < earliest:
            problems.append(
                f"now minus days must be after {earliest:%Y-%m-%d} "
                "(account and tweet ids are X snowflakes)"
            )
    if problems:
        raise GenerateError("; ".join(problems))
    return now


def _users_table(
    rng: np.random.Generator,
    world: Community,
    topic_words: list[list[str]],
    handles: list[str],
    user_ids: pa.Array,
    metrics: dict[str, np.ndarray],
    now_ms: int,
) -> pa.Table:
    """One row per account, sorted by numeric id (the emulator can binary-search it)."""
    m, n = world.members, world.accounts
    names = pa.concat_arrays(
        [
            display_names(rng, m),
            display_names(rng, world.outsiders, OUTSIDER_SUFFIXES),
        ]
    )
    # Bios: three words of the community's (members) or leaning (outsiders) topic.
    k_all = world.communities
    bio_topic = np.concatenate([world.community[:m], world.affinity]).astype(np.int64)
    bio_topic[bio_topic < 0] = k_all
    words = pa.array([w for row in topic_words for w in row])
    first = rng.integers(0, WORDS_PER_TOPIC, n)
    step = rng.integers(1, WORDS_PER_TOPIC // 2, n)  # three distinct words per bio
    ranks = (first[:, None] + step[:, None] * np.arange(3)) % WORDS_PER_TOPIC
    tokens = (bio_topic[:, None] * WORDS_PER_TOPIC + ranks).ravel()
    bios = join_tokens(words, tokens, np.full(n, 3), " · ")
    state = world.state.astype(np.int64)
    order = np.argsort(world.ids, kind="stable")
    table = pa.Table.from_arrays(
        [
            user_ids,
            pa.array(handles),
            names,
            pa.array(world.created_ms, type=pa.int64()).cast(TIMESTAMP),
            bios,
            pa.array(state == ACCOUNT_STATES.index("protected")),
            *(
                pa.array(metrics[name])
                for name in ("followers_count", "following_count", "tweet_count", "listed_count")
            ),
            pa.array(ACCOUNT_STATES).take(pa.array(state)),
            pa.array(np.arange(n) < m),
            pa.array(world.community, type=pa.int32()),
        ],
        schema=USERS_SCHEMA,
    )
    return table.take(pa.array(order))


def _iso(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _meta(
    world: Community,
    skel: Skeleton,
    topics: Topics,
    handles: list[str],
    user_ids: pa.Array,
    tweet_ids: pa.Array,
    tag_ids: np.ndarray,
    *,
    seed: int,
    days: int,
    now_ms: int,
    start_ms: int,
    tweets_per_member: float,
    follows: int,
) -> dict[str, Any]:
    """The dataset's metadata: parameters, ground truth, and counts for quick reports."""
    m = world.members
    ids = user_ids.to_pylist()
    expected = skel.outsider_events.astype(float) @ world.outsider_probs
    top = np.argsort(-expected, kind="stable")[: hot_count(world.outsiders)]
    flat_tags = topics.flat_tags
    burst_sizes = np.bincount(skel.burst[skel.burst >= 0], minlength=len(skel.bursts))
    kinds = np.bincount(skel.kind, minlength=len(KINDS))
    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "members": int(m),
        "communities": int(world.communities),
        "outsiders": int(world.outsiders),
        "days": int(days),
        "now": _iso(now_ms),
        "start": _iso(start_ms),
        "tweets_per_member": float(tweets_per_member),
        "tweets": int(skel.size),
        "member_tweets": int((skel.author < m).sum()),
        "tweets_by_kind": {kind: int(c) for kind, c in zip(KINDS, kinds, strict=True)},
        "follows": int(follows),
        "community_sizes": [int(s) for s in world.sizes],
        "topics": {str(k): list(topics.tags[k]) for k in range(world.communities)},
        "topic_names": {str(k): topics.names[k] for k in range(world.communities)},
        "general_tags": list(GENERAL_TAGS),
        "bursts": [
            {
                "index": b.index,
                "community": b.community,
                "conversation_id": tweet_ids[b.root].as_py(),
                "author_id": ids[int(skel.author[b.root])],
                "tag": flat_tags[int(tag_ids[b.root, 0])],
                "start": _iso(start_ms + b.start_ms),
                "end": _iso(start_ms + b.end_ms),
                "tweets": int(burst_sizes[b.index]),
            }
            for b in skel.bursts
        ],
        "hot_outsiders": [
            {
                "rank": rank + 1,
                "id": ids[m + int(o)],
                "username": handles[m + int(o)],
                "expected_interactions": round(float(expected[o]), 1),
            }
            for rank, o in enumerate(top)
        ],
        "accounts_by_state": {
            state: [ids[i] for i in np.flatnonzero(world.state == code)]
            for code, state in enumerate(ACCOUNT_STATES)
            if state != "active"
        },
    }
