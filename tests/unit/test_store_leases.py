"""One active run per community, enforced in the store (issue 23): the lease contract on
both engines (the embedded store and MongoDB through FerretDB)."""

from __future__ import annotations

import concurrent.futures as cf
from datetime import UTC, datetime, timedelta

import pytest

from dwt.store import Coll, Store
from dwt.store.leases import RunBusy, current, release, renew, sweep, take
from dwt.store.runs import start_run

pytestmark = pytest.mark.both_stores

T0 = datetime(2026, 11, 30, 6, tzinfo=UTC)
TIMEOUT = timedelta(seconds=60)


def test_a_second_start_is_refused_with_the_running_runs_id(store: Store):
    lease = take(store, "c", "run-1", T0, TIMEOUT)
    with pytest.raises(RunBusy) as refused:
        take(store, "c", "run-2", T0 + timedelta(seconds=30), TIMEOUT)
    assert refused.value.holder == "run-1" and "run-1" in str(refused.value)
    assert take(store, "other", "run-3", T0, TIMEOUT).run_id == "run-3"  # per community
    assert renew(store, lease, T0 + timedelta(seconds=50))
    with pytest.raises(RunBusy):  # the heartbeat keeps it alive past the first timeout
        take(store, "c", "run-2", T0 + timedelta(seconds=100), TIMEOUT)
    release(store, lease)
    assert take(store, "c", "run-2", T0 + timedelta(seconds=101), TIMEOUT).run_id == "run-2"


def test_a_stale_lease_is_taken_over_and_its_run_abandoned(store: Store):
    store.add_members("c", [{"id": "1", "username": "one"}])
    start_run(store, "dead", "c", ["bonds"], {}, T0)
    dead = take(store, "c", "dead", T0, TIMEOUT)
    later = T0 + TIMEOUT + timedelta(seconds=1)
    lease = take(store, "c", "next", later, TIMEOUT)
    assert lease.run_id == "next"
    run = store[Coll.RUNS].find_one({"_id": "dead"})
    assert run["status"] == "abandoned" and "heartbeat stopped" in run["error"]
    assert not renew(store, dead, later)  # the dead run, were it to wake, learns it lost
    release(store, dead)  # and its release leaves the new holder's lease alone
    assert current(store, "c").run_id == "next"


def test_the_sweep_releases_dead_leases_and_runs_left_running(store: Store):
    store.add_members("c", [{"id": "1", "username": "one"}])
    start_run(store, "old", "c", ["bonds"], {}, T0)  # killed before leases existed
    start_run(store, "dead", "c", ["bonds"], {}, T0)
    take(store, "c", "dead", T0, TIMEOUT)
    assert sweep(store, "c", T0 + timedelta(seconds=10), TIMEOUT).run_id == "dead"
    assert store[Coll.RUNS].find_one({"_id": "old"})["status"] == "running"  # too young
    assert sweep(store, "c", T0 + TIMEOUT * 2, TIMEOUT) is None
    for run_id in ("old", "dead"):
        assert store[Coll.RUNS].find_one({"_id": run_id})["status"] == "abandoned"
    assert current(store, "c") is None


def test_of_many_starting_at_once_exactly_one_runs(store: Store):
    def start(i: int) -> str | None:
        try:
            return take(store, "c", f"run-{i}", T0, TIMEOUT).run_id
        except RunBusy as exc:
            return f"busy:{exc.holder}"

    with cf.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(start, range(16)))
    winners = [a for a in answers if not a.startswith("busy:")]
    assert len(winners) == 1
    assert {a.removeprefix("busy:") for a in answers} == set(winners)
