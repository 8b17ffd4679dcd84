"""Score the product on family 2 against the truth and against oracles (issue 27).

* **Partition**: NMI (sklearn, arithmetic normalisation) over each week's members except
  bots (who belong to no community); members the product leaves isolated count as one
  label. A *bridge* member is scored against whichever of its two communities is the
  majority community (over the scored members who are not bridges) of the cluster the
  partition put it in, else against its home community; the same rule serves every
  partition scored (the product's and the oracles').
* **Oracles**: Infomap and Leiden (modularity) from igraph on the week's *true* relation
  graph (contacts weighted by their count), which the product never sees;
  ``nmi_vs_oracle`` = product NMI / Infomap oracle NMI (None when the oracle scores 0:
  Infomap can find one module on a strongly mixed week), ``nmi_vs_best_oracle`` against
  the better of the two.
* **Bursts**: a trending item (a trending conversation or topic document) *is* a burst's
  when more than half of its tweets are that burst's; an item that is a true burst's is a
  true positive, one that is a noise burst's a noise false positive, any other an
  *unplanned* false positive. Precision = true positives / trending items; a true burst is
  *found* when its true-positive items together hold at least half of its tweets; recall =
  found / planted. ``noise_reported``: noise bursts with an item of their own.

Headline figures are week 2's (stale follow lists, a grown and a merged community); week
1's are under ``week1``; burst counts are over both weeks.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import igraph as ig
import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from dwt.bench.family2.product import Reading, run_product
from dwt.bench.family2.serve import generate_weeks
from dwt.bench.family2.world import FIRST_SEED, Family2Config, Truth

#: Seeds reported by default: family 2 is never used to choose a setting.
SEEDS = (FIRST_SEED, FIRST_SEED + 1, FIRST_SEED + 2)
#: Aimed mixings reported by default (realised mixing is measured and reported beside).
MIXINGS = (0.2, 0.35, 0.5, 0.63)


def scored_truth(truth: Truth, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions scored, the community each is scored against) for ``labels`` (one per
    ``truth.members``): bots left out, bridges resolved as the module doc says."""
    home = np.asarray(truth.community)
    second = np.asarray(truth.second)
    keep = np.flatnonzero(home >= 0)
    plain = keep[second[keep] < 0]
    majority: dict[int, int] = {}
    for cluster, counts in _by_cluster(labels[plain], home[plain]).items():
        majority[cluster] = counts.most_common(1)[0][0]
    resolved = home.copy()
    for i in keep[second[keep] >= 0]:
        if majority.get(int(labels[i])) == second[i]:
            resolved[i] = second[i]
    return keep, resolved[keep]


def _by_cluster(labels: np.ndarray, home: np.ndarray) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for cluster, c in zip(labels.tolist(), home.tolist(), strict=True):
        out.setdefault(cluster, Counter())[c] += 1
    return out


def nmi(truth: Truth, labels: np.ndarray) -> float:
    """NMI of ``labels`` (one per ``truth.members``) against the truth (module doc)."""
    keep, planted = scored_truth(truth, labels)
    return round(float(normalized_mutual_info_score(planted, labels[keep])), 4)


def oracle_labels(truth: Truth, seed: int) -> dict[str, np.ndarray]:
    """Infomap's and Leiden's partitions of the true relation graph (one label a member)."""
    rel = truth.relations
    graph = ig.Graph(n=len(truth.members), edges=rel[:, :2].tolist(), directed=False)
    graph.es["weight"] = rel[:, 2].astype(float).tolist()
    ig.set_random_number_generator(random.Random(seed))
    try:
        infomap = graph.community_infomap(edge_weights="weight", trials=10)
        leiden = graph.community_leiden(
            objective_function="modularity", weights="weight", n_iterations=-1
        )
    finally:
        ig.set_random_number_generator(random)
    return {"infomap": np.array(infomap.membership), "leiden": np.array(leiden.membership)}


def burst_counts(truth: Truth, reading: Reading) -> dict[str, int]:
    """Planted, found, trending items and how they match (module doc)."""
    owner = {t: ("true", i) for i, b in enumerate(truth.bursts) for t in b["tweet_ids"]}
    owner |= {t: ("noise", i) for i, b in enumerate(truth.noise) for t in b["tweet_ids"]}
    covered: list[set[str]] = [set() for _ in truth.bursts]
    keys = ("true_positive", "noise_false_positive", "unplanned")
    counts = Counter(dict.fromkeys(keys, 0), trending=len(reading.trending))
    noise_hit: set[int] = set()
    for item in reading.trending:
        ids = item["tweet_ids"]
        votes = Counter(owner[t] for t in ids if t in owner)
        best, held = votes.most_common(1)[0] if votes else (None, 0)
        if best is None or held * 2 <= len(ids):
            counts["unplanned"] += 1
        elif best[0] == "true":
            counts["true_positive"] += 1
            covered[best[1]].update(t for t in ids if owner.get(t) == best)
        else:
            counts["noise_false_positive"] += 1
            noise_hit.add(best[1])
    counts["planted"] = len(truth.bursts)
    counts["found"] = sum(
        len(c) * 2 >= len(b["tweet_ids"]) for c, b in zip(covered, truth.bursts, strict=True)
    )
    counts["noise_planted"] = len(truth.noise)
    counts["noise_reported"] = len(noise_hit)
    return dict(counts)


def score_week(truth: Truth, reading: Reading, seed: int) -> dict[str, Any]:
    """One week's partition figures (module doc)."""
    cluster_of = dict(zip(reading.members, reading.clusters, strict=True))
    labels = np.array([cluster_of.get(m, -1) for m in truth.members])
    oracles = oracle_labels(truth, seed)
    product = nmi(truth, labels)
    infomap, leiden = nmi(truth, oracles["infomap"]), nmi(truth, oracles["leiden"])
    scored = np.asarray(truth.community) >= 0
    return {
        "nmi": product,
        "nmi_oracle_infomap": infomap,
        "nmi_oracle_leiden": leiden,
        "nmi_vs_oracle": _ratio(product, infomap),
        "nmi_vs_leiden": _ratio(product, leiden),
        "nmi_vs_best_oracle": _ratio(product, max(infomap, leiden)),
        "realised_mixing": truth.mixing,
        "relation_mixing": truth.relation_mixing,
        "clusters": len(set(labels[scored & (labels >= 0)].tolist())),
        "planted": len(set(np.asarray(truth.community)[scored].tolist())),
        "isolated": int(np.sum(scored & (labels < 0))),
        "scored_members": int(scored.sum()),
        "bridges": int(np.sum(np.asarray(truth.second) >= 0)),
        "silent": len(truth.silent),
        "silent_mentioned": truth.silent_mentioned,
        "bot_reach": truth.bot_reach,
        "unfollowed": truth.unfollowed,
    }


def score(
    members: int = 800,
    communities: int = 8,
    mixing: float = 0.35,
    seed: int = FIRST_SEED,
    **knobs: Any,
) -> dict[str, Any]:
    """Generate two weeks, run the product on them, score it (module doc). ``knobs`` are
    further :class:`Family2Config` fields."""
    cfg = Family2Config(members=members, communities=communities, mixing=mixing, seed=seed, **knobs)
    start = time.perf_counter()
    weeks = generate_weeks(cfg)
    generated = time.perf_counter()
    readings = run_product(weeks)
    ran = time.perf_counter()
    per_week = [score_week(w.truth, r, seed) for w, r in zip(weeks, readings, strict=True)]
    bursts: Counter = Counter()
    for w, r in zip(weeks, readings, strict=True):
        bursts.update(burst_counts(w.truth, r))
    return {
        "members": members,
        "communities": communities,
        "mixing": mixing,
        "seed": seed,
        **per_week[1],
        "week1": per_week[0],
        **_burst_rates(bursts),
        "bursts": dict(bursts),
        "seconds": {
            "generate": round(generated - start, 2),
            "product": round(ran - generated, 2),
            "score": round(time.perf_counter() - ran, 2),
        },
    }


def _burst_rates(counts: Counter) -> dict[str, float | None]:
    hits = counts["true_positive"]
    return {
        "burst_precision": _ratio(hits, counts["trending"]),
        "burst_recall": _ratio(counts["found"], counts["planted"]),
        "noise_reported": counts["noise_reported"],
    }


def run(
    seeds: Iterable[int] = SEEDS,
    members: int = 800,
    communities: int = 8,
    mixing: float = 0.35,
    **knobs: Any,
) -> dict[str, Any]:
    """:func:`score` over ``seeds``: each seed's row, the mean of every figure and the worst
    seed (lowest ``nmi_vs_oracle``)."""
    rows = [score(members, communities, mixing, s, **knobs) for s in seeds]
    if not rows:
        raise ValueError("no seeds to run")
    return {"mean": mean_row(rows), "worst": min(rows, key=_worst_key), "seeds": rows}


def grid(
    mixings: Iterable[float] = MIXINGS,
    seeds: Iterable[int] = SEEDS,
    members: int = 800,
    communities: int = 8,
    **knobs: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`run` at each aimed mixing, keyed by the mixing as ``dwt bench insights``
    keys its figures (``f"{mixing:g}"``)."""
    seeds = tuple(seeds)
    return {f"{m:g}": run(seeds, members, communities, m, **knobs) for m in mixings}


def summary(by_mixing: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON keys of a :func:`grid`: per aimed mixing the mean and worst seed's
    ``nmi_vs_oracle``, the mean NMIs and realised mixing; bursts pooled over every run."""

    def mean(key: str) -> dict[str, Any]:
        return {m: r["mean"].get(key) for m, r in by_mixing.items()}

    pooled: Counter = Counter()
    for result in by_mixing.values():
        for row in result["seeds"]:
            pooled.update(row["bursts"])
    return {
        "nmi_vs_oracle_family2": mean("nmi_vs_oracle"),
        "nmi_vs_oracle_family2_worst": {
            m: r["worst"]["nmi_vs_oracle"] for m, r in by_mixing.items()
        },
        "nmi_vs_best_oracle_family2": mean("nmi_vs_best_oracle"),
        "nmi_family2": mean("nmi"),
        "nmi_oracle_family2": mean("nmi_oracle_infomap"),
        "nmi_leiden_family2": mean("nmi_oracle_leiden"),
        "mixing_family2": mean("realised_mixing"),
        "bursts_family2": dict(pooled) | _burst_rates(pooled),
    }


def _worst_key(row: dict[str, Any]) -> float:
    ratio = row["nmi_vs_oracle"]
    return float("-inf") if ratio is None else ratio


def mean_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The mean of every number of ``rows`` (nested dicts too); None where a row has none."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for row in rows for k in row):
        values = [row.get(key) for row in rows]
        if any(isinstance(v, dict) for v in values):
            out[key] = mean_row([v if isinstance(v, dict) else {} for v in values])
        elif all(v is None or _number(v) for v in values):
            numbers = [v for v in values if v is not None]
            out[key] = round(statistics.mean(numbers), 4) if len(numbers) == len(rows) else None
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None
