"""API keys as the dashboard manages them: added (after X accepts them), listed only by
fingerprint, deleted. A key never reaches a page, a log line or the store.

Two homes, one behaviour (:class:`KeyStore`): :class:`FileKeyStore` keeps them in a file
(one per line, mode 0600) — the file ``DWT_API_KEYS_FILE`` points collection at, locally;
:class:`SecretKeyStore` keeps them in the cluster's Kubernetes Secret (one data entry per
key), which the Ray pods mount and the operator counts to scale the collectors.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dwt.private import private_dir
from dwt.xapi.client import XClient, key_fingerprint
from dwt.xapi.errors import ForbiddenKey, UnauthorizedKey, XApiError


class KeyRefused(ValueError):
    """X refused the key, it could not be checked, or where keys live could not be read or
    written; the message says which."""


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


class KeyStore(ABC):
    """Keys by entry name; adding checks the key with X first, listing shows fingerprints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @abstractmethod
    def _entries(self) -> dict[str, str]:
        """Entry name → token."""

    @abstractmethod
    def _put(self, name: str, token: str) -> None: ...

    @abstractmethod
    def _remove(self, names: list[str]) -> None: ...

    def list(self) -> list[KeyInfo]:
        return [KeyInfo(key_fingerprint(t), len(t)) for t in self._entries().values()]

    def first_token(self) -> str | None:
        """A key for the dashboard's own lookups (adding members by username)."""
        return next(iter(self._entries().values()), None)

    def add(self, token: str) -> KeyInfo:
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise KeyRefused("a bearer token is one word, without spaces")
        info = KeyInfo(key_fingerprint(token), len(token))
        if token in self._entries().values():
            return info
        check_key(token, self.base_url)
        # Named by fingerprint: a valid Secret key, stable, and saying nothing of the key.
        self._put("key-" + info.fingerprint.removeprefix("key:"), token)
        return info

    def delete(self, fingerprint: str) -> bool:
        names = [n for n, t in self._entries().items() if key_fingerprint(t) == fingerprint]
        if names:
            self._remove(names)
        return bool(names)


class FileKeyStore(KeyStore):
    """Keys in a local file, written atomically and readable by its owner only.

    A change reads, edits and replaces the file under an exclusive lock (``flock`` on a
    ``.lock`` beside it), so two people adding keys at once, from threads or processes,
    both keep theirs."""

    def __init__(self, path: str | Path, base_url: str) -> None:
        super().__init__(base_url)
        self.path = Path(path)

    def _entries(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        lines = [line.strip() for line in self.path.read_text().splitlines()]
        tokens = [line for line in lines if line and not line.startswith("#")]
        return {f"line-{i}": t for i, t in enumerate(dict.fromkeys(tokens))}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.path.parent)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, tokens: list[str]) -> None:
        fd, partial = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        with os.fdopen(fd, "w") as out:  # mkstemp makes it 0600
            out.write("".join(f"{t}\n" for t in tokens))
        os.replace(partial, self.path)

    def _put(self, name: str, token: str) -> None:
        with self._locked():
            self._write([*self._entries().values(), token])

    def _remove(self, names: list[str]) -> None:
        with self._locked():
            self._write([t for n, t in self._entries().items() if n not in names])


class SecretKeyStore(KeyStore):
    """Keys in a Kubernetes Secret (``CoreV1Api``), one data entry per key.

    The dashboard's role may only get and patch this one Secret (``resourceNames``); the
    Secret is made by the chart, so a missing one is a clear error, not a silent create.
    """

    def __init__(self, core_api: Any, namespace: str, name: str, base_url: str) -> None:
        super().__init__(base_url)
        self.core = core_api
        self.namespace = namespace
        self.name = name

    def _api(self, call: Any, *args: Any) -> Any:
        """A CoreV1Api call on the Secret; failures become a KeyRefused that says why."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        where = f"the Secret {self.namespace}/{self.name}"
        try:
            return call(self.name, self.namespace, *args)
        except ApiException as exc:
            if exc.status == 404:
                raise KeyRefused(f"{where} does not exist (the chart makes it)") from None
            raise KeyRefused(f"{where}: the Kubernetes API answered {exc.status}") from None
        except HTTPError as exc:
            raise KeyRefused(f"{where} could not be reached: {exc}") from None

    def _entries(self) -> dict[str, str]:
        secret = self._api(self.core.read_namespaced_secret)
        data = secret.data or {}
        return {n: base64.b64decode(v).decode().strip() for n, v in sorted(data.items())}

    def _patch(self, data: dict[str, str | None]) -> None:
        self._api(self.core.patch_namespaced_secret, {"data": data})

    def _put(self, name: str, token: str) -> None:
        self._patch({name: base64.b64encode(token.encode()).decode()})

    def _remove(self, names: list[str]) -> None:
        # A merge patch deletes an entry given null.
        self._patch(dict.fromkeys(names))
