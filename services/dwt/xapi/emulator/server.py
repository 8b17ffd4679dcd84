"""Serve an emulator over real HTTP from a background thread (tests, benchmarks, ``dwt demo``).

``EmulatorServer(dataset, config).start()`` binds (port 0 picks a free one), serves each
request on its own thread, and exposes ``base_url``; use it as a context manager to stop it.
``clock`` (seconds since the epoch) drives its present and its rate windows: a test that
must not depend on the wall clock gives it one of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dwt.xapi.dataset import Dataset

from .app import create_app
from .config import EmulatorConfig
from .core import Emulator

log = logging.getLogger(__name__)


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, as X speaks: connections are kept alive (werkzeug's default is HTTP/1.0,
    one TCP connection and one thread per request, which costs more than the request)."""

    protocol_version = "HTTP/1.1"


class _QuietHandler(_KeepAliveHandler):
    """Werkzeug logs every request at INFO; thousands of them drown test and demo output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 500 and code != 503:
            super().log_request(code, size)


class EmulatorServer:
    """An :class:`Emulator` behind werkzeug's threaded HTTP server."""

    def __init__(
        self,
        dataset: Dataset,
        config: EmulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.emulator = Emulator(dataset, config, clock)
        self.app = create_app(self.emulator)
        self.host = host
        self.port = port
        self.quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator server is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def bind(self) -> EmulatorServer:
        """Open the listening socket (port 0 picks a free one) without serving yet."""
        if self._server is None:
            handler: Any = _QuietHandler if self.quiet else _KeepAliveHandler
            self._server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=handler
            )
        return self

    def start(self) -> EmulatorServer:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._thread is None:
            self.bind()
            self._thread = threading.Thread(
                target=self.serve_forever, name="x-api-emulator", daemon=True
            )
            self._serving.set()  # before the thread runs, so an early stop() still shuts down
            self._thread.start()
            log.info("X API emulator serving %s", self.base_url)
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`stop` (or Ctrl-C in ``dwt emulator``)."""
        self.bind()
        server = self._server
        assert server is not None
        self._serving.set()
        try:
            # a short poll interval keeps stop() quick (werkzeug's default waits 0.5 s)
            server.serve_forever(poll_interval=0.05)
        finally:
            self._serving.clear()
            server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice, or before serving)."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._serving.is_set():
            server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # --- pass-throughs for tests and benchmarks ------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.emulator.stats()

    def revoke_token(self, token: str) -> None:
        self.emulator.revoke_token(token)

    def suspend_token(self, token: str) -> None:
        self.emulator.suspend_token(token)

    def restore_token(self, token: str) -> None:
        self.emulator.restore_token(token)

    def reset_rate_limits(self) -> None:
        self.emulator.reset_rate_limits()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
