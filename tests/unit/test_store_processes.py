"""Several processes on one store, as on a person's machine: the dashboard, ``dwt`` commands
and Ray job drivers. The commands are the real entry points, run as subprocesses.

* With no configuration at all every command uses the same embedded store.
* Writers in several processes at once lose nothing.
* ``SIGKILL`` in the middle of a collection keeps every page already written, and the rerun
  reads again at most the pages that were in flight (the emulator counts posts served).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from dwt.generate import generate_community
from dwt.store import Coll, Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

DWT = str(Path(sys.executable).parent / "dwt")
KEY = "process-key"


def _env(home: Path, x_api: str, **extra: str) -> dict[str, str]:
    """A clean environment: no DWT_* but the X API's, a HOME of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWT_", "XDG_"))}
    return env | {"HOME": str(home), "DWT_API_KEYS": KEY, "DWT_X_API_BASE_URL": x_api} | extra


def _dwt(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run([DWT, *argv], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"dwt {' '.join(argv)}: {done.stderr[-3000:]}"
    return done


@pytest.mark.slow
@pytest.mark.calendar
def test_every_command_sees_the_same_store_with_no_configuration(tmp_path: Path):
    # The emulator moves the week to end now, ids with times (X's ids carry their post time,
    # which the collector resumes from): the second collection reads nothing again.
    dataset = generate_community(members=30, communities=2, days=3, seed=11)
    users = dataset.users.filter(dataset.users["is_member"])
    readable = users.filter(pc.equal(users["state"], "active"))
    names = readable.column("username").to_pylist()[:12]
    config = EmulatorConfig(tokens=[KEY], rate_limit=10_000)
    with EmulatorServer(dataset, config) as x_api:
        env = _env(tmp_path / "home", x_api.base_url)
        _dwt(env, "members", "add", "--community", "c", *names)
        collected = _dwt(env, "run", "--community", "c", "--steps", "collect", "--no-ray",
                         "--window-days", "3", "--json")  # fmt: skip
        insights = _dwt(env, "run", "--community", "c", "--steps",
                        "discover,bonds,cluster,content", "--no-ray", "--json")  # fmt: skip
        exported = _dwt(env, "export", "--community", "c", "--out", str(tmp_path / "out"))
        again = _dwt(env, "run", "--community", "c", "--steps", "collect", "--no-ray",
                     "--window-days", "3", "--json")  # fmt: skip
    default = tmp_path / "home" / ".local" / "share" / "dwt" / "dwt.db"
    assert default.is_file()
    store = Store.open(f"sqlite:///{default}")  # what the dashboard opens by default
    first = json.loads(collected.stdout.strip().splitlines()[-1])["counts"]
    assert first["accounts"] == len(names) and first["tweets_new"] > 0
    assert store[Coll.TWEETS].count_documents({}) == first["tweets_new"]
    ran = json.loads(insights.stdout.strip().splitlines()[-1])["counts"]
    assert ran["tweets"] > 0 and ran["clusters"] >= 1
    assert "members.csv" in exported.stdout
    assert (tmp_path / "out" / "members.csv").read_text().count("\n") == len(names) + 1
    # The second collection found the first one's checkpoints: nothing new, nothing twice.
    assert json.loads(again.stdout.strip().splitlines()[-1])["counts"]["tweets_new"] == 0
    assert x_api.stats()["posts_served_again"] == 0
    assert store[Coll.RUNS].count_documents({"community": "c", "status": "succeeded"}) == 3


def _writer(url: str, worker: int, n: int) -> None:
    store = Store.open(url, ensure_indexes=False)
    for i in range(n):
        # Shared documents (every writer upserts the same ones) and a counter all increment.
        store.upsert(
            Coll.ACCOUNTS,
            [
                {"_id": f"shared-{i % 20}", "username": f"s{i % 20}"},
                {"_id": f"w{worker}-{i}", "username": f"w{worker}"},
            ],
        )
        store[Coll.COLLECT_STATE].update_one({"_id": "counter"}, {"$inc": {"n": 1}}, upsert=True)
        store.put_follows("shared", [f"{worker}-{i}"], last_page=False)


@pytest.mark.both_stores
def test_writers_in_several_processes_lose_nothing(store_url: str, request):
    # Indexes and the counter before the writers race: racing to insert the same `_id` is
    # the store's upserts' to handle (below), not a bare update_one's.
    Store.open(store_url)[Coll.COLLECT_STATE].update_one(
        {"_id": "counter"}, {"$set": {"n": 0}}, upsert=True
    )
    workers, n = 3, 150
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(store_url, w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * workers
    store = Store.open(store_url)
    assert store[Coll.ACCOUNTS].count_documents({}) == 20 + workers * n
    counted = store[Coll.COLLECT_STATE].find_one({"_id": "counter"})["n"]
    pending = store[Coll.FOLLOWS].find_one({"_id": "shared"})["pass_targets"]
    wanted = sorted(f"{w}-{i}" for w in range(workers) for i in range(n))
    if request.node.callspec.params["store_backend"] == "mongo" and request.getfixturevalue(
        "mongo_is_ferretdb"
    ):
        # MongoDB applies each update of one document atomically; FerretDB 1.24 on SQLite
        # reads, changes and writes the document, so concurrent $inc / $addToSet of the same
        # document lose updates (measured: 348 of 450 increments). Said, not worked around.
        assert counted <= workers * n and set(pending) <= set(wanted)
        if (counted, sorted(pending)) != (workers * n, wanted):
            pytest.xfail("FerretDB 1.24 loses concurrent updates of one document")
    assert counted == workers * n
    assert sorted(pending) == wanted


@pytest.mark.slow
def test_a_killed_collection_keeps_its_pages_and_the_rerun_reads_nothing_twice(
    tmp_path: Path, store_url: str
):
    """The embedded store only: on MongoDB each page is one bulk write too, and resuming is
    covered by test_collect.py on both engines; FerretDB 1.24 on SQLite scans the collection
    for every update by _id, which makes this week (3,600 posts) take minutes there."""
    dataset = generate_community(members=60, communities=2, days=3, seed=12,
                                 tweets_per_member=140)  # fmt: skip
    users = dataset.users.filter(dataset.users["is_member"])
    Store.open(store_url).add_members("k", users.select(["id", "username"]).to_pylist())
    config = EmulatorConfig(tokens=[KEY], rate_limit=10_000, latency_ms=40)
    argv = [DWT, "run", "--community", "k", "--steps", "collect", "--no-ray",
            "--window-days", "3", "--json"]  # fmt: skip
    with EmulatorServer(dataset, config) as x_api:
        # A short lease: the killed run's heartbeat stops, and the rerun may start once
        # its lease is stale (it is refused with exit 75 until then).
        env = _env(tmp_path, x_api.base_url, DWT_STORE_URL=store_url, DWT_RUN_LEASE_SECONDS="2")
        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        # Follow lists go first (their budget is the scarce one): kill once timeline pages
        # are coming in.
        while x_api.stats()["posts_served"] < 300 and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        killed_at = x_api.stats()
        kept = Store.open(store_url)[Coll.TWEETS].count_documents({})
        rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
        refused = 0
        while rerun.returncode == 75 and time.monotonic() < deadline + 60:
            refused += 1
            assert '"event": "busy"' in rerun.stdout and '"community": "k"' in rerun.stdout
            time.sleep(0.5)
            rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
        served = x_api.stats()
    assert killed_at["posts_served"] >= 300 and rerun.returncode == 0, rerun.stderr[-3000:]
    # Every page written before the kill was kept (the old in-process store kept none).
    assert kept > 0
    stored = Store.open(store_url)[Coll.TWEETS].count_documents({})
    assert stored == served["posts_served"] - served["posts_served_again"]
    # Read again: only what was in flight when the process died, at most one page per worker
    # (one key, the default workers per key) — never the pages already stored.
    in_flight_bound = 1 * 100
    assert served["posts_served_again"] <= in_flight_bound
    assert served["posts_served_again"] < kept
    # The killed run does not stay "running": the rerun found its lease stale.
    runs = {r["_id"]: r["status"] for r in Store.open(store_url)[Coll.RUNS].find({})}
    assert sorted(runs.values()) == ["abandoned", "succeeded"], runs
