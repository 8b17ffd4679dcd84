"""Serving the dashboard with waitress: a production WSGI server, pure Python, threaded, so
a long callback never holds up another person's page."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from waitress.server import create_server


def serve(app: Any, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve the Dash ``app`` until Ctrl-C (how a person stops it); ``on_ready`` gets the
    address (port 0: any free port)."""
    server = create_server(app.server, host=host, port=port, threads=8, ident="dwt-dashboard")
    on_ready(f"http://{host}:{server.effective_port}/")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        server.close()
