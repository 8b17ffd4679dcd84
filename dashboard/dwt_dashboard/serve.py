"""Serving the dashboard with waitress: a production WSGI server, pure Python, threaded, so
a long callback never holds up another person's page.

Two of waitress's defaults are changed on purpose:

* ``clear_untrusted_proxy_headers`` is off: waitress would drop ``X-Forwarded-For`` and
  ``-Proto`` before the app sees them (it trusts one proxy address or all, never a CIDR),
  and behind an ingress every client would then be the proxy. The app's own check
  (:class:`dwt_dashboard.auth.TrustedProxies`, ``--trusted-proxy CIDR``) believes them only
  from a configured proxy, as without waitress.
* ``max_request_body_size`` is the app's cap (:data:`dwt_dashboard.auth.MAX_BODY`): a
  larger declared body is answered 413 before any of it is read (waitress's default is 1 GiB).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from waitress.server import create_server

from dwt_dashboard.auth import MAX_BODY

#: What stops the server cleanly: Ctrl-C, and SIGTERM (``kill``, Kubernetes stopping a pod).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def serve(app: Any, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve the Dash ``app`` until Ctrl-C or SIGTERM; ``on_ready`` gets the address (port 0:
    any free port)."""
    server = create_server(
        app.server,
        host=host,
        port=port,
        threads=8,
        ident="dwt-dashboard",
        clear_untrusted_proxy_headers=False,  # the app decides whom to believe
        max_request_body_size=MAX_BODY,
    )
    with _stopped_by_signals():
        on_ready(f"http://{host}:{server.effective_port}/")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
        finally:
            server.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """`STOP_SIGNALS` raise `KeyboardInterrupt` in the serving thread while the block runs.

    Set explicitly: a shell starts a background command with SIGINT ignored and Python
    keeps that, so ``dwt demo &`` would otherwise ignore ``kill -INT``; SIGTERM's default
    ends the process without closing the server. Signals can only be set from the main
    thread: elsewhere (a test serving from a thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
