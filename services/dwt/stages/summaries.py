"""What a person reads about clusters and members: cluster profiles and bond stats.

* :func:`cluster_profiles` — per cluster: size, internal vs external bond weight, the
  most central members (by Infomap flow) and a readable label: the hashtags most
  characteristic of the cluster against the rest of the community (c-TF-IDF: TF-IDF over
  a clusters × hashtags count matrix, so a tag every cluster uses ranks low).
* :func:`bond_stats` — per member, the strongest partner in each tier (the original's
  "bond stats"): 1 within its cluster, 2 in other clusters (both by bond strength in
  either direction), 3 outside the community (by the weight of the member's interactions
  with that account).

What they need from the week's tweets is per author — each member's hashtag counts
(:func:`member_hashtags`) and strongest outside partner (:func:`outsider_partners`) — so it
is found per shard of authors and the shards' tables put together; ties are broken by the
accounts' and hashtags' own order, never by the order tweets were read in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from dwt.stages.cluster import ISOLATED
from dwt.stages.columns import ints
from dwt.stages.discover import directed_pairs
from dwt.stages.weights import BondWeights

PROFILES_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("size", pa.int64()),
        ("members", pa.list_(pa.string())),
        ("internal_weight", pa.float64()),
        ("external_weight", pa.float64()),  # bonds leaving or entering the cluster
        ("central", pa.list_(pa.string())),  # most central members, by flow
        ("hashtags", pa.list_(pa.string())),  # most characteristic first
        ("label", pa.string()),
    ]
)
BOND_STATS_SCHEMA = pa.schema(
    [("account_id", pa.string())]
    + [
        field
        for tier in (1, 2, 3)
        for field in ((f"tier{tier}_partner", pa.string()), (f"tier{tier}_weight", pa.float64()))
    ]
)


def cluster_profiles(
    members: Sequence[str] | pa.Array,
    labels: np.ndarray,
    bonds: sp.spmatrix,
    flow: np.ndarray,
    hashtags: pa.Table,
    top_central: int = 5,
    top_hashtags: int = 5,
) -> pa.Table:
    """One row per cluster (the isolated group included, as cluster -1); ``hashtags``:
    the members' hashtag counts (:func:`member_hashtags`, shards' tables concatenated)."""
    ids = pa.array(members, pa.string())
    labels = np.asarray(labels, dtype=np.int64)
    clusters = np.unique(labels)
    bonds = sp.coo_matrix(bonds)
    same = labels[bonds.row] == labels[bonds.col]
    internal = np.bincount(
        _pos(clusters, labels[bonds.row[same]]), bonds.data[same], minlength=len(clusters)
    )
    cross = ~same
    external = np.bincount(
        _pos(clusters, labels[bonds.row[cross]]), bonds.data[cross], minlength=len(clusters)
    ) + np.bincount(
        _pos(clusters, labels[bonds.col[cross]]), bonds.data[cross], minlength=len(clusters)
    )

    order = np.lexsort((np.arange(len(labels)), -np.asarray(flow), labels))  # by cluster, flow
    ordered_ids = ids.take(pa.array(order))
    bounds = np.searchsorted(labels[order], clusters)
    ends = np.append(bounds[1:], len(order)) if len(bounds) else bounds
    tags = _characteristic_hashtags(labels, clusters, hashtags, top_hashtags)
    rows = {
        "cluster": clusters,
        "size": ends - bounds,
        "members": [
            ordered_ids.slice(b, e - b).to_pylist() for b, e in zip(bounds, ends, strict=True)
        ],
        "internal_weight": internal,
        "external_weight": external,
        "central": [
            ordered_ids.slice(b, min(e - b, top_central)).to_pylist()
            for b, e in zip(bounds, ends, strict=True)
        ],
        "hashtags": tags,
        "label": [
            "no interactions this week"
            if c == ISOLATED
            else (" ".join(f"#{t}" for t in tag[:3]) or f"cluster {c}")
            for c, tag in zip(clusters, tags, strict=True)
        ],
    }
    return pa.table(rows, schema=PROFILES_SCHEMA)


def _pos(clusters: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(clusters, values)


#: A member's hashtag counts: one row per (member index, hashtag).
MEMBER_HASHTAGS_SCHEMA = pa.schema(
    [("member", pa.int64()), ("hashtag", pa.string()), ("count", pa.int64())]
)
#: A member's strongest partner outside the community (tier 3), members without one left out.
OUTSIDERS_SCHEMA = pa.schema(
    [("member", pa.int64()), ("partner", pa.string()), ("weight", pa.float64())]
)


def member_hashtags(members: Sequence[str] | pa.Array, interactions: pa.Table) -> pa.Table:
    """How often each member used each hashtag in ``interactions`` (MEMBER_HASHTAGS_SCHEMA;
    ``member`` indexes ``members``; tweets of non-members left out)."""
    ids = pa.array(members, pa.string())
    author = pc.index_in(interactions.column("author_id"), value_set=ids)
    tweets = interactions.filter(pc.is_valid(author))
    tags = pa.chunked_array(tweets.column("hashtags")).combine_chunks()
    if not len(tags):
        return MEMBER_HASHTAGS_SCHEMA.empty_table()
    parent = pc.list_parent_indices(tags)
    table = pa.table(
        {
            "member": pc.take(author.drop_null(), parent).cast(pa.int64()),
            "hashtag": pc.list_flatten(tags).cast(pa.string()),
        }
    )
    counted = table.group_by(["member", "hashtag"], use_threads=False).aggregate(
        [("member", "count")]
    )
    return counted.rename_columns(["member", "hashtag", "count"]).cast(MEMBER_HASHTAGS_SCHEMA)


def _characteristic_hashtags(
    labels: np.ndarray, clusters: np.ndarray, hashtags: pa.Table, top: int
) -> list[list[str]]:
    """Each cluster's ``top`` hashtags by c-TF-IDF (ties: the hashtag's own order)."""
    hashtags = hashtags.filter(pc.is_valid(hashtags.column("hashtag")))
    if hashtags.num_rows == 0:
        return [[] for _ in clusters]
    vocabulary = pc.unique(hashtags.column("hashtag")).sort()
    column = ints(pc.index_in(hashtags.column("hashtag"), value_set=vocabulary))
    member = ints(hashtags.column("member"))
    counts = sp.csr_matrix(
        (
            hashtags.column("count").to_numpy().astype(np.float64),
            (_pos(clusters, labels[member]), column),
        ),
        shape=(len(clusters), len(vocabulary)),
    )
    scores = TfidfTransformer(sublinear_tf=True).fit_transform(counts).toarray()
    words = np.asarray(vocabulary.to_pylist(), dtype=object)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [words[row[scores[i, row] > 0]].tolist() for i, row in enumerate(best)]


def outsider_partners(
    members: Sequence[str] | pa.Array,
    interactions: pa.Table,
    weights: BondWeights | None = None,
) -> pa.Table:
    """Each member's strongest partner outside the community in ``interactions``: the
    account its tweets are directed at with the largest summed weight of their kinds (ties:
    the smallest account id); OUTSIDERS_SCHEMA."""
    ids = pa.array(members, pa.string())
    pairs = directed_pairs(interactions)
    source = pc.index_in(pairs.column("author_id"), value_set=ids)
    outside = pc.and_(
        pc.is_valid(source), pc.invert(pc.is_in(pairs.column("target_id"), value_set=ids))
    )
    outside = pc.and_(outside, pc.is_valid(pairs.column("target_id")))
    pairs, source = pairs.filter(outside), source.filter(outside)
    if not pairs.num_rows:
        return OUTSIDERS_SCHEMA.empty_table()
    per_kind = (weights or BondWeights()).for_kind()
    kind_weight = pc.fill_null(
        pc.take(
            pa.array(list(per_kind.values())),
            pc.index_in(pairs.column("kind"), value_set=pa.array(list(per_kind))),
        ),
        per_kind["tweet"],
    )
    accounts = pc.unique(pairs.column("target_id")).sort()  # ties go to the smallest id
    target = ints(pc.index_in(pairs.column("target_id"), value_set=accounts))
    partner, weight = _strongest(
        len(ids),
        ints(source),
        target,
        kind_weight.to_numpy(zero_copy_only=False).astype(np.float64),
    )
    found = np.flatnonzero(partner >= 0)
    return pa.table(
        {
            "member": pa.array(found, pa.int64()),
            "partner": accounts.take(pa.array(partner[found])),
            "weight": pa.array(weight[found], pa.float64()),
        },
        schema=OUTSIDERS_SCHEMA,
    )


def bond_stats(
    members: Sequence[str] | pa.Array,
    labels: np.ndarray,
    bonds: sp.spmatrix,
    outsiders: pa.Table,
) -> pa.Table:
    """Per member, the strongest partner (and its weight) in each tier; null when none.
    ``outsiders``: the members' partners outside the community (:func:`outsider_partners`,
    shards' tables concatenated)."""
    ids = pa.array(members, pa.string())
    labels = np.asarray(labels, dtype=np.int64)
    n = len(ids)
    strength = sp.coo_matrix(bonds + bonds.T) if n else sp.coo_matrix((0, 0))
    same = labels[strength.row] == labels[strength.col]
    columns: dict[str, pa.Array] = {"account_id": ids}
    for tier, mask in ((1, same), (2, ~same)):
        partner, weight = _strongest(n, strength.row[mask], strength.col[mask], strength.data[mask])
        columns[f"tier{tier}_partner"] = ids.take(pa.array(partner, mask=partner < 0))
        columns[f"tier{tier}_weight"] = pa.array(weight, mask=partner < 0)
    member = ints(outsiders.column("member"))
    at = np.full(n, -1, dtype=np.int64)
    at[member] = np.arange(len(member))
    missing = at < 0
    columns["tier3_partner"] = outsiders.column("partner").take(
        pa.array(np.maximum(at, 0), mask=missing)
    )
    columns["tier3_weight"] = outsiders.column("weight").take(
        pa.array(np.maximum(at, 0), mask=missing)
    )
    return pa.table(columns, schema=BOND_STATS_SCHEMA)


def _strongest(
    n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each row 0..n-1 the column with the largest summed weight (ties: smallest col);
    -1 where a row has none. Repeated (row, col) weights are summed in the order given."""
    order = np.lexsort((cols, rows))  # stable: repeats keep their order
    r, c, w = rows[order], cols[order], weights[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    starts = np.flatnonzero(first)
    w = np.add.reduceat(w, starts) if len(starts) else w
    r, c = r[starts], c[starts]
    keep = w > 0
    r, c, w = r[keep], c[keep], w[keep]
    order = np.lexsort((c, -w, r))
    r, c, w = r[order], c[order], w[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = r[1:] != r[:-1]
    partner = np.full(n, -1, dtype=np.int64)
    weight = np.zeros(n)
    partner[r[first]] = c[first]
    weight[r[first]] = w[first]
    return partner, weight
