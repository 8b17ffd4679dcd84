"""The discover stage: accounts outside the community that members interact with most.

An interaction is one (member tweet, directed-at account) pair: a mention, a reply, a quote
or a retweet. Outsiders are ranked by interaction count, then by how many distinct members
interacted with them, then by id (so the order is total and stable) — sorted *before* the
top ``k`` is taken, which the original prototype got wrong. Members, blocked accounts and
accounts muted until a future date are never proposed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

CANDIDATES_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("interactions", pa.int64()),
        ("members", pa.int64()),  # distinct members who interacted with the account
    ]
)


def directed_pairs(interactions: pa.Table) -> pa.Table:
    """One row per (tweet, directed-at account): author_id, target_id, kind, tweet_id."""
    directed = pa.chunked_array(interactions.column("directed_at")).combine_chunks()
    parent = pc.list_parent_indices(directed)
    return pa.table(
        {
            "author_id": interactions.column("author_id").take(parent),
            "target_id": pc.list_flatten(directed),
            "kind": interactions.column("kind").take(parent),
            "tweet_id": interactions.column("tweet_id").take(parent),
        }
    )


def discover_candidates(
    interactions: pa.Table,
    members: Sequence[str] | pa.Array,
    excluded: Iterable[str] = (),
    top: int | None = 30,
) -> pa.Table:
    """Rank outsiders by interactions with members (see the module doc); ``top=None`` keeps all."""
    if top is not None and top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    member_ids = pa.array(members, pa.string())
    pairs = directed_pairs(interactions)
    by_member = pc.is_in(pairs.column("author_id"), value_set=member_ids)
    outsider = pc.invert(pc.is_in(pairs.column("target_id"), value_set=member_ids))
    allowed = pc.invert(
        pc.is_in(pairs.column("target_id"), value_set=pa.array(list(excluded), pa.string()))
    )
    pairs = pairs.filter(pc.and_(pc.and_(by_member, outsider), allowed))
    ranked = (
        pairs.group_by("target_id")
        .aggregate([("tweet_id", "count"), ("author_id", "count_distinct")])
        .rename_columns(["account_id", "interactions", "members"])
        .sort_by(
            [("interactions", "descending"), ("members", "descending"), ("account_id", "ascending")]
        )
    )
    ranked = ranked.select(CANDIDATES_SCHEMA.names).cast(CANDIDATES_SCHEMA)
    return ranked if top is None else ranked.slice(0, top)
