"""Insights' bond weights panel: the weights of the run the clusters come from, a slider
each (log scale, "off" allowed), presets, and the run that applies them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dwt.stages import weights as weights_module
from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.auth import current_user
from dwt_dashboard.components import VIEW_ONLY, notice

if TYPE_CHECKING:
    from dwt_dashboard.handlers import Handlers

#: Why a viewer's run button is disabled.
VIEWER_RUN = VIEW_ONLY.format(what="start a run with other weights")
#: The slider position meaning "off" (weight 0); the others are log10 of the weight.
OFF = -4
SLIDER_MIN, SLIDER_MAX = -3, 3


def slider_position(weight: float) -> float:
    """A weight as a slider position: log10, clamped to the slider, 0 at :data:`OFF`."""
    if weight <= 0:
        return OFF
    return min(max(round(math.log10(weight), 1), SLIDER_MIN), SLIDER_MAX)


def position_weight(position: float | None) -> float:
    """A slider position back to a weight (:data:`OFF` and below: 0), to two significant
    digits: the slider's 0.1 steps land on 4, 0.5 or 50, not 3.981, 0.501 or 50.12."""
    if position is None or position <= OFF:
        return 0.0
    return float(f"{10**position:.2g}")


def weight_text(weight: Any, name: str | None = None) -> str:
    """A weight as a person reads it: "on"/"off" for a switch, a share as a percentage
    (``name`` ending in "share"), else the number, "off" for 0."""
    if isinstance(weight, bool):
        return "on" if weight else "off"
    if weight == 0:
        return "off"
    if name is not None and data.weight_kinds().get(name) == "share":
        return f"{weight:.0%}"
    return f"{weight:.3g}"


def control_value(name: str, weight: Any) -> Any:
    """A weight as its control's value (see :func:`dwt_dashboard.data.weight_kinds`)."""
    kind = data.weight_kinds()[name]
    if kind == "switch":
        return ["on"] if weight else []
    if kind == "share":
        return round(float(weight), 2)
    return slider_position(float(weight))


def value_of(name: str, control: Any) -> Any:
    """A control's value back to the weight a run uses."""
    kind = data.weight_kinds()[name]
    if kind == "switch":
        return bool(control)
    if kind == "share":
        return round(float(control or 0.0), 2)
    return position_weight(control)


def _slider(name: str, weight: Any) -> html.Div:
    kind = data.weight_kinds()[name]
    if kind == "switch":
        control: Any = dcc.Checklist(
            id=f"w-{name}",
            options=[{"label": " on (off: follows and interactions mixed raw)", "value": "on"}],
            value=control_value(name, weight),
        )
    elif kind == "share":
        control = dcc.Slider(
            id=f"w-{name}", min=0, max=1, step=0.05, value=control_value(name, weight),
            marks={0: "0%", 0.5: "50%", 1: "100%"}, allow_direct_input=False,
        )  # fmt: skip
    else:
        # Log scale (weights span 0.001 to 1000), with "off" below the smallest.
        control = dcc.Slider(
            id=f"w-{name}",
            min=OFF,
            max=SLIDER_MAX,
            step=0.1,
            value=control_value(name, weight),
            marks={OFF: "off", **{i: f"{10**i:g}" for i in range(SLIDER_MIN + 1, SLIDER_MAX, 2)}},
            allow_direct_input=False,  # the box would show the exponent, not the weight
        )
    return html.Div(
        [
            html.Label(
                [
                    html.B(data.WEIGHT_LABELS.get(name, name)),
                    ": ",
                    html.Span(weight_text(weight, name), id=f"w-{name}-value", className="value"),
                ],
                htmlFor=f"w-{name}",
                title=f"{name}: {data.WEIGHT_HELP.get(name, '')}",
            ),
            control,
            html.Span(data.WEIGHT_HELP.get(name, ""), className="help"),
        ],
        className="weight",
    )


def panel(
    weights: dict[str, float],
    run_id: str | None,
    busy: str | None,
    presets: dict[str, dict[str, float]] | None = None,
    *,
    opened: bool = False,
) -> html.Details:
    """The bond weights, compact and near the top: their values in one line, starting from
    the weights of the run the clusters come from (``run_id``). The controls come when the
    panel is opened (:func:`controls`; ``opened``: drawn at once): ten sliders nobody
    sees cost the page a tenth of a second on every visit."""
    source = (
        f"The clusters come from run {run_id}; the sliders start from its weights."
        if run_id
        else "No analysis yet; the sliders start from the default weights."
    )
    return html.Details(
        [
            html.Summary(
                [
                    html.H3("Bond weights", className="inline"),
                    html.Span(
                        " · ".join(
                            f"{data.WEIGHT_LABELS.get(n, n).lower()} {weight_text(v, n)}"
                            for n, v in weights.items()
                        ),
                        className="help",
                    ),
                ],
                id="weights-open",
                n_clicks=0,
            ),
            html.P(source, id="weights-source", className="help"),
            html.Div(
                controls(weights, busy, presets) if opened else "",
                id="weights-body",
            ),
        ],
        id="weights",
        open=opened,
    )


def controls(
    weights: dict[str, Any], busy: str | None, presets: dict[str, dict[str, Any]] | None
) -> list[Any]:
    """The weights' controls: a preset picker, one labelled control per weight (its value
    beside, "off" allowed) and the run button, disabled with the reason while a run of the
    community is running (or for a viewer, who may not start one)."""
    picker = (
        [
            html.Label("Preset", htmlFor="weights-preset"),
            dcc.Dropdown(
                id="weights-preset",
                options=list(presets),
                placeholder="choose a preset…",
                className="short",
            ),
        ]
        if presets
        else []
    )
    return [
        *picker,
        html.Div([_slider(n, v) for n, v in weights.items()], className="weights-grid"),
        html.Button(
            "Run bonds + cluster + content",
            id="run-button",
            n_clicks=0,
            disabled=bool(busy),
            title=busy or "",
        ),
        html.Span(busy or "", id="run-state", className="help"),
        dcc.Interval(id="run-tick", interval=4000),
        html.Div(id="run-result", className="message"),
    ]


def weight_presets() -> dict[str, dict[str, float]] | None:
    """Named weight sets (``dwt.stages.weights.PRESETS``, name → BondWeights), if defined."""
    presets = getattr(weights_module, "PRESETS", None)
    if not presets:
        return None
    return {name: w.to_dict() if hasattr(w, "to_dict") else dict(w) for name, w in presets.items()}


def slider_weights(values: list[float]) -> dict[str, float]:
    """Slider positions (log10; :data:`OFF` for 0) back to weights, in ``BondWeights``
    field order."""
    names = data.weight_defaults()
    return {n: value_of(n, v) for n, v in zip(names, values, strict=True)}


def skeleton() -> Any:
    return html.Div(controls(data.weight_defaults(), None, weight_presets()))


def register(app: dash.Dash, callback: Callable[..., Any], handlers: Handlers) -> None:
    weight_ids = [f"w-{name}" for name in data.weight_defaults()]

    @callback(
        Output("weights-body", "children"),
        Input("weights-open", "n_clicks"),
        State("weights-body", "children"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _weights_body(clicks: int | None, shown: Any, community: str) -> Any:
        """The weights' controls, drawn the first time the panel is opened."""
        if not clicks or shown:
            raise PreventUpdate
        return handlers.weights_body(current_user(), community)

    @callback(
        Output("run-result", "children"),
        Output("run-button", "disabled"),
        Output("run-state", "children"),
        Input("run-button", "n_clicks"),
        State("community", "value"),
        *[State(i, "value") for i in weight_ids],
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _launch(_: int, community: str, *values: float) -> tuple[Any, bool, str]:
        message = handlers.launch(current_user(), community, slider_weights(list(values)))
        busy = handlers.busy(community)
        return notice(message), bool(busy), busy or ""

    @callback(
        Output("run-button", "disabled", allow_duplicate=True),
        Output("run-button", "title"),
        Output("run-state", "children", allow_duplicate=True),
        Input("run-tick", "n_intervals"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _run_state(_: int, community: str) -> tuple[bool, str, str]:
        """One run at a time: the button says why it is disabled, and comes back after
        (never for a viewer, who may not start one)."""
        act = handlers.allows(current_user(), community, Need.WRITE)
        busy = handlers.busy(community) if act else VIEWER_RUN
        return bool(busy), busy or "", busy or ""

    @callback(
        *[Output(f"{i}-value", "children") for i in weight_ids],
        *[Input(i, "value") for i in weight_ids],
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _weight_values(*values: Any) -> list[str]:
        """Each slider's weight as a number (or "off"), as the run would use it."""
        weights = slider_weights(list(values[: len(weight_ids)]))
        return [weight_text(w, n) for n, w in weights.items()]

    presets = weight_presets()
    if presets:

        @callback(
            *[Output(i, "value") for i in weight_ids],
            Input("weights-preset", "value"),
            State("community", "value"),
            need=Need.READ,
            prevent_initial_call=True,
        )
        def _preset(name: str | None, _community: str) -> list[float]:
            if name not in presets:
                raise PreventUpdate
            chosen = data.weights_of(presets[name])
            return [control_value(n, chosen[n]) for n in data.weight_defaults()]
