"""What the tweets say: topic, hashtags, words, mentions, text, language.

Each tweet gets a topic (its author's community's, sometimes another's or the general
one); replies, quotes and retweets mostly keep the topic of what they point at, so a
conversation stays on one subject. Text is assembled from token runs (see
:mod:`dwt.generate.text`) in one Arrow pass; a reply starts with ``@author`` of the tweet it
answers, a retweet is ``RT @author: <original text>``, as X writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.generate.community import Community
from dwt.generate.sampling import categorical, other_group, resolve_pointers
from dwt.generate.text import (
    FILLER_WORDS,
    TAGS_PER_TOPIC,
    WORDS_PER_TOPIC,
    Topics,
    expand_positions,
    join_tokens,
    segments,
)
from dwt.generate.tweets import QUOTE, REPLY, RETWEET, TWEET, Skeleton

#: A member writes on its community's topic, another community's, or the general one.
MEMBER_TOPIC_MIX = np.array([0.82, 0.08, 0.10])
#: Chance that a retweet / quote / reply keeps the topic of the tweet it points at.
INHERIT = {RETWEET: 1.0, QUOTE: 0.7, REPLY: 0.85}
#: Number of hashtags (0..3) by kind; retweets copy the original's.
TAG_COUNT_MIX = {
    TWEET: np.array([0.30, 0.40, 0.20, 0.10]),
    QUOTE: np.array([0.45, 0.40, 0.15, 0.0]),
    REPLY: np.array([0.65, 0.30, 0.05, 0.0]),
}
#: Within a topic, a few tags dominate (Zipf over its tags).
TAG_WEIGHTS = 1.0 / np.arange(1, TAGS_PER_TOPIC + 1)
#: Word counts [lo, hi] by kind; share of words from the topic (the rest are fillers).
WORD_RANGE = {TWEET: (4, 10), QUOTE: (3, 8), REPLY: (3, 8)}
TOPIC_WORD_SHARE = 0.6
#: Share of a burst's tweets that carry the burst root's first hashtag.
BURST_TAG_SHARE = 0.75
LANG_MIX = (("en", 0.98), ("und", 0.02))
MAX_TEXT = 280


@dataclass
class Content:
    text: pa.Array
    mentions: pa.Array  # list<string> of user ids, text order
    hashtags: pa.Array  # list<string>, text order, without '#'
    topic: pa.Array  # str(community) or "general"
    lang: pa.Array
    tag_ids: np.ndarray  # (rows, 3) tag index into Topics.flat_tags, -1


def build_content(
    rng: np.random.Generator,
    world: Community,
    skel: Skeleton,
    topics: Topics,
    usernames: list[str],
    user_ids: pa.Array,
) -> Content:
    """Topics, hashtags and text for every row of the skeleton."""
    n, k_all = skel.size, world.communities
    kind, target, author = skel.kind, skel.target, skel.author
    rows = np.arange(n)
    topic = _topics(rng, world, skel)
    original = kind != RETWEET

    # Hashtags of originals (retweets copy theirs below).
    n_tags = np.zeros(n, dtype=np.int64)
    for code, mix in TAG_COUNT_MIX.items():
        sel = np.flatnonzero(kind == code)
        n_tags[sel] = categorical(rng, mix, sel.size)
    rank1 = categorical(rng, TAG_WEIGHTS, n)
    step2 = rng.integers(1, TAGS_PER_TOPIC, n)
    step3 = rng.integers(1, TAGS_PER_TOPIC - 1, n)
    step3 = np.where(step3 >= step2, step3 + 1, step3)  # distinct from step2, never 0
    tag_ids = (
        topic[:, None] * TAGS_PER_TOPIC
        + (rank1[:, None] + np.stack([np.zeros(n, dtype=np.int64), step2, step3], axis=1))
        % TAGS_PER_TOPIC
    )
    _burst_tags(rng, skel, n_tags, tag_ids)
    tag_ids[np.arange(3)[None, :] >= n_tags[:, None]] = -1
    tag_ids[~original] = -1
    n_tags[~original] = 0

    # Words: per token, the tweet's topic vocabulary or the fillers.
    n_words = np.zeros(n, dtype=np.int64)
    for code, (lo, hi) in WORD_RANGE.items():
        sel = np.flatnonzero(kind == code)
        n_words[sel] = rng.integers(lo, hi + 1, sel.size)
    n_body = (skel.mentions >= 0).sum(axis=1) * (kind == TWEET)
    first = np.where(n_body > 0, rng.integers(1, np.maximum(n_words, 1) + 1), n_words)
    n_prefix = (kind == REPLY).astype(np.int64)

    n_word_vocab = (k_all + 1) * WORDS_PER_TOPIC + len(FILLER_WORDS)
    n_tag_vocab = (k_all + 1) * TAGS_PER_TOPIC
    vocab = pa.concat_arrays(
        [
            pa.array(topics.flat_words + list(FILLER_WORDS)),
            pa.array(["#" + tag for tag in topics.flat_tags]),
            pa.array(["@" + name for name in usernames]),
        ]
    )
    mention_base = n_word_vocab + n_tag_vocab
    replied_author = author[np.maximum(target, 0)]

    counts = [n_prefix, first, n_body, n_words - first, n_tags]
    offsets, pos = segments(counts)
    tokens = np.empty(int(offsets[-1]), dtype=np.int64)
    tokens[pos[0]] = mention_base + replied_author[kind == REPLY]
    tokens[pos[1]] = _words(rng, topic, first, k_all)
    row, j = _run_index(n_body)
    tokens[pos[2]] = mention_base + skel.mentions[row, j]
    tokens[pos[3]] = _words(rng, topic, n_words - first, k_all)
    row, j = _run_index(n_tags)
    tokens[pos[4]] = n_word_vocab + tag_ids[row, j]
    base_text = join_tokens(vocab, tokens, offsets[1:] - offsets[:-1], " ")

    # Retweets: "RT @author: " + the original's text, entities copied from it.
    rt = np.flatnonzero(~original)
    rt_target = target[rt]
    prefix = pa.array([f"RT @{name}:" for name in usernames])
    rt_text = pc.binary_join_element_wise(
        prefix.take(pa.array(author[rt_target])), base_text.take(pa.array(rt_target)), " "
    )
    index = rows.copy()
    index[rt] = n + np.arange(rt.size)
    text = pa.concat_arrays([base_text, rt_text]).take(pa.array(index))
    longest = pc.max(pc.utf8_length(text)).as_py() if n else 0
    if longest is not None and longest > MAX_TEXT:
        raise RuntimeError(f"generated a {longest}-character tweet")  # vocabulary too long

    # Mentions: [replied-to / retweeted author] + body mentions, or the original's list.
    base_m = np.where(kind == REPLY, 1, n_body)
    base_off = np.concatenate(([0], np.cumsum(base_m)))
    base_vals = np.empty(int(base_off[-1]), dtype=np.int64)
    _, base_pos = segments([n_prefix, n_body])
    base_vals[base_pos[0]] = replied_author[kind == REPLY]
    row, j = _run_index(n_body)
    base_vals[base_pos[1]] = skel.mentions[row, j]
    copied = np.zeros(n, dtype=np.int64)
    copied[rt] = base_m[rt_target]
    lead = ((kind == REPLY) | ~original).astype(np.int64)
    m_off, m_pos = segments([lead, n_body, copied])
    m_vals = np.empty(int(m_off[-1]), dtype=np.int64)
    m_vals[m_pos[0]] = replied_author[lead.astype(bool)]
    m_vals[m_pos[1]] = skel.mentions[row, j]
    m_vals[m_pos[2]] = base_vals[expand_positions(base_off[rt_target], base_m[rt_target])]
    mentions = pa.ListArray.from_arrays(
        pa.array(m_off.astype(np.int32)), user_ids.take(pa.array(m_vals))
    )

    # Hashtags: own tags, or the original's.
    own_tags = n_tags.copy()
    own_tags[rt] = n_tags[rt_target]
    h_off = np.concatenate(([0], np.cumsum(own_tags)))
    src_row = rows.copy()
    src_row[rt] = rt_target
    row, j = _run_index(own_tags)
    hashtags = pa.ListArray.from_arrays(
        pa.array(h_off.astype(np.int32)),
        pa.array(topics.flat_tags).take(pa.array(tag_ids[src_row[row], j])),
    )

    langs = pa.array([code for code, _ in LANG_MIX])
    lang = categorical(rng, np.array([p for _, p in LANG_MIX]), n)
    lang[rt] = lang[rt_target]
    names = pa.array([str(k) for k in range(k_all)] + ["general"])
    return Content(
        text=text,
        mentions=mentions,
        hashtags=hashtags,
        topic=names.take(pa.array(topic)),
        lang=langs.take(pa.array(lang)),
        tag_ids=tag_ids,
    )


def _topics(rng: np.random.Generator, world: Community, skel: Skeleton) -> np.ndarray:
    """Topic per row: drawn from the author, then inherited along retweets/quotes/replies."""
    n, m, k_all = skel.size, world.members, world.communities
    author = skel.author
    sizes = world.sizes.astype(float)
    own = np.full(n, k_all, dtype=np.int64)
    is_member = author < m
    home = world.community[author[is_member]].astype(np.int64)
    choice = categorical(rng, MEMBER_TOPIC_MIX, home.size)
    topic = np.where(choice == 0, home, k_all)
    other = choice == 1
    topic[other] = other_group(rng, home[other], sizes)
    own[is_member] = topic
    out = np.flatnonzero(~is_member)
    lean = world.affinity[author[out] - m].astype(np.int64)
    u = rng.random(out.size)
    anywhere = categorical(rng, sizes, out.size)
    own[out] = np.where((lean >= 0) & (u < 0.6), lean, np.where(u < 0.8, anywhere, k_all))
    for b in skel.bursts:
        own[b.root] = b.community

    inherit = np.zeros(n, dtype=bool)
    for code, share in INHERIT.items():
        sel = np.flatnonzero(skel.kind == code)
        inherit[sel] = rng.random(sel.size) < share
    inherit |= (skel.burst >= 0) & (skel.target >= 0)
    source = np.where(inherit, skel.target, np.arange(n))
    return own[resolve_pointers(source)]


def _burst_tags(
    rng: np.random.Generator, skel: Skeleton, n_tags: np.ndarray, tag_ids: np.ndarray
) -> None:
    """Make a burst's root carry a tag and most of its wave repeat it (in place)."""
    if not skel.bursts:
        return
    roots = np.array([b.root for b in skel.bursts])
    n_tags[roots] = np.maximum(n_tags[roots], 1)
    rows = np.flatnonzero(
        (skel.burst >= 0) & (skel.kind != RETWEET) & (rng.random(skel.size) < BURST_TAG_SHARE)
    )
    rows = rows[~np.isin(rows, roots)]
    tag = tag_ids[roots[skel.burst[rows]], 0]
    old = tag_ids[rows, 0].copy()
    for col in (1, 2):  # keep the row's tags distinct: swap the trending tag to the front
        clash = tag_ids[rows, col] == tag
        tag_ids[rows[clash], col] = old[clash]
    tag_ids[rows, 0] = tag
    n_tags[rows] = np.maximum(n_tags[rows], 1)


def _words(
    rng: np.random.Generator, topic: np.ndarray, counts: np.ndarray, k_all: int
) -> np.ndarray:
    """Word tokens for runs of ``counts`` words on each row's topic."""
    total = int(counts.sum())
    row_topic = np.repeat(topic, counts)
    on_topic = rng.random(total) < TOPIC_WORD_SHARE
    topic_word = row_topic * WORDS_PER_TOPIC + rng.integers(0, WORDS_PER_TOPIC, total)
    filler = (k_all + 1) * WORDS_PER_TOPIC + rng.integers(0, len(FILLER_WORDS), total)
    return np.where(on_topic, topic_word, filler)


def _run_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of ``counts`` elements per row: each element's row and index in its run."""
    counts = np.asarray(counts, dtype=np.int64)
    row = np.repeat(np.arange(counts.shape[0]), counts)
    j = np.arange(row.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, j
