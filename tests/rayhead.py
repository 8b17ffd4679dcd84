"""A real local Ray head with the Jobs API, for tests (loopback only, its own ports, its own
temp dir).

Its own temp dir (``RAY_TMPDIR``): Ray's job supervisor finds the cluster a job's driver
joins through ``ray_current_cluster`` in the temp dir, which names the *latest* head started
on the machine; with a shared ``/tmp/ray`` a driver of this head joined another test run's
head (seen with two test runs on one machine: the driver waited for a GCS that was gone).

Started with ``ray start --head --block`` in its own process group and stopped by ending
that group — ``ray stop`` would also stop any other Ray runtime of the test session.
`RayHead` can also be killed (SIGKILL to the group: as an OOM kill or a deleted pod ends a
head) and started again on the same ports: a *replaced* head, empty, at the same address.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RayHead:
    """One Ray head's ports and process; `address` is its Jobs API."""

    def __init__(self, num_cpus: int = 2, env: dict[str, str] | None = None) -> None:
        self.num_cpus = num_cpus
        # Short: Ray's Unix sockets live under it (a 107-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="dwt-rh-", dir="/tmp"))
        self.env = {
            **os.environ,
            "RAY_TMPDIR": str(self.root),
            "RAY_AUTH_MODE": "disabled",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            **(env or {}),
        }
        self.ports = {
            name: _free_port()
            for name in ("gcs", "dashboard", "client", "agent", "metrics", "agent_grpc")
        }
        self.address = f"http://127.0.0.1:{self.ports['dashboard']}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        ports = self.ports
        return [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={ports['gcs']}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports['dashboard']}",
            f"--num-cpus={self.num_cpus}",
            "--include-dashboard=true",
            f"--ray-client-server-port={ports['client']}",
            f"--dashboard-agent-listen-port={ports['agent']}",
            f"--metrics-export-port={ports['metrics']}",
            f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
        ]

    def _spawn(self) -> subprocess.Popen:
        # Both streams to a file: Ray says why it stopped on either, and a pipe nobody
        # reads would block a head that goes on printing.
        with open(self.root / "ray-start.log", "wb") as log:
            return subprocess.Popen(
                self.command(),
                env=self.env,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _said(self) -> str:
        text = (self.root / "ray-start.log").read_text(errors="replace").strip()
        return f"exit code {self.process.returncode}: {text[-800:] or '(it printed nothing)'}"

    def start(self, timeout: float = 120) -> RayHead:
        """Start it and wait until it runs a job: its Jobs API answers before its job agent
        is up (a submission gets 500 "No available agent to submit job" until then), so a
        no-op job ``rayhead-ready-<n>`` is submitted and waited for."""
        from ray.job_submission import JobSubmissionClient

        self.process = self._spawn()
        self.starts += 1
        probe = f"rayhead-ready-{self.starts}"
        deadline = time.time() + timeout
        spawns = 1
        while True:
            if self.process.poll() is not None:
                said = self._said()
                if spawns < 3 and time.time() < deadline:
                    # An overloaded machine: Ray gave up waiting for its own GCS, or a
                    # port was still held by what ended a moment ago. What it started (in
                    # its process group) goes, then again, a little later.
                    warnings.warn(f"ray start failed, tried again: {said}", stacklevel=2)
                    with suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    time.sleep(2)
                    self.process = self._spawn()
                    spawns += 1
                    continue
                raise RuntimeError(f"ray head exited ({spawns} tries): {said}")
            try:
                client = JobSubmissionClient(self.address)
                if probe not in {j.submission_id for j in client.list_jobs()}:
                    client.submit_job(entrypoint="true", submission_id=probe)
                ran = client.get_job_status(probe).value == "SUCCEEDED"
            except (ConnectionError, RuntimeError, OSError):
                ran = False  # not up yet: asked again, until the deadline
            if ran:
                return self
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"ray head did not run a job within {timeout:.0f} s")
            time.sleep(0.5)

    def stop(self, kill: bool = False) -> None:
        """End it: SIGINT to its process group (``ray start --block`` stops its node), or
        with ``kill`` SIGKILL to every process it started (as an OOM kill or a deleted pod
        ends a head: Ray's workers and job drivers run in groups and sessions of their own,
        so the group alone would leave them running)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if kill:
            pids = [process.pid, *_descendants(process.pid)]
            for pid in pids:
                with suppress(ProcessLookupError):  # ended meanwhile
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=30)
            _wait_gone(pids[1:], timeout=30)  # their ports are free once they are
            return
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def close(self) -> None:
        """Stop it for good and remove its temp dir (`stop` alone lets it start again)."""
        self.stop()
        try:
            shutil.rmtree(self.root)
        except OSError as exc:  # a straggler still writing: the dir is left, and said
            warnings.warn(f"the Ray head's temp dir {self.root} is left: {exc}", stacklevel=2)


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc: each process's parent)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Wait until each process has ended (gone, or a zombie: it holds no ports then)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break  # gone
            if state == "Z":
                break
            time.sleep(0.05)


@contextmanager
def ray_head(num_cpus: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the Jobs API address (``http://127.0.0.1:PORT``) of a fresh Ray head."""
    head = RayHead(num_cpus, env).start(timeout=90)
    try:
        yield head.address
    finally:
        head.close()
