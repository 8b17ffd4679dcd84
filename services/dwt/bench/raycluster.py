"""A real Ray cluster of several raylets on one machine, inside a network namespace of its own.

Ray 2.60 replaces ``--node-ip-address=127.0.0.1`` with the machine's address once a second
node joins, and with the product's loopback switch (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``)
it refuses the second node. Inside a network namespace that has only its loopback interface
up, the machine's address *is* 127.0.0.1 (Ray finds no route out and falls back to it), so
a head and worker raylets register on loopback and talk over it, and no packet can leave:
the namespace has no other interface and no route (:meth:`NamespacedRayCluster.isolation`
checks both before any Ray process starts).

Every process is started by this module (``ip netns exec NAME ray start --block``, each in
its own session) and stopped by it, by PID: each ``ray start`` group first (SIGINT, as
Ctrl-C stops its node), then whatever process is still inside the namespace, then the
namespace is deleted. A reaper process (``python -m dwt.bench.raycluster reap``) waits on
a pipe from the process that made the cluster: if that one dies without stopping it (a
SIGKILL), the pipe closes and the reaper kills what is inside the namespace and deletes it.
Used by the multi-node tests and ``dwt bench ray``; needs root (or CAP_SYS_ADMIN) for
``ip netns``: :func:`namespaces_permitted` says why not otherwise.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The GCS port inside the namespace (its own network stack: nothing else uses it).
GCS_PORT = 6379
#: The Jobs API (Ray dashboard) port inside the namespace.
DASHBOARD_PORT = 8265
_IP = "ip"


class ClusterError(RuntimeError):
    """The namespaced cluster could not be made; the message says why."""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


def namespaces_permitted() -> str | None:
    """Why a network namespace cannot be made here (None when it can)."""
    name = f"dwt-ray-probe-{secrets.token_hex(3)}"
    try:
        done = _run(_IP, "netns", "add", name, check=False)
    except FileNotFoundError:
        return "the `ip` tool (iproute2) is not installed"
    if done.returncode != 0:
        return f"`ip netns add` is not permitted here: {done.stderr.strip()[:200]}"
    _run(_IP, "netns", "del", name, check=False)
    return None


class NamespacedRayCluster:
    """A head and ``nodes - 1`` worker raylets, ``cpus`` CPUs each, in a fresh namespace.

    ``env`` is given to every Ray process (the store's URL for the workers, say); the
    cluster's token (Ray's token authentication) is made here and kept in a 0600 file,
    never on a command line. Use as a context manager."""

    def __init__(
        self,
        nodes: int = 2,
        cpus: int = 1,
        *,
        object_store_mb: int = 256,
        env: Mapping[str, str] | None = None,
        workdir: Path,
        dashboard: bool = False,
        start_timeout_s: float = 180.0,
    ) -> None:
        if nodes < 1 or cpus < 1:
            raise ValueError("need at least one node and one CPU per node")
        self.nodes = nodes
        self.cpus = cpus
        self.object_store_mb = object_store_mb
        self.name = f"dwt-ray-{secrets.token_hex(4)}"
        self.workdir = workdir
        self.dashboard = dashboard
        self.start_timeout_s = start_timeout_s
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = f"127.0.0.1:{GCS_PORT}"
        self._created = False
        self._reaper: subprocess.Popen[bytes] | None = None
        # Ray's sockets live under its temp dir: AF_UNIX paths stop at 107 bytes.
        self.ray_dir = Path(tempfile.mkdtemp(prefix="dwt-ray-", dir="/tmp"))
        token_file = workdir / "ray-token"
        token_file.write_text(secrets.token_hex(32))
        token_file.chmod(0o600)
        self.env = {
            **os.environ,
            **(env or {}),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token_file),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.env.pop("RAY_ADDRESS", None)
        # The product's loopback switch refuses a second node; the namespace is the fence.
        self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)

    # ---- the namespace ---------------------------------------------------------------

    def isolation(self) -> dict[str, Any]:
        """What the namespace has: its interfaces (only ``lo``), addresses and routes (none
        leaving); raises :class:`ClusterError` when anything could reach out."""
        links = _run(_IP, "netns", "exec", self.name, _IP, "-o", "link", "show").stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
        lines = _run(_IP, "netns", "exec", self.name, _IP, "-o", "addr", "show").stdout
        addresses = []
        for words in (line.split() for line in lines.splitlines()):
            addresses += [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("inet", "inet6")]
        routes = [
            line
            for family in ("-4", "-6")
            for line in _run(
                _IP, "netns", "exec", self.name, _IP, family, "route", "show"
            ).stdout.splitlines()
        ]
        shown = {"interfaces": names, "addresses": addresses, "routes": routes}
        if names != ["lo"]:
            raise ClusterError(f"namespace {self.name} has interfaces {names}, not only lo")
        if set(addresses) - {"127.0.0.1/8", "::1/128"} or routes:
            raise ClusterError(f"namespace {self.name} could reach out: {shown}")
        return shown

    def exec_args(self, *command: str) -> list[str]:
        """``command`` run inside the namespace."""
        return [_IP, "netns", "exec", self.name, *command]

    # ---- the cluster -----------------------------------------------------------------

    def __enter__(self) -> NamespacedRayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        done = _run(_IP, "netns", "add", self.name, check=False)
        if done.returncode != 0:
            raise ClusterError(f"ip netns add {self.name}: {done.stderr.strip()}")
        self._created = True
        # Started before any Ray process: whatever happens to this process, it cleans up.
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "dwt.bench.raycluster", "reap", self.name, str(self.ray_dir)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        _run(_IP, "netns", "exec", self.name, _IP, "link", "set", "lo", "up")
        self.isolation()
        ray = str(Path(sys.executable).parent / "ray")
        common = [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus}",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            "--disable-usage-stats",
        ]
        head = [
            ray, "start", "--head", f"--port={GCS_PORT}", *common,
            f"--temp-dir={self.ray_dir}",
            f"--include-dashboard={'true' if self.dashboard else 'false'}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
        ]  # fmt: skip
        self._spawn(head, "head")
        self.wait(1)
        for k in range(1, self.nodes):
            self._spawn([ray, "start", f"--address={self.address}", *common], f"worker-{k}")
        self.wait(self.nodes)

    def _spawn(self, command: Sequence[str], label: str) -> None:
        log = open(self.workdir / f"{label}.log", "wb")  # noqa: SIM115 - the process keeps it
        self.processes.append(
            subprocess.Popen(
                self.exec_args(*command),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def python(self, code: str, timeout: float = 120.0) -> str:
        """Run ``code`` with this interpreter inside the namespace; its stdout."""
        done = subprocess.run(
            self.exec_args(sys.executable, "-c", code),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ClusterError(done.stderr.strip()[-1500:])
        return done.stdout

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes (id and address), asked from inside the namespace."""
        code = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR')\n"
            "print(json.dumps([{'id': n['NodeID'], 'ip': n['NodeManagerAddress'], "
            "'cpus': n['Resources'].get('CPU', 0)} for n in ray.nodes() if n['Alive']]))\n"
        )
        import json

        return json.loads(self.python(code).strip().splitlines()[-1])

    def wait(self, nodes: int) -> list[dict[str, Any]]:
        """Wait until ``nodes`` raylets are alive (or a Ray process exits, or the timeout)."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    raise ClusterError(
                        f"a ray process exited ({process.returncode}): {self._logs()}"
                    )
            try:
                alive = self.alive_nodes()
                if len(alive) >= nodes:
                    return alive
            except (ClusterError, subprocess.TimeoutExpired):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{nodes} Ray node(s) not up in {self.start_timeout_s:.0f}s")
            time.sleep(1.0)

    def _logs(self) -> str:
        tails = []
        for log in sorted(self.workdir.glob("*.log")):
            tails.append(f"{log.name}: {log.read_text(errors='replace')[-600:]}")
        return " | ".join(tails)

    def pids(self) -> list[int]:
        """Every process inside the namespace (all of them started here)."""
        return _namespace_pids(self.name)

    def stop(self) -> None:
        """Stop every Ray process (each ``ray start`` group, then anything left in the
        namespace, by PID) and delete the namespace."""
        for process in self.processes:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._created:
            _clear(self.name)
            self._created = False
        shutil.rmtree(self.ray_dir, ignore_errors=True)
        if self._reaper is not None:
            self._reaper.stdin.close()  # type: ignore[union-attr] - EOF: nothing left to do
            self._reaper.wait(timeout=30)
            self._reaper = None


def _namespace_pids(name: str) -> list[int]:
    done = _run(_IP, "netns", "pids", name, check=False)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def _clear(name: str) -> None:
    """Kill every process inside namespace ``name`` (by PID) and delete it."""
    for _ in range(20):
        left = _namespace_pids(name)
        if not left:
            break
        for pid in left:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.25)
    _run(_IP, "netns", "del", name, check=False)


def reap(name: str, ray_dir: str) -> int:
    """Wait until the pipe on stdin closes (its maker stopped the cluster, or died), then
    clear what is left of namespace ``name`` and Ray's directory."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the maker
    while sys.stdin.buffer.read(4096):
        pass
    if name in _run(_IP, "netns", "list", check=False).stdout.split():
        _clear(name)
    shutil.rmtree(ray_dir, ignore_errors=True)
    return 0


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already ended
        os.killpg(pid, sig)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the process has already ended
        os.kill(pid, sig)


if __name__ == "__main__":
    if sys.argv[1:2] != ["reap"] or len(sys.argv) != 4:
        sys.exit("usage: python -m dwt.bench.raycluster reap NAMESPACE RAY_DIR")
    sys.exit(reap(sys.argv[2], sys.argv[3]))
