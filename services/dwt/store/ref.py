"""A store as another process opens it: what the pipeline's tasks and the collectors carry.

The driver never sends a secret: a :class:`StoreRef` holds the store's URL only when the URL
has no password, and always the URL's fingerprint; a process that gets one without the URL
opens the store its own settings name (``DWT_STORE_URL``: the chart sets it on every Ray
node) and refuses, with a sentence, a store whose fingerprint differs from the driver's.
In the process that made it, the reference gives back the very store object it was made
from (never pickled with it).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from dwt.config import redact_url
from dwt.store.store import Store


class StoreMismatch(RuntimeError):
    """A Ray worker's store is not the driver's: results would land elsewhere."""


class StoreRef:
    """How a task opens the run's store without the driver sending a secret: the store
    itself in the driver's process; elsewhere its URL when it has none, and always the
    URL's fingerprint (what a worker's own store must match)."""

    def __init__(self, url: str | None, fingerprint: str, shown: str) -> None:
        self.url = url
        self.fingerprint = fingerprint
        self.shown = shown  # the URL with any password hidden, for messages
        self._local: Store | None = None

    @classmethod
    def of(cls, store: Store) -> StoreRef:
        """The reference of an open store (one opened with :meth:`Store.open`)."""
        url = store.full_url
        if url is None:
            raise ValueError(f"{store!r} was not opened from a URL: tasks could not open it")
        ref = cls(url if redact_url(url) == url else None, _fingerprint(url), redact_url(url))
        ref._local = store
        return ref

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "fingerprint": self.fingerprint, "shown": self.shown}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _local=None)

    def open(self) -> Store:
        """The store: the driver's own object in its process; elsewhere opened once per
        process (indexes are the driver's business)."""
        if self._local is not None:  # never pickled: only the process that opened it
            return self._local
        return _open(self.url, self.fingerprint, self.shown)


def _fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


@functools.cache
def _open(url: str | None, fingerprint: str, shown: str) -> Store:
    if url is None:
        from dwt.config import Settings

        url = Settings().store_url_value
    if _fingerprint(url) != fingerprint:
        raise StoreMismatch(
            f"this Ray worker's store is {redact_url(url)}, not the run's {shown}: set "
            "DWT_STORE_URL on every Ray node to the driver's store (the chart does)"
        )
    return Store.open(url, ensure_indexes=False)
