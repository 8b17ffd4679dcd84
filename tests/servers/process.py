"""Running a server binary for the tests: free ports, start, wait, stop (shared by the servers)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class ServerFailed(RuntimeError):
    """A server exited or did not become ready; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the caller binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # In the child, before exec: SIGKILL it when the process that started it dies (so a killed
    # pytest leaves no server behind; SIGKILL because kube-apiserver may sit out one SIGTERM
    # while it starts). Linux only; elsewhere only `Process.stop` ends it.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class Process:
    """A server subprocess whose output goes to a log file; `stop` ends it (TERM, then KILL)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | Path],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.argv = [str(a) for a in argv]
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        # Own session: a terminal's Ctrl-C reaches only Python, which stops servers in order.
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ if env is None else env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        """Raise `ServerFailed` (with the log's tail) if the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise ServerFailed(
                f"{self.name} exited with status {code}; {self.log}:\n{log_tail(self.log)}"
            )

    def wait_until(self, ready: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll ``ready`` until it returns something truthy; fail if the process exits or after
        ``timeout`` seconds. Exceptions from ``ready`` count as "not yet"."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            self.check()
            with contextlib.suppress(Exception):
                result = ready()
                if result:
                    return result
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{self.name}: {what} not ready after {timeout:.0f}s; "
                    f"{self.log}:\n{log_tail(self.log)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; returns the exit status."""
        try:
            if self.popen.poll() is None:
                self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait(10)
            return self.popen.returncode
        finally:
            self._log_file.close()
