"""Section 4 of ``dwt bench insights``: Infomap (undirected) on networkx's LFR benchmark,
at measured mixing."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from dwt.bench.insights_config import Config, Echo
from dwt.bench.oracle import leiden_labels
from dwt.stages.cluster import InfomapClusters

# ---- 4. LFR ----------------------------------------------------------------------------------


@dataclass
class LfrRow:
    mu: float  # the mixing aimed at
    nominal_mu: float  # what networkx was given to get it
    nmi_mean: float
    nmi_min: float
    graphs: int
    mixing: float  # measured: share of edges between planted communities
    average_degree: float
    communities: float
    generate_s: float
    cluster_s: float
    seeds: list[int]
    failures: list[str]
    # Leiden (modularity) on the same graphs: the section's second method (dwt.bench.oracle).
    leiden_nmi_mean: float | None = None


def lfr_graph(
    config: Config, mu: float, seed: int, min_degree: int | None
) -> tuple[Any, int, list[str]]:
    """networkx's LFR graph, retrying other seeds when networkx gives up on one.

    Returns (graph, seed used, failures). ``min_degree`` replaces ``average_degree``
    when set (see :func:`lfr_min_degree`).
    """
    import networkx as nx
    from networkx.generators.community import LFR_benchmark_graph

    failures = []
    for attempt in range(8):
        used = seed + 1000 * attempt
        try:
            graph = LFR_benchmark_graph(
                config.lfr_n,
                config.lfr_tau1,
                config.lfr_tau2,
                mu,
                average_degree=None if min_degree else config.lfr_average_degree,
                min_degree=min_degree,
                max_degree=config.lfr_max_degree,
                min_community=config.lfr_min_community,
                max_community=config.lfr_max_community,
                seed=used,
            )
        except nx.ExceededMaxIterations as exc:
            if min_degree is None and "average_degree" in str(exc):
                raise  # the degree solver, not the seed: see lfr_min_degree
            failures.append(f"seed {used}: {exc}")
            continue
        return graph, used, failures
    raise RuntimeError(f"networkx could not build an LFR graph for mu={mu}: {failures}")


def lfr_min_degree(config: Config, mu: float, seed: int) -> tuple[int | None, str]:
    """The ``min_degree`` to give networkx, or None when its ``average_degree`` works.

    networkx turns an average degree into a minimum degree by normalising the truncated
    power law with the *untruncated* zeta function; with tau1 = 2 and max_degree = 50 the
    largest average it can reach is ~18, so 20 fails every time. Then the minimum degree is
    searched directly: the one whose graph's measured average degree is nearest the target.
    """
    import networkx as nx

    try:
        lfr_graph(config, mu, seed, None)
        return None, "networkx average_degree"
    except nx.ExceededMaxIterations as exc:
        reason = str(exc)
    measured: dict[int, float] = {}

    def average(k: int) -> float:
        if k not in measured:
            graph, _, _ = lfr_graph(config, mu, seed, k)
            measured[k] = 2.0 * graph.number_of_edges() / graph.number_of_nodes()
        return measured[k]

    target = config.lfr_average_degree
    k = max(1, min(config.lfr_max_degree, round(target / 2)))
    step = 1 if average(k) < target else -1
    while 1 <= k + step <= config.lfr_max_degree:
        if (average(k + step) < target) != (average(k) < target):
            k = min((k, k + step), key=lambda d: abs(average(d) - target))
            break
        k += step
    return k, (
        f"networkx: {reason} (tau1={config.lfr_tau1}, max_degree={config.lfr_max_degree}); "
        f"min_degree={k} instead, measured average degree {average(k):.1f} at mu={mu}"
    )


def _mixing(graph: Any) -> float:
    community_of = {v: i for i, c in enumerate(_communities(graph)) for v in c}
    edges = list(graph.edges)
    return float(np.mean([community_of[a] != community_of[b] for a, b in edges]))


def calibrate_mu(config: Config, target: float, min_degree: int | None) -> float:
    """The nominal μ to give networkx so that the graph's *measured* mixing is ``target``.

    networkx counts the edges earlier nodes already attached to a node toward its
    within-community quota, so its graphs mix more than asked (0.69 at nominal 0.5);
    LFR defines μ as the share of a node's edges outside its community, so the benchmark
    aims at that. Bisection on one graph per step (each ~0.1 s).
    """
    low, high = 0.0, target
    for _ in range(10):
        middle = (low + high) / 2
        graph, _, _ = lfr_graph(config, max(middle, 1e-3), config.seed * 100, min_degree)
        if _mixing(graph) < target:
            low = middle
        else:
            high = middle
    return round(max((low + high) / 2, 1e-3), 4)


def measure_lfr(
    config: Config, mu: float, min_degree: int | None, nominal: float | None = None
) -> LfrRow:
    """NMI over ``config.lfr_graphs`` graphs at mixing ``mu`` (generated with ``nominal``)."""
    from sklearn.metrics import normalized_mutual_info_score

    nmis, degrees, sizes, seeds, failures, mixing, leiden = [], [], [], [], [], [], []
    generate_s = cluster_s = 0.0
    for g in range(config.lfr_graphs):
        start = time.perf_counter()
        graph, used, failed = lfr_graph(
            config, mu if nominal is None else nominal, config.seed * 100 + g, min_degree
        )
        generate_s += time.perf_counter() - start
        seeds.append(used)
        failures.extend(failed)
        nodes = sorted(graph.nodes)
        community_of = {v: i for i, c in enumerate(_communities(graph)) for v in c}
        planted = np.array([community_of[v] for v in nodes])
        edges = np.array(list(graph.edges), dtype=np.int64).reshape(-1, 2)
        n = len(nodes)
        # Symmetric, weight 1 per undirected edge (LFR graphs have no self-loops).
        src, dst = np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]
        matrix = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        matrix.data[:] = 1.0
        start = time.perf_counter()
        labels = InfomapClusters(directed=False).fit(matrix).labels_
        cluster_s += time.perf_counter() - start
        nmis.append(float(normalized_mutual_info_score(planted, labels)))
        leiden.append(float(normalized_mutual_info_score(planted, leiden_labels(n, edges))))
        degrees.append(2.0 * len(edges) / n)
        mixing.append(float(np.mean(planted[edges[:, 0]] != planted[edges[:, 1]])))
        sizes.append(len(set(planted.tolist())))
    return LfrRow(
        mu=mu,
        nominal_mu=mu if nominal is None else nominal,
        nmi_mean=round(statistics.mean(nmis), 4),
        nmi_min=round(min(nmis), 4),
        leiden_nmi_mean=round(statistics.mean(leiden), 4),
        graphs=len(nmis),
        mixing=round(statistics.mean(mixing), 3),
        average_degree=round(statistics.mean(degrees), 1),
        communities=round(statistics.mean(sizes), 1),
        generate_s=round(generate_s, 2),
        cluster_s=round(cluster_s, 2),
        seeds=seeds,
        failures=failures,
    )


def _communities(graph: Any) -> list[frozenset]:
    """The planted communities: networkx stores each node's community set on the node."""
    return list(dict.fromkeys(frozenset(graph.nodes[v]["community"]) for v in graph.nodes))


def run_lfr(config: Config, echo: Echo) -> tuple[list[LfrRow], str]:
    echo("")
    echo(
        f"== 4. Quality on LFR (networkx): N={config.lfr_n}, <k>={config.lfr_average_degree:g}, "
        f"k_max={config.lfr_max_degree}, tau1={config.lfr_tau1:g}, tau2={config.lfr_tau2:g}, "
        f"communities {config.lfr_min_community}-{config.lfr_max_community}, "
        f"{config.lfr_graphs} graph(s) per mu, InfomapClusters(directed=False) =="
    )
    if not config.lfr_mus:
        return [], ""
    middle = config.lfr_mus[len(config.lfr_mus) // 2]
    start = time.perf_counter()
    min_degree, how = lfr_min_degree(config, middle, config.seed * 100)
    echo(f"degrees: {how} (calibrated in {time.perf_counter() - start:.1f} s)")
    echo(
        f"{'mu':>4} {'NMI mean':>8} {'NMI min':>7} {'Leiden':>6} {'mixing':>6} {'<k>':>5} "
        f"{'comms':>5} "
        f"{'gen s':>6} {'infomap s':>9}  notes"
    )
    rows = []
    for mu in config.lfr_mus:
        row = measure_lfr(config, mu, min_degree, calibrate_mu(config, mu, min_degree))
        rows.append(row)
        note = "; ".join(
            [f"networkx mu {row.nominal_mu:.3f}"] + [f"retried: {f}" for f in row.failures]
        )
        echo(
            f"{row.mu:>4.1f} {row.nmi_mean:>8.4f} {row.nmi_min:>7.4f} "
            f"{row.leiden_nmi_mean or 0.0:>6.4f} {row.mixing:>6.3f} "
            f"{row.average_degree:>5.1f} "
            f"{row.communities:>5.0f} {row.generate_s:>6.2f} {row.cluster_s:>9.2f}  {note}"
        )
    echo(
        "mixing: measured share of edges between planted communities. networkx's LFR counts "
        "the edges earlier nodes already attached to a node (mostly between communities) "
        "toward its within-community quota, so its graphs mix more than asked; each mu here "
        "is the measured mixing, reached by calibrating networkx's nominal mu (in the notes). "
        "The graph is the truth here, so Infomap on it is its own oracle; Leiden: modularity "
        "on the same graphs"
    )
    return rows, how
