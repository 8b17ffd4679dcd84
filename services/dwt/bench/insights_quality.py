"""Section 3 of ``dwt bench insights``: clusters, conversations and bursts of the default
stages on generated communities, against the generator's planted truth."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.bench.insights_config import Config, Echo
from dwt.bench.oracle import oracle_scores, ratio
from dwt.bench.truth import StageInputs, generated_week, stage_inputs, true_conversations
from dwt.stages.bonds import BondGraph
from dwt.stages.cluster import InfomapClusters, silent_members
from dwt.stages.content import ContentFinder
from dwt.stages.topics import TopicFinder

# ---- 3. quality on planted truth -------------------------------------------------------------


@dataclass
class QualityRow:
    seed: int
    nmi: float
    clusters: int
    communities: int
    ari: float  # against the product's rule (see truth.true_conversations)
    ari_strict: float  # retweets of outsiders' tweets in their true conversation
    ari_without_ids: float  # conversation ids removed: reply chains, then DBSCAN
    bursts_planted: int
    bursts_found: int
    trending_slices: int
    trending_with_burst: int
    burst_details: list[dict[str, Any]] = field(default_factory=list)
    # Topic bursts (standalone tweets on a new hashtag/term/URL) against trending topics.
    topic_bursts_planted: int = 0
    topic_bursts_found: int = 0
    trending_topics: int = 0
    trending_topics_with_burst: int = 0
    topic_burst_details: list[dict[str, Any]] = field(default_factory=list)
    # Infomap and Leiden on the generator's relation graph (dwt.bench.oracle): here the
    # member follow graph, which the generator draws from the communities alone (the
    # product sees it too, beside the tweets).
    oracle_infomap: float | None = None
    oracle_leiden: float | None = None
    nmi_vs_oracle: float | None = None

    @property
    def precision(self) -> float | None:
        """Thread and topic bursts together: trending slices and topics holding a planted
        burst's tweets, over all trending slices and topics."""
        hot = self.trending_slices + self.trending_topics
        return (self.trending_with_burst + self.trending_topics_with_burst) / hot if hot else None

    @property
    def recall(self) -> float | None:
        planted = self.bursts_planted + self.topic_bursts_planted
        return (self.bursts_found + self.topic_bursts_found) / planted if planted else None


def measure_quality(seed: int, *, members: int = 300, communities: int = 6) -> QualityRow:
    """Cluster and content stages (defaults) on one generated community against its truth."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    dataset = generated_week(members, communities, seed)
    inputs = stage_inputs(dataset)
    graph = BondGraph().fit(inputs.members, inputs.interactions, inputs.follows)
    silent = silent_members(inputs.members, inputs.interactions)  # as the cluster step does
    labels = InfomapClusters().fit(graph.matrix_, silent=silent).labels_
    # Isolated members (-1) are one more label, as the dashboard shows them.
    nmi = normalized_mutual_info_score(inputs.community, labels)

    finder = ContentFinder().fit(inputs.interactions, inputs.members, labels, inputs.window)
    found = _codes(finder.tweets_.column("conversation_id"))
    ari = adjusted_rand_score(_codes(true_conversations(inputs.interactions)), found)
    strict = adjusted_rand_score(_codes(true_conversations(inputs.interactions, dataset)), found)

    no_ids = inputs.interactions.set_column(
        inputs.interactions.schema.get_field_index("conversation_id"),
        "conversation_id",
        pa.nulls(inputs.interactions.num_rows, pa.string()),
    )
    blind = ContentFinder().fit(no_ids, inputs.members, labels, inputs.window)
    ari_blind = adjusted_rand_score(
        _codes(true_conversations(inputs.interactions)),
        _codes(blind.tweets_.column("conversation_id")),
    )
    bursts = _burst_scores(finder, inputs, dataset.meta.get("bursts", []))
    topics = TopicFinder().fit(_with_text(inputs, dataset), inputs.members, labels, inputs.window)
    bursts |= _topic_burst_scores(topics.topics_, inputs, dataset.meta.get("topic_bursts", []))
    oracle = oracle_scores(inputs.community, member_follow_pairs(inputs.members, inputs.follows))
    return QualityRow(
        seed=seed,
        nmi=round(float(nmi), 4),
        oracle_infomap=oracle.infomap,
        oracle_leiden=oracle.leiden,
        nmi_vs_oracle=ratio(round(float(nmi), 4), oracle.infomap),
        clusters=int(labels.max() + 1) if len(labels) else 0,
        communities=int(dataset.meta["communities"]),
        ari=round(float(ari), 4),
        ari_strict=round(float(strict), 4),
        ari_without_ids=round(float(ari_blind), 4),
        **bursts,
    )


def member_follow_pairs(members: pa.Array, follows: pa.Table) -> np.ndarray:
    """Follow edges between members as (source, target) member indices."""
    src = pc.index_in(follows.column("source_id"), value_set=members)
    dst = pc.index_in(follows.column("target_id"), value_set=members)
    both = pc.and_(pc.is_valid(src), pc.is_valid(dst))
    return np.c_[
        pc.filter(src, both).to_numpy(zero_copy_only=False),
        pc.filter(dst, both).to_numpy(zero_copy_only=False),
    ].astype(np.int64)


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.dictionary_encode().indices.to_numpy(zero_copy_only=False)


def _burst_scores(
    finder: ContentFinder, inputs: StageInputs, planted: list[dict[str, Any]]
) -> dict[str, Any]:
    """Trending slices vs planted bursts.

    A burst is found when the slice holding its root tweet, or the slice holding most of
    its member tweets, is trending. Precision = trending slices holding any planted-burst
    tweet / all trending slices.
    """
    slices = finder.conversations_
    tweet_ids = slices.column("tweet_ids").combine_chunks()
    slice_of = pc.list_parent_indices(tweet_ids).to_numpy(zero_copy_only=False)
    position = pc.index_in(
        pc.list_flatten(tweet_ids),
        value_set=inputs.interactions.column("tweet_id").combine_chunks(),
    )
    burst = np.where(
        pc.is_valid(position).to_numpy(zero_copy_only=False),
        inputs.burst[pc.fill_null(position, 0).to_numpy(zero_copy_only=False)],
        -1,
    )
    trending = np.asarray(slices.column("trending").to_pylist(), dtype=bool)
    has_burst = np.zeros(slices.num_rows, dtype=bool)
    has_burst[slice_of[burst >= 0]] = True
    flat_ids = pc.list_flatten(tweet_ids)
    details = []
    for b in planted:
        root = pc.index_in(pa.scalar(b["conversation_id"]), value_set=flat_ids).as_py()
        mine = slice_of[burst == b["index"]]
        majority = int(np.bincount(mine).argmax()) if len(mine) else None
        root_hot = root is not None and bool(trending[slice_of[root]])
        majority_hot = majority is not None and bool(trending[majority])
        details.append(
            {
                "burst": b["index"],
                "member_tweets": len(mine),
                "root_slice_trending": root_hot,
                "majority_slice_trending": majority_hot,
                "found": root_hot or majority_hot,
            }
        )
    return {
        "bursts_planted": len(planted),
        "bursts_found": sum(d["found"] for d in details),
        "trending_slices": int(trending.sum()),
        "trending_with_burst": int((trending & has_burst).sum()),
        "burst_details": details,
    }


def _with_text(inputs: StageInputs, dataset: Any) -> pa.Table:
    """The stage input with each tweet's text as the API serves it (the generator's)."""
    at = pc.index_in(inputs.interactions.column("tweet_id"), value_set=dataset.tweets.column("id"))
    return inputs.interactions.append_column("text", pc.take(dataset.tweets.column("text"), at))


def _topic_burst_scores(
    topics: pa.Table, inputs: StageInputs, planted: list[dict[str, Any]]
) -> dict[str, Any]:
    """Trending topics vs planted topic bursts (truth: the generator's list of each burst's
    tweets, never a field the product reads).

    A topic burst is found when trending topic rows made of its tweets hold at least half
    of them (Infomap may split its community: the rows of several clusters add up).
    Precision: trending topics holding any planted burst's tweet (a topic burst's, or a
    thread burst's: the quotes of a thread burst repeat its hashtag) / all trending topics.
    """
    hot = topics.filter(topics.column("trending"))
    ids = hot.column("tweet_ids").combine_chunks()
    flat = pc.list_flatten(ids)
    row_of = pc.list_parent_indices(ids).to_numpy(zero_copy_only=False)
    topic_burst = np.full(len(flat), -1)
    for b in planted:  # a few bursts
        topic_burst[pc.is_in(flat, value_set=pa.array(b["tweet_ids"])).to_numpy(False)] = b["index"]
    position = pc.index_in(flat, value_set=inputs.interactions.column("tweet_id").combine_chunks())
    thread = np.where(
        pc.is_valid(position).to_numpy(zero_copy_only=False),
        inputs.burst[pc.fill_null(position, 0).to_numpy(zero_copy_only=False)],
        -1,
    )
    with_burst = np.zeros(hot.num_rows, dtype=bool)
    with_burst[row_of[(topic_burst >= 0) | (thread >= 0)]] = True
    details = []
    for b in planted:
        mine = topic_burst == b["index"]
        covered = len(set(flat.filter(pa.array(mine)).to_pylist()))
        details.append(
            {
                "burst": b["index"],
                "kind": b["kind"],
                "tweets": b["tweets"],
                "in_trending_topics": covered,
                "rows": sorted(set(hot.column("topic").take(pa.array(row_of[mine])).to_pylist())),
                "found": covered >= 0.5 * b["tweets"],
            }
        )
    return {
        "topic_bursts_planted": len(planted),
        "topic_bursts_found": sum(d["found"] for d in details),
        "trending_topics": hot.num_rows,
        "trending_topics_with_burst": int(with_burst.sum()),
        "topic_burst_details": details,
    }


def run_quality(config: Config, echo: Echo) -> list[QualityRow]:
    echo("")
    echo(
        f"== 3. Quality on planted truth: generate_community({config.quality_members} members, "
        f"{config.quality_communities} communities, 7 days), seeds {list(config.quality_seeds)} =="
    )
    echo(
        f"{'seed':>4} {'NMI':>6} {'oracle IM/LD':>12} {'vs oracle':>9} {'clusters':>8} "
        f"{'ARI conv':>8} {'ARI strict':>10} "
        f"{'ARI no ids':>10} {'bursts found':>12} {'trending (w/ burst)':>19} "
        f"{'topic bursts':>12} {'topics (w/ burst)':>17} {'precision':>9} {'recall':>6}"
    )
    rows = []
    for seed in config.quality_seeds:
        row = measure_quality(
            seed, members=config.quality_members, communities=config.quality_communities
        )
        rows.append(row)
        echo(
            f"{row.seed:>4} {row.nmi:>6.3f} "
            f"{f'{_fmt(row.oracle_infomap)}/{_fmt(row.oracle_leiden)}':>12} "
            f"{_fmt(row.nmi_vs_oracle):>9} "
            f"{row.clusters:>4}/{row.communities:<3} {row.ari:>8.4f} "
            f"{row.ari_strict:>10.4f} {row.ari_without_ids:>10.4f} "
            f"{f'{row.bursts_found}/{row.bursts_planted}':>12} "
            f"{f'{row.trending_slices} ({row.trending_with_burst})':>19} "
            f"{f'{row.topic_bursts_found}/{row.topic_bursts_planted}':>12} "
            f"{f'{row.trending_topics} ({row.trending_topics_with_burst})':>17} "
            f"{_fmt(row.precision):>9} {_fmt(row.recall):>6}"
        )
    if rows:
        nmi = [r.nmi for r in rows]
        ari = [r.ari for r in rows]
        found = sum(r.bursts_found for r in rows)
        planted = sum(r.bursts_planted for r in rows)
        hot = sum(r.trending_slices for r in rows)
        hot_burst = sum(r.trending_with_burst for r in rows)
        t_found = sum(r.topic_bursts_found for r in rows)
        t_planted = sum(r.topic_bursts_planted for r in rows)
        t_hot = sum(r.trending_topics for r in rows)
        t_hot_burst = sum(r.trending_topics_with_burst for r in rows)
        all_hot, all_planted = hot + t_hot, planted + t_planted
        echo(
            f"mean {statistics.mean(nmi):>6.3f} {'':>22} {'':>8} {statistics.mean(ari):>8.4f} "
            f"{statistics.mean(r.ari_strict for r in rows):>10.4f} "
            f"{statistics.mean(r.ari_without_ids for r in rows):>10.4f} "
            f"{f'{found}/{planted}':>12} {f'{hot} ({hot_burst})':>19} "
            f"{f'{t_found}/{t_planted}':>12} {f'{t_hot} ({t_hot_burst})':>17} "
            f"{_fmt((hot_burst + t_hot_burst) / all_hot if all_hot else None):>9} "
            f"{_fmt((found + t_found) / all_planted if all_planted else None):>6}"
        )
        echo(f"min  {min(nmi):>6.3f} {'':>22} {'':>8} {min(ari):>8.4f}")
    echo(
        "ARI conv: retweets join the retweeted tweet's conversation when it is in the week "
        "(the stage's rule); strict: also when it is an outsider's; no ids: conversation ids "
        "removed (DBSCAN fallback). Precision and recall: thread bursts (trending "
        "conversation slices) and topic bursts (trending topics) together."
    )
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
