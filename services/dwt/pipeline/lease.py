"""Holding a community's run lease while a run works (:mod:`dwt.store.leases`).

:func:`hold` takes the lease (or raises :class:`~dwt.store.leases.RunBusy`) and starts a
heartbeat thread that renews it every quarter of the timeout; the run checks
:meth:`HeldLease.check` between steps and before it publishes its week, and gives the lease
back with :meth:`HeldLease.release` however it ends. A process killed with ``kill -9``
beats no more: after the timeout the next start (or the dashboard's look) finds the lease
stale, releases it and marks the run abandoned.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from dwt.store import Store, StoreError
from dwt.store.leases import Lease, LeaseLost, lease_timeout, release, renew, take

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HeldLease:
    """A lease this process holds, kept alive by a daemon thread until released."""

    def __init__(
        self,
        store: Store,
        lease: Lease,
        timeout: timedelta,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store, self.lease, self.clock = store, lease, clock
        self.interval = max(0.2, timeout.total_seconds() / 4)
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{lease.community}", daemon=True
        )
        self._thread.start()

    @property
    def run_id(self) -> str:
        return self.lease.run_id

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                held = renew(self.store, self.lease, self.clock())
            except (StoreError, PyMongoError, sqlite3.Error) as exc:  # the next beat retries
                log.warning("run %s: heartbeat not written: %s", self.lease.run_id, exc)
                continue
            if not held:
                log.error("run %s: its lease was taken over", self.lease.run_id)
                self._lost.set()
                return

    def check(self) -> None:
        """Raise :class:`LeaseLost` when another start took the lease over; beat once
        more otherwise (so what follows is covered by a fresh heartbeat)."""
        if self.lost or not renew(self.store, self.lease, self.clock()):
            self._lost.set()
            raise LeaseLost(
                f"run {self.lease.run_id} no longer holds {self.lease.community}'s lease (its "
                "heartbeat stopped long enough for another run to take it): nothing published"
            )

    def release(self) -> None:
        """Stop beating and give the lease back (idempotent)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if not self.lost:
            release(self.store, self.lease)


def hold(
    store: Store,
    community: str,
    run_id: str,
    *,
    timeout: timedelta | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> HeldLease:
    """Take ``community``'s lease for ``run_id`` and keep it alive (raises ``RunBusy``)."""
    timeout = timeout or lease_timeout()
    lease = take(store, community, run_id, clock(), timeout)
    return HeldLease(store, lease, timeout, clock)
