"""plotly.js's CSP-safe build, for the WebGL map of every member.

The dashboard's Content-Security-Policy allows no ``'unsafe-eval'``, and plotly.js's default
bundle compiles its WebGL drawing code (regl) with ``new Function``: under that policy it
draws nothing and says "WebGL is not supported by your browser". plotly.js publishes a
"strict" build with that code compiled ahead (npm ``plotly.js-strict-dist-min``), vendored
in ``vendor/`` (origin and MIT licence in ``vendor/README.md``). The path Dash's Graph loads
plotly.js from (dash-renderer's ``_dashPlotlyJSURL``, with ``serve_locally``) answers with it;
it is the same plotly.js version as the ``plotly`` package's bundle (a test holds them
equal), and only the WebGL map's page ever loads it.
"""

from __future__ import annotations

from pathlib import Path

import dash
import flask

BUNDLE = Path(__file__).parent / "vendor" / "plotly-strict.min.js"
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
