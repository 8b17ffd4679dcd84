"""FerretDB (MongoDB wire protocol) on its embedded SQLite backend, for tests with pymongo.

    with run_ferretdb() as url:      # "mongodb://127.0.0.1:PORT/"
        pymongo.MongoClient(url).dwt.items.insert_one({...})

Each call starts a fresh server on a free 127.0.0.1 port with its SQLite files, state file
and log in a new temporary directory, removed when the block ends. Telemetry is disabled
(``--telemetry=disable`` and ``DO_NOT_TRACK=1``); the debug HTTP listener is off. FerretDB is
not MongoDB: where it departs from MongoDB's documented behaviour, the test says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .paths import binary
from .process import Process, ServerFailed, free_port

START_TIMEOUT = 30.0


def ferretdb_argv(exe: Path, data_dir: Path, port: int) -> list[str]:
    return [
        str(exe),
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir}/",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data_dir.parent}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=WARN",
    ]


def _ping(url: str) -> bool:
    import pymongo

    with pymongo.MongoClient(url, serverSelectionTimeoutMS=500, connectTimeoutMS=500) as client:
        return bool(client.admin.command("ping").get("ok"))


@contextlib.contextmanager
def run_ferretdb(tmp_dir: Path | None = None, attempts: int = 3) -> Iterator[str]:
    """Start FerretDB, wait until pymongo's ``ping`` answers, yield its ``mongodb://`` URL;
    stop it and remove its files afterwards (``tmp_dir`` is used instead of a new temporary
    directory if given, and left in place). Raises `paths.ServerNotBuilt` if `make servers`
    has not built it, `process.ServerFailed` if it does not start."""
    exe = binary("ferretdb")
    own_dir = tmp_dir is None
    root = Path(tempfile.mkdtemp(prefix="dwt-ferretdb-")) if tmp_dir is None else tmp_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}
    env["DO_NOT_TRACK"] = "1"
    try:
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            port = free_port()  # another process may take it first: then try another one
            url = f"mongodb://127.0.0.1:{port}/"
            server = Process(
                "ferretdb", ferretdb_argv(exe, data, port), root / "ferretdb.log", env=env, cwd=root
            )
            try:
                server.wait_until(lambda url=url: _ping(url), START_TIMEOUT, "ping")
            except BaseException as e:  # Ctrl-C included: never leave it running
                server.stop()
                retry = (
                    isinstance(e, ServerFailed)
                    and "address already in use" in server.log.read_text()
                )
                if attempt == attempts or not retry:
                    raise
                continue
            break
        try:
            yield url
        finally:
            server.stop()
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """``python -m tests.servers.ferretdb``: run one until Ctrl-C (prints its URL).
    ``python -m tests.servers.ferretdb -- CMD ...``: run CMD with ``DWT_BENCH_WIRE_URL``
    naming a fresh FerretDB, then stop it (``make bench-insights``)."""
    if "--" in sys.argv:
        command = sys.argv[sys.argv.index("--") + 1 :]
        with run_ferretdb() as url:
            env = dict(os.environ, DWT_BENCH_WIRE_URL=url)
            sys.exit(subprocess.call(command, env=env))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in background
    started = time.monotonic()
    with run_ferretdb() as url:
        print(
            f"FerretDB ready in {time.monotonic() - started:.1f}s at {url}  (Ctrl-C stops it)",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
