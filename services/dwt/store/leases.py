"""One active run per community, enforced in the store: a lease with an owner and a heartbeat.

Whoever starts a run — ``dwt run`` (a person, a Ray job's driver the operator submitted),
the dashboard's Run button, a member added and collected, the local schedule — first takes
the community's lease (:func:`take`): a document whose ``_id`` is the community, so two
starters race on one insert and exactly one wins, on both engines (MongoDB's unique ``_id``,
SQLite's primary key; no read-modify-write a wire-protocol server could interleave). The
holder renews ``heartbeat_at`` while it works (:func:`renew`, from a thread of
:mod:`dwt.pipeline.lease`) and deletes the lease when the run ends (:func:`release`).

A second start is refused with :class:`RunBusy`, which names the running run. A lease
whose heartbeat is older than the timeout belongs to a dead run (killed, its machine gone):
the next start, or the dashboard's look at the community (:func:`sweep`), deletes it —
conditionally on its owner and heartbeat count, so two of them cannot both — and marks the
run ``abandoned``, so nothing stays ``running`` forever.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dwt.store.runs import abandon_run
from dwt.store.schema import Coll
from dwt.store.store import Store, StoreError

#: How long a lease lives without a heartbeat (``DWT_RUN_LEASE_SECONDS``); the holder
#: beats four times as often.
DEFAULT_TIMEOUT_S = 120.0
TIMEOUT_ENV = "DWT_RUN_LEASE_SECONDS"


def lease_timeout() -> timedelta:
    """The lease timeout: ``DWT_RUN_LEASE_SECONDS`` when set (at least 1 s), else 120 s."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(text) if text.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = DEFAULT_TIMEOUT_S
    return timedelta(seconds=max(1.0, min(seconds, 86_400.0)))


def new_owner() -> str:
    """Who holds a lease: this host and process, and a random part (a retried run with the
    same id in another process is another owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lease:
    community: str
    run_id: str
    owner: str
    heartbeat_at: datetime
    beat: int = 0

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Lease:
        return cls(doc["_id"], doc["run_id"], doc["owner"], doc["heartbeat_at"], doc.get("beat", 0))

    def stale(self, now: datetime, timeout: timedelta) -> bool:
        return now - self.heartbeat_at > timeout


class RunBusy(StoreError):
    """Another run of the community holds the lease; ``holder`` is its run id."""

    def __init__(self, community: str, holder: Lease, now: datetime) -> None:
        ago = max(0, int((now - holder.heartbeat_at).total_seconds()))
        super().__init__(
            f"run {holder.run_id} of {community} is still running (last heartbeat {ago} s "
            "ago); one run at a time: wait for it to finish"
        )
        self.community = community
        self.holder = holder.run_id


class LeaseLost(StoreError):
    """The run no longer holds its community's lease (its heartbeat stopped long enough for
    another start to take it over): it must not publish anything."""


def _coll(store: Store) -> Any:
    return store[Coll.LEASES]


def current(store: Store, community: str) -> Lease | None:
    """The community's lease as stored (fresh or stale), if any."""
    doc = _coll(store).find_one({"_id": community})
    return Lease.of(doc) if doc else None


def _drop_stale(store: Store, found: Lease, now: datetime) -> bool:
    """Delete a stale lease if it is still the one seen, and abandon its run; whether this
    caller did it."""
    gone = _coll(store).delete_many(
        {"_id": found.community, "owner": found.owner, "beat": found.beat}
    )
    if gone.deleted_count:
        since = found.heartbeat_at.isoformat(timespec="seconds")
        abandon_run(store, found.run_id, now, f"abandoned: its heartbeat stopped at {since}")
    return bool(gone.deleted_count)


def take(
    store: Store,
    community: str,
    run_id: str,
    now: datetime,
    timeout: timedelta | None = None,
    owner: str | None = None,
) -> Lease:
    """Take the community's lease for ``run_id``, or raise :class:`RunBusy` naming the run
    that holds it. A stale lease is taken over (its run marked abandoned)."""
    timeout = timeout or lease_timeout()
    lease = Lease(community, run_id, owner or new_owner(), now)
    doc = {"_id": community, "run_id": run_id, "owner": lease.owner, "taken_at": now,
           "heartbeat_at": now, "beat": 0}  # fmt: skip
    for _ in range(5):  # a takeover races at most a few other starters
        if store.insert_new(Coll.LEASES, doc):
            return lease
        found = current(store, community)
        if found is None:
            continue  # released meanwhile: try again
        if not found.stale(now, timeout):
            raise RunBusy(community, found, now)
        _drop_stale(store, found, now)
    found = current(store, community)
    raise RunBusy(community, found or lease, now)


def renew(store: Store, lease: Lease, now: datetime) -> bool:
    """Beat: whether ``lease`` is still held (False: it was taken over; stop)."""
    done = _coll(store).update_one(
        {"_id": lease.community, "owner": lease.owner},
        {"$set": {"heartbeat_at": now}, "$inc": {"beat": 1}},
    )
    return bool(done.matched_count)


def holds(store: Store, lease: Lease) -> bool:
    found = current(store, lease.community)
    return found is not None and found.owner == lease.owner


def release(store: Store, lease: Lease) -> None:
    """Give the lease back (only this owner's: a taken-over lease is the new holder's)."""
    _coll(store).delete_many({"_id": lease.community, "owner": lease.owner})


def sweep(
    store: Store, community: str, now: datetime, timeout: timedelta | None = None
) -> Lease | None:
    """The community's live lease, if any, after ending what is dead: a stale lease is
    released and its run abandoned, and runs left ``running`` by a process that holds no
    lease (killed before this version kept leases, or between its lease and its record)
    are abandoned once they are older than the timeout."""
    timeout = timeout or lease_timeout()
    found = current(store, community)
    if found is not None and found.stale(now, timeout):
        _drop_stale(store, found, now)
        found = None
    for run in store[Coll.RUNS].find(
        {"community": community, "status": "running"},
        {"_id": 1, "attempt_started_at": 1, "started_at": 1},
    ):
        if found is not None and run["_id"] == found.run_id:
            continue
        started = run.get("attempt_started_at") or run.get("started_at")
        if started is None or now - started > timeout:
            abandon_run(store, run["_id"], now, "abandoned: no live process holds its lease")
    return found
