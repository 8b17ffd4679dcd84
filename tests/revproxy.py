"""A small reverse proxy on loopback that forwards as an ingress does, and clients that
reach it from chosen loopback addresses.

The proxy (:class:`ReverseProxy`) listens on 127.0.0.1 and connects to the upstream from
127.0.0.1; a :class:`Client` connects from its own address (127.0.0.2, 127.0.0.3, …: all of
127.0.0.0/8 is loopback on Linux), so the proxy sees distinct clients and the upstream sees
only the proxy. Like ingress-nginx it appends the peer's address to ``X-Forwarded-For``,
sets ``X-Forwarded-Proto`` to the scheme it terminates (``https`` when told), and streams
the request body, stopping as soon as the upstream answers (a 413 before the body is read).
One request per connection (``Connection: close``).
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request's head (up to the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(CHUNK)
        if not chunk:
            raise ConnectionError("closed before the head ended")
        data += chunk
        if len(data) > 64 * 1024:
            raise ConnectionError("head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def readable(socks: list[socket.socket], timeout: float) -> list[socket.socket]:
    """Those of ``socks`` with something to read within ``timeout`` seconds (poll, not
    select: select refuses descriptors above 1,023, which a long test run reaches)."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN)
    ready = {fd for fd, _ in poller.poll(timeout * 1000)}
    return [sock for sock in socks if sock.fileno() in ready]


class ReverseProxy:
    def __init__(self, upstream: tuple[str, int], proto: str = "http") -> None:
        self.upstream = upstream
        self.proto = proto
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ReverseProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn, peer[0]), daemon=True).start()

    def _handle(self, client: socket.socket, peer: str) -> None:
        with client:
            head, body = _read_head(client)
            line, *fields = head.decode("latin-1").split("\r\n")
            headers = [f.split(":", 1) for f in fields if ":" in f]
            kept = [(k.strip(), v.strip()) for k, v in headers
                    if k.strip().lower() not in HOP_BY_HOP | {"x-forwarded-proto"}]  # fmt: skip
            forwarded = [v for k, v in kept if k.lower() == "x-forwarded-for"]
            kept = [(k, v) for k, v in kept if k.lower() != "x-forwarded-for"]
            kept += [
                ("X-Forwarded-For", ", ".join([*forwarded, peer])),
                ("X-Forwarded-Proto", self.proto),
                ("Connection", "close"),
            ]
            length = int(next((v for k, v in kept if k.lower() == "content-length"), "0"))
            answered = False
            try:
                upstream = socket.create_connection(self.upstream, source_address=("127.0.0.1", 0))
                with upstream:
                    out = line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept) + "\r\n"
                    upstream.sendall(out.encode("latin-1"))
                    self._stream_body(client, upstream, body, length)
                    while chunk := upstream.recv(CHUNK):
                        client.sendall(chunk)
                        answered = True
            except OSError as exc:
                if not answered:  # as an ingress does: the client learns what went wrong
                    reason = f"upstream: {exc!r}".encode()
                    head = f"HTTP/1.1 502 Bad Gateway\r\nContent-Length: {len(reason)}\r\n"
                    client.sendall(head.encode() + b"Connection: close\r\n\r\n" + reason)

    @staticmethod
    def _stream_body(
        client: socket.socket, upstream: socket.socket, body: bytes, length: int
    ) -> None:
        """Send the body on until the upstream answers (it may refuse before reading)."""
        sent = 0
        while sent < length:
            waiting = [upstream] if body else [upstream, client]
            ready = readable(waiting, 0 if body else 30)
            if upstream in ready or not (ready or body):
                return  # an answer already (or nothing moves): stop sending
            if not body:
                body = client.recv(CHUNK)
                if not body:
                    return
            part = body[: length - sent]
            try:
                upstream.sendall(part)
            except OSError:
                return  # the upstream closed: its answer is waiting
            sent += len(part)
            body = b""


class Client:
    """A browser-like client from one loopback address: keeps cookies, speaks through
    ``http.client`` (one connection per request)."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address = port, address
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], list[str], str]:
        """(status, headers, Set-Cookie lines, body text)."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=60, source_address=(self.address, 0)
        )
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
        set_cookies = answer.headers.get_all("Set-Cookie") or []
        for line in set_cookies:
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        conn.close()
        return answer.status, dict(answer.headers), set_cookies, text
