"""``dwt demo`` (the README's run command): the whole pipeline on a generated community."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clirun import dwt
from dwt.store import Coll, Store


@pytest.mark.calendar
def test_demo_collects_and_finds_the_communities(capsys, store_url: str):
    code = dwt(
        store_url,
        [
            "demo",
            "--members",
            "80",
            "--communities",
            "3",
            "--no-ray",
            "--no-serve",
        ],
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "generated 80 members in 3 planted sub-communities" in out
    assert "collect: done" in out and "failed 0" in out
    assert "clusters (largest first):" in out and "accounts to discover" in out
    store = Store.open(store_url)
    assert store[Coll.TWEETS].count_documents({}) > 0
    assert store[Coll.CLUSTERS].count_documents({"community": "demo"}) >= 3
    assert store[Coll.RUNS].find_one()["status"] == "succeeded"
    # The demo's key is a placeholder, and even so it is never stored.
    assert not any("demo-key" in str(doc) for doc in store[Coll.RUNS].find())
    assert "DWT_API_KEYS" not in os.environ  # the demo leaves the environment alone


def test_dwt_entry_point_runs():
    dwt = shutil.which("dwt", path=str(Path(sys.executable).parent))
    assert dwt, "the dwt console script is installed with the package"
    # No DWT_* settings but the test's own data directory (never the person's store).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_") or k == "DWT_DATA_DIR"}
    done = subprocess.run(
        [dwt, "demo", "--members", "40", "--communities", "2", "--no-ray", "--no-serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_demo_serves_the_dashboard_until_ctrl_c(stop: str):
    """The README's run command end to end: the pipeline, then the dashboard (waitress) with
    its one-time password, the X emulator still up behind it; Ctrl-C (SIGINT) or SIGTERM
    stops it cleanly. Started as a shell starts a background command — SIGINT ignored,
    which Python keeps — so Ctrl-C must be asked for by the server itself."""
    import signal
    import time

    import requests

    dwt = shutil.which("dwt", path=str(Path(sys.executable).parent))
    # No DWT_* settings but the test's own data directory (never the person's store).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_") or k == "DWT_DATA_DIR"}
    args = [dwt, "demo", "--members", "40", "--communities", "2", "--no-ray", "--port", "0"]
    background = ["sh", "-c", 'trap "" INT; exec "$0" "$@"', *args]
    proc = subprocess.Popen(background, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line, deadline = "", time.monotonic() + 120
        while "dashboard: http://" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "dashboard: http://127.0.0.1:" in line, "the demo did not serve the dashboard"
        url = line.split("dashboard: ")[1].split()[0]
        password = line.split("log in as demo / ")[1].split(";")[0]
        session = requests.Session()
        form = session.get(url + "login", timeout=10).text
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        home = session.post(
            url + "login",
            data={"username": "demo", "password": password, "csrf_token": token},
            timeout=30,
        )
        assert home.status_code == 200 and home.url == url
        assert password not in home.text
    finally:
        proc.send_signal(getattr(signal, stop))
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()  # never left serving after the test
            raise
    assert proc.returncode == 0 and "stopped" in out
