"""``dwt bench dashboard``: how long each page and action keeps the browser busy, by size.

For each size (300, 3,000 and 10,000 members by default): a generated week is written into
an embedded store as collection would (:func:`dwt.bench.load.load_week`) and analysed by the
pipeline itself (discover: the candidates, bonds + cluster, which stores the map's
positions, + content: the conversations and topics); the real dashboard app is served on a
loopback port, with the X API emulator over the same week to look an added member up (and a
key file holding no key, so an add collects nothing). Headless Chromium (Debian's, driven by
Playwright) logs in and runs a person's session (:mod:`dwt_dashboard.bench.actions`:
Insights, a cluster, a conversation, the member search, all members, the overview, the
members table's download, Users, an add and a remove, a candidate muted and finalised,
Collection and its schedule saved) at
a desktop (1440×900) and a phone (390×844) viewport, ``repeats`` times each (a fresh browser
each time). Per action, the median over the repeats of:

* ``blocking_seconds``: the main thread's long tasks (Long Tasks API, buffered) from the
  action until the page is idle again — the time the page could not answer a person; the
  worse of the two viewports (each in ``by_viewport``);
* ``seconds``: from the action until its answer is on screen.

The machine's load (``os.getloadavg``) before and after each size is in ``load``: figures
from a loaded machine are not comparable with a quiet one's.

Goals (issue 26): every action blocking ≤ 0.5 s at 300 members, ≤ 1 s at 3,000, ≤ 2 s at
10,000; "All members" answered in ≤ 3 s at 10,000.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dwt.bench.load import load_week
from dwt.generate.generator import DEFAULT_NOW, generate_community
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Store
from dwt_dashboard import mapdata
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.bench.actions import OBSERVE_LONG_TASKS, session
from dwt_dashboard.browser import launch
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher

COMMUNITY = "bench"
SIZES = (300, 3000, 10000)
USER, PASSWORD = "bench", "bench-password"
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}
#: The X API emulator's bearer token (the add's lookup).
TOKEN = "bench-dashboard-bearer-token"
#: The end of every generated week here; the served dashboard's clock, so "this week" is it.
WEEK_END = DEFAULT_NOW


def analysed_store(url: str, members: int, seed: int = 1, tweets_per_member: float = 5) -> Store:
    """A store holding a generated week of ``members`` members, analysed (discover, bonds,
    cluster and content: candidates too) by the pipeline as ``dwt run`` does, under community
    :data:`COMMUNITY`."""
    return analysed_week(url, members, seed, tweets_per_member)[0]


def analysed_week(
    url: str, members: int, seed: int = 1, tweets_per_member: float = 5
) -> tuple[Store, Any]:
    """:func:`analysed_store`, and the generated week (for the X API emulator)."""
    dataset = generate_community(
        members=members,
        communities=max(4, members // 150),
        seed=seed,
        now=WEEK_END,
        tweets_per_member=tweets_per_member,
    )
    store = Store.open(url)
    load_week(store, dataset, COMMUNITY)
    run_pipeline(
        store,
        RunSpec(community=COMMUNITY, steps=["discover", "bonds", "cluster", "content"]),
        now=WEEK_END,
        progress=Progress(store, f"bench-{members}", stream=None),
        run_id=f"bench-{members}",
    )
    return store, dataset


@contextmanager
def served(
    store: Store, x_api_base_url: str | None = None, keys: Path | None = None
) -> Iterator[str]:
    """The real dashboard over ``store`` on a free loopback port; its base URL. With
    ``x_api_base_url`` an add looks the account up there (``keys``: the key file)."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    users = UserDirectory.parse(user_line(USER, PASSWORD, [COMMUNITY], iterations=1000))
    clock = lambda: WEEK_END  # noqa: E731 - the analysed week's end, not the calendar's
    launcher = (
        LocalLauncher(store, clock=clock)
        if x_api_base_url is None
        else LocalLauncher(
            store, clock=clock, lookup_token=lambda: TOKEN, x_api_base_url=x_api_base_url
        )
    )
    key_store = FileKeyStore(keys, x_api_base_url) if keys and x_api_base_url else None
    app = create_app(store, launcher, users, clock=clock, keys=key_store)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def login(page: Any, base: str) -> None:
    """Log in through the login form, as a person does."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", timeout=30000)


def measure(
    base: str, viewport: tuple[int, int], outsider: str, member: tuple[str, str], size: int
) -> dict[str, dict[str, float]]:
    """One session in a fresh headless Chromium at ``viewport``: each action's figures."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.add_init_script(OBSERVE_LONG_TASKS)
            login(page, base)
            expect(page.locator("#page")).to_contain_text("This week", timeout=30000)
            return session(page, outsider, member, size)
        finally:
            browser.close()


def _subjects(store: Store, dataset: Any) -> tuple[str, tuple[str, str]]:
    """An account X knows that is no member (to add), and the member the search finds:
    the most central one outside the largest cluster (so the map changes cluster)."""
    import numpy as np
    import pyarrow.compute as pc

    outsiders = dataset.users.filter(pc.invert(dataset.users["is_member"]))
    data = mapdata.load(store, COMMUNITY)
    assert data is not None, "the week was not analysed"
    largest = max(data.clusters, key=lambda c: c["size"])["cluster"]
    i = next(int(i) for i in np.argsort(-data.flow) if data.cluster[i] != largest)
    return outsiders.column("username")[0].as_py(), (str(data.ids[i]), str(data.names[i]))


def run_bench(
    sizes: Sequence[int] = SIZES,
    echo: Callable[[str], None] = print,
    repeats: int = 3,
    viewports: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Each size: build, serve, run the session ``repeats`` times per viewport; the
    medians by action and size, the load, and the goals (see the module doc)."""
    from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

    viewports = viewports or VIEWPORTS
    # figures[viewport][action][members] = [one figure dict per repeat]
    figures: dict[str, dict[str, dict[int, list[dict[str, float]]]]] = {}
    load: dict[str, dict[str, list[float]]] = {}
    echo(f"{'members':>8} {'viewport':>8} {'action':>18} {'seconds':>8} {'blocking s':>10}")
    for members in sizes:
        before = [round(x, 2) for x in os.getloadavg()]
        with tempfile.TemporaryDirectory(prefix="dwt-bench-dash-") as tmp:
            began = time.perf_counter()
            store, dataset = analysed_week(f"sqlite:///{Path(tmp) / 'dwt.db'}", members)
            echo(f"{members:>8} built in {time.perf_counter() - began:.1f} s")
            outsider, member = _subjects(store, dataset)
            config = EmulatorConfig(tokens=[TOKEN], rate_limit=100_000, shift_to_now=False)
            keys = Path(tmp) / "keys"
            keys.write_text("")  # no API key: an added member waits, nothing collects
            with (
                EmulatorServer(dataset, config) as x_api,
                served(store, x_api.base_url, keys) as base,
            ):
                for name, viewport in viewports.items():
                    for _ in range(repeats):
                        got_all = measure(base, viewport, outsider, member, members)
                        for action, got in got_all.items():
                            got_by = figures.setdefault(name, {}).setdefault(action, {})
                            got_by.setdefault(members, []).append(got)
                    for action, by_size in figures[name].items():
                        m = _median(by_size[members])
                        echo(
                            f"{members:>8} {name:>8} {action:>18} {m['seconds']:>8.2f} "
                            f"{m['blocking_s']:>10.2f}"
                        )
            store.close()
        load[str(members)] = {"before": before, "after": [round(x, 2) for x in os.getloadavg()]}
    echo(
        f"medians of {repeats}; seconds = action → its answer on screen; blocking = long "
        "tasks (Long Tasks API) from the action until the page is idle again"
    )
    return summary(figures, load, repeats)


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def goal(members: int) -> float:
    """The most an action may block at ``members`` (issue 26)."""
    return 0.5 if members <= 300 else 1.0 if members <= 3000 else 2.0


def summary(
    figures: dict[str, dict[str, dict[int, list[dict[str, float]]]]],
    load: dict[str, Any],
    repeats: int,
) -> dict[str, Any]:
    """The JSON: ``blocking_seconds{action: {members: s}}`` (the worse viewport's median),
    ``seconds`` likewise, each viewport's own in ``by_viewport``, the load, and the goals."""
    by_viewport: dict[str, Any] = {}
    for name, actions in figures.items():
        medians = {a: {n: _median(runs) for n, runs in by.items()} for a, by in actions.items()}
        by_viewport[name] = {
            key: {a: {str(n): m[field] for n, m in by.items()} for a, by in medians.items()}
            for key, field in (
                ("blocking_seconds", "blocking_s"),
                ("seconds", "seconds"),
                ("longest_task_seconds", "longest_task_s"),
            )
        }
    worst: dict[str, dict[str, dict[str, float]]] = {}
    for key in ("blocking_seconds", "seconds"):
        for shown in by_viewport.values():
            for action, by in shown[key].items():
                row = worst.setdefault(key, {}).setdefault(action, {})
                for n, v in by.items():
                    row[n] = max(row.get(n, 0.0), v)
    blocking = worst.get("blocking_seconds", {})
    sizes = sorted({int(n) for by in blocking.values() for n in by})
    all_members = worst.get("seconds", {}).get("map_all_members", {})
    return {
        "blocking_seconds": blocking,
        "seconds": worst.get("seconds", {}),
        "by_viewport": by_viewport,
        "load": load,
        "cpus": os.cpu_count(),
        "repeats": repeats,
        "goals_met": {
            str(n): all(by.get(str(n), 0.0) <= goal(n) for by in blocking.values())
            and (n < 10000 or all_members.get(str(n), 0.0) <= 3.0)
            for n in sizes
        },
    }
