"""The Insights page's community map: layout, navigation, downloads and callbacks.

The map opens on a cluster-level overview (one node per cluster, sized by members, edges by
the bonds between clusters), which stays small at any community size; tapping a cluster (or
choosing it above) opens its members at the positions the cluster step stored, sized by
flow, with each member's ``k`` strongest bonds. "All members" of a large community is drawn
with WebGL (Plotly's ``scattergl`` in a ``dcc.Graph``, loaded only then): cytoscape's canvas
blocked the page for ~12 s at 10,000 members. A member search selects and centres one;
tapping a member opens its panel (:mod:`dwt_dashboard.member_panel`). The week downloads as
GEXF, GraphML and CSV (:mod:`dwt.export`) and the map as a PNG (cytoscape's own renderer,
or Plotly's for the WebGL map).

Server callbacks go through :func:`dwt_dashboard.access.guarded_callback` (the caller's
``callback``); the view-only ones (fit, zoom, centre, PNG) are clientside functions in
``assets/map.js``: they run in the browser on what it already shows and read nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import dash_cytoscape as cyto
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt.export import ExportError, export_community
from dwt.stages.cluster import ISOLATED
from dwt.store import Store
from dwt.words import plural
from dwt_dashboard import mapdata
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.member_panel import member_panel

#: Bonds per member sent at first (the control offers 1..10).
DEFAULT_K = 3
MAX_K = 10
#: Above this many members, "All members" is drawn with WebGL: cytoscape drew 9,000
#: elements (3,000 members) in 4.5 s of blocked page on a 2-core machine.
GL_MEMBERS = 1000
#: Above this many members, "All members" first says how big the view is and waits for a
#: go-ahead.
HEAVY_MEMBERS = 20_000
#: Members the WebGL map draws per second (answer, parse and draw; 10,000 members in
#: about a second on the shared 2-core machine): for the estimate.
GL_MEMBERS_PER_SECOND = 10_000
#: The WebGL map's controls: wheel zoom, no logo, the buttons the toolbar above lacks.
GL_CONFIG = {
    "scrollZoom": True,
    "displaylogo": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}

MAP_STYLE: list[dict[str, Any]] = [
    {
        "selector": "node",
        "style": {
            "width": "data(size)",
            "height": "data(size)",
            "background-color": "data(colour)",
            "label": "data(label)",
            "color": "#1d2329",
            # Model units: a label grows as one zooms in, and shows once it would be
            # readable (7 px), not all at once on the first wheel notch.
            "font-size": mapdata.LABEL_FONT,
            "min-zoomed-font-size": 7,
            "text-valign": "bottom",
            "text-margin-y": mapdata.LABEL_GAP,
        },
    },
    {
        "selector": ".named",  # the most central members: named at any zoom
        "style": {
            "font-size": mapdata.NAMED_FONT,
            "min-zoomed-font-size": 0,
            "font-weight": "bold",
            # Above the other members, on a light ground: no node hides these names.
            "z-index": 10,
            "text-background-color": "#ffffff",
            "text-background-opacity": 0.75,
            "text-background-padding": 1,
        },
    },
    {
        "selector": ".cluster",
        "style": {
            "font-size": "data(font)",
            "min-zoomed-font-size": 0,
            "text-wrap": "wrap",
            "text-max-width": "data(wrap)",
            "border-width": 0,
            "border-color": "#fff",
        },
    },
    {
        "selector": "node:selected",
        "style": {
            "border-width": 4,
            "border-color": "#111",
            "min-zoomed-font-size": 0,
            "z-index": 20,  # above the named members and their names
        },
    },
    {
        "selector": "edge",
        "style": {
            "width": "data(width)",
            "line-color": "#9aa3ab",
            "opacity": 0.45,
            "curve-style": "haystack",
        },
    },
]


def _button(label: str, id: str, title: str) -> html.Button:
    return html.Button(label, id=id, n_clicks=0, title=title, className="map-button")


def legend(clusters: list[dict[str, Any]]) -> html.Ul:
    """The clusters' colours and labels (the map's key), isolated last; each entry a button
    that opens its cluster on the map (and its details, conversations and topics)."""
    return html.Ul(
        [
            html.Li(
                html.Button(
                    [
                        html.Span(
                            className="swatch",
                            style={"background": mapdata.colour(c["cluster"])},
                        ),
                        f"{c['cluster']}: {c['label']} ({c['size']:,})"
                        if c["cluster"] != ISOLATED
                        else f"{c['label']} ({c['size']:,})",
                    ],
                    id={"type": "map-legend", "cluster": c["cluster"]},
                    n_clicks=0,
                    className="legend-entry",
                    title="open this cluster",
                )
            )
            for c in clusters
        ],
        id="map-legend",
        className="legend",
    )


def map_area(
    clusters: list[dict[str, Any]],
    elements: list[dict[str, Any]],
    start: dict[str, Any] | None = None,
) -> html.Div:
    """The map with its controls, legend, member panel and downloads; ``start``
    (:meth:`MapHandlers.start`) is where a deep link opens it (the overview without one)."""
    start = start or {}
    title = start.get("title") or (
        "All clusters: tap one to open its members."
        if elements
        else "No map yet: run bonds + cluster."
    )
    return html.Div(
        [
            html.Div(
                [
                    _button("All clusters", "map-overview", "one node per cluster"),
                    _button("All members", "map-all", "every member on one map"),
                    dcc.Input(
                        id="map-search",
                        type="search",
                        placeholder="find a member",
                        debounce=True,
                        className="map-search",
                    ),
                    _button(
                        "Find",
                        "map-search-go",
                        "select and centre a member (@name, name or x.com link)",
                    ),
                    html.Span(
                        [
                            html.Label(
                                "bonds each",
                                htmlFor="map-k",
                                title="how many of each member's strongest bonds are drawn",
                            ),
                            dcc.Dropdown(
                                id="map-k",
                                options=list(range(1, MAX_K + 1)),
                                value=DEFAULT_K,
                                clearable=False,
                                searchable=False,
                                className="map-k",
                            ),
                        ],
                        className="map-k-box",
                    ),
                    _button("+", "map-zoom-in", "zoom in"),
                    _button("−", "map-zoom-out", "zoom out"),
                    _button("Fit", "map-fit", "show the whole map"),
                ],
                className="map-tools",
            ),
            html.P(title, id="map-title", className="help"),
            html.Div(
                [
                    cyto.Cytoscape(
                        id="bond-graph",
                        elements=elements,
                        stylesheet=MAP_STYLE,
                        layout={"name": "preset", "fit": True, "padding": 24, "animate": False},
                        className="graph",
                        style={"height": "520px", "width": "100%"},
                        minZoom=0.05,
                        maxZoom=6,
                        wheelSensitivity=0.15,
                        boxSelectionEnabled=False,
                        autoungrabify=True,
                        # New elements come with their positions; fitting them once (map.js) beats
                        # laying them out again 100 ms after they were drawn.
                        autoRefreshLayout=False,
                        responsive=True,
                    ),
                    html.Div(id="map-gl-box"),
                ],
                id="map-canvas",
                className=CANVAS["cy"],
            ),
            html.Div(start.get("panel"), id="member-panel", className="member-panel"),
            legend(clusters),
            html.Div(
                [
                    html.Span("Download this week: "),
                    _button("GEXF", "map-dl-gexf", "the bond graph for Gephi"),
                    _button("GraphML", "map-dl-graphml", "the bond graph as GraphML"),
                    _button("CSV", "map-dl-csv", "members with cluster, flow and partners"),
                    _button("PNG", "map-dl-png", "the map as shown"),
                    html.Span(id="map-dl-result", className="help"),
                ],
                className="map-downloads",
            ),
            dcc.Download(id="map-download"),
            dcc.Download(id="map-png-download"),
            dcc.Store(id="map-view", data=start.get("view") or {"cluster": None, "all": False}),
            dcc.Store(id="map-focus", data=start.get("focus")),
            dcc.Store(id="map-done"),
            dcc.Store(id="map-fitted"),
        ],
        className="map",
    )


#: The map canvas's class: which of the two renderers shows (map.css hides the other).
CANVAS = {"cy": "map-canvas cy", "gl": "map-canvas gl"}


def gl_map(figure: dict[str, Any]) -> dcc.Graph:
    """The WebGL map of every member (:func:`mapdata.members_figure`)."""
    return dcc.Graph(
        id="map-gl",
        figure=figure,
        config=GL_CONFIG,
        className="graph",
        style={"height": "520px", "width": "100%"},
    )


def initial_elements(store: Store, community: str) -> list[dict[str, Any]]:
    """What the map shows when Insights opens: the cluster overview."""
    data = mapdata.load(store, community)
    if data is None or not data.placed:
        return []
    return mapdata.overview(data, DEFAULT_K)


# ---- navigation ------------------------------------------------------------------------


class MapHandlers:
    """What the map's controls do, as plain Python over the store (testable without a
    browser); the access rule was checked by the guard before any of this runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def heavy(self, data: mapdata.MapData, k: int) -> html.Div | None:
        """What "All members" says before drawing a large community (None: it is small
        enough to draw at once): members, bonds, roughly how long the page will be busy,
        and the ways on (draw it, or a cluster)."""
        members, bonds = mapdata.view_size(data, k)
        if members <= HEAVY_MEMBERS:
            return None
        seconds = members / GL_MEMBERS_PER_SECOND
        bonds = min(bonds, mapdata.GL_BONDS)
        busy = "under a second" if seconds < 1 else f"about {plural(round(seconds), 'second')}"
        return html.Div(
            [
                html.Span(
                    f"All members is a large map: {plural(members, 'member')} and "
                    f"{plural(bonds, 'bond')} (the strongest). Drawing it "
                    f"keeps this page busy for {busy} on a typical computer. ",
                    id="map-heavy-text",
                ),
                html.Button(
                    "Draw all members",
                    id={"type": "map-heavy-go", "k": k},
                    n_clicks=0,
                    className="map-button",
                ),
                html.Span(" or pick a cluster (on the map, in the legend or above)."),
            ],
            id="map-heavy",
            className="warning",
        )

    def view(self, community: str, view: dict[str, Any], k: int) -> tuple[list, str, Any]:
        """Elements, title and WebGL map (None: cytoscape draws the elements) for a view:
        overview, one cluster, or every member."""
        data = mapdata.load(self.store, community)
        if data is None or not data.placed:
            return [], "No map yet: run bonds + cluster.", None
        if view.get("all"):
            n = len(data.ids)
            if n > GL_MEMBERS:
                figure, drawn, total = mapdata.members_figure(data, k)
                strongest = (
                    f"{plural(k, 'strongest bond')} each"
                    if drawn == total
                    else f"the {drawn:,} strongest of {plural(total, 'bond')}"
                )
                return (
                    [],
                    (
                        f"All {n:,} members, {strongest}. Point at a member for its name, "
                        "tap for details; drag to move, wheel to zoom."
                    ),
                    gl_map(figure),
                )
            return (
                mapdata.members_view(data, k),
                f"All {n:,} members, {plural(k, 'strongest bond')} each.",
                None,
            )
        cluster = view.get("cluster")
        if cluster is None:
            return mapdata.overview(data, k), "All clusters: tap one to open its members.", None
        found = data.cluster_of(int(cluster))
        if found is None:
            return mapdata.overview(data, k), f"No cluster {cluster}: all clusters shown.", None
        return (
            mapdata.members_view(data, k, int(cluster)),
            f"Cluster {cluster}: {found['label']} ({plural(found['size'], 'member')}, "
            f"{plural(k, 'strongest bond')} each). Tap a member for details.",
            None,
        )

    def start(self, community: str, cluster: int | None, member: str | None) -> dict[str, Any]:
        """Where a deep link opens the map: ``?member=`` (an account id or a username) at
        that member's cluster, centred on it with its card; ``?cluster=N`` at cluster N's
        members; else the overview. Keys: elements, view, title, panel, focus, cluster."""
        data = mapdata.load(self.store, community)
        out: dict[str, Any] = {"panel": None, "focus": None, "cluster": cluster}
        if data is None or not data.placed:
            return {**out, "elements": [], "view": None, "title": None}
        if member:
            name = member.strip().lstrip("@").lower()
            i = data.index.get(member.strip(), data.lower_names.get(name))
            if i is None:
                out["panel"] = html.P(
                    f"No member named {member.strip()[:60]!r}.", className="error"
                )
            else:
                out["cluster"] = int(data.cluster[i])
                out["focus"] = {"id": data.ids[i], "at": 0}
                out["panel"] = member_panel(self.store, community, data, i)
        number = out["cluster"]
        if number is None or data.cluster_of(number) is None:
            return {
                **out,
                "elements": mapdata.overview(data, DEFAULT_K),
                "view": None,
                "title": None,
            }
        view = {"cluster": number, "all": False}
        elements, title, _ = self.view(community, view, DEFAULT_K)  # a cluster: no WebGL
        return {**out, "elements": elements, "view": view, "title": title}

    def navigate(
        self,
        community: str,
        trigger: str | None,
        tap: dict[str, Any] | None,
        k: int | None,
        search: str | None,
        view: dict[str, Any] | None,
        picked: int | None,
    ) -> tuple[Any, ...]:
        """(elements, view, title, member panel, focus, cluster picked, WebGL map, canvas
        class) for what triggered."""
        k = int(k) if isinstance(k, int | float) and 1 <= k <= MAX_K else DEFAULT_K
        view = dict(view or {"cluster": None, "all": False})
        keep = dash.no_update
        follow = keep  # the cluster the picker above moves to (and its details with it)
        if trigger == "bond-graph" and isinstance(tap, dict):
            if tap.get("kind") != "cluster" or not isinstance(tap.get("cluster"), int):
                return _panel_only(self.panel(community, tap.get("id")))
            trigger, picked = "map-legend", tap["cluster"]  # a cluster tapped: as its legend
        if trigger == "map-overview":
            view = {"cluster": None, "all": False}
        elif trigger == "map-all":
            data = mapdata.load(self.store, community)
            notice = self.heavy(data, k) if data is not None and data.placed else None
            if notice is not None and not view.get("all"):
                return (*[keep] * 2, notice, *[keep] * 5)
            view = {"cluster": None, "all": True}
        elif trigger == "map-all-go":
            view = {"cluster": None, "all": True}
        elif trigger == "map-k":
            pass
        elif trigger in ("cluster-pick", "map-legend"):
            if picked is None or (view.get("cluster") == picked and not view.get("all")):
                raise PreventUpdate
            view = {"cluster": picked, "all": False}
            follow = picked if trigger == "map-legend" else keep
        elif trigger in ("map-search", "map-search-go"):
            return self.search(community, search, view, k)
        else:
            raise PreventUpdate
        elements, title, gl = self.view(community, view, k)
        panel = keep if trigger == "map-k" else ""
        return elements, view, title, panel, keep, follow, gl, CANVAS["cy" if gl is None else "gl"]

    def panel(self, community: str, account: Any, by_name: bool = False) -> Any:
        """A member's panel, by account id (cytoscape's tap) or username (WebGL's)."""
        data = mapdata.load(self.store, community)
        found = data and isinstance(account, str)
        if by_name:
            i = data.lower_names.get(account.lower()) if found else None
        else:
            i = data.index.get(account) if found else None
        if i is None:
            return html.P("Not a member of this community.", className="error")
        return member_panel(self.store, community, data, i)

    def search(
        self, community: str, text: str | None, view: dict[str, Any], k: int
    ) -> tuple[Any, ...]:
        keep = dash.no_update
        data = mapdata.load(self.store, community)
        i = mapdata.find_member(data, text) if data else None
        if i is None:
            shown = (text or "").strip()[:60]
            message = f"No member named {shown!r}." if shown else "Type a member's name."
            return _panel_only(html.P(message, className="error"))
        account, cluster = data.ids[i], int(data.cluster[i])
        at = ctx.triggered[0]["value"] if ctx.triggered else 0
        # The name too: the WebGL map knows its points by username.
        focus = {"id": account, "name": str(data.names[i]), "at": at}
        panel = member_panel(self.store, community, data, i)
        if view.get("all") or view.get("cluster") == cluster:
            return (*[keep] * 3, panel, focus, *[keep] * 3)
        view = {"cluster": cluster, "all": False}
        elements, title, _ = self.view(community, view, k)  # a cluster: no WebGL
        return elements, view, title, panel, focus, cluster, None, CANVAS["cy"]

    def download(self, community: str, fmt: str) -> dict[str, Any] | str:
        """The week as ``fmt`` (gexf, graphml or csv: the members table), for dcc.Download;
        a sentence when it cannot be made."""
        file = {"gexf": "bonds.gexf", "graphml": "bonds.graphml", "csv": "members.csv"}[fmt]
        with tempfile.TemporaryDirectory(prefix="dwt-map-") as tmp:
            try:
                result = export_community(self.store, community, Path(tmp), [fmt])
            except ExportError as exc:
                return f"Nothing to download: {exc}."
            path = Path(tmp) / file
            if not path.exists():
                return "Nothing to download: " + "; ".join(result.warnings) + "."
            return dcc.send_bytes(path.read_bytes(), f"{community}-{file}")


def _panel_only(panel: Any) -> tuple[Any, ...]:
    """What :meth:`MapHandlers.navigate` answers when only the member panel changes."""
    keep = dash.no_update
    return keep, keep, keep, panel, keep, keep, keep, keep


def _tapped_name(click: Any) -> str | None:
    """The username of the point a WebGL tap hit (Plotly's ``clickData``), else None."""
    points = click.get("points") if isinstance(click, dict) else None
    point = points[0] if isinstance(points, list) and points else None
    name = point.get("customdata") if isinstance(point, dict) else None
    return name if isinstance(name, str) else None


def register_map_callbacks(app: dash.Dash, callback: Callable[..., Any], store: Store) -> None:
    """The map's callbacks: server ones through ``callback`` (the guarded registration of
    :func:`dwt_dashboard.app.create_app` hands the pages), the view-only ones in the browser."""
    handlers = MapHandlers(store)

    @callback(
        Output("bond-graph", "elements"),
        Output("map-view", "data"),
        Output("map-title", "children"),
        Output("member-panel", "children"),
        Output("map-focus", "data"),
        Output("cluster-pick", "value", allow_duplicate=True),
        Output("map-gl-box", "children"),
        Output("map-canvas", "className"),
        Input("bond-graph", "tapNodeData"),
        Input("map-overview", "n_clicks"),
        Input("map-all", "n_clicks"),
        Input("map-k", "value"),
        Input("map-search-go", "n_clicks"),
        Input("map-search", "n_submit"),
        Input("cluster-pick", "value"),
        Input({"type": "map-legend", "cluster": ALL}, "n_clicks"),
        Input({"type": "map-heavy-go", "k": ALL}, "n_clicks"),
        State("map-search", "value"),
        State("map-view", "data"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _map(
        tap: dict | None,
        _o: int,
        _a: int,
        k: int | None,
        _g: int,
        _s: int,
        picked: int | None,
        legend: list[int | None],
        go: list[int | None],
        search: str | None,
        view: dict | None,
        community: str,
    ) -> tuple[Any, ...]:
        trigger = ctx.triggered_id
        if isinstance(trigger, dict) and trigger.get("type") == "map-legend":
            if not any(legend):
                raise PreventUpdate
            trigger, picked = "map-legend", trigger["cluster"]
        elif isinstance(trigger, dict) and trigger.get("type") == "map-heavy-go":
            if not any(go):
                raise PreventUpdate
            trigger = "map-all-go"
        trigger = trigger if isinstance(trigger, str) else None
        return handlers.navigate(community, trigger, tap, k, search, view, picked)

    # Its own callback: the WebGL map exists only while it shows (Dash refuses a callback
    # with an input missing from the page).
    @callback(
        Output("member-panel", "children", allow_duplicate=True),
        Input("map-gl", "clickData"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _gl_tap(click: dict | None, community: str) -> Any:
        if click is None:  # the map appearing (Dash calls it then too): no tap yet
            raise PreventUpdate
        return handlers.panel(community, _tapped_name(click), by_name=True)

    @callback(
        Output("map-download", "data"),
        Output("map-dl-result", "children"),
        Input("map-dl-gexf", "n_clicks"),
        Input("map-dl-graphml", "n_clicks"),
        Input("map-dl-csv", "n_clicks"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _download(_g: int, _m: int, _c: int, community: str) -> tuple[Any, str]:
        trigger = ctx.triggered_id
        if trigger not in ("map-dl-gexf", "map-dl-graphml", "map-dl-csv") or current_user() is None:
            raise PreventUpdate
        made = handlers.download(community, trigger.removeprefix("map-dl-"))
        if isinstance(made, str):
            return dash.no_update, made
        return made, ""

    # View-only, in the browser (assets/map.js): nothing is read from the server.
    app.clientside_callback(
        ClientsideFunction("dwtMap", "view"),
        Output("map-done", "data"),
        Input("map-zoom-in", "n_clicks"),
        Input("map-zoom-out", "n_clicks"),
        Input("map-fit", "n_clicks"),
        Input("map-focus", "data"),
    )
    app.clientside_callback(
        ClientsideFunction("dwtMap", "fit"),
        Output("map-fitted", "data"),
        Input("bond-graph", "elements"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("dwtMap", "png"),
        Output("bond-graph", "generateImage"),
        Input("map-dl-png", "n_clicks"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("dwtMap", "pngData"),
        Output("map-png-download", "data"),
        Input("bond-graph", "imageData"),
        State("community", "value"),
        prevent_initial_call=True,
    )
