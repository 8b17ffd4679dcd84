"""The single-node cluster's network namespace (tests/cluster/net.py), on its own: what it
holds, that nothing leaves it, that the host reaches into it only through a relay, and that
closing it leaves nothing behind. Needs root (network namespaces): skipped otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from cluster.net import NODE_BRIDGE, NODE_IP, SERVICE_CIDR, Netns, Relay

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@pytest.fixture
def netns():
    ns = Netns(prefix="dwt-cluster-unit")
    yield ns
    ns.close()


def _echo_server(netns: Netns, host: str) -> tuple[socket.socket, int]:
    """A listening socket made inside the namespace; a thread echoes one connection."""
    made: list[socket.socket] = []

    def make() -> None:
        with netns.entered():
            made.append(socket.create_server((host, 0)))

    t = threading.Thread(target=make)
    t.start()
    t.join()
    server = made[0]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_the_namespace_holds_loopback_and_the_node_bridge_only(netns: Netns):
    assert set(netns.interfaces()) == {"lo", NODE_BRIDGE}
    routes = netns.routes()
    assert not [r for r in routes if r.startswith("default")], routes
    assert any(r.startswith(SERVICE_CIDR) for r in routes)
    forward = netns.run(
        ["sysctl", "-n", "net.ipv4.ip_forward"], capture_output=True, text=True
    ).stdout.strip()
    assert forward == "1"


def test_nothing_leaves_the_namespace(netns: Netns):
    """An address outside every range it has a route for fails at once (no route); an
    unassigned Service address gets no answer (the port-less bridge)."""
    with pytest.raises(OSError) as outside:
        netns.connect("10.99.0.1", 80, timeout=3)
    assert outside.value.errno in (101, 113)  # ENETUNREACH / EHOSTUNREACH
    with pytest.raises(OSError):
        netns.connect("10.0.0.250", 80, timeout=3)


def test_the_host_reaches_in_through_a_relay_only(netns: Netns):
    server, port = _echo_server(netns, NODE_IP)
    # the node's address is on no interface of the host (never dial it from the host: the
    # host's default route would send that packet out of the machine)
    host_addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert f" {NODE_IP}/" not in host_addresses
    relay = Relay(netns, NODE_IP, port)
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
            client.sendall(b"hello through the relay")
            client.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := client.recv(1024):
                got += chunk
        assert got == b"hello through the relay"
    finally:
        relay.close()
        server.close()


def test_closing_removes_the_namespace_and_the_host_is_untouched():
    host_forward = FORWARD.read_text()
    ns = Netns(prefix="dwt-cluster-unit")
    assert ns.path.exists()
    assert FORWARD.read_text() == host_forward  # the namespace's own
    ns.close()
    assert not ns.path.exists()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns.name not in listed
