"""Where `tools/servers/build.sh` puts each server's binary, computed the same way it does.

The single source of truth is ``tools/servers/versions.txt`` (one line per server: name,
version, Go module, Go package, binary; a line may build several binaries of one module, its
packages and binaries then comma-separated) together with each server's ``go.mod``, ``go.sum``
and ``build.flags``; a binary lives in
``${DWT_SERVERS_DIR:-~/.cache/dwt/servers}/<name>-<version>-<key>/<binary>``, where ``key`` is
the first 16 hex digits of the SHA-256 of that manifest line (single spaces, newline) followed
by the three files' bytes. Change any of them and the path changes, so a stale binary is never
used; tests/unit/test_real_servers.py checks this module against ``build.sh --print-paths``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVERS_SRC = REPO / "tools" / "servers"
MANIFEST = SERVERS_SRC / "versions.txt"
BUILD_HINT = "run `make servers` (or tools/servers/build.sh) to build it"


class ServerNotBuilt(RuntimeError):
    """The binary for this manifest is not in the cache: `make servers` has not run."""


@dataclasses.dataclass(frozen=True)
class Server:
    name: str
    version: str
    module: str
    package: str
    binary: str

    @property
    def source(self) -> Path:
        """The Go main module this server is built from (tools/servers/<name>)."""
        return SERVERS_SRC / self.name

    @property
    def binaries(self) -> tuple[str, ...]:
        """The binaries this line builds (one, or several of one module)."""
        return tuple(self.binary.split(","))

    def line(self) -> str:
        return " ".join((self.name, self.version, self.module, self.package, self.binary))

    def key(self) -> str:
        digest = hashlib.sha256((self.line() + "\n").encode())
        for file in ("go.mod", "go.sum", "build.flags"):
            path = self.source / file
            if file != "build.flags" or path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]

    def path(self, binary: str | None = None) -> Path:
        """Where build.sh puts (or has put) the binary (the line's only one by default)."""
        if binary is None:
            (binary,) = self.binaries
        if binary not in self.binaries:
            raise KeyError(f"{self.name} builds {self.binaries}, not {binary}")
        return cache_dir() / f"{self.name}-{self.version}-{self.key()}" / binary

    def require(self, binary: str | None = None) -> Path:
        """The built binary; `ServerNotBuilt` (saying to run `make servers`) if it is missing."""
        path = self.path(binary)
        if not os.access(path, os.X_OK):
            raise ServerNotBuilt(
                f"{self.name} {self.version} is not built ({path} is missing): {BUILD_HINT}"
            )
        return path


def cache_dir() -> Path:
    value = os.environ.get("DWT_SERVERS_DIR")
    return Path(value) if value else Path.home() / ".cache" / "dwt" / "servers"


def servers() -> dict[str, Server]:
    """The manifest, in its order: name -> `Server`."""
    result: dict[str, Server] = {}
    for raw in MANIFEST.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 5:
            raise ValueError(f"{MANIFEST}: expected 5 fields, got {line!r}")
        result[fields[0]] = Server(*fields)
    return result


def server(name: str) -> Server:
    return servers()[name]


def binary(name: str) -> Path:
    """Path of a built binary, by its name (`ServerNotBuilt` if `make servers` has not built
    it); several binaries may come from one line (kube-node)."""
    for s in servers().values():
        if name in s.binaries:
            return s.require(name)
    raise KeyError(f"no line of {MANIFEST} builds {name}")


def binary_paths() -> dict[str, Path]:
    """binary name -> where build.sh puts it, for every binary of the manifest (what
    ``build.sh --print-paths`` prints)."""
    return {b: s.path(b) for s in servers().values() for b in s.binaries}
