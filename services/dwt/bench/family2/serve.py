"""Family 2's two weeks as the datasets the X API emulator serves, and their truths.

The product reads a week the way it reads a user's: from the emulator (users, timelines,
follow lists), so each week becomes a :class:`dwt.xapi.dataset.Dataset` (text with
``@username`` / ``#tag`` where the entities are, snowflake-like ids that grow with time,
conversation ids as X gives them). Every account of both weeks is in both datasets;
``is_member`` says who is a member that week (week 2's newcomers are added before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from dwt.bench.family2.week import draw_week, interaction_pairs, shares_community, window
from dwt.bench.family2.world import (
    MENTION,
    REPLY,
    RETWEET,
    Accounts,
    Family2Config,
    Rows,
    Truth,
    draw_accounts,
    draw_follows,
    draw_relations,
)
from dwt.xapi.dataset import FOLLOWS_SCHEMA, TWEETS_SCHEMA, USERS_SCHEMA, Dataset

_EPOCH_MS = 1288834974657  # X's id epoch
_KIND_NAMES = np.array(["tweet", "tweet", "reply", "retweet", "quote"])


@dataclass
class WeekData:
    """One week: what the emulator serves, the usernames first members that week, the truth."""

    dataset: Dataset
    new_usernames: list[str]
    truth: Truth


def generate_weeks(cfg: Family2Config) -> list[WeekData]:
    """Week 1 and week 2 (grown and merged) of the configured community."""
    rng = np.random.default_rng([cfg.seed, 2, 27])
    acc, grown, kept, absorbed = draw_accounts(rng, cfg)
    relations = draw_relations(rng, acc, cfg, kept, absorbed)
    follows = draw_follows(rng, acc, cfg, relations)
    user_ids = 10**13 + rng.choice(10**10, acc.total, replace=False)
    names = [f"f2s{cfg.seed}m{i:05d}" for i in range(acc.n_members)]
    names += [f"f2s{cfg.seed}o{i:04d}" for i in range(acc.n_outsiders)]
    text = _Text(rng, cfg.communities)
    out = []
    for week in (0, 1):
        rows, bursts, noise = draw_week(rng, acc, cfg, week, relations[week])
        ids, dataset = _dataset(rng, acc, week, rows, follows[week], user_ids, names, text)
        truth = _truth(acc, week, rows, relations[week], follows[week], user_ids, ids)
        truth.bursts = [_ided(b, ids) for b in bursts]
        truth.noise = [_ided(b, ids) for b in noise]
        if week == 1:
            truth.merged, truth.grown = (kept, absorbed), grown
        new = np.flatnonzero(acc.week1) if week == 0 else np.flatnonzero(~acc.week1)
        out.append(WeekData(dataset, [names[i] for i in new], truth))
    return out


def _ided(burst: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    rows = burst.pop("rows")
    return burst | {"tweet_ids": [ids[r] for r in rows.tolist()]}


def _truth(
    acc: Accounts,
    week: int,
    rows: Rows,
    relations: np.ndarray,
    follows: np.ndarray,
    user_ids: np.ndarray,
    ids: list[str],
) -> Truth:
    n = acc.n_members
    present = acc.week1 if week == 0 else np.ones(n, bool)
    members = np.flatnonzero(present)  # week 1's are 0..n1-1: positions = indices
    label, second = acc.label[week], acc.second[week]
    src, dst = interaction_pairs(rows)
    people = np.zeros(acc.total, bool)
    people[:n] = present & ~acc.bot
    pair = people[src] & people[dst]
    across = ~shares_community(src[pair], dst[pair], label, second)
    wrote = np.bincount(rows.column("author"), minlength=acc.total)[:n] > 0
    silent = present & ~acc.bot & ~wrote
    by_member = np.zeros(acc.total, bool)
    by_member[dst[pair]] = True
    bot_src = np.zeros(acc.total, bool)
    bot_src[:n] = acc.bot
    by_bot = np.zeros(acc.total, bool)
    by_bot[dst[bot_src[src]]] = True
    followed = np.isin(src[pair] * acc.total + dst[pair], follows[:, 0] * acc.total + follows[:, 1])
    a, b = relations[:, 0], relations[:, 1]
    return Truth(
        week=week + 1,
        members=[str(u) for u in user_ids[members]],
        community=label[members].tolist(),
        second=second[members].tolist(),
        bots=[str(u) for u in user_ids[members[acc.bot[members]]]],
        silent=[str(u) for u in user_ids[:n][silent]],
        arguers=[str(u) for u in user_ids[:n][present & acc.arguer]],
        relations=relations,
        mixing=round(float(across.mean()), 4) if len(across) else 0.0,
        relation_mixing=round(float(np.mean(~shares_community(a, b, label, second))), 4),
        silent_mentioned=round(float(by_member[:n][silent].mean()), 4) if silent.any() else 0.0,
        bot_reach=round(float(by_bot[:n][people[:n]].mean()), 4),
        unfollowed=round(float(1 - followed.mean()), 4) if len(followed) else 0.0,
    )


class _Text:
    """Made-up words with Zipf-like frequencies, each community's jargon and usual tags."""

    def __init__(self, rng: np.random.Generator, communities: int) -> None:
        letters = np.array(list("abdeghiklmnoprstuv"))
        words: set[str] = set()
        while len(words) < 600:
            length = int(rng.integers(3, 9))
            words.add("".join(rng.choice(letters, length)))
        self.vocab = np.array(sorted(words))
        rng.shuffle(self.vocab)
        ranks = np.arange(1, len(self.vocab) + 1)
        self.p = ranks**-1.1 / np.sum(ranks**-1.1)
        self.jargon = self.vocab[-5 * communities :].reshape(communities, 5)
        self.tags = self.vocab[-7 * communities : -5 * communities].reshape(communities, 2)

    def body(self, rng: np.random.Generator, home: np.ndarray) -> tuple[list[str], list[list[str]]]:
        """Per author community (-1: none), a sentence and its hashtags."""
        m = len(home)
        lengths = rng.integers(5, 12, m)
        drawn = rng.choice(self.vocab, lengths.sum(), p=self.p)
        cuts = np.cumsum(lengths)[:-1]
        jargon = (home >= 0) & (rng.random(m) < 0.3)
        tagged = (home >= 0) & (rng.random(m) < 0.1)
        slot = rng.integers(0, 5, m)
        texts, tags = [], []
        for i, words in enumerate(np.split(drawn, cuts)):
            parts = list(words)
            if jargon[i]:
                parts.insert(1, self.jargon[home[i], slot[i]])
            tag = [str(self.tags[home[i], slot[i] % 2])] if tagged[i] else []
            texts.append(" ".join(parts) + "".join(f" #{t}" for t in tag))
            tags.append(tag)
        return texts, tags


def _snowflakes(ms: np.ndarray) -> np.ndarray:
    """Ids growing with time as X's do: ms since X's epoch, shifted, plus a sequence number
    for tweets of the same millisecond."""
    order = np.lexsort((np.arange(len(ms)), ms))
    sorted_ms = ms[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(sorted_ms)) + 1]
    seq = np.arange(len(ms)) - np.repeat(group_start, np.diff(np.r_[group_start, len(ms)]))
    ids = np.empty(len(ms), np.int64)
    ids[order] = ((sorted_ms - _EPOCH_MS) << 22) + seq
    return ids


def _dataset(
    rng: np.random.Generator,
    acc: Accounts,
    week: int,
    rows: Rows,
    follows: np.ndarray,
    user_ids: np.ndarray,
    names: list[str],
    text: _Text,
) -> tuple[list[str], Dataset]:
    n = acc.n_members
    author, ms, kind, ref = (rows.column(c) for c in ("author", "ms", "kind", "ref"))
    mentions, phrases = rows.flat("mentions"), rows.flat("phrase")
    home = np.r_[acc.label[week], np.full(acc.n_outsiders, -1)][author]
    body, tags = text.body(rng, home)
    raw = _snowflakes(ms)
    ids = [str(i) for i in raw.tolist()]
    root = np.arange(len(ms))
    texts: list[str] = []
    for r in range(len(ms)):  # refs point back, so a reply's root and a retweet's text exist
        k, phrase = int(kind[r]), phrases[r]
        tag = tags[r]
        words = body[r]
        if phrase:  # the burst's phrase inside a sentence (another row's words after it)
            words = f"{words} {phrase} {body[(r * 7 + 3) % len(body)].split(' #')[0]}"
            tag = tag + ([phrase[1:]] if phrase.startswith("#") else [])
            tags[r] = tag
        if k == RETWEET:
            words = f"RT @{names[author[ref[r]]]}: {texts[ref[r]]}"
            tags[r] = tags[ref[r]]
        elif k == MENTION:
            words = " ".join(f"@{names[j]}" for j in mentions[r]) + " " + words
        if k == REPLY:
            root[r] = root[ref[r]]
        texts.append(words)
    has_ref = ref >= 0
    safe = np.where(has_ref, ref, 0)
    reply_to = [
        str(user_ids[author[safe[r]]]) if kind[r] == REPLY else None for r in range(len(ms))
    ]
    n_rows = len(ms)
    tweets = pa.table(
        {
            "id": ids,
            "author_id": [str(u) for u in user_ids[author]],
            "created_at": pa.array(ms, pa.timestamp("ms", tz="UTC")),
            "text": texts,
            "kind": _KIND_NAMES[kind].tolist(),
            "referenced_id": [ids[safe[r]] if has_ref[r] else None for r in range(n_rows)],
            "in_reply_to_user_id": reply_to,
            "conversation_id": [ids[c] for c in root.tolist()],
            "mentions": pa.array(
                [[str(user_ids[j]) for j in m] for m in mentions], pa.list_(pa.string())
            ),
            "hashtags": pa.array(tags, pa.list_(pa.string())),
            "lang": ["en"] * n_rows,
            "retweet_count": np.zeros(n_rows, np.int64),
            "reply_count": np.zeros(n_rows, np.int64),
            "like_count": rng.poisson(1.5, n_rows).astype(np.int64),
            "quote_count": np.zeros(n_rows, np.int64),
            "impression_count": rng.poisson(150.0, n_rows).astype(np.int64),
            "topic": pa.nulls(n_rows, pa.string()),  # truth: in the Truth
            "burst": np.full(n_rows, -1, np.int32),
        },
        schema=TWEETS_SCHEMA,
    ).take(pa.array(np.argsort(raw, kind="stable")))
    total = acc.total
    present = np.r_[acc.week1 if week == 0 else np.ones(n, bool), np.zeros(acc.n_outsiders, bool)]
    f_src, f_dst = follows[:, 0], follows[:, 1]
    users = pa.table(
        {
            "id": [str(u) for u in user_ids],
            "username": names,
            "name": [name.title() for name in names],
            "created_at": pa.array(
                [datetime(2016, 3, 1, tzinfo=UTC)] * total, pa.timestamp("ms", tz="UTC")
            ),
            "description": [""] * total,
            "protected": [False] * total,
            "followers_count": np.bincount(f_dst, minlength=total).astype(np.int64),
            "following_count": np.bincount(f_src, minlength=total).astype(np.int64),
            "tweet_count": np.bincount(author, minlength=total).astype(np.int64),
            "listed_count": np.zeros(total, np.int64),
            "state": ["active"] * total,
            "is_member": present,
            "community": np.full(total, -1, np.int32),  # truth: in the Truth
        },
        schema=USERS_SCHEMA,
    )
    follow_table = pa.table(
        {
            "source_id": [str(u) for u in user_ids[f_src]],
            "target_id": [str(u) for u in user_ids[f_dst]],
        },
        schema=FOLLOWS_SCHEMA,
    )
    end = datetime.fromtimestamp(window(week)[1] / 1000, UTC)
    meta = {
        "seed": -1,  # not told: the Truth has the configuration
        "members": int(present.sum()),
        "communities": 0,
        "days": 7,
        "now": end.isoformat().replace("+00:00", "Z"),
        "generator": "dwt.bench.family2",
        "topics": {},
        "bursts": [],
        "hot_outsiders": [],
    }
    return ids, Dataset(users=users, tweets=tweets, follows=follow_table, meta=meta)
