"""Where API keys come from, described without the keys themselves.

The driver tells each collector *where* to read keys (the environment, a file, a mounted
Secret directory) and *which* key by fingerprint; the collector reads the key on its own
node. So no key ever travels in a Ray task argument, job metadata or log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from dwt.config import Settings, load_settings
from dwt.xapi.client import key_fingerprint

T = TypeVar("T")


class NoKeysError(RuntimeError):
    """No API key is configured: collection cannot start."""


class KeyNotFoundError(RuntimeError):
    """The key named by a fingerprint is not in the key source (rotated away?)."""


@dataclass(frozen=True)
class KeySource:
    """Paths and switches that locate the keys; safe to pass around and print."""

    file: str | None = None
    directory: str | None = None
    from_env: bool = True  # DWT_API_KEYS of the process that reads
    #: How long a collector waits for its key to appear in ``directory`` (keys_wait_s).
    wait_s: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> KeySource:
        return cls(
            file=str(settings.api_keys_file) if settings.api_keys_file else None,
            directory=str(settings.api_keys_dir) if settings.api_keys_dir else None,
            wait_s=settings.keys_wait_s,
        )

    def tokens(self) -> list[SecretStr]:
        overrides = {"api_keys_file": self.file, "api_keys_dir": self.directory}
        settings = load_settings(overrides)
        if not self.from_env and settings.api_keys is not None:
            settings = settings.model_copy(update={"api_keys": None})
        return settings.bearer_tokens()

    def fingerprints(self) -> list[str]:
        """The usable keys, by fingerprint; raises :class:`NoKeysError` when there are none."""
        found = [key_fingerprint(t.get_secret_value()) for t in self.tokens()]
        if not found:
            raise NoKeysError(
                "no X API keys configured: set DWT_API_KEYS, DWT_API_KEYS_FILE or "
                "DWT_API_KEYS_DIR (a mounted Secret), or add keys in the dashboard"
            )
        return found

    def wait_for_fingerprints(
        self,
        timeout_s: float,
        *,
        told: Callable[[str], None] = lambda line: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[str]:
        """:meth:`fingerprints`, waiting up to ``timeout_s`` for keys to appear in a mounted
        Secret directory: the kubelet refreshes a Secret volume on its own period (about a
        minute), so a run started right after the keys were added would find none, although
        the Secret holds them. Without a directory there is nothing to wait for."""
        return self._waiting(self.fingerprints, NoKeysError, timeout_s, told, clock, sleep)

    def token(
        self,
        fingerprint: str,
        timeout_s: float = 0.0,
        *,
        told: Callable[[str], None] = lambda line: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SecretStr:
        """The key named by ``fingerprint``, waiting up to ``timeout_s`` for it to appear in
        a mounted Secret directory: each node's kubelet refreshes its own copy of the Secret
        on its own period, so a collector placed on another node than the driver's may not
        see yet the key the driver saw."""

        def find() -> SecretStr:
            for token in self.tokens():
                if key_fingerprint(token.get_secret_value()) == fingerprint:
                    return token
            raise KeyNotFoundError(f"{fingerprint} is no longer among the configured keys")

        return self._waiting(find, KeyNotFoundError, timeout_s, told, clock, sleep)

    def _waiting(
        self,
        find: Callable[[], T],
        missing: type[Exception],
        timeout_s: float,
        told: Callable[[str], None],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> T:
        deadline = clock() + timeout_s
        while True:
            try:
                return find()
            except missing:
                if self.directory is None or clock() >= deadline:
                    raise
            told(f"no keys in {self.directory} yet; waiting for the mounted Secret to refresh")
            sleep(min(5.0, max(0.0, deadline - clock())))
