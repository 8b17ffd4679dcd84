"""What ``dwt bench dashboard`` does in the browser: a person's session, action by action.

One session (a fresh headless Chromium, logged in, long tasks observed from the start):
open Insights, tap the largest cluster (of members with bonds), open a conversation, find a
member, show all members (the go-ahead clicked when the page asks first), back to the
overview, download the members table, open Users, add a member and remove it again, choose
to mute a candidate and finalise it, open Collection and save the daily schedule (a run is
not started: it would load the machine for the sessions after it). For each action: the
seconds until
its answer is on screen and the main thread's long tasks (Long Tasks API) from the action
until the page is idle again: ``blocking``, the time the page could not answer a person.
"""

from __future__ import annotations

from typing import Any

from dwt_dashboard.insights_map import GL_MEMBERS

#: Collects long tasks from the page's start (buffered: those before the observer, too).
OBSERVE_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({type: 'longtask', buffered: true});
"""


def blocking_since(page: Any, start: float) -> tuple[float, float]:
    """The main thread's long tasks from ``start`` (``performance.now()``, ms) until now,
    in seconds: their sum and the longest (the page must carry :data:`OBSERVE_LONG_TASKS`)."""
    page.wait_for_timeout(200)  # long tasks are reported after they end
    idle = page.evaluate("performance.now()")
    tasks = page.evaluate("window.__longTasks")
    counted = [d for s, d in tasks if s + d >= start and s <= idle]
    return round(sum(counted) / 1000, 3), round(max(counted, default=0.0) / 1000, 3)


#: The actions of one session, in order (the JSON's keys).
ACTIONS = (
    "open_insights",
    "map_cluster",
    "open_conversation",
    "map_search",
    "map_all_members",
    "map_overview",
    "download_csv",
    "open_users",
    "add_member",
    "remove_member",
    "choose_candidate",
    "finalise",
    "open_collection",
    "save_schedule",
)
WAIT_MS = 120_000

_CY = (
    "(() => { const r = document.getElementById('bond-graph');"
    " const b = r && [r, ...r.querySelectorAll('div')].find(e => e._cyreg);"
    " return b ? b._cyreg.cy : null; })()"
)


def _cy(page: Any, expression: str) -> Any:
    return page.evaluate(f"() => {{ const cy = {_CY}; return {expression}; }}")


def _wait_cy(page: Any, condition: str, timeout: int = WAIT_MS) -> None:
    page.wait_for_function(
        f"() => {{ const cy = {_CY}; return !!cy && ({condition}); }}", timeout=timeout
    )


class Session:
    """A logged-in page and the figures of each action it ran."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.figures: dict[str, dict[str, float]] = {}

    def timed(self, name: str, act: Any, done: Any) -> None:
        """Run ``act``, wait for ``done``, then for the page to be idle: the answer's
        seconds and the long tasks since the action (:func:`blocking_since`)."""
        page = self.page
        page.wait_for_load_state("networkidle")  # what came before is not this action's
        start = page.evaluate("performance.now()")
        act()
        done()
        answered = page.evaluate("performance.now()")
        page.wait_for_load_state("networkidle")
        blocking, longest = blocking_since(page, start)
        self.figures[name] = {
            "seconds": round((answered - start) / 1000, 3),
            "blocking_s": blocking,
            "longest_task_s": longest,
        }


def session(
    page: Any, outsider: str, member: tuple[str, str], size: int
) -> dict[str, dict[str, float]]:
    """Every action of :data:`ACTIONS` on a logged-in ``page`` that shows Home; ``outsider``
    is an account X knows that is not a member (added, then removed), ``member`` the
    (account id, username) the map search finds, ``size`` how many members the map has."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    run = Session(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the remove's confirmation
    run.timed(
        "open_insights",
        lambda: page.click("nav >> text=Insights"),
        lambda: _wait_cy(page, "cy.nodes().length > 0"),
    )

    # The map in view first (not timed): cytoscape learns of a scroll from its async scroll
    # event, and a click before that lands where the node was.
    page.locator("#bond-graph").scroll_into_view_if_needed()
    page.wait_for_timeout(300)

    def tap() -> None:  # the largest cluster's node (not the members without bonds)
        at = _cy(
            page,
            "(() => { const n = cy.nodes('.cluster').filter(n => n.data('cluster') >= 0)"
            ".sort((a, b) => b.data('size') - a.data('size'))[0]; const p = n.renderedPosition(), "
            "r = cy.container().getBoundingClientRect(); "
            "return {x: r.left + p.x, y: r.top + p.y}; })()",
        )
        page.mouse.click(at["x"], at["y"])

    def drilled() -> None:  # a tap lost under load (the page busy) is tapped again
        try:
            _wait_cy(page, "cy.nodes('.member').length > 0", 30_000)
        except PlaywrightTimeout:
            tap()
            _wait_cy(page, "cy.nodes('.member').length > 0")

    run.timed("map_cluster", tap, drilled)
    first = page.locator("#conversations details.conversation").first
    first.wait_for(timeout=WAIT_MS)  # the cluster's conversations listed (the tap's work)
    run.timed(
        "open_conversation",
        lambda: first.locator("summary").click(),
        lambda: expect(first.locator("a.thread")).to_be_visible(timeout=WAIT_MS),
    )

    def search() -> None:
        page.fill("#map-search", f"@{member[1]}")
        page.press("#map-search", "Enter")

    run.timed(
        "map_search",
        search,
        lambda: page.wait_for_function(
            f"() => window.dwtMapCentred === {member[0]!r}", timeout=WAIT_MS
        ),
    )

    def all_members() -> None:
        page.click("#map-all")
        page.wait_for_function(
            "() => document.getElementById('map-heavy') || "
            "(document.getElementById('map-title').textContent || '').startsWith('All ')",
            timeout=WAIT_MS,
        )
        if page.locator("#map-heavy button").count():
            page.click("#map-heavy button")  # the person reads the size and goes on

    def all_drawn() -> None:  # by cytoscape, or by WebGL above GL_MEMBERS
        if size <= GL_MEMBERS:
            _wait_cy(page, f"cy.nodes('.member').length === {size}")
            return
        page.wait_for_function(
            "() => { const p = document.querySelector('#map-gl .js-plotly-plot');"
            f" return !!p && !!p.data && p.data[1].x.length === {size}; }}",
            timeout=WAIT_MS,
        )

    run.timed("map_all_members", all_members, all_drawn)
    run.timed(
        "map_overview",
        lambda: page.click("#map-overview"),
        lambda: _wait_cy(page, "cy.nodes('.cluster').length > 0"),
    )
    downloads: list[Any] = []

    def download() -> None:
        with page.expect_download(timeout=WAIT_MS) as got:
            page.click("#map-dl-csv")
        downloads.append(got.value)

    run.timed("download_csv", download, lambda: downloads[0].path())  # the file, whole
    run.timed(
        "open_users",
        lambda: page.click("nav >> text=Users"),
        lambda: page.wait_for_selector("#member-list tr", timeout=WAIT_MS),
    )
    title = page.locator("#members-title")
    before = title.inner_text()

    def add() -> None:
        page.fill("#add-username", outsider)
        page.click("#add-button")

    run.timed(
        "add_member",
        add,
        lambda: expect(page.locator("#add-result")).to_contain_text(
            f"Added @{outsider}", timeout=WAIT_MS
        ),
    )
    row = page.locator("#member-list tr", has_text=f"@{outsider}").first
    run.timed(
        "remove_member",
        lambda: row.locator("button", has_text="remove").click(),
        lambda: expect(title).to_have_text(before, timeout=WAIT_MS),
    )
    run.timed(
        "choose_candidate",
        lambda: page.locator("#cand-list tr button", has_text="mute").first.click(),
        lambda: expect(page.locator("#preview li")).to_contain_text("mute @", timeout=WAIT_MS),
    )
    run.timed(
        "finalise",
        lambda: page.click("#finalise"),
        lambda: expect(page.locator("#preview li")).to_have_count(0, timeout=WAIT_MS),
    )
    run.timed(
        "open_collection",
        lambda: page.click("nav >> text=Collection"),
        lambda: page.wait_for_selector("#schedule-now", timeout=WAIT_MS),
    )
    run.timed(
        "save_schedule",
        lambda: page.click("#schedule-save"),
        lambda: expect(page.locator("#schedule-result")).not_to_be_empty(timeout=WAIT_MS),
    )
    return run.figures
