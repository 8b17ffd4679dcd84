"""A real local Ray head with the Jobs API, for tests (loopback only, its own ports).

Started with ``ray start --head --block`` in its own process group and stopped by ending
that group — ``ray stop`` would also stop any other Ray runtime of the test session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def ray_head(num_cpus: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the Jobs API address (``http://127.0.0.1:PORT``) of a fresh Ray head."""
    from ray.job_submission import JobSubmissionClient

    dashboard = _free_port()
    environ = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        **(env or {}),
    }
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={_free_port()}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--num-cpus={num_cpus}",
        "--include-dashboard=true",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
    ]
    process = subprocess.Popen(
        command,
        env=environ,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.time() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ray head exited: {process.stderr.read().decode()[-800:]}")
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except (ConnectionError, RuntimeError, OSError):
                if time.time() > deadline:
                    raise RuntimeError("ray head did not answer within 90 s") from None
                time.sleep(0.5)
        yield address
    finally:
        os.killpg(process.pid, signal.SIGINT)  # `ray start --block` stops its node on Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
