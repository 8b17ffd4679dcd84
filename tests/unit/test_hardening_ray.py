"""A real local Ray runtime listens on loopback only, with token auth on (issue 14).

The unit tests of :mod:`dwt.pipeline.ray_runtime` stub ``ray.init``; that hid a runtime
whose GCS, raylet and agents listened on every interface (Ray reads
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` at import, and it was set after). Here a runtime is
started for real in a subprocess and the listening TCP sockets of its processes are read
from ``/proc`` (Linux).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_tool("/proc/net/tcp (Linux)", Path("/proc/net/tcp").exists()),
]

REPO = Path(__file__).resolve().parents[2]

# ``ray`` imported before ensure_ray (as a test module or a library may do), or not.
DRIVER = textwrap.dedent(
    """
    import json, os, sys
    if sys.argv[1] == "ray-first":
        import ray  # noqa: F401
    from dwt.pipeline.ray_runtime import ensure_ray
    print(ensure_ray(num_cpus=1, object_store_memory=80 * 1024 * 1024), file=sys.stderr)
    from ray._raylet import AuthenticationMode, get_authentication_mode
    token = get_authentication_mode() == AuthenticationMode.TOKEN
    print(json.dumps({"ready": True, "token_auth": token}), flush=True)
    sys.stdin.read()  # until the test closes stdin
    """
)


def _listening(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket the processes ``pids`` hold."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:  # gone, or not ours to read
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            host, port = local.split(":")
            found.append((inodes[inode], str(_address(host)), int(port, 16)))
    return found


def _address(hex_host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_host)
    # /proc prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _family(root: int) -> set[int]:
    """``root``, its descendants and every process of its session (Ray may re-parent)."""
    parents: dict[int, int] = {}
    sessions: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        sessions[int(entry)] = int(fields[3])
    family = {root} | {pid for pid, sid in sessions.items() if sid == root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family


@pytest.mark.parametrize("order", ["ray-first", "dwt-first"])
def test_a_local_runtime_listens_on_loopback_only_with_token_auth(order):
    scratch = tempfile.mkdtemp(prefix="dwt-ray-")  # short: Ray's socket paths must fit 107 bytes
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RAY_")  # what the test session set must not help
    }
    env |= {
        # Ray makes ~/.ray/auth_token when no token is given; give one, keep $HOME clean
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_AUTH_MODE": "disabled",  # as the tests' fixture had it: ensure_ray overrides
        "RAY_TMPDIR": scratch,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", DRIVER, order],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stdout.readline()
        assert line, process.stderr.read()[-2000:]
        state = json.loads(line)
        assert state["token_auth"] is True
        sockets: list[tuple[int, str, int]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # agents come up a moment after ray.init
            sockets = _listening(_family(process.pid))
            if len({pid for pid, _, _ in sockets}) >= 3:
                break
            time.sleep(0.5)
        assert len(sockets) >= 3, sockets  # GCS, raylet, agents, the driver's core worker
        exposed = [s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback]
        assert not exposed, f"Ray listens beyond loopback: {exposed}"
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Ray's own processes, if any linger
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_test_ray_head_listens_on_loopback_only():
    """The `ray start --head` of tests/rayhead.py (the operator's end-to-end tests)."""
    from rayhead import ray_head

    with ray_head(num_cpus=1) as address:
        assert address.startswith("http://127.0.0.1:")
        # the head runs in its own session: find it by the dashboard port it answers on
        port = int(address.rsplit(":", 1)[1])
        owner = next(pid for pid, _, p in _listening(_all_pids()) if p == port)
        sid = int(Path(f"/proc/{owner}/stat").read_text().rsplit(")", 1)[1].split()[3])
        deadline = time.monotonic() + 30  # the head's processes open their ports in turn
        sockets = _listening(_family(sid))
        while len(sockets) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            sockets = _listening(_family(sid))
        assert len(sockets) >= 3, sockets
        exposed = [s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback]
        assert not exposed, f"the Ray head listens beyond loopback: {exposed}"


def _all_pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}
