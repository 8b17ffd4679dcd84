"""Ray token authentication as the chart configures it, on a real Ray 2.60 head and worker.

The chart gives every Ray node ``RAY_AUTH_MODE`` and ``RAY_AUTH_TOKEN_PATH`` (a file of the
mounted token Secret) and the operator ``DWT_OPERATOR_RAY_AUTH_TOKEN_FILE``. Here those
rendered variables start a local head and worker (loopback, own temp dir), and the
operator's own Jobs client submits through them: proof that the variables are the ones Ray
reads, that the Jobs API refuses anyone without the token, and that a worker with the
token joins while one with a wrong token does not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests
from test_chart import (
    FULLNAME,
    container,
    env_values,
    mount_of_secret,
    objects,
    pod_templates,
    secret_data,
)

from dwt_operator.jobs import RayJobs

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A `ray start --block` process in its own group, stopped with Ctrl-C like a pod."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=out
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(0.5)


def _healthy(address: str) -> bool:
    try:
        return requests.get(f"{address}/api/gcs_healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_ray_token_auth_as_the_chart_configures_it():
    objs = objects()
    head_env = {e["name"]: e.get("value") for e in container(objs, "ray-head")["env"]}
    worker_env = {e["name"]: e.get("value") for e in container(objs, "ray-worker")["env"]}
    operator_env = env_values(container(objs, "operator"), objs)
    assert head_env["RAY_AUTH_MODE"] == worker_env["RAY_AUTH_MODE"] == "token"
    assert head_env["RAY_AUTH_TOKEN_PATH"] == worker_env["RAY_AUTH_TOKEN_PATH"]
    # The token file as the pods see it: <mount of the token Secret>/<key>.
    (head_template,) = [t for c, t in pod_templates(objs) if c == "ray-head"]
    secret = f"{FULLNAME}-ray-auth"
    mount = mount_of_secret(head_template, secret)["mountPath"]
    key = Path(head_env["RAY_AUTH_TOKEN_PATH"]).relative_to(mount)
    assert Path(operator_env["DWT_OPERATOR_RAY_AUTH_TOKEN_FILE"]) == Path(mount) / key
    token = secret_data(objs, secret)[str(key)]

    # Short paths: Ray's Unix sockets live under its temp dir (107-byte limit).
    root = Path(tempfile.mkdtemp(prefix="dwt-ray-", dir="/tmp"))
    try:
        token_file = root / "secret" / key  # where the Secret's key would be mounted
        token_file.parent.mkdir()
        token_file.write_text(token)
        wrong_file = root / "wrong-token"
        wrong_file.write_text(token[::-1])
        base = {
            **os.environ,
            "RAY_TMPDIR": str(root),  # its own ray_current_cluster: other tests unaffected
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",  # allow a second node on this host
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        node_env = {
            **base,
            "RAY_AUTH_MODE": head_env["RAY_AUTH_MODE"],
            "RAY_AUTH_TOKEN_PATH": str(token_file),
        }
        gcs, dashboard = _port(), _port()
        address = f"http://127.0.0.1:{dashboard}"
        head = [
            str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}",
            "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}", f"--ray-client-server-port={_port()}",
            f"--dashboard-agent-listen-port={_port()}", "--num-cpus=0", "--disable-usage-stats",
        ]  # fmt: skip
        worker = [
            str(BIN / "ray"), "start", f"--address=127.0.0.1:{gcs}", "--block",
            "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
        ]  # fmt: skip
        with _process(head, node_env, root / "head.log") as head_process:
            _wait(lambda: _healthy(address) or head_process.poll() is not None, "head ready")
            assert head_process.poll() is None, (root / "head.log").read_text()[-2000:]
            # The Jobs API: no token → 401, a wrong one → 403 (health needs none: probes).
            assert requests.get(f"{address}/api/jobs/", timeout=5).status_code == 401
            wrong = {"Authorization": f"Bearer {token[::-1]}"}
            assert requests.get(f"{address}/api/jobs/", headers=wrong, timeout=5).status_code == 403
            jobs = RayJobs(address, str(token_file))  # the operator's client, its token file
            intruder_env = {**node_env, "RAY_AUTH_TOKEN_PATH": str(wrong_file)}
            with _process(worker, intruder_env, root / "intruder.log") as intruder:
                _wait(lambda: intruder.poll() is not None, "a worker with a wrong token gave up")
            refusal = (root / "intruder.log").read_text()
            assert intruder.returncode != 0 and "InvalidAuthToken" in refusal, refusal[-2000:]
            with _process(worker, node_env, root / "worker.log"):
                # The head has no CPU: the task waits for, and runs on, the worker.
                code = (
                    "import ray; ray.init(); print('TASK', ray.get(ray.remote(lambda: 6 * 7)"
                    ".remote())); print('NODES', sum(n['Alive'] for n in ray.nodes()))"
                )
                assert jobs.submit("chart-auth-1", f'{BIN}/python -c "{code}"', {})
                done = ("SUCCEEDED", "FAILED", "STOPPED")
                _wait(lambda: jobs.state("chart-auth-1").state in done, "the job ended")
                logs = jobs.client.get_job_logs("chart-auth-1")
                assert jobs.state("chart-auth-1").state == "SUCCEEDED", logs[-2000:]
                assert "TASK 42" in logs and "NODES 2" in logs  # the head and the worker
    finally:
        shutil.rmtree(root, ignore_errors=True)
