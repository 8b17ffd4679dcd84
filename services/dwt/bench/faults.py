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

- **Damaged stores.** A copy of that store truncated, with its header overwritten, with
  garbage in the middle, or a directory in its place: ``dwt members list`` must exit 2 with
  a sentence and leave the file's bytes as they were (*lost* counts a changed file).
- **Checks from the packages above**, each an entry point of the ``dwt.bench.faults`` group
  (:data:`PLUGINS`): a callable ``(workdir, echo) -> dict`` whose figures join the result.
  The dashboard's replays hostile callback requests (``dwt_dashboard.bench.callbacks``):
  ``callback_cases``, ``cross_community_leaks`` (goal 0) and the answers with the wrong
  status or a store change.

For the processes, *traceback* says whether ``Traceback (most recent call last)`` reached
the person's terminal (stdout or stderr). Each gets :data:`TIMEOUT_S` seconds; one that
runs out is counted in ``timeouts`` (its own failure), never as a row without a traceback.
The run takes a few minutes on two busy cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
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
#: The entry point group of checks from the packages above (see the module doc).
PLUGINS = "dwt.bench.faults"


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
    timed_out: bool = False  # ran out of TIMEOUT_S: a failure of its own, not "no traceback"


#: Seconds each process gets: generous, so a loaded machine is not mistaken for a hang.
TIMEOUT_S = 300.0
TIMED_OUT = -9


def _dwt(
    args: list[str], env: dict[str, str], timeout: float | None = None
) -> tuple[int, str, float]:
    """Run ``dwt ARGS`` as a person would; (exit code, everything printed, seconds). A run
    that outlives ``timeout`` (default :data:`TIMEOUT_S`) is killed: :data:`TIMED_OUT`."""
    timeout = TIMEOUT_S if timeout is None else timeout
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
        code = TIMED_OUT
        text = f"timed out after {timeout:.0f}s\n{_text(exc.stdout)}{_text(exc.stderr)}"
    return code, text, time.perf_counter() - started


def _text(out: bytes | str | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


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
              fault.hopeless, code == TIMED_OUT)  # fmt: skip
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
    clustered = store.clustered_count(COMMUNITY)
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
    code, text, seconds = _dwt(argv, env)
    after = _holdings(url)
    lost = sum(max(0, before[k] - after.get(k, 0)) for k in before)
    note = _last_line(text)
    return Row(label, code, 2, sum(before.values()), sum(after.values()), lost,
               TRACEBACK in text, round(seconds, 1), note,
               timed_out=code == TIMED_OUT)  # fmt: skip


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2 + 100)


def _overwrite_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"\x00" * 100)


def _garbage(path: Path) -> None:
    size, page = path.stat().st_size, 4096
    with open(path, "r+b") as f:
        f.seek(size // 2 // page * page)
        f.write(bytes(range(256)) * (min(8 * page, size // 3) // 256))


def _a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "header overwritten": _overwrite_header,
    "garbage in the middle": _garbage,
    "dwt.db a directory": _a_directory,
}


def run_damage(label: str, analysed_url: str, directory: Path) -> Row:
    """``dwt members list`` on a damaged copy of the analysed store: exit 2, a sentence, the
    file's bytes unchanged (*lost*: 1 when they changed)."""
    url = _copy_store(analysed_url, directory)
    path = Path(url.removeprefix("sqlite:///"))
    for name in ("dwt.db-wal", "dwt.db-shm", ".dwt.db.checked"):
        (directory / name).unlink(missing_ok=True)
    DAMAGE[label](path)
    before = _digest(path)
    code, text, seconds = _dwt(["members", "list", "--community", COMMUNITY], _env(url, directory))
    lost = int(_digest(path) != before)
    return Row(f"store: {label}", code, 2, 1, 1 - lost, lost, TRACEBACK in text,
               round(seconds, 1), _last_line(text), timed_out=code == TIMED_OUT)  # fmt: skip


def _digest(path: Path) -> str:
    if path.is_dir():
        return "directory"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_plugins(workdir: Path, echo: Callable[[str], None]) -> dict[str, Any]:
    """The checks the packages above register (:data:`PLUGINS`), each in a folder of its own."""
    figures: dict[str, Any] = {}
    for plugin in sorted(entry_points(group=PLUGINS), key=lambda p: p.name):
        directory = workdir / f"plugin-{plugin.name}"
        directory.mkdir()
        figures.update(plugin.load()(directory, echo))
    return figures


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
        with cf.ThreadPoolExecutor(workers) as pool:
            damaged = list(
                pool.map(
                    lambda i: run_damage(i[1], analysed, workdir / f"damage-{i[0]}"),
                    enumerate(DAMAGE),
                )
            )
        _table(echo, "damaged store", damaged)
        plugins = run_plugins(workdir, echo)
    processes = faults + rows + damaged
    result = {
        "faults": [asdict(r) for r in faults],
        "inputs": [asdict(r) for r in rows],
        "damaged_stores": [asdict(r) for r in damaged],
        "data_lost": sum(r.lost for r in processes if not r.hopeless),
        "tracebacks": sum(r.traceback for r in processes),
        "timeouts": sum(r.timed_out for r in processes),
        "wrong_exit": sum(r.exit != r.expected_exit for r in processes),
        **plugins,
        "seconds": round(time.perf_counter() - started, 1),
    }
    echo(
        f"data lost: {result['data_lost']} (goal 0), tracebacks: {result['tracebacks']} "
        f"(goal 0), timeouts: {result['timeouts']} (goal 0), unexpected exit codes: "
        f"{result['wrong_exit']}, {result['seconds']}s"
    )
    return result


def _table(echo: Callable[[str], None], title: str, rows: list[Row]) -> None:
    echo(f"{title:<40} {'exit':>4} {'expected':>8} {'stored':>7} {'lost':>5} {'tb':>3} "
         f"{'s':>5}  note")  # fmt: skip
    for r in rows:
        echo(
            f"{r.name:<40} {r.exit:>4} {r.expected:>8} {r.stored:>7} "
            f"{str(r.lost) + ('*' if r.hopeless else ''):>5} "
            f"{'t/o' if r.timed_out else 'yes' if r.traceback else 'no':>3} {r.seconds:>5.1f}"
            f"  {r.note}"
        )
