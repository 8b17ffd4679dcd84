"""``dwt bench faults``: does the product lose data, or show a traceback, under faults?

Two halves, each row scored on the two numbers that must be 0:

- **Injected faults.** A small generated community is collected with the real command
  (``dwt run --steps collect --no-ray``, a subprocess, as a person runs it) from an X API
  emulator answering with one fault: a 503 storm, 429s without rate-limit headers,
  garbled 200 bodies, one of two keys revoked, added latency (and no fault, the baseline).
  *Lost* is tweets the dataset holds for readable members minus tweets stored. With
  every key revoked nothing can be collected: that row (marked ``*``) must exit 1 with a
  sentence, and its loss is not counted.
- **Bad command-line inputs.** Each is run as a subprocess against a store holding a
  collected and analysed week; it must exit 2 with a sentence. *Lost* is stored tweets
  and results (bonds, clusters, conversations) that are gone afterwards.

For both, *traceback* says whether ``Traceback (most recent call last)`` reached the
person's terminal (stdout or stderr). The run takes well under a minute on two cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dwt.generate import generate_community
from dwt.store import Coll, Store
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

COMMUNITY = "bench"
KEYS = ("bench-fault-key-1", "bench-fault-key-2")
TRACEBACK = "Traceback (most recent call last)"
RESULTS = (Coll.BONDS, Coll.CLUSTERS, Coll.CONVERSATIONS)


@dataclass(frozen=True)
class Fault:
    name: str
    config: dict[str, Any] = field(default_factory=dict)  # EmulatorConfig fields
    revoke: int = 0  # how many of the keys the emulator refuses from the start
    hopeless: bool = False  # nothing can be collected: exit 1, a sentence, data lost


FAULTS = (
    Fault("none (baseline)"),
    Fault("503 storm (50%)", {"fail_rate": 0.5}),
    Fault("429 without headers (30%)", {"throttle_rate": 0.3}),
    Fault("garbled JSON (30%)", {"garble_rate": 0.3}),
    Fault("revoked key (1 of 2)", revoke=1),
    Fault("latency (100 ms)", {"latency_ms": 100}),
    Fault("every key revoked (2 of 2)", revoke=2, hopeless=True),
)


@dataclass
class Row:
    """One fault or input: what was expected, what happened."""

    name: str
    exit: int
    expected_exit: int
    expected: int  # tweets (faults) or tweets + result documents (inputs)
    stored: int
    lost: int
    traceback: bool
    seconds: float
    note: str = ""
    hopeless: bool = False  # the loss cannot be helped (not counted in data_lost)


def _dwt(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str, float]:
    """Run ``dwt ARGS`` as a person would; (exit code, everything printed, seconds)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dwt.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -9
        text = f"timed out after {timeout:.0f}s\n{exc.stdout or ''}{exc.stderr or ''}"
    return code, text, time.perf_counter() - started


def _env(store_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
    env |= {"DWT_STORE_URL": store_url, "DWT_DATA_DIR": str(data_dir), "DWT_LOG_LEVEL": "WARNING"}
    return env | extra


def _members(dataset: Dataset) -> pa.Table:
    return dataset.users.filter(dataset.users["is_member"])


def _readable_tweets(dataset: Dataset) -> int:
    members = _members(dataset)
    active = members.filter(pc.equal(members["state"], "active")).column("id")
    return dataset.tweets.filter(pc.is_in(dataset.tweets["author_id"], active)).num_rows


def _new_store(directory: Path, dataset: Dataset) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'dwt.db'}"
    store = Store.open(url)
    store.add_members(COMMUNITY, _members(dataset).select(["id", "username"]).to_pylist())
    store.close()
    return url


def run_fault(fault: Fault, dataset: Dataset, workdir: Path) -> tuple[Row, str]:
    """Collect the community through ``fault``; returns the row and the store's URL."""
    directory = workdir / f"fault-{FAULTS.index(fault)}"
    url = _new_store(directory, dataset)
    config = EmulatorConfig(tokens=KEYS, rate_limit=100_000, fail_seed=7, **fault.config)
    with EmulatorServer(dataset, config) as server:
        for token in KEYS[: fault.revoke]:
            server.revoke_token(token)
        env = _env(url, directory, DWT_API_KEYS=",".join(KEYS),
                   DWT_X_API_BASE_URL=server.base_url)  # fmt: skip
        args = ["run", "--community", COMMUNITY, "--steps", "collect", "--no-ray", "--json"]
        code, text, seconds = _dwt(args, env)
        statuses = server.stats()["by_status"]
    expected = _readable_tweets(dataset)
    store = Store.open(url)
    stored = store[Coll.TWEETS].count_documents({})
    store.close()
    note = " ".join(f"{status}:{n}" for status, n in sorted(statuses.items()))
    if code != 0:
        note += " | " + _last_line(text)
    row = Row(fault.name, code, 1 if fault.hopeless else 0, expected, stored,
              max(0, expected - stored), TRACEBACK in text, round(seconds, 1), note,
              fault.hopeless)  # fmt: skip
    return row, url


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def _copy_store(url: str, directory: Path) -> str:
    """A private copy of an embedded store (SQLite's backup API: WAL included)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "dwt.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


def _holdings(url: str) -> dict[str, int]:
    """Tweets stored, and the results of the week shown."""
    store = Store.open(url)
    held = {Coll.TWEETS.value: store[Coll.TWEETS].count_documents({})}
    held |= {c.value: store[c].count_documents(store.shown(c, COMMUNITY)) for c in RESULTS}
    clustered = store[Coll.PLACEMENTS].count_documents(
        store.shown(Coll.PLACEMENTS, COMMUNITY, cluster={"$gte": 0})
    )
    store.close()
    return held | {"members clustered": clustered}


def _inputs(workdir: Path, dataset_dir: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) of each bad input; files they need are written under ``workdir``."""
    deep = workdir / "deep.yaml"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    broken = workdir / "no-author-id"
    Dataset.load(dataset_dir).save(broken)
    tweets = pq.read_table(broken / "tweets.parquet").drop_columns(["author_id"])
    pq.write_table(tweets, broken / "tweets.parquet")
    week = ["run", "--community", COMMUNITY, "--steps", "bonds,cluster,content", "--no-ray"]
    return [
        ("run --community nosuch", ["run", "--community", "nosuch", "--no-ray"]),
        ("run … --now 1970-01-01", [*week, "--now", "1970-01-01"]),
        ("run … --now 2020-01-01 (empty window)", [*week, "--now", "2020-01-01"]),
        ("run … --now 2999-01-01", [*week, "--now", "2999-01-01"]),
        ("run … --now yesterday", [*week, "--now", "yesterday"]),
        ("run … --shards -2", [*week, "--shards", "-2"]),
        ("run … --window-days 0", [*week, "--window-days", "0"]),
        ("run --spec (10,000-deep YAML)", ["run", "--spec", str(deep), "--no-ray"]),
        ("run --spec-json '[1, 2]'", ["run", "--spec-json", "[1, 2]", "--no-ray"]),
        ("members list --community nosuch", ["members", "list", "--community", "nosuch"]),
        ("emulator --port -1", ["emulator", "--dataset", str(dataset_dir), "--token", "t",
                                "--port", "-1"]),
        ("emulator --latency-ms nan", ["emulator", "--dataset", str(dataset_dir), "--token",
                                       "t", "--port", "0", "--latency-ms", "nan"]),
        ("emulator (dataset without author_id)", ["emulator", "--dataset", str(broken),
                                                  "--token", "t", "--port", "0"]),
    ]  # fmt: skip


def run_input(label: str, argv: list[str], analysed_url: str, directory: Path) -> Row:
    url = _copy_store(analysed_url, directory)
    before = _holdings(url)
    # Configured as a person's machine is (keys and an X API address), so a refusal is for
    # the input, not for a missing setting; nothing listens at the address.
    env = _env(url, directory, DWT_API_KEYS=KEYS[0], DWT_X_API_BASE_URL="http://127.0.0.1:9")
    code, text, seconds = _dwt(argv, env, timeout=30)
    after = _holdings(url)
    lost = sum(max(0, before[k] - after.get(k, 0)) for k in before)
    note = _last_line(text)
    return Row(label, code, 2, sum(before.values()), sum(after.values()), lost,
               TRACEBACK in text, round(seconds, 1), note)  # fmt: skip


def run_bench(echo: Callable[[str], None] = print, workers: int = 3) -> dict[str, Any]:
    """Every fault, then every bad input; prints a table as it goes."""
    started = time.perf_counter()
    logging.getLogger("dwt.xapi.emulator.server").setLevel(logging.WARNING)  # one per fault
    dataset = generate_community(members=24, communities=2, days=2, seed=7, tweets_per_member=10)
    with tempfile.TemporaryDirectory(prefix="dwt-bench-faults-") as tmp:
        workdir = Path(tmp)
        dataset_dir = dataset.save(workdir / "dataset")
        with cf.ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(lambda f: run_fault(f, dataset, workdir), FAULTS))
        faults = [row for row, _ in done]
        _table(echo, "injected fault", faults)

        # A week collected (the baseline's) and analysed, for the inputs to leave alone.
        analysed = _copy_store(done[0][1], workdir / "analysed")
        code, text, _ = _dwt(
            ["run", "--community", COMMUNITY, "--steps", "discover,bonds,cluster,content",
             "--no-ray"], _env(analysed, workdir / "analysed"))  # fmt: skip
        if code != 0:
            raise RuntimeError(f"analysing the collected week failed: {_last_line(text)}")
        inputs = _inputs(workdir, dataset_dir)
        with cf.ThreadPoolExecutor(workers) as pool:
            rows = list(
                pool.map(
                    lambda i: run_input(i[1][0], i[1][1], analysed, workdir / f"input-{i[0]}"),
                    enumerate(inputs),
                )
            )
        _table(echo, "bad input", rows)
    result = {
        "faults": [asdict(r) for r in faults],
        "inputs": [asdict(r) for r in rows],
        "data_lost": sum(r.lost for r in faults + rows if not r.hopeless),
        "tracebacks": sum(r.traceback for r in faults + rows),
        "wrong_exit": sum(r.exit != r.expected_exit for r in faults + rows),
        "seconds": round(time.perf_counter() - started, 1),
    }
    echo(
        f"data lost: {result['data_lost']} (goal 0), tracebacks: {result['tracebacks']} "
        f"(goal 0), unexpected exit codes: {result['wrong_exit']}, {result['seconds']}s"
    )
    return result


def _table(echo: Callable[[str], None], title: str, rows: list[Row]) -> None:
    echo(f"{title:<40} {'exit':>4} {'expected':>8} {'stored':>7} {'lost':>5} {'tb':>3} "
         f"{'s':>5}  note")  # fmt: skip
    for r in rows:
        echo(
            f"{r.name:<40} {r.exit:>4} {r.expected:>8} {r.stored:>7} "
            f"{str(r.lost) + ('*' if r.hopeless else ''):>5} "
            f"{'yes' if r.traceback else 'no':>3} {r.seconds:>5.1f}  {r.note}"
        )
