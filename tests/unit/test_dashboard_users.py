"""The Users page at 3,000 members in a real headless Chromium (issue 26): the lists draw one
page at a time, an add changes one row and the counts (a small callback answer, the main
thread barely blocked: the Long Tasks API, as ``dwt bench dashboard`` measures), the field
is cleared once the member is added, and on a phone every row's actions are on screen."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from werkzeug.serving import make_server

from dwt.generate import generate_community
from dwt.store import Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.bench.actions import OBSERVE_LONG_TASKS, blocking_since
from dwt_dashboard.browser import CHROMIUM, launch
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher
from dwt_dashboard.pages.users import PAGE_SIZE

pytestmark = [pytest.mark.slow, pytest.mark.needs_tool("chromium", CHROMIUM.exists())]

MEMBERS = 3000
TOKEN = "users-page-bearer-token-1"
WAIT = 30_000


@pytest.fixture(scope="module")
def big() -> Iterator[dict[str, Any]]:
    """3,000 members in a store, X (the emulator) to look the next account up, the
    dashboard served over both."""
    dataset = generate_community(
        members=MEMBERS, communities=20, days=1, seed=3, tweets_per_member=0.2
    )
    users = dataset.users.filter(dataset.users["is_member"]).select(["id", "username"])
    outsiders = dataset.users.filter(pc.invert(dataset.users["is_member"]))
    config = EmulatorConfig(tokens=[TOKEN], rate_limit=100_000, shift_to_now=False)
    with EmulatorServer(dataset, config) as x_api, tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'dwt.db'}")
        store.add_members("big", users.to_pylist(), source="import")
        launcher = LocalLauncher(store, lookup_token=lambda: TOKEN, x_api_base_url=x_api.base_url)
        directory = UserDirectory.parse(user_line("ada", "pw", ["big"], iterations=1000))
        keys = Path(tmp) / "keys"
        keys.write_text("")  # no API key yet: added members wait to be collected
        app = create_app(store, launcher, directory, keys=FileKeyStore(keys, x_api.base_url))
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield {
            "url": f"http://127.0.0.1:{server.server_port}",
            "store": store,
            "outsider": outsiders.column("username")[0].as_py(),
        }
        server.shutdown()
        store.close()


def _open_users(big: dict[str, Any], pw: Any, viewport: tuple[int, int]) -> tuple[Any, Any]:
    """Chromium at ``viewport``, logged in, on the Users page (long tasks observed)."""
    from playwright.sync_api import expect

    browser = launch(pw)
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.add_init_script(OBSERVE_LONG_TASKS)
    page.goto(f"{big['url']}/login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.locator("#page")).to_contain_text("This week", timeout=WAIT)
    page.wait_for_load_state("networkidle")
    start = page.evaluate("performance.now()")
    page.click("nav >> text=Users")
    count = big["store"].members("big").num_rows
    expect(page.locator("#members-title")).to_have_text(f"Members ({count:,})", timeout=WAIT)
    expect(page.locator("#member-list tr")).to_have_count(PAGE_SIZE)  # one page, not 3,000
    page.wait_for_load_state("networkidle")
    blocking, longest = blocking_since(page, start)
    print(json.dumps({"open_users_blocking_s": blocking, "longest_task_s": longest}))
    assert blocking < 2.0, (blocking, longest)  # 6.6-7.3 s before (issue 26)
    return browser, page


def test_adding_a_member_at_3000_changes_one_row_and_the_counts(big):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser, page = _open_users(big, pw, (1440, 900))
        rows = page.locator("#member-list tr")
        expect(page.locator("#member-pager")).to_have_text(f"1–50 of {MEMBERS:,} members")
        page.wait_for_load_state("networkidle")

        answers: list[int] = []

        def answered(response: Any) -> None:  # a 204 (nothing to update) has no body
            if "/_dash-update-component" in response.url and response.status == 200:
                answers.append(len(response.body()))

        page.on("response", answered)
        start = page.evaluate("performance.now()")
        page.fill("#add-username", big["outsider"])
        page.click("#add-button")
        expect(page.locator("#add-result")).to_contain_text(
            f"Added @{big['outsider']}", timeout=WAIT
        )
        expect(page.locator("#members-title")).to_have_text(f"Members ({MEMBERS + 1:,})")
        expect(rows.first).to_contain_text(f"@{big['outsider']}")  # the new row on top
        expect(rows).to_have_count(PAGE_SIZE + 1)  # the others were left as they were
        expect(page.locator("#member-pager")).to_have_text(f"1–51 of {MEMBERS + 1:,} members")
        # Added, though without an API key nothing collects it yet: the field is cleared,
        # and the Users page offers to collect it once a key is there.
        expect(page.locator("#add-result")).to_contain_text("Add an API key first")
        expect(page.locator("#add-username")).to_have_value("")
        expect(page.locator("#collect-new")).to_be_visible()
        page.wait_for_load_state("networkidle")
        blocking, longest = blocking_since(page, start)
        browser.close()
    assert answers, "the add sent no callback"
    assert max(answers) < 20_000, answers  # one row and the counts, not the list (~MBs)
    # Before: an add at 3,000 members was unanswered after 8 minutes (issue 26).
    assert blocking < 2.0, (blocking, longest)
    print(json.dumps({"add_blocking_s": blocking, "longest_task_s": longest, "bytes": answers}))


def test_search_and_pages_and_a_phone_reaches_every_action(big):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser, page = _open_users(big, pw, (390, 844))
        rows = page.locator("#member-list tr")
        expect(rows).to_have_count(PAGE_SIZE)
        width = page.evaluate("window.innerWidth")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        for i in (0, PAGE_SIZE - 1):  # every row's button fits on the screen
            button = rows.nth(i).locator("button", has_text="remove")
            box = button.evaluate(  # measured on the button as it is (a redraw may replace it)
                "e => { const r = e.getBoundingClientRect(); return {x: r.x, width: r.width}; }"
            )
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        page.click("#member-next")
        expect(page.locator("#member-pager")).to_contain_text("51–100 of 3,00")
        name = big["store"].members("big").column("username")[1234].as_py()
        page.fill("#member-search", name)
        page.press("#member-search", "Enter")
        expect(rows.first).to_contain_text(f"@{name}", timeout=WAIT)
        expect(page.locator("#member-pager")).to_contain_text("1–")
        browser.close()
