"""``dwt bench collect``: how much of the keys' rate-limit budget collection really uses.

For 1, 2, 4 and 8 keys, the real collector (Ray actors per key, the driver's scheduler, the
in-process store) collects a generated community from the X API emulator, which runs in
its own process with short windows (default 60 requests per 2 s per key). Once the run
is in its stride, the emulator's own counters are read at two window boundaries; the
requests it answered in between, divided by what the keys were allowed in that time, is
the *efficiency*. Throughput is those requests per second. The work is more than the
measured windows can hold, so every window is contended; the run is then stopped.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from dwt.collect.keys import KeySource
from dwt.collect.pool import RayPool, ThreadPool
from dwt.collect.scheduler import Scheduler
from dwt.collect.state import plan
from dwt.generate import generate_community
from dwt.store import Store


@dataclass
class Row:
    keys: int
    efficiency: float
    throughput: float
    allowed: float  # requests per second the keys may make
    requests: int  # answered with 200 in the measured windows
    refused: int  # 429s in the measured windows
    windows: int


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_emulator/stats", timeout=10) as answer:
        return json.load(answer)


def _counts(stats: dict) -> tuple[int, int]:
    by_status = stats["by_status"]
    return int(by_status.get("200", 0)), int(by_status.get("429", 0))


def _start_emulator(dataset_dir: Path, tokens_file: Path, port: int, window: float, limit: int):
    command = [
        sys.executable,
        "-m",
        "dwt.cli",
        "emulator",
        "--dataset",
        str(dataset_dir),
        "--port",
        str(port),
        "--tokens-file",
        str(tokens_file),
        "--rate-window",
        str(window),
        "--rate-limit",
        str(limit),
        "--no-shift",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited: {process.stderr.read().decode()[-500:]}")
        try:
            _stats(base_url)
            return process, base_url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("emulator did not start within 60 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(
    keys: int,
    dataset_dir: Path,
    members: list[str],
    now,
    *,
    window: float,
    limit: int,
    warmup_windows: int,
    windows: int,
    page_size: int,
    use_ray: bool,
) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        tokens = [f"bench-key-{i}" for i in range(keys)]
        tokens_file = Path(tmp) / "keys"
        tokens_file.write_text("\n".join(tokens))
        process, base_url = _start_emulator(dataset_dir, tokens_file, _free_port(), window, limit)
        try:
            source = KeySource(file=str(tokens_file), from_env=False)
            store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
            since = now - timedelta(days=30)
            items = plan(store, members, since, now, now, None)
            pool_cls = RayPool if use_ray else ThreadPool
            pool = pool_cls(source, source.fingerprints(), base_url, page_size=page_size)
            pool.ready()  # actor start-up is not collection
            stop = threading.Event()
            scheduler = Scheduler(store, pool)
            runner = threading.Thread(target=scheduler.run, args=(items, stop), daemon=True)
            runner.start()
            # Measure between window boundaries, after the run found its stride.
            first = (math.floor(time.time() / window) + 1 + warmup_windows) * window
            time.sleep(max(0.0, first - time.time()))
            ok0, refused0 = _counts(_stats(base_url))
            time.sleep(max(0.0, first + windows * window - time.time()))
            ok1, refused1 = _counts(_stats(base_url))
            finished_early = not runner.is_alive()
            stop.set()
            runner.join(timeout=60)
            pool.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    if finished_early:
        raise RuntimeError("the work ran out before the measurement ended: raise --members")
    allowed = keys * limit / window
    seconds = windows * window
    requests = ok1 - ok0
    return Row(
        keys=keys,
        efficiency=round(requests / (allowed * seconds), 3),
        throughput=round(requests / seconds, 1),
        allowed=round(allowed, 1),
        requests=requests,
        refused=refused1 - refused0,
        windows=windows,
    )


def run_bench(
    key_counts: list[int],
    *,
    window: float = 2.0,
    limit: int = 60,
    windows: int = 5,
    warmup_windows: int = 1,
    page_size: int = 5,
    members: int | None = None,
    use_ray: bool = True,
    echo: Callable[[str], None] = print,
) -> list[Row]:
    """Measure each key count; prints a table as it goes."""
    needed = max(key_counts) * limit * (windows + warmup_windows + 2)
    members = members or max(200, needed // 3)  # ~4 pages a member at page_size 5
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate_community(
            members=members, communities=8, days=3, seed=1, tweets_per_member=18
        )
        dataset.save(Path(tmp) / "week")
        ids = dataset.users.filter(dataset.users["is_member"]).column("id").to_pylist()
        if use_ray:
            from dwt.pipeline.ray_runtime import ensure_ray

            ensure_ray(num_cpus=os.cpu_count())
        echo(f"{'keys':>4} {'allowed/s':>10} {'achieved/s':>11} {'efficiency':>10} {'429s':>5}")
        rows = []
        for k in key_counts:
            row = measure(
                k,
                Path(tmp) / "week",
                ids,
                dataset.now,
                window=window,
                limit=limit,
                warmup_windows=warmup_windows,
                windows=windows,
                page_size=page_size,
                use_ray=use_ray,
            )
            rows.append(row)
            echo(
                f"{row.keys:>4} {row.allowed:>10.1f} {row.throughput:>11.1f} "
                f"{row.efficiency:>10.3f} {row.refused:>5}"
            )
    return rows


def summary(rows: list[Row]) -> dict:
    by_keys = {r.keys: r for r in rows}
    result: dict = {"rows": [asdict(r) for r in rows]}
    if 1 in by_keys and max(by_keys) > 1:
        top = max(by_keys)
        result[f"throughput_ratio_{top}_vs_1"] = round(
            by_keys[top].throughput / by_keys[1].throughput, 2
        )
    return result
