"""The bond graph as a networkx graph, written as GraphML and GEXF (what Gephi opens).

Nodes are the community's members (id: account id) with their cluster and centrality;
directed edges are the stored bonds, weighted. One graph object feeds both writers, so
the two files always agree. Attributes a run has not set yet are left off a node rather
than written as a placeholder (neither format has a null).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc

GRAPH_FORMATS = ("graphml", "gexf")

#: Member columns copied onto nodes, when set.
NODE_FIELDS = ("username", "core", "cluster", "activity", "flow", "status")


@dataclass(frozen=True, slots=True)
class BondGraph:
    """The graph and how many stored bonds were left out because an end is no longer a
    member (members removed since the bonds step)."""

    graph: nx.DiGraph
    dropped_edges: int = 0


def bond_graph(
    community: str, members: pa.Table, bond_lists: pa.Table, clusters: pa.Table
) -> BondGraph:
    """Build the graph from the store's reads (:mod:`dwt.export.reads` members and clusters,
    :meth:`dwt.store.Store.bond_lists`)."""
    labels = dict(
        zip(
            clusters.column("cluster").to_pylist(),
            clusters.column("label").to_pylist(),
            strict=True,
        )
    )
    graph = nx.DiGraph(name=community)
    for row in members.select(["account_id", *NODE_FIELDS]).to_pylist():
        attrs = {k: v for k, v in row.items() if k != "account_id" and v is not None}
        attrs["label"] = row["username"]  # what Gephi shows on a node
        if labels.get(row["cluster"]) is not None:
            attrs["cluster_label"] = labels[row["cluster"]]
        graph.add_node(row["account_id"], **attrs)

    targets = bond_lists.column("targets").combine_chunks()
    sources = bond_lists.column("source_id").take(pc.list_parent_indices(targets))
    weights = pc.list_flatten(bond_lists.column("weights").combine_chunks())
    dropped = 0
    for src, dst, weight in zip(
        sources.to_pylist(),
        pc.list_flatten(targets).to_pylist(),
        weights.to_pylist(),
        strict=True,
    ):
        if src in graph and dst in graph:
            graph.add_edge(src, dst, weight=weight)
        else:
            dropped += 1
    return BondGraph(graph, dropped)


def write_graph(graph: nx.DiGraph, path: Path, fmt: str) -> None:
    """Write ``graph`` to ``path`` as ``fmt`` (one of :data:`GRAPH_FORMATS`)."""
    if fmt == "graphml":
        nx.write_graphml(graph, path)
    elif fmt == "gexf":
        nx.write_gexf(graph, path)
    else:
        raise ValueError(f"not a graph format: {fmt!r} (known: {', '.join(GRAPH_FORMATS)})")
