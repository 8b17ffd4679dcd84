"""Score what the product stored (:class:`~.product.StoreReading`) against the plan.

Every truth comes from the :class:`~.world.Plan`: planted communities, silent members,
the tweets of each burst and each tweet's planted conversation. Figures:

* ``nmi``: NMI of the members' clusters against the planted communities, over the members
  that are not silent (the product puts silent members aside on purpose: their only trace
  is whom they follow); ``nmi_all`` counts them too, the isolated group as one label;
* ``clusters`` / ``planted``; ``singleton_silent``: one-member clusters made of a silent
  member (the issue's complaint; should be 0);
* bursts: a planted thread is *found* when a trending conversation holds most of its
  tweets, a planted topic when a trending topic doc does; precision is the share of
  trending docs that hold any planted burst's tweet;
* ``ari`` / ``ari_without_ids``: conversation ARI against the planted threads, over the
  member tweets the conversation docs hold, with and without conversation ids;
* ``oracle_infomap`` / ``oracle_leiden``: NMI of Infomap and Leiden on the planted relation
  graph, which the product never sees (:mod:`dwt.bench.oracle`), over the same members as
  ``nmi``; ``nmi_vs_oracle`` = ``nmi`` / ``oracle_infomap``, ``nmi_vs_leiden`` likewise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from dwt.bench.independent.product import StoreReading
from dwt.bench.independent.world import Plan
from dwt.bench.oracle import oracle_scores, ratio


@dataclass
class BurstCounts:
    """Found and planted bursts, trending docs and those holding a burst's tweet."""

    planted: int = 0
    found: int = 0
    trending: int = 0
    trending_with_burst: int = 0

    def __add__(self, other: BurstCounts) -> BurstCounts:
        return BurstCounts(
            *(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True))
        )


@dataclass
class RunScore:
    """One run of the product on one independent week."""

    mixing: float  # aimed
    realised_mixing: float
    noise: float
    activity: float
    seed: int
    nmi: float
    nmi_all: float
    clusters: int
    planted: int
    singletons: int
    singleton_silent: int
    silent: int
    isolated: int
    threads: BurstCounts
    topics: BurstCounts | None
    ari: float | None
    ari_without_ids: float | None
    seconds: float = 0.0
    oracle_infomap: float | None = None
    oracle_leiden: float | None = None
    nmi_vs_oracle: float | None = None
    nmi_vs_leiden: float | None = None


def score_run(plan: Plan, reading: StoreReading, seconds: float = 0.0) -> RunScore:
    """Compare one stored run with its plan."""
    truth = dict(zip(plan.members, plan.community, strict=True))
    silent = set(plan.silent)
    labels = np.array(reading.clusters)
    planted = np.array([truth[m] for m in reading.members])
    speaking = np.array([m not in silent for m in reading.members])
    sizes = Counter(labels[labels >= 0].tolist())
    singles = {c for c, size in sizes.items() if size == 1}
    single_silent = sum(
        1
        for m, c in zip(reading.members, labels.tolist(), strict=True)
        if c in singles and m in silent
    )
    cfg = plan.config
    nmi = round(float(normalized_mutual_info_score(planted[speaking], labels[speaking])), 4)
    oracle = (
        oracle_scores(plan.community, plan.relations, ~np.isin(plan.members, plan.silent))
        if plan.relations
        else None
    )
    return RunScore(
        mixing=cfg["mixing"],
        realised_mixing=plan.mixing,
        noise=cfg["noise"],
        activity=cfg["activity"],
        seed=cfg["seed"],
        nmi=nmi,
        nmi_all=round(float(normalized_mutual_info_score(planted, labels)), 4),
        clusters=len(sizes),
        planted=plan.communities,
        singletons=len(singles),
        singleton_silent=single_silent,
        silent=len(silent),
        isolated=int((labels < 0).sum()),
        threads=bursts(plan, reading.conversations, "thread"),
        topics=None if reading.topics is None else bursts(plan, reading.topics, "topic"),
        ari=_ari(plan, reading.conversations),
        ari_without_ids=(
            None
            if reading.conversations_without_ids is None
            else _ari(plan, reading.conversations_without_ids)
        ),
        seconds=round(seconds, 1),
        oracle_infomap=oracle and oracle.infomap,
        oracle_leiden=oracle and oracle.leiden,
        nmi_vs_oracle=ratio(nmi, oracle and oracle.infomap),
        nmi_vs_leiden=ratio(nmi, oracle and oracle.leiden),
    )


def bursts(plan: Plan, docs: list[dict[str, Any]], kind: str) -> BurstCounts:
    """Planted bursts of ``kind`` found among the trending ``docs`` (see the module doc)."""
    planted = [b for b in plan.bursts if b["kind"] == kind]
    burst_of = {t: i for i, b in enumerate(planted) for t in b["tweet_ids"]}
    hot = [set(d.get("tweet_ids") or ()) for d in docs if d.get("trending")]
    found = 0
    for i, burst in enumerate(planted):
        need = len(burst["tweet_ids"]) / 2
        if any(sum(1 for t in ids if burst_of.get(t) == i) > need for ids in hot):
            found += 1
    with_burst = sum(1 for ids in hot if any(t in burst_of for t in ids))
    return BurstCounts(len(planted), found, len(hot), with_burst)


def _ari(plan: Plan, docs: list[dict[str, Any]]) -> float | None:
    """ARI of the stored conversations against the planted ones, over the tweets they hold."""
    found, true = [], []
    for doc in docs:
        for tweet in doc.get("tweet_ids") or ():
            if tweet in plan.threads:
                found.append(str(doc["conversation_id"]))
                true.append(plan.threads[tweet])
    if not found:
        return None
    return round(float(adjusted_rand_score(true, found)), 4)
