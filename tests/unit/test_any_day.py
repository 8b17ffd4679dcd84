"""The suite passes on any day, not only on the day it was written.

The tests that reach today's date through the real clock (marked ``calendar``: an emulator
moving its week to end now, ``dwt`` commands collecting "the last N days") run again in a
child pytest whose every process — the test, the emulator, the ``dwt`` subprocesses — lives
on another day, through libfaketime (Debian's ``faketime``): at a month's end with the week
spanning two months, at Europe's daylight-saving change a month later, and 30 and 90 days
after the day the suite runs (libfaketime's relative offsets). Go servers do not
see the fake time (Go reads the clock without libc), so these runs use the embedded store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
REPO = Path(__file__).resolve().parents[2]

#: Other "todays": fixed ones (UTC; the clock starts there and runs on) and offsets from now.
DAYS = {
    "month-end": "@2027-02-28 23:50:00",  # the run crosses into March; the week spans two months
    "dst-change": "@2027-03-28 00:50:00",  # Europe's clocks go forward at 01:00 UTC
    "30-days-on": "+30d",
    "90-days-on": "+90d",
}


def _dates(spec: str) -> set[str]:
    """The date(s) a child started under ``spec`` may report (an offset may cross midnight)."""
    if spec.startswith("@"):
        return {spec[1:11]}
    days = timedelta(days=int(spec[1:-1]))
    now = datetime.now(UTC)
    return {str((now + days).date()), str((now + days + timedelta(minutes=20)).date())}


@pytest.mark.slow
@pytest.mark.needs_tool("libfaketime (Debian faketime)", LIBFAKETIME.exists())
@pytest.mark.parametrize("day", DAYS)
def test_the_calendar_tests_pass_on_another_day(day: str, tmp_path: Path):
    env = os.environ | {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": DAYS[day],  # child processes carry on from their parent's time
    }
    argv = [sys.executable, "-m", "pytest", "-m", "calendar", "-k", "not mongo", "-q",
            "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"), "tests"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert " passed" in out and " skipped" not in out, out[-2000:]
    probe = subprocess.run([sys.executable, "-c", "import datetime; print(datetime.date.today())"],
                           env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert probe.stdout.strip() in _dates(DAYS[day])  # the children really lived on that day
