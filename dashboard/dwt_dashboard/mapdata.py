"""The community map's data: what the Insights map draws, read once per analysis.

Positions come from the cluster step (:mod:`dwt.stages.layout`, stored on members and
cluster documents), so the browser draws them as they are (a preset layout) instead of
laying out thousands of nodes itself. Only the strongest bonds are sent: an undirected bond
(u→v plus v→u) is kept when it is among the ``k`` strongest of u or of v. The reads (member
columns and bond lists as Arrow tables) and the ranking are vectorised and cached per
analysis: the cache key changes whenever a cluster or bonds step stored new results or the
member count changed.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dwt.pipeline.tasks import stored_bonds
from dwt.stages.cluster import ISOLATED
from dwt.store import Coll, Store
from dwt.store.weeks import published

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
]  # fmt: skip
ISOLATED_COLOUR = "#c4c8cc"

log = logging.getLogger(__name__)

#: Members named on the map at any zoom (by flow); the others as one zooms in.
NAMED = 12
#: Members whose names are sent at all in a large view (by flow): thousands of labels
#: cost the browser text measuring and the callback ~30 bytes each, and overlap anyway.
LABELLED = 300
#: Label font sizes on the cytoscape map, in model units (``insights_map.MAP_STYLE``): a
#: label scales with the zoom like the distances, so two labels that overlap at one zoom
#: overlap at all, and are kept apart once, here.
LABEL_FONT, NAMED_FONT = 6, 9
#: A label's box in font sizes: the sans-serif's average character and its line height.
CHAR_EM, LINE_EM = 0.65, 1.25
#: The space between a member and its label below it (the style's ``text-margin-y``).
LABEL_GAP = 2
#: Bonds the WebGL map of every member draws at most (the strongest by rank, then weight):
#: ~34 bytes each, so 10,000 members and their bonds stay under 500 KB per answer.
GL_BONDS = 6000
#: The WebGL map's coordinate grid (0..GRID both ways).
GRID = 1000

MAP_MEMBERS = pa.schema(
    [
        ("account_id", pa.string()),
        ("username", pa.string()),
        ("cluster", pa.int64()),
        ("flow", pa.float64()),
        ("activity", pa.int64()),
        ("x", pa.float64()),
        ("y", pa.float64()),
    ]
)


def colour(cluster: int) -> str:
    """A cluster's colour on the map and in the legend."""
    return ISOLATED_COLOUR if cluster == ISOLATED else PALETTE[cluster % len(PALETTE)]


@dataclass
class MapData:
    """One analysis of a community, ready to draw: members (arrays, by index), clusters and
    the undirected bonds with each bond's rank (0 = strongest) at its stronger end."""

    ids: np.ndarray
    names: np.ndarray
    cluster: np.ndarray
    flow: np.ndarray
    activity: np.ndarray
    xy: np.ndarray
    clusters: list[dict[str, Any]]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    rank: np.ndarray
    index: dict[str, int] = field(default_factory=dict)
    lower_names: dict[str, int] = field(default_factory=dict)

    @property
    def placed(self) -> bool:
        """Whether the cluster step stored positions (older analyses have none)."""
        return bool(len(self.xy)) and not np.isnan(self.xy).any()

    def cluster_of(self, number: int) -> dict[str, Any] | None:
        return next((c for c in self.clusters if c["cluster"] == number), None)

    def partners(self, i: int, top: int = 5) -> list[tuple[int, float]]:
        """Member ``i``'s strongest partners (index, bond both ways), strongest first."""
        mine = (self.src == i) | (self.dst == i)
        other = np.where(self.src[mine] == i, self.dst[mine], self.src[mine])
        w = self.weight[mine]
        order = np.argsort(-w, kind="stable")[:top]
        return [(int(other[j]), float(w[j])) for j in order]


def _key(store: Store, community: str) -> tuple[Any, ...]:
    """What identifies an analysis: the runs that stored the clusters and the bonds, and the
    member count (removing members changes the map without a new run)."""
    shown = published(store, community)
    members = store[Coll.MEMBERS].count_documents({"community": community})
    return community, shown["clusters"], shown["bonds"], members


_CACHE: OrderedDict[tuple[Any, ...], MapData] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
#: One read per analysis at a time: a second caller waits for the first one's result.
_READING: dict[tuple[Any, ...], threading.Lock] = {}


def load(store: Store, community: str) -> MapData | None:
    """The community's map data (cached per analysis); None before a cluster step ran."""
    key = (id(store), *_key(store, community))
    if key[2] is None:
        return None
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        reading = _READING.setdefault(key, threading.Lock())
    with reading:
        with _LOCK:
            if key in _CACHE:  # read meanwhile by the caller this one waited for
                return _CACHE[key]
        data = _read(store, community)
        with _LOCK:
            _CACHE[key] = data
            _READING.pop(key, None)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return data


def prefetch(store: Store, community: str) -> threading.Thread:
    """Read the map's data in the background (Home calls this: Insights is the usual next
    page, and at 10,000 members the first read takes about a second)."""

    def read() -> None:
        try:
            load(store, community)
        except Exception:  # a background read: the page that needs the map reads again
            log.exception("reading the map of %s ahead failed", community)

    thread = threading.Thread(target=read, name=f"map-prefetch-{community}", daemon=True)
    thread.start()
    return thread


def _read(store: Store, community: str) -> MapData:
    members = store.member_results(community, MAP_MEMBERS)
    members = members.filter(pc.is_valid(members.column("cluster")))
    ids = members.column("account_id").combine_chunks()
    n = len(ids)
    docs = store[Coll.CLUSTERS].find(
        store.shown(Coll.CLUSTERS, community),
        {"cluster": 1, "label": 1, "size": 1, "x": 1, "y": 1, "radius": 1, "central": 1},
    )
    clusters = sorted(
        (
            {
                "cluster": int(d["cluster"]),
                "label": d.get("label") or f"cluster {d['cluster']}",
                "size": int(d.get("size", 0)),
                "x": d.get("x"),
                "y": d.get("y"),
                "radius": d.get("radius"),
                "colour": colour(int(d["cluster"])),
            }
            for d in docs
        ),
        key=lambda c: (c["cluster"] == ISOLATED, c["cluster"]),
    )

    directed = stored_bonds(store, community, ids)
    both = sp.triu(directed + directed.T, 1).tocoo()  # one entry per pair, u < v
    s, d, w = both.row.astype(np.int64), both.col.astype(np.int64), both.data
    names = np.asarray(members.column("username").to_pylist(), dtype=object)
    return MapData(
        ids=np.asarray(ids.to_pylist(), dtype=object),
        names=names,
        cluster=_ints(members.column("cluster")),
        flow=members.column("flow").fill_null(0.0).to_numpy(),
        activity=_ints(members.column("activity").fill_null(0)),
        xy=np.column_stack(
            [
                members.column("x").to_numpy(zero_copy_only=False).astype(np.float64),
                members.column("y").to_numpy(zero_copy_only=False).astype(np.float64),
            ]
        )
        if n
        else np.zeros((0, 2)),
        clusters=clusters,
        src=s,
        dst=d,
        weight=w,
        rank=_end_rank(n, s, d, w),
        index={a: i for i, a in enumerate(ids.to_pylist())},
        lower_names={str(u).lower(): i for i, u in enumerate(names)},
    )


def _ints(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)


def _end_rank(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each undirected bond, its rank among the bonds of its end where it ranks best
    (0 = that member's strongest): ``rank < k`` keeps every member's ``k`` strongest."""
    m = len(src)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.concatenate([src, dst])
    edge = np.concatenate([np.arange(m), np.arange(m)])
    w = np.concatenate([weight, weight])
    order = np.lexsort((edge, -w, ends))  # by member, strongest first, ties by edge
    sorted_ends = ends[order]
    starts = np.searchsorted(sorted_ends, np.arange(n))
    at_end = np.empty(2 * m, dtype=np.int64)  # each (bond, end)'s rank at that end
    at_end[order] = np.arange(2 * m) - starts[sorted_ends]
    return np.minimum(at_end[:m], at_end[m:])


def _size(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Node diameters in ``[low, high]`` by the square root of ``values`` (area ∝ value)."""
    if not len(values):
        return values.astype(np.float64)
    root = np.sqrt(np.clip(values, 0, None))
    top = root.max()
    return low + (high - low) * (root / top if top > 0 else root)


def _width(weights: np.ndarray) -> np.ndarray:
    """Edge widths 0.5–4 by log weight (bonds span 0.01 to hundreds)."""
    if not len(weights):
        return weights
    logw = np.log1p(weights)
    return 0.5 + 3.5 * logw / logw.max() if logw.max() > 0 else np.full(len(weights), 0.5)


def overview(data: MapData, k: int) -> list[dict[str, Any]]:
    """One node per cluster (at its disc's centre, sized by members), edges by summed bonds
    between clusters, each cluster's ``k`` strongest links."""
    shown = [c for c in data.clusters if c["x"] is not None and c["size"]]
    number = np.array([c["cluster"] for c in shown], dtype=np.int64)
    # Sizes in proportion to the map's extent: the overview reads the same at any size
    # once fitted (the discs ~800 px across: labels ~13 px on screen, nodes 30-110 px).
    unit = _extent(shown) / 800
    sizes = _size(np.array([c["size"] for c in shown], dtype=np.float64), 30 * unit, 110 * unit)
    nodes = [
        {
            "data": {
                "id": f"cluster-{c['cluster']}",
                "label": f"{c['label']} ({c['size']:,})",
                "kind": "cluster",
                "cluster": c["cluster"],
                "size": round(float(s), 1),
                "font": round(20 * unit, 1),
                "wrap": round(240 * unit, 1),
                "colour": c["colour"],
            },
            "position": {"x": c["x"], "y": c["y"]},
            "classes": "cluster",
        }
        for c, s in zip(shown, sizes, strict=True)
    ]
    cs, cd = data.cluster[data.src], data.cluster[data.dst]
    between = (cs != cd) & (cs != ISOLATED) & (cd != ISOLATED)
    if not between.any() or not len(number):
        return nodes
    a, b = np.minimum(cs[between], cd[between]), np.maximum(cs[between], cd[between])
    ia, ib = _positions(number, a), _positions(number, b)
    ok = (ia >= 0) & (ib >= 0)
    summed = sp.coo_matrix(
        (data.weight[between][ok], (ia[ok], ib[ok])), shape=(len(number), len(number))
    ).tocsr().tocoo()  # fmt: skip
    rank = _end_rank(len(number), summed.row, summed.col, summed.data)
    keep = rank < k
    widths = _width(summed.data[keep]) * unit
    edges = [
        {
            "data": {
                "source": f"cluster-{number[r]}",
                "target": f"cluster-{number[c]}",
                "weight": round(float(w), 2),
                "width": round(float(wd), 2),
            }
        }
        for r, c, w, wd in zip(summed.row[keep], summed.col[keep], summed.data[keep], widths,
                               strict=True)
    ]  # fmt: skip
    return nodes + edges


def _extent(clusters: list[dict[str, Any]]) -> float:
    """The width or height of the map (the larger), discs included."""
    if not clusters:
        return 1.0
    x = np.array([c["x"] for c in clusters], dtype=np.float64)
    y = np.array([c["y"] for c in clusters], dtype=np.float64)
    r = np.array([c["radius"] or 0.0 for c in clusters], dtype=np.float64)
    return float(max((x + r).max() - (x - r).min(), (y + r).max() - (y - r).min(), 1.0))


def _positions(numbers: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` is in ``numbers`` (-1: not there)."""
    order = np.argsort(numbers, kind="stable")
    at = np.clip(np.searchsorted(numbers[order], wanted), 0, max(len(numbers) - 1, 0))
    found = numbers[order][at] == wanted
    return np.where(found, order[at], -1)


def view_size(data: MapData, k: int, cluster: int | None = None) -> tuple[int, int]:
    """How many members and bonds :func:`members_view` would send (counted, not built)."""
    if cluster is None:
        return len(data.ids), int(np.count_nonzero(data.rank < k))
    inside = data.cluster == cluster
    keep = (data.rank < k) & inside[data.src] & inside[data.dst]
    return int(np.count_nonzero(inside)), int(np.count_nonzero(keep))


def members_view(data: MapData, k: int, cluster: int | None = None) -> list[dict[str, Any]]:
    """Members (of ``cluster``, or all) at their positions, sized by flow, with the bonds
    among them that are in some member's ``k`` strongest; at most :data:`LABELLED` carry
    a name, the most central first, each only where it overlaps no name already placed
    (:func:`labels`; the others are named in their panel when tapped)."""
    chosen = np.arange(len(data.ids)) if cluster is None else np.flatnonzero(
        data.cluster == cluster
    )  # fmt: skip
    # Model units: members of a disc sit ~28 apart (scale 16 in dwt.stages.layout).
    sizes = _size(data.flow[chosen], 5, 18)
    named, labelled = labels(data, chosen, dict(zip(chosen.tolist(), sizes, strict=True)))
    nodes = [
        {
            "data": {
                "id": data.ids[i],
                "label": f"@{data.names[i]}" if i in labelled else "",
                "kind": "member",
                "cluster": int(data.cluster[i]),
                "size": round(float(s), 1),
                "colour": colour(int(data.cluster[i])),
            },
            "position": {"x": float(data.xy[i, 0]), "y": float(data.xy[i, 1])},
            "classes": "member named" if i in named else "member",
        }
        for i, s in zip(chosen.tolist(), sizes, strict=True)
    ]
    inside = np.zeros(len(data.ids), dtype=bool)
    inside[chosen] = True
    keep = (data.rank < k) & inside[data.src] & inside[data.dst]
    widths = _width(data.weight[keep])
    edges = [
        {
            "data": {
                "source": data.ids[s],
                "target": data.ids[d],
                "weight": round(float(w), 2),
                "width": round(float(wd), 2),
            }
        }
        for s, d, w, wd in zip(data.src[keep].tolist(), data.dst[keep].tolist(),
                               data.weight[keep], widths, strict=True)
    ]  # fmt: skip
    return nodes + edges


def members_figure(data: MapData, k: int) -> tuple[dict[str, Any], int, int]:
    """Every member as one WebGL scatter (Plotly's ``scattergl``: thousands of points drawn
    on the GPU, where cytoscape's canvas blocked the page for seconds), at the stored
    positions (on a 0–1000 grid, three digits a number: the map is ~1000 px wide at most),
    coloured like the legend, sized by flow, named on hover, with the strongest bonds (each
    member's ``k``, at most :data:`GL_BONDS`) as one line trace. Also returns the bonds
    drawn and the bonds there are. A point's ``customdata`` is its username: what a tap
    sends back."""
    low = data.xy.min(axis=0) if len(data.xy) else np.zeros(2)
    span = float(np.ptp(data.xy, axis=0).max()) if len(data.xy) else 1.0
    grid = np.rint((data.xy - low) * (GRID / (span or 1.0))).astype(np.int64)
    x, y = grid[:, 0], grid[:, 1]
    kept = np.flatnonzero(data.rank < k)
    order = np.lexsort((-data.weight[kept], data.rank[kept]))[:GL_BONDS]
    s, d = data.src[kept[order]], data.dst[kept[order]]
    gap = np.full(len(s), None, dtype=object)
    lines_x = np.column_stack([x[s], x[d], gap]).ravel().tolist()
    lines_y = np.column_stack([y[s], y[d], gap]).ravel().tolist()
    # One colour number per member (its palette slot, grey last): a stepwise colour scale
    # maps them to the legend's colours at ~2 bytes a member instead of ~10.
    slot = np.where(data.cluster == ISOLATED, len(PALETTE), data.cluster % len(PALETTE))
    colours = [*PALETTE, ISOLATED_COLOUR]
    steps = len(colours)
    scale = [[edge / steps, c] for i, c in enumerate(colours) for edge in (i, i + 1)]
    nodes = {
        "type": "scattergl",
        "mode": "markers",
        "x": x.tolist(),
        "y": y.tolist(),
        "customdata": data.names.tolist(),
        "hovertemplate": "@%{customdata}<extra></extra>",
        "marker": {
            "size": np.rint(_size(data.flow, 4, 16)).astype(np.int64).tolist(),
            "color": slot.tolist(),
            "colorscale": scale,
            "cmin": -0.5,
            "cmax": steps - 0.5,
            "line": {"width": 0},
        },
    }
    bonds = {
        "type": "scattergl",
        "mode": "lines",
        "x": lines_x,
        "y": lines_y,
        "line": {"width": 0.6, "color": "rgba(120, 130, 140, 0.35)"},
        "hoverinfo": "skip",
    }
    axis = {"visible": False, "fixedrange": False}
    layout = {
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "showlegend": False,
        "hovermode": "closest",
        "dragmode": "pan",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "xaxis": axis,
        # Down, as the cytoscape map draws the same positions; one unit the same both ways.
        "yaxis": {**axis, "autorange": "reversed", "scaleanchor": "x"},
        "uirevision": "all-members",
    }
    return {"data": [bonds, nodes], "layout": layout}, len(s), len(kept)


def label_box(data: MapData, i: int, size: float, font: float) -> np.ndarray:
    """Member ``i``'s label (``@name`` under a node ``size`` across) as x0, y0, x1, y1."""
    width = CHAR_EM * font * (len(str(data.names[i])) + 1)
    top = data.xy[i, 1] + size / 2 + LABEL_GAP
    x = data.xy[i, 0]
    return np.array([x - width / 2, top, x + width / 2, top + LINE_EM * font])


def _apart(box: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether ``box`` overlaps none of ``boxes`` (rows of x0, y0, x1, y1)."""
    return bool(
        (
            (box[2] <= boxes[:, 0])
            | (boxes[:, 2] <= box[0])
            | (box[3] <= boxes[:, 1])
            | (boxes[:, 3] <= box[1])
        ).all()
    )


def labels(data: MapData, chosen: np.ndarray, sizes: dict[int, float]) -> tuple[set, set]:
    """Which of ``chosen`` are named at any zoom and which as one zooms in: by flow, each
    where its label overlaps no label placed before, until :data:`LABELLED` are placed or
    four times as many were tried. The first :data:`NAMED` (larger, drawn above the other
    members) also keep clear of each other's nodes: no named member hides another's name."""
    central = chosen[np.argsort(-data.flow[chosen], kind="stable")][: 4 * LABELLED]
    placed = np.empty((0, 4))
    named_labels, named_bodies = np.empty((0, 4)), np.empty((0, 4))
    named: set[int] = set()
    labelled: set[int] = set()
    for i in central.tolist():
        (x, y), r = data.xy[i], sizes[i] / 2
        body = np.array([x - r, y - r, x + r, y + r])
        large = label_box(data, i, sizes[i], NAMED_FONT)
        big = (
            len(named) < NAMED
            and _apart(large, placed)
            and _apart(large, named_bodies)
            and _apart(body, named_labels)
        )
        box = large if big else label_box(data, i, sizes[i], LABEL_FONT)
        if not big and not _apart(box, placed):
            continue
        placed = np.vstack([placed, box])
        labelled.add(i)
        if big:
            named.add(i)
            named_labels = np.vstack([named_labels, box])
            named_bodies = np.vstack([named_bodies, body])
        if len(labelled) == LABELLED:
            break
    return named, labelled


def find_member(data: MapData, text: str | None) -> int | None:
    """The member a person typed: ``name``, ``@name`` or ``https://x.com/name`` (any case);
    an exact username first, else the most central member whose name starts with it."""
    wanted = (text or "").strip()
    for prefix in ("https://", "http://", "www.", "x.com/", "twitter.com/", "@"):
        if wanted.lower().startswith(prefix):
            wanted = wanted[len(prefix) :]
    wanted = wanted.split("/")[0].split("?")[0].lower()
    if not wanted:
        return None
    if wanted in data.lower_names:
        return data.lower_names[wanted]
    starts = [i for name, i in data.lower_names.items() if name.startswith(wanted)]
    return max(starts, key=lambda i: data.flow[i]) if starts else None
