"""API keys as the dashboard manages them: added (after X accepts them), listed only by
fingerprint, deleted. A key never reaches a page, a log line or the store.

:class:`FileKeyStore` keeps them in a file (one per line, mode 0600) — the same file
``DWT_API_KEYS_FILE`` points collection at, locally. In the cluster the keys live in a
Kubernetes Secret (mounted on the Ray pods); that store comes with the chart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dwt.xapi.client import XClient, key_fingerprint
from dwt.xapi.errors import ForbiddenKey, UnauthorizedKey, XApiError


class KeyRefused(ValueError):
    """X refused the key, or it could not be checked; the message says which."""


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    length: int


def check_key(token: str, base_url: str) -> None:
    """Ask X whether it accepts ``token`` (one cheap lookup); raise :class:`KeyRefused`."""
    client = XClient(token, base_url=base_url, timeout=15)
    try:
        client.lookup_users(usernames=["X"])
    except (UnauthorizedKey, ForbiddenKey):
        raise KeyRefused("X refused this key (401/403): check it was copied whole") from None
    except XApiError as exc:
        raise KeyRefused(f"the key could not be checked now: {exc}") from None
    finally:
        client.close()


class FileKeyStore:
    """Keys in a local file, written atomically and readable by its owner only."""

    def __init__(self, path: str | Path, base_url: str) -> None:
        self.path = Path(path)
        self.base_url = base_url

    def _tokens(self) -> list[str]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    def _write(self, tokens: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{t}\n" for t in tokens))
        partial.replace(self.path)

    def list(self) -> list[KeyInfo]:
        return [KeyInfo(key_fingerprint(t), len(t)) for t in self._tokens()]

    def add(self, token: str) -> KeyInfo:
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise KeyRefused("a bearer token is one word, without spaces")
        tokens = self._tokens()
        info = KeyInfo(key_fingerprint(token), len(token))
        if token in tokens:
            return info
        check_key(token, self.base_url)
        self._write([*tokens, token])
        return info

    def delete(self, fingerprint: str) -> bool:
        tokens = self._tokens()
        kept = [t for t in tokens if key_fingerprint(t) != fingerprint]
        if len(kept) == len(tokens):
            return False
        self._write(kept)
        return True
