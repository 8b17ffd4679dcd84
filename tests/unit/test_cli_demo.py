"""``dwt demo`` (the README's run command) works from the installed entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dwt.cli import main


def test_demo_loads_the_sample_and_summarises(capsys, store_url: str):
    assert main(["--mongo-url", store_url, "demo"]) == 0
    out = capsys.readouterr().out
    assert "loaded sample 'small_week': 7 new tweets" in out
    assert "7 tweets from 3 authors" in out
    assert "by kind:" in out and "retweet 1" in out and "quote 1" in out
    # Running it again finds everything already stored: nothing duplicated.
    assert main(["--mongo-url", store_url, "demo"]) == 0
    assert "0 new tweets, 7 already stored" in capsys.readouterr().out


def test_dwt_entry_point_runs():
    dwt = shutil.which("dwt", path=str(Path(sys.executable).parent))
    assert dwt, "the dwt console script is installed with the package"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWT_")}
    done = subprocess.run([dwt, "demo"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "week: 7 tweets" in done.stdout
