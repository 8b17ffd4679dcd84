"""The discover stage: accounts outside the community that members interact with most.

An interaction is one (member tweet, directed-at account) pair: a mention, a reply, a quote
or a retweet. Outsiders are ranked by interaction count, then by how many distinct members
interacted with them, then by id (so the order is total and stable) — sorted *before* the
top ``k`` is taken, which the original prototype got wrong. Members, blocked accounts and
accounts muted until a future date are never proposed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.stages.columns import ints

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
    """Rank outsiders by interactions with members (see the module doc); ``top=None`` keeps all.

    Vectorised over integer codes, like the bonds stage: targets are dictionary-encoded
    once, members and excluded accounts are removed by testing the dictionary (one entry
    per distinct account, not per pair), interactions are a ``bincount`` of target codes and
    distinct members a ``bincount`` over the unique (target, author) codes.
    """
    if top is not None and top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    member_ids = pa.array(members, pa.string()) if not isinstance(members, pa.Array) else members
    m = max(len(member_ids), 1)
    # Per tweet: its author's member index (-1: not a member). No table is filtered.
    author = pc.index_in(interactions.column("author_id"), value_set=member_ids)
    author = ints(pc.fill_null(author, -1))
    directed = pa.chunked_array(interactions.column("directed_at")).combine_chunks()
    parent = ints(pc.list_parent_indices(directed))
    encoded = pc.dictionary_encode(pc.list_flatten(directed))
    accounts = encoded.dictionary  # one entry per distinct directed-at account
    n = len(accounts)
    allowed = np.ones(n + 1, dtype=bool)  # the last entry: a null target, never proposed
    allowed[n] = False
    allowed[:n] = ~(
        pc.is_in(accounts, value_set=member_ids).to_numpy(zero_copy_only=False)
        | pc.is_in(accounts, value_set=pa.array(list(excluded), pa.string())).to_numpy(
            zero_copy_only=False
        )
    )
    code = ints(pc.fill_null(encoded.indices, n))
    who = author[parent]
    keep = allowed[code] & (who >= 0)
    code, who = code[keep], who[keep]

    counts = np.bincount(code, minlength=n)
    key = np.sort(code * m + who)  # (account, member) pairs; distinct ones counted
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    breadth = np.bincount(key[first] // m, minlength=n)
    rank = np.empty(n, dtype=np.int64)  # each account's place in id order
    rank[ints(pc.sort_indices(accounts))] = np.arange(n)
    found = np.flatnonzero(counts)
    order = found[np.lexsort((rank[found], -breadth[found], -counts[found]))]
    if top is not None:
        order = order[:top]
    return pa.table(
        {
            "account_id": accounts.take(pa.array(order, pa.int64())),
            "interactions": pa.array(counts[order], pa.int64()),
            "members": pa.array(breadth[order], pa.int64()),
        },
        schema=CANDIDATES_SCHEMA,
    )


def merge_candidates(
    parts: Sequence[pa.Table], excluded: Iterable[str] = (), top: int | None = 30
) -> pa.Table:
    """The candidates of disjoint author shards (each from :func:`discover_candidates` with
    ``top=None``) as :func:`discover_candidates` ranks the whole week: interactions and
    distinct members summed per account (a member is in one shard), excluded accounts
    dropped, sorted before the ``top`` is taken."""
    if top is not None and top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    table = pa.concat_tables([CANDIDATES_SCHEMA.empty_table(), *parts])
    summed = table.group_by("account_id", use_threads=False).aggregate(
        [("interactions", "sum"), ("members", "sum")]
    )
    summed = summed.rename_columns(["account_id", "interactions", "members"])
    gone = pc.is_in(summed.column("account_id"), value_set=pa.array(list(excluded), pa.string()))
    ranked = summed.filter(pc.invert(gone)).sort_by(
        [("interactions", "descending"), ("members", "descending"), ("account_id", "ascending")]
    )
    if top is not None:
        ranked = ranked.slice(0, top)
    return ranked.select(CANDIDATES_SCHEMA.names).cast(CANDIDATES_SCHEMA)
