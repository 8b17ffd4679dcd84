"""plotly.js for the WebGL map of every member: its scattergl trace alone, CSP-safe.

The dashboard's Content-Security-Policy allows no ``'unsafe-eval'``, and plotly.js's default
bundle compiles its WebGL drawing code (regl) with ``new Function``: under that policy it
draws nothing and says "WebGL is not supported by your browser". plotly.js's "strict"
traces have that code compiled ahead; ``tools/plotly/build.sh`` bundles plotly.js's core
with the strict scattergl trace alone (1.8 MB, where the full strict build is 5.2 MB and
kept Chromium busy ~9 times as long evaluating it), vendored in ``vendor/`` (origin and MIT
licence in ``vendor/README.md``). The path Dash's Graph loads plotly.js from
(dash-renderer's ``_dashPlotlyJSURL``, with ``serve_locally``) answers with it; it is the
plotly.js version the ``plotly`` package bundles (a test holds them equal), and only the
WebGL map's page ever loads it.
"""

from __future__ import annotations

from pathlib import Path

import dash
import flask

BUNDLE = Path(__file__).parent / "vendor" / "plotly-scattergl-strict.min.js"
#: The vendored build's plotly.js version.
VERSION = "4.1.1"
#: Where dash-renderer loads plotly.js from when the first Graph appears.
SUITE_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"


def install(app: dash.Dash) -> None:
    """Answer the page's plotly.js request with the strict build."""
    path = app.config.routes_pathname_prefix + SUITE_PATH

    @app.server.before_request
    def _strict_plotly() -> flask.Response | None:
        if flask.request.path != path:
            return None
        return flask.send_file(BUNDLE, mimetype="text/javascript", max_age=3600)
