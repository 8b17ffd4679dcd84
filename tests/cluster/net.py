"""The cluster's network: a network namespace with no interface to the outside.

Everything of the single-node cluster that is not a file lives in one namespace this module
creates (``dwt-cluster-<hex>``): the node's address on a port-less bridge (``dwt0``: this kernel
has no ``dummy`` driver, and a bridge without ports is the same thing), the pods' bridge that
the CNI plugin adds, the Service range that kube-proxy's iptables rules serve, and loopback.
The namespace has no route to anything else (no default route, no veth to the host), so no
packet to a pod or Service address can leave it. Its sysctls (``ip_forward``, the bridge's
``nf-call-iptables`` for kube-proxy) belong to the namespace and go with it.

Processes on the host reach into it only through `Relay`: a listening socket on the host's
127.0.0.1 whose connections are dialled from a thread that entered the namespace (``setns``),
so a person's kubectl, Helm and the tests talk to the API server, a Service or a pod without the
namespace getting any link to the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import selectors
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

NODE_IP = "10.201.0.1"  # the node's InternalIP, on dwt0
POD_CIDR = "10.202.0.0/24"  # the CNI bridge's range (host-local IPAM)
POD_GATEWAY = "10.202.0.1"
SERVICE_CIDR = "10.0.0.0/24"  # as tests/servers/kube.py: its certificates name 10.0.0.1
KUBERNETES_SERVICE_IP = "10.0.0.1"
DNS_SERVICE_IP = "10.0.0.10"
NODE_BRIDGE = "dwt0"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """The namespace could not be made or entered."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def in_netns(name: str, argv: list[str]) -> list[str]:
    """``argv`` run in the namespace's network only (``nsenter --net``: the mount namespace
    stays the host's, as containerd and the kubelet must share their mounts)."""
    return ["nsenter", f"--net=/run/netns/{name}", "--", *argv]


class Netns:
    """A network namespace of the cluster's own; `close` deletes it (and with it every
    interface, route, iptables rule and sysctl inside)."""

    def __init__(self, prefix: str = "dwt-cluster") -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        self.path = Path("/run/netns") / self.name
        _ip("netns", "add", self.name)
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        n = self.name
        _ip("-n", n, "link", "set", "lo", "up")
        _ip("-n", n, "link", "add", NODE_BRIDGE, "type", "bridge")
        _ip("-n", n, "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
        _ip("-n", n, "link", "set", NODE_BRIDGE, "up")
        # Locally started connections to a Service need a route before kube-proxy's OUTPUT
        # rules rewrite them; one that no rule rewrites ends on the port-less bridge.
        _ip("-n", n, "route", "add", SERVICE_CIDR, "dev", NODE_BRIDGE, "src", NODE_IP)
        self.sysctl(
            {
                "net.ipv4.ip_forward": "1",
                "net.bridge.bridge-nf-call-iptables": "1",
                "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1",
            }
        )

    def sysctl(self, values: dict[str, str]) -> None:
        """Set sysctls of this namespace (per-namespace keys only; they vanish with it)."""
        subprocess.run(
            in_netns(self.name, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())]),
            check=True,
            capture_output=True,
            text=True,
        )

    def argv(self, argv: list[str]) -> list[str]:
        return in_netns(self.name, argv)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(argv), **kwargs)

    def interfaces(self) -> list[str]:
        out = subprocess.run(
            ["ip", "-n", self.name, "-o", "link", "show"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def routes(self) -> list[str]:
        out = subprocess.run(
            ["ip", "-n", self.name, "route", "show", "table", "all"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.splitlines()

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """This thread in the namespace for the block (sockets made there stay there)."""
        own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise NetnsError(f"setns {self.name}: {os.strerror(ctypes.get_errno())}")
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise NetnsError(f"setns back: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(own)
            os.close(target)

    def connect(self, host: str, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP connection made inside the namespace (from a short-lived thread: entering a
        namespace changes only the calling thread)."""
        result: list[socket.socket | BaseException] = []

        def dial() -> None:
            try:
                with self.entered():
                    result.append(socket.create_connection((host, port), timeout=timeout))
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                result.append(e)

        t = threading.Thread(target=dial, name=f"dial-{host}:{port}", daemon=True)
        t.start()
        t.join(timeout + 5)
        if not result:
            raise TimeoutError(f"connecting to {host}:{port} in {self.name}")
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def close(self) -> None:
        Netns.delete(self.name)

    @staticmethod
    def delete(name: str) -> None:
        """Delete a namespace by name (its interfaces, routes and rules go with it)."""
        if name and (Path("/run/netns") / name).exists():
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


class Relay:
    """127.0.0.1:<port> on the host, each connection spliced to ``host:port`` dialled inside
    the namespace. `close` stops it and closes every connection."""

    def __init__(self, netns: Netns, host: str, port: int, listen_port: int = 0) -> None:
        self.netns, self.target = netns, (host, port)
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self.port = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._accept, daemon=True, name=f"relay-{host}:{port}"
        )
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self.netns.connect(*self.target)
        except OSError:
            client.close()  # the client sees the connection closed, as with a refused port
            return
        with self._lock:
            self._conns |= {client, upstream}
        pairs = {client: upstream, upstream: client}
        sel = selectors.DefaultSelector()
        for s in pairs:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        try:
            open_ends = 2
            while open_ends and not self._closing.is_set():
                for key, _ in sel.select(timeout=1.0):
                    src = key.fileobj
                    try:
                        data = src.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    dst = pairs[src]
                    if not data:
                        sel.unregister(src)
                        open_ends -= 1
                        with contextlib.suppress(OSError):
                            dst.shutdown(socket.SHUT_WR)
                        continue
                    dst.setblocking(True)
                    try:
                        dst.sendall(data)
                    except OSError:
                        open_ends = 0
                        break
                    finally:
                        dst.setblocking(False)
        finally:
            sel.close()
            for s in pairs:
                s.close()
            with self._lock:
                self._conns -= set(pairs)

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._lock:
            for s in list(self._conns):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
