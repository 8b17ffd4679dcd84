"""``dwt bench dashboard``: how long the Insights page keeps the browser busy, by size.

For 300, 3,000 and 10,000 members: a generated week is written into an embedded store as
collection would (:func:`dwt.bench.load.load_week`) and analysed by the pipeline itself
(bonds + cluster, which stores the map's positions, + content: the conversations and topics
a tap on a cluster lists beside the map); the real dashboard app is served on a
loopback port; headless Chromium (Debian's, driven by Playwright) logs in and opens
Insights. Measured in the page:

* ``insights_blocking_seconds``: the main thread's long tasks (the Long Tasks API,
  ``PerformanceObserver('longtask')``, buffered), summed from the click on Insights until
  the page is idle again after the tap below — the time the browser could not answer;
* ``insights_interactive_seconds``: from the click until the map is drawn and a tap on a
  cluster has been answered (its members drawn);
* ``insights_cluster_seconds``: from that tap until the members were on the map (the
  drill-in alone, for the largest cluster).

* ``users_open_seconds`` and ``users_blocking_seconds``: then the Users page, from the
  click until its first page of members is shown, and the long tasks until it is idle.

Goals (issue #17): blocking ≤ 1 s and interactive ≤ 2 s at 300 members, ≤ 3 s at 10,000.
The person comes from Home, as after logging in, so the map's data read Home starts ahead
(``dwt_dashboard.mapdata.prefetch``) counts if it has not finished by the click.
"""

from __future__ import annotations

import logging
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
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.browser import launch
from dwt_dashboard.launcher import LocalLauncher

COMMUNITY = "bench"
SIZES = (300, 3000, 10000)
USER, PASSWORD = "bench", "bench-password"
GOALS = {"blocking_s": 1.0, "interactive_s": {300: 2.0, 10000: 3.0}}
#: The end of every generated week here; the served dashboard's clock, so "this week" is it.
WEEK_END = DEFAULT_NOW

#: Collects long tasks from the page's start (buffered: those before the observer, too).
OBSERVE_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({type: 'longtask', buffered: true});
"""


def analysed_store(url: str, members: int, seed: int = 1, tweets_per_member: float = 5) -> Store:
    """A store holding a generated week of ``members`` members, analysed (bonds, cluster and
    content) by the pipeline as ``dwt run`` does, under community :data:`COMMUNITY`."""
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
        RunSpec(community=COMMUNITY, steps=["bonds", "cluster", "content"]),
        now=WEEK_END,
        progress=Progress(store, f"bench-{members}", stream=None),
        run_id=f"bench-{members}",
    )
    return store


@contextmanager
def served(store: Store) -> Iterator[str]:
    """The real dashboard over ``store`` on a free loopback port; its base URL."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    users = UserDirectory.parse(user_line(USER, PASSWORD, [COMMUNITY], iterations=1000))
    clock = lambda: WEEK_END  # noqa: E731 - the analysed week's end, not the calendar's
    app = create_app(store, LocalLauncher(store, clock=clock), users, clock=clock)
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


def largest_cluster_node(page: Any) -> dict[str, Any]:
    """Where the largest cluster's node is drawn on the page (to tap it)."""
    return page.evaluate(
        """() => {
          const root = document.getElementById('bond-graph');
          const box = [root, ...root.querySelectorAll('div')].find(e => e._cyreg);
          const cy = box._cyreg.cy;
          const nodes = cy.nodes('.cluster').sort((a, b) => b.data('size') - a.data('size'));
          const n = nodes[0];
          const at = n.renderedPosition(), r = box.getBoundingClientRect();
          return {id: n.id(), cluster: n.data('cluster'), x: r.left + at.x, y: r.top + at.y};
        }"""
    )


def members_drawn(page: Any) -> int:
    return page.evaluate(
        """() => {
          const root = document.getElementById('bond-graph');
          const box = root && [root, ...root.querySelectorAll('div')].find(e => e._cyreg);
          return box ? box._cyreg.cy.nodes('.member').length : 0;
        }"""
    )


def measure(base: str, viewport: tuple[int, int] = (1440, 900)) -> dict[str, float]:
    """Open Insights in a fresh headless Chromium and time it (see the module doc)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.add_init_script(OBSERVE_LONG_TASKS)
        login(page, base)
        expect(page.locator("#page")).to_contain_text("This week", timeout=30000)
        page.wait_for_load_state("networkidle")  # Home's own work is not Insights'
        start = page.evaluate("performance.now()")
        page.click("nav >> text=Insights")
        page.wait_for_function(
            "() => { const r = document.getElementById('bond-graph');"
            " return r && [r, ...r.querySelectorAll('div')].some(e => e._cyreg"
            " && e._cyreg.cy.nodes().length > 0); }",
            timeout=60000,
        )
        drawn = page.evaluate("performance.now()")
        node = largest_cluster_node(page)
        tapped = page.evaluate("performance.now()")
        page.mouse.click(node["x"], node["y"])
        page.wait_for_function(
            "() => { const r = document.getElementById('bond-graph');"
            " const b = [r, ...r.querySelectorAll('div')].find(e => e._cyreg);"
            " return b._cyreg.cy.nodes('.member').length > 0; }",
            timeout=60000,
        )
        answered = page.evaluate("performance.now()")
        # What the tap set off besides the map (the cluster's details and conversations)
        # still blocks the page: counted until the network is idle again.
        page.wait_for_load_state("networkidle")
        blocking, longest = blocking_since(page, start)
        members = members_drawn(page)
        # Then the Users page, a page of members at a time whatever the size.
        users_start = page.evaluate("performance.now()")
        page.click("nav >> text=Users")
        page.wait_for_selector("#member-list tr", timeout=60000)
        users_shown = page.evaluate("performance.now()")
        page.wait_for_load_state("networkidle")
        users_blocking, _ = blocking_since(page, users_start)
        browser.close()
    return {
        "interactive_s": round((answered - start) / 1000, 3),
        "drawn_s": round((drawn - start) / 1000, 3),
        "cluster_s": round((answered - tapped) / 1000, 3),
        "blocking_s": blocking,
        "longest_task_s": longest,
        "cluster_members": members,
        "users_s": round((users_shown - users_start) / 1000, 3),
        "users_blocking_s": users_blocking,
    }


def blocking_since(page: Any, start: float) -> tuple[float, float]:
    """The main thread's long tasks from ``start`` (``performance.now()``, ms) until now,
    in seconds: their sum and the longest (the page must carry :data:`OBSERVE_LONG_TASKS`)."""
    page.wait_for_timeout(200)  # long tasks are reported after they end
    idle = page.evaluate("performance.now()")
    tasks = page.evaluate("window.__longTasks")
    counted = [d for s, d in tasks if s + d >= start and s <= idle]
    return round(sum(counted) / 1000, 3), round(max(counted, default=0.0) / 1000, 3)


def run_bench(sizes: Sequence[int] = SIZES, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Each size: build, serve, measure; the figures by size and against the goals."""
    rows: dict[int, dict[str, float]] = {}
    echo(
        f"{'members':>8} {'build s':>8} {'drawn s':>8} {'interactive s':>13} "
        f"{'blocking s':>10} {'longest s':>9} {'drill-in s':>10} {'shown':>6} "
        f"{'users s':>7} {'users blocking s':>16}"
    )
    for members in sizes:
        with tempfile.TemporaryDirectory(prefix="dwt-bench-dash-") as tmp:
            began = time.perf_counter()
            store = analysed_store(f"sqlite:///{Path(tmp) / 'dwt.db'}", members)
            built = time.perf_counter() - began
            with served(store) as base:
                row = measure(base)
            store.close()
        rows[members] = row | {"build_s": round(built, 1)}
        echo(
            f"{members:>8} {built:>8.1f} {row['drawn_s']:>8.2f} {row['interactive_s']:>13.2f} "
            f"{row['blocking_s']:>10.2f} {row['longest_task_s']:>9.2f} "
            f"{row['cluster_s']:>10.2f} {row['cluster_members']:>6} "
            f"{row['users_s']:>7.2f} {row['users_blocking_s']:>16.2f}"
        )
    echo(
        "interactive = click on Insights → overview drawn and a tap on the largest cluster "
        "answered (its members drawn); blocking = long tasks (Long Tasks API) in that time; "
        "users = then the Users page opened (its first page of members shown)"
    )
    return summary(rows)


def summary(rows: dict[int, dict[str, float]]) -> dict[str, Any]:
    """The JSON keys, and whether each size met its goals."""
    interactive = {str(n): r["interactive_s"] for n, r in rows.items()}
    blocking = {str(n): r["blocking_s"] for n, r in rows.items()}

    def goal(n: int) -> float:
        return GOALS["interactive_s"][300] if n <= 300 else GOALS["interactive_s"][10000]

    return {
        "insights_interactive_seconds": interactive,
        "insights_blocking_seconds": blocking,
        "insights_drawn_seconds": {str(n): r["drawn_s"] for n, r in rows.items()},
        "insights_cluster_seconds": {str(n): r["cluster_s"] for n, r in rows.items()},
        "insights_longest_task_seconds": {str(n): r["longest_task_s"] for n, r in rows.items()},
        "users_open_seconds": {str(n): r["users_s"] for n, r in rows.items() if "users_s" in r},
        "users_blocking_seconds": {
            str(n): r["users_blocking_s"] for n, r in rows.items() if "users_blocking_s" in r
        },
        "goals_met": {
            str(n): r["blocking_s"] <= GOALS["blocking_s"] and r["interactive_s"] <= goal(n)
            for n, r in rows.items()
        },
    }
