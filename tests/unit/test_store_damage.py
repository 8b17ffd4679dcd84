"""A damaged store is refused, never written (issue 23).

Each damage is made on a copy of a healthy, analysed embedded store; then every command
that opens the store runs as a person runs it (a ``dwt`` subprocess): it must exit 2 with a
sentence naming the file and what to do, print no traceback, and leave the file's bytes as
they were (sha256). Bad data directories, absurd sizes and run ids are refused before any
work; the files the product makes for itself are private (0600 in a 0700 directory).
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dwt.pipeline.progress import Progress
from dwt.pipeline.ray_runtime import private_auth_token
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Store, health
from dwt.store.health import StoreDamaged, check
from sample_week import load_sample

pytestmark = pytest.mark.slow  # processes, servers or thousands of requests

COMMUNITY = "sample"
TRACEBACK = "Traceback (most recent call last)"
#: Every command that opens the store, reading or writing.
COMMANDS = [
    ["members", "list", "--community", COMMUNITY],
    ["members", "remove", "--community", COMMUNITY, "ada"],
    ["run", "--community", COMMUNITY, "--steps", "bonds,cluster,content", "--no-ray",
     "--allow-empty"],
    ["export", "--community", COMMUNITY, "--out", "{tmp}/export"],
    ["store", "check"],
]  # fmt: skip


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy embedded store with an analysed week (its WAL checkpointed into it)."""
    directory = tmp_path_factory.mktemp("healthy")
    store = Store.open(f"sqlite:///{directory / 'dwt.db'}")
    load_sample(store)
    run_pipeline(
        store,
        RunSpec(community=COMMUNITY, steps=["discover", "bonds", "cluster", "content"]),
        run_id="healthy",
        progress=Progress(store, "healthy", stream=None),
        now=_now(),
    )
    store.close()
    return directory / "dwt.db"


def _now():
    from datetime import UTC, datetime

    from sample_week import read_sample

    latest = max(t["created_at"] for page in read_sample()["timelines"] for t in page["data"])
    return datetime.fromisoformat(latest.replace("Z", "+00:00")).astimezone(UTC)


def _sha(path: Path) -> str:
    if path.is_dir():
        return "directory"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dwt(args: list[str], data_dir: Path | str, tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
    argv = [a.replace("{tmp}", str(tmp)) for a in args]
    return subprocess.run(
        [sys.executable, "-m", "dwt.cli", "--data-dir", str(data_dir), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2 + 100)


def _overwrite_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"\x00" * 100)


def _garbage_in_the_middle(path: Path) -> None:
    size = path.stat().st_size
    page = 4096
    with open(path, "r+b") as f:
        f.seek((size // 2) // page * page)
        f.write(os.urandom(min(8 * page, size // 3)))


def _a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "x").write_text("not a store")


DAMAGE = {
    "truncated": _truncate,
    "overwritten header": _overwrite_header,
    "garbage in the middle": _garbage_in_the_middle,
    "dwt.db is a directory": _a_directory,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_store_is_refused_by_every_command_and_left_as_it_was(damage, healthy, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store_file = data_dir / "dwt.db"
    shutil.copy(healthy, store_file)
    DAMAGE[damage](store_file)
    before = _sha(store_file)
    with cf.ThreadPoolExecutor(3) as pool:  # each is a process of its own
        results = list(pool.map(lambda a: (a, _dwt(a, data_dir, tmp_path)), COMMANDS))
    for args, done in results:
        said = done.stdout + done.stderr
        assert done.returncode == 2, (args, said)
        assert TRACEBACK not in said, (args, said)
        assert str(store_file) in said and "dwt store check" in said, (args, said)
        assert _sha(store_file) == before, (args, "the store was written")


@pytest.mark.parametrize("where", ["a file", "/proc/self"])
def test_a_data_directory_that_cannot_hold_a_store_is_refused(where, tmp_path):
    data_dir: Path | str
    if where == "a file":
        data_dir = tmp_path / "file"
        data_dir.write_text("x")
    else:
        data_dir = where
    for args in (COMMANDS[0], COMMANDS[2]):
        done = _dwt(args, data_dir, tmp_path)
        said = done.stdout + done.stderr
        assert done.returncode == 2 and TRACEBACK not in said, (args, said)
        assert "--data-dir" in said, said
    if where == "a file":
        assert Path(data_dir).read_text() == "x"


def test_check_and_backup_of_a_healthy_store(healthy, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(healthy, data_dir / "dwt.db")
    done = _dwt(["store", "check"], data_dir, tmp_path)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    done = _dwt(["store", "backup", "--out", str(tmp_path / "copy.db")], data_dir, tmp_path)
    assert done.returncode == 0, done.stderr
    copy = tmp_path / "copy.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert check(copy, force=True) == "ok"
    again = _dwt(["store", "backup", "--out", str(copy)], data_dir, tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr  # never over another file
    listed = _dwt(["members", "list", "--community", COMMUNITY], data_dir, tmp_path)
    assert listed.returncode == 0 and "@ada" in listed.stdout


def test_a_store_being_checkpointed_is_not_called_truncated(healthy, tmp_path):
    """While another process checkpoints, the file grows behind a header that already counts
    the new pages: with its write-ahead log beside it, that is no truncation (a Ray worker
    opening the store mid-checkpoint was refused: "is truncated (8,724,480 bytes; its header
    says 9,191,424)"); the same file without a log is."""
    path = tmp_path / "dwt.db"
    shutil.copy(healthy, path)
    with open(path, "r+b") as f:  # the header counts one page more than the file holds
        header = bytearray(f.read(100))
        header[28:32] = (int.from_bytes(header[28:32], "big") + 1).to_bytes(4, "big")
        f.seek(0)
        f.write(header)
    (tmp_path / "dwt.db-wal").write_bytes(b"\0" * 32)
    health._check_header(path, path.stat().st_size)  # the header alone: quick_check reads on
    (tmp_path / "dwt.db-wal").unlink()
    with pytest.raises(StoreDamaged, match="truncated"):
        check(path, force=True)


def test_an_unchanged_file_is_not_read_through_again(healthy, tmp_path):
    path = tmp_path / "dwt.db"
    shutil.copy(healthy, path)
    assert check(path) == "ok"
    assert check(path) == "unchanged"
    _garbage_in_the_middle(path)  # changes the file: checked again, and refused
    with pytest.raises(StoreDamaged, match="dwt store check"):
        check(path)


def test_opening_the_store_again_keeps_this_processs_locks(tmp_path):
    """Closing any handle on the file drops every POSIX lock this process holds on it,
    SQLite's included: a second open that read the header, or reopened the file to make it
    private, let another process's last close checkpoint and delete the write-ahead log
    under this one's connection (CI: "database disk image is malformed" after a rerun)."""
    url = f"sqlite:///{tmp_path / 'dwt.db'}"
    first = Store.open(url)
    first.add_members("c", [{"id": "1", "username": "one"}])
    first.members("c")  # this process now reads through the write-ahead log
    assert check(tmp_path / "dwt.db") == "open here"
    again = Store.open(url)  # the second open in this process
    other = ("import sys; from dwt.store import Store; s = Store.open(sys.argv[1]); "
             "s.add_members('c', [{'id': '2', 'username': 'two'}]); s.close()")  # fmt: skip
    subprocess.run([sys.executable, "-c", other, url], check=True, timeout=120)
    assert (tmp_path / "dwt.db-wal").exists()  # the other process was not the last
    first.add_members("c", [{"id": "3", "username": "three"}])
    assert sorted(again.members("c").column("username").to_pylist()) == ["one", "three", "two"]
    assert check(tmp_path / "dwt.db", force=True) == "open here"  # quick_check passed
    first.close()
    again.close()


def test_threads_that_ended_leave_no_connection_open(tmp_path):
    """Each thread has its own connection (its descriptors: the file, its log); a process
    that runs many collections' worker threads (the dashboard runs them in-process) kept
    every one until it exited, and reached the 1,024 descriptors of a default limit."""
    store = Store.open(f"sqlite:///{tmp_path / 'dwt.db'}")
    store.add_members("c", [{"id": "1", "username": "one"}])
    engine = store.backend
    for _ in range(6):  # six collections of eight workers that each read, then end
        with cf.ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda _: store.members("c").num_rows, range(64))) == {1}
    deadline = time.monotonic() + 30  # a thread's locals go soon after it ends
    while len(engine.connections()) > 1 and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert len(engine.connections()) == 1  # this thread's
    store.close()
    assert engine.connections() == []


def test_the_store_and_its_directory_are_private(tmp_path):
    data_dir = tmp_path / "new" / "dwt"
    store = Store.open(f"sqlite:///{data_dir / 'dwt.db'}")
    store.add_members("c", [{"id": "1", "username": "one"}])
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    for name in ("dwt.db", "dwt.db-wal", "dwt.db-shm"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    store.close()


def test_the_local_ray_token_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    token = private_auth_token()
    assert token == tmp_path / ".ray" / "auth_token" and len(token.read_text()) >= 32
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    token.chmod(0o644)  # as Ray itself leaves it
    assert private_auth_token() == token and stat.S_IMODE(token.stat().st_mode) == 0o600
    monkeypatch.setenv("RAY_AUTH_TOKEN", "given")
    assert private_auth_token() is None


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--members", str(10**12)],
        ["generate", "--members", "100000", "--tweets-per-member", "1e9"],
        ["run", "--community", COMMUNITY, "--run-id", "../../x"],
        ["run", "--community", COMMUNITY, "--run-id", "a" * 100_000],
    ],
    ids=["members 10^12", "tweets 10^14", "run id ../", "run id 100k"],
)
def test_absurd_inputs_are_refused_before_work(args, tmp_path):
    done = _dwt([*args, *(["--out", str(tmp_path / "g")] if args[0] == "generate" else [])],
                tmp_path / "data", tmp_path)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 2 and TRACEBACK not in said, said
    assert not (tmp_path / "g").exists() and not (tmp_path / "data" / "dwt.db").exists()
