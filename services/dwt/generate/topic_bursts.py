"""Planted topic bursts: many members of one community post *standalone* tweets carrying a
new hashtag, term or URL within a few hours.

Thread bursts (:mod:`dwt.generate.tweets`) are one conversation drawing many replies; a
topic burst is the other kind of trend, which conversations cannot see: every tweet is its
own conversation, and only the shared topic ties them. The topic is invented for the burst
(syllables no vocabulary uses), so it is absent before, and the tweets that make it are
recorded in ``meta["topic_bursts"]`` — the truth the benchmark scores the topics stage
against, never read by the product.

The rows are drawn from their own random stream and appended after the rest of the week is
drawn, so planting them changes nothing else of a seed's dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dwt.generate.community import ACTIVE, DAY_MS, Community
from dwt.generate.text import (
    FILLER_WORDS,
    SYLLABLES,
    Topics,
    expand_positions,
    join_tokens,
    segments,
)
from dwt.generate.tweets import HOUR_MS

TOPIC_BURST_KINDS = ("hashtag", "term", "url")
#: Tweets in a burst: this share of the community's active members, within bounds.
SIZE_SHARE = 0.8
MIN_TWEETS, MAX_TWEETS = 20, 80
#: Distinct authors: this share of the burst's tweets (at most the active members).
AUTHOR_SHARE = 0.7
#: Words around the topic in each tweet; share of them from the community's vocabulary.
WORDS = (3, 7)
TOPIC_WORD_SHARE = 0.6
URL_SITES = ("news.example.org", "blog.example.com", "papers.example.net")


@dataclass
class TopicBurst:
    index: int
    community: int
    kind: str  # hashtag | term | url
    topic: str  # as the product names it: "#tag", the term, or the URL
    start_ms: int  # relative to the window start
    end_ms: int
    authors: np.ndarray  # account index per tweet
    time: np.ndarray  # ms since the window start, per tweet


@dataclass
class PlantedTopics:
    """The rows to append (time order within each burst) and the bursts."""

    bursts: list[TopicBurst]
    author: np.ndarray
    time: np.ndarray
    burst: np.ndarray  # topic burst index per row
    text: pa.Array
    hashtags: pa.Array  # list<string>, without '#'

    @property
    def size(self) -> int:
        return int(self.author.shape[0])


def topic_burst_count(communities: int, days: int) -> int:
    """Default number of topic bursts: about three a week, at most one per community."""
    return max(1, min(communities, round(3 * days / 7)))


def plant_topic_bursts(
    rng: np.random.Generator, world: Community, topics: Topics, days: int, n_bursts: int
) -> PlantedTopics:
    """Draw ``n_bursts`` topic bursts (kinds in turn: hashtag, term, URL) in communities
    with at least three active members, one per slot of the window."""
    m = world.members
    active = (world.state[:m] == ACTIVE) & (world.activity[:m] > 0)
    per_community = np.bincount(world.community[:m][active], minlength=world.communities)
    eligible = np.flatnonzero(per_community >= 3)
    if n_bursts == 0 or eligible.size == 0:
        return _empty()
    p = world.sizes[eligible] / world.sizes[eligible].sum()
    community = np.concatenate(
        [
            rng.choice(eligible, size=min(eligible.size, n_bursts - i), replace=False, p=p)
            for i in range(0, n_bursts, eligible.size)
        ]
    )
    window = days * DAY_MS
    slot = window // n_bursts
    duration = np.minimum(rng.uniform(1.0, 3.0, n_bursts) * HOUR_MS, slot // 2).astype(np.int64)
    start = np.arange(n_bursts) * slot + (rng.random(n_bursts) * (slot - duration)).astype(np.int64)
    names = _new_topics(rng, topics, n_bursts)

    bursts = []
    for b in range(n_bursts):  # a handful of bursts, each drawn whole
        k = int(community[b])
        pool = np.flatnonzero(active & (world.community[:m] == k))
        size = int(np.clip(round(SIZE_SHARE * pool.size), MIN_TWEETS, MAX_TWEETS))
        n_authors = min(pool.size, max(3, int(np.ceil(AUTHOR_SHARE * size))))
        weight = world.activity[pool] / world.activity[pool].sum()
        first = rng.choice(pool, size=n_authors, replace=False, p=weight)
        rest = rng.choice(first, size=size - n_authors)
        authors = np.concatenate([first, rest])
        rel = np.sort((rng.beta(1.2, 2.0, size) * (duration[b] - 1)).astype(np.int64))
        time = start[b] + 1 + rel
        kind = TOPIC_BURST_KINDS[b % len(TOPIC_BURST_KINDS)]
        bursts.append(
            TopicBurst(
                index=b,
                community=k,
                kind=kind,
                topic=names[kind][b],
                start_ms=int(start[b]),
                end_ms=int(start[b] + duration[b]),
                authors=rng.permutation(authors),
                time=time,
            )
        )
    return _rows(rng, bursts, topics)


def _new_topics(rng: np.random.Generator, topics: Topics, n: int) -> dict[str, list[str]]:
    """Per kind, ``n`` invented names no vocabulary uses (so absent before the burst)."""
    used = {w.lower() for w in topics.flat_tags + topics.flat_words + list(FILLER_WORDS)}
    words: list[str] = []
    while len(words) < 4 * n:
        picks = rng.integers(0, len(SYLLABLES), 3)
        word = "".join(SYLLABLES[i] for i in picks)
        if word not in used and word not in words:
            words.append(word)
    sites = [URL_SITES[i % len(URL_SITES)] for i in range(n)]
    return {
        "hashtag": [f"#{w}" for w in words[:n]],
        "term": words[n : 2 * n],
        "url": [
            f"https://{site}/{a}-{b}"
            for site, a, b in zip(sites, words[2 * n : 3 * n], words[3 * n :], strict=True)
        ],
    }


def _rows(rng: np.random.Generator, bursts: list[TopicBurst], topics: Topics) -> PlantedTopics:
    """Text and hashtags of every burst tweet: words of the community's topic and fillers
    around the burst's topic, assembled as token runs (one Arrow join)."""
    author = np.concatenate([b.authors for b in bursts])
    time = np.concatenate([b.time for b in bursts])
    burst = np.repeat(np.arange(len(bursts)), [len(b.time) for b in bursts])
    community = np.array([b.community for b in bursts])[burst]
    n = author.shape[0]
    words_per_topic = len(topics.words[0])
    vocab = pa.array(
        topics.flat_words + list(FILLER_WORDS) + [b.topic for b in bursts], pa.string()
    )
    filler_base = len(topics.flat_words)
    topic_base = filler_base + len(FILLER_WORDS)
    n_words = rng.integers(WORDS[0], WORDS[1] + 1, n)
    before = rng.integers(0, n_words + 1)
    total = int(n_words.sum())
    on_topic = rng.random(total) < TOPIC_WORD_SHARE
    row_community = np.repeat(community, n_words)
    word = np.where(
        on_topic,
        row_community * words_per_topic + rng.integers(0, words_per_topic, total),
        filler_base + rng.integers(0, len(FILLER_WORDS), total),
    )
    offsets, pos = segments([before, np.ones(n, np.int64), n_words - before])
    tokens = np.empty(int(offsets[-1]), dtype=np.int64)
    word_start = np.cumsum(n_words) - n_words
    tokens[pos[0]] = word[expand_positions(word_start, before)]
    tokens[pos[2]] = word[expand_positions(word_start + before, n_words - before)]
    tokens[pos[1]] = topic_base + burst
    text = join_tokens(vocab, tokens, offsets[1:] - offsets[:-1], " ")
    is_tag = np.array([b.kind == "hashtag" for b in bursts])[burst]
    tag_names = pa.array([b.topic.lstrip("#") for b in bursts], pa.string())
    tag_offsets = np.concatenate(([0], np.cumsum(is_tag)))
    hashtags = pa.ListArray.from_arrays(
        pa.array(tag_offsets.astype(np.int32)), tag_names.take(pa.array(burst[is_tag]))
    )
    return PlantedTopics(bursts, author, time, burst, text, hashtags)


def _empty() -> PlantedTopics:
    none = np.zeros(0, dtype=np.int64)
    return PlantedTopics(
        [], none, none, none, pa.array([], pa.string()), pa.array([], pa.list_(pa.string()))
    )
