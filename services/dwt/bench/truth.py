"""A generated :class:`Dataset` as the insight stages' input, with its planted truth aligned.

The stages read what collection stores: member tweets as ``INTERACTIONS_SCHEMA`` rows,
member ids and follow edges. The input is made the product's own way: the week is written
into an embedded store as collection writes it (:func:`dwt.bench.load.load_week`: the
emulator's v2 pages, the product's normaliser) and read back with the store's columnar
reads, so ``directed_at``, hashtags and engagement follow the one rule collection applies,
including what the API does not show (the author of a quoted tweet by a protected account
is unknown to collection, so it is not in ``directed_at`` here either).

The planted truth (sub-community per member, burst per tweet) travels aligned with the
stage input, so the benchmark scores stage output without joining by id again.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.stages.columns import ints
from dwt.xapi.dataset import Dataset


@dataclass(frozen=True, slots=True)
class StageInputs:
    """What the bonds, cluster and content stages take, plus the truth aligned with it.

    ``community[i]`` is the planted sub-community of ``members[i]``; ``burst[j]`` the
    planted burst of ``interactions`` row j (-1 for none).
    """

    members: pa.Array
    interactions: pa.Table
    follows: pa.Table
    window: tuple[datetime, datetime]
    community: np.ndarray
    burst: np.ndarray


def stage_inputs(dataset: Dataset) -> StageInputs:
    """Members (``is_member``), their tweets as interactions, all follow edges, the window.

    Every member tweet is kept, whatever the member's account state: the truth covers
    them all, and the stages must place every member.
    """
    from dwt.bench.load import load_week
    from dwt.store import Store

    users = dataset.users.filter(dataset.users.column("is_member"))
    members = users.column("id").combine_chunks()
    with tempfile.TemporaryDirectory(prefix="dwt-truth-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'dwt.db'}")
        load_week(store, dataset, "truth")
        interactions = store.interactions(members.to_pylist())
        store.close()
    now = dataset.now
    if now is None:
        raise ValueError("the dataset has no meta['now']: its window is unknown")
    window = (now - timedelta(days=int(dataset.meta["days"])), now)
    rows = pc.index_in(interactions.column("tweet_id"), value_set=dataset.tweets.column("id"))
    return StageInputs(
        members=members,
        interactions=interactions,
        follows=dataset.follows,
        window=window,
        community=ints(users.column("community")),
        burst=ints(pc.take(dataset.tweets.column("burst"), rows)),
    )


def true_conversations(interactions: pa.Table, dataset: Dataset | None = None) -> pa.ChunkedArray:
    """The conversation each interaction row truly belongs to, by the product's rule.

    X (and the generator) give a retweet its own id as ``conversation_id``; the product
    means the conversation of the retweeted tweet. So a retweet's true conversation is the
    one of the tweet it retweets when that tweet is in the data, and otherwise the group of
    retweets of that same tweet (``rt:<id>``): nothing else tells where it belongs.

    "In the data" is the stage's input (member tweets) by default, the rule the content
    stage applies. With ``dataset`` it is every generated tweet, outsiders' included: a
    stricter truth that also counts retweets of outsiders' tweets, whose conversation the
    stage cannot see (the interactions schema carries no referenced tweet's conversation).
    """
    conversation = interactions.column("conversation_id")
    reference = interactions.column("referenced_id")
    if dataset is None:
        pool_ids, pool_conversations = interactions.column("tweet_id"), conversation
    else:
        pool_ids = dataset.tweets.column("id")
        pool_conversations = dataset.tweets.column("conversation_id")
    position = pc.index_in(reference, value_set=pool_ids.combine_chunks())
    retweeted = pc.if_else(
        pc.is_valid(position),
        pc.take(pool_conversations, pc.fill_null(position, 0)),
        pc.binary_join_element_wise("rt", reference, ":"),
    )
    is_retweet = pc.and_(
        pc.fill_null(pc.equal(interactions.column("kind"), "retweet"), False),
        pc.is_valid(reference),
    )
    return pc.if_else(is_retweet, retweeted, conversation)


def generated_week(
    members: int, communities: int, seed: int, tweets_per_member: float | None = None
) -> Dataset:
    """The benchmark's one generated week: :func:`dwt.generate.generate_community` over 7
    days (at the generator's own activity when ``tweets_per_member`` is None)."""
    from dwt.generate import generate_community

    activity = {} if tweets_per_member is None else {"tweets_per_member": tweets_per_member}
    return generate_community(
        members=members, communities=communities, days=7, seed=seed, **activity
    )
