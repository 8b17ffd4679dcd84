"""The dashboard's flows as a person uses them, in headless Chromium at a desktop size
(1440×900) and a phone size (390×844): no stale state after an action, errors that look
like errors, confirmations before destructive actions, one run at a time, an ended session
that sends the page to the login form and back, the weekly digest on Home, and pages that
fit a phone. Screenshots land in ``out/screenshots/`` as test artifacts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_dashboard import analysed_sample
from werkzeug.serving import make_server

from dwt.collect.keys import KeySource
from dwt.pipeline.collection import CollectConfig
from dwt.store import Coll, Store
from dwt.store.leases import release, take
from dwt.store.runs import finish_run, start_run
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.browser import CHROMIUM, launch
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher

SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
NOW = datetime(2026, 11, 28, tzinfo=UTC)
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
WAIT = 15000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_tool("chromium", CHROMIUM.exists()),
]


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[tuple[str, Store, object, Path]]:
    """The sample community, analysed, served with a key file that holds no key yet (and a
    collector that would start runs bound to fail without one)."""
    analysed_sample(store, "r0")
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("")
    collect = CollectConfig(
        KeySource(file=str(keys_file), from_env=False), "http://127.0.0.1:9", use_ray=False
    )
    users = UserDirectory.parse(user_line("ada", "correct horse", ["sample"]))
    app = create_app(
        store,
        LocalLauncher(store, collect, clock=lambda: NOW),
        users,
        clock=lambda: NOW,
        keys=FileKeyStore(keys_file, "http://127.0.0.1:9"),
    )
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", store, app, keys_file
    server.shutdown()


def log_in(page, url: str) -> None:
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")


def go(page, name: str) -> None:
    """Follow a navigation link (the bar wraps on a phone, every link stays visible)."""
    page.locator("nav.top a", has_text=name).first.click()


def fits_the_screen(page) -> None:
    """Nothing wider than the viewport: the page never scrolls sideways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)"""
    )
    assert overflow <= 1, f"the page is {overflow}px wider than the screen: {wide}"


def notice(page, selector: str):
    return page.locator(f"{selector} .notice")


@pytest.mark.parametrize("size", list(SIZES))
def test_actions_refresh_what_they_change_and_errors_look_like_errors(served, size):
    from playwright.sync_api import expect, sync_playwright

    url, store, _, keys_file = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=SIZES[size])
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # A deep link while logged out: the login form, then back to the same page.
        page.goto(f"{url}/users")
        expect(page).to_have_url(f"{url}/login?next=%2Fusers")
        viewport = page.locator("meta[name=viewport]")
        expect(viewport).to_have_attribute("content", "width=device-width, initial-scale=1")
        log_in(page, url)
        expect(page).to_have_url(f"{url}/users")
        expect(page.locator("#members-title")).to_have_text("Members (4)", timeout=WAIT)
        fits_the_screen(page)
        logout = page.locator("#logout")
        expect(logout).to_be_visible()
        colour = logout.evaluate("e => getComputedStyle(e).color")
        assert colour == "rgb(255, 255, 255)"  # on the dark bar: readable
        bar = page.locator("nav.top").evaluate("e => getComputedStyle(e).backgroundColor")
        assert bar != colour

        # Removing asks first: cancelled, nothing happens; confirmed, the count follows.
        row = page.locator("#member-list tr", has_text="@dee")
        page.once("dialog", lambda d: d.dismiss())
        row.locator("button", has_text="remove").click()
        page.wait_for_timeout(500)
        assert store[Coll.MEMBERS].find_one({"community": "sample", "username": "dee"})
        dialogs: list[str] = []

        def accept(dialog) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        row.locator("button", has_text="remove").click()
        expect(notice(page, "#member-result")).to_have_text("Removed @dee.", timeout=WAIT)
        assert dialogs == ["Remove @dee from sample?"]
        expect(notice(page, "#member-result")).to_have_class("notice notice-ok")
        expect(page.locator("#members-title")).to_have_text("Members (3)")
        expect(page.locator("#member-list")).not_to_contain_text("@dee")

        # A pasted profile link adds the account, which stops being a candidate; with no
        # API key, the answer is an error that says to add one (no run bound to fail).
        expect(page.locator("#cand-list")).to_contain_text("@outsider_olu")
        page.fill("#add-username", "https://x.com/outsider_olu")
        page.click("#add-button")
        added = notice(page, "#add-result")
        expect(added).to_contain_text("Added @outsider_olu. Add an API key first", timeout=WAIT)
        expect(added).to_have_class("notice notice-error")
        expect(added.locator("a")).to_have_attribute("href", "/keys")
        expect(page.locator("#members-title")).to_have_text("Members (4)")
        expect(page.locator("#member-list")).to_contain_text("@outsider_olu")
        expect(page.locator("#cand-list")).not_to_contain_text("@outsider_olu")
        assert store[Coll.RUNS].count_documents({"community": "sample"}) == 1  # r0 only
        page.fill("#add-username", "@Outsider_Olu")
        page.click("#add-button")
        expect(added).to_have_text("@Outsider_Olu is already a member.", timeout=WAIT)
        page.fill("#add-username", "bad name!")
        page.click("#add-button")
        expect(added).to_contain_text("Not a valid X username", timeout=WAIT)
        expect(added).to_have_class("notice notice-error")
        expect(page.locator("#add-username")).to_have_value("bad name!")  # kept to fix
        page.screenshot(path=str(SHOTS / f"flow-users-{size}.png"), full_page=True)

        # The schedule line says what was saved.
        go(page, "Collection")
        expect(page.locator("#schedule-now")).to_have_text("No daily run yet.", timeout=WAIT)
        page.click("#schedule-save")
        expect(page.locator("#schedule-now")).to_contain_text("Runs daily at 06:00 UTC")
        expect(notice(page, "#schedule-result")).to_have_class("notice notice-ok")
        fits_the_screen(page)

        # Deleting a key asks first.
        keys_file.write_text("a-key-for-the-flow-test-1234\n")
        go(page, "API keys")
        key = page.locator("#key-list li").first
        expect(key).to_be_visible(timeout=WAIT)
        page.once("dialog", lambda d: d.dismiss())
        key.locator("button", has_text="delete").click()
        page.wait_for_timeout(500)
        assert keys_file.read_text().strip()
        page.once("dialog", lambda d: d.accept())
        key.locator("button", has_text="delete").click()
        expect(notice(page, "#key-result")).to_contain_text("Deleted", timeout=WAIT)
        expect(page.locator("#key-list")).to_contain_text("No API key yet")
        assert keys_file.read_text().strip() == ""
        assert not errors, errors
        browser.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_one_run_at_a_time_and_an_ended_session_comes_back(served, size):
    from playwright.sync_api import expect, sync_playwright

    url, store, app, _ = served
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=SIZES[size])
        page.goto(f"{url}/insights?cluster=0&tier=1")
        log_in(page, url)
        expect(page).to_have_url(f"{url}/insights?cluster=0&tier=1")

        # The weights sit above the clusters, start from the run the clusters come from,
        # and show each value.
        weights = page.locator("#weights")
        expect(weights).to_be_visible(timeout=WAIT)
        box = weights.bounding_box()
        assert box and box["y"] < 900, box  # on the first screenful, not 2,900 px down
        expect(page.locator("#weights-source")).to_contain_text("come from run r0")
        page.click("#weights summary")
        expect(page.locator("#w-reply-value")).to_be_visible()
        before = page.locator("#w-reply-value").inner_text()
        handle = page.locator("#w-reply [role=slider]").first
        handle.focus()
        page.keyboard.press("ArrowLeft")
        expect(page.locator("#w-reply-value")).not_to_have_text(before, timeout=WAIT)

        # A run in progress: the button is disabled and says why; the server refuses too.
        lease = take(store, "sample", "r-busy", datetime.now(UTC))  # as a runner does
        start_run(store, "r-busy", "sample", ["collect"], {}, NOW)
        expect(page.locator("#run-button")).to_be_disabled(timeout=WAIT)
        expect(page.locator("#run-state")).to_contain_text("run r-busy is still running")
        refused = app.handlers.launch("ada", "sample", {})
        assert refused.error and "r-busy is still running" in refused
        finish_run(store, "r-busy", "succeeded", NOW)
        release(store, lease)
        expect(page.locator("#run-button")).to_be_enabled(timeout=WAIT)
        fits_the_screen(page)
        page.screenshot(path=str(SHOTS / f"flow-insights-{size}.png"), full_page=True)

        # The session ends (an admin ended it, or it expired): the next click leads to the
        # login form, which brings the person back to this page.
        app.handlers.sessions.revoke_user("ada")
        page.locator("#tier-pick label", has_text="tier 2").click()
        expect(page).to_have_url(
            f"{url}/login?next=%2Finsights%3Fcluster%3D0%26tier%3D1", timeout=WAIT
        )
        log_in(page, url)
        expect(page).to_have_url(f"{url}/insights?cluster=0&tier=1", timeout=WAIT)
        expect(page.locator("#weights")).to_be_visible(timeout=WAIT)

        # No open redirect: a next= to another site lands on Home.
        page.context.clear_cookies()
        page.goto(f"{url}/login?next=//evil.example/")
        log_in(page, url)
        expect(page).to_have_url(f"{url}/", timeout=WAIT)
        browser.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_home_tells_the_week(served, size):
    """Home lists the trending conversations (each opens in the conversation view), the
    clusters' changes, the candidates worth a look and the last run in words."""
    from playwright.sync_api import expect, sync_playwright

    url, store, _, _ = served
    # A trending conversation and a cluster change, as the content and cluster steps write.
    conv = store[Coll.CONVERSATIONS].find_one({"community": "sample", "cluster": 0})
    store[Coll.CONVERSATIONS].update_one({"_id": conv["_id"]}, {"$set": {"trending": True}})
    store[Coll.CLUSTERS].update_one(
        {"community": "sample", "cluster": 0},
        {"$set": {"change": "grew", "size_before": 2, "previous": [0]}},
    )
    first = store[Coll.TWEETS].find_one({"_id": conv["tweet_ids"][0]})
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=SIZES[size])
        page.goto(url)
        log_in(page, url)
        trending = page.locator("#digest-trending li")
        expect(trending.first).to_contain_text(first["text"][:30], timeout=WAIT)
        expect(page.locator("#digest-clusters")).to_contain_text("grew from 2 to 3 members")
        expect(page.locator("#digest-candidates")).to_contain_text("@outsider_olu")
        last = page.locator("#last-run")
        expect(last).to_contain_text("run r0")
        expect(last).to_contain_text("succeeded")
        expect(last).not_to_contain_text("_")  # counts in words, not raw keys
        fits_the_screen(page)
        page.screenshot(path=str(SHOTS / f"flow-home-{size}.png"), full_page=True)
        trending.first.locator("a").click()
        expect(page).to_have_url(
            f"{url}/insights?cluster=0&tier={conv['tier']}&conversation={conv['conversation_id']}",
            timeout=WAIT,
        )
        opened = page.locator(f"#conversation-{conv['conversation_id']}")
        expect(opened.locator(".tweets li").first).to_be_visible(timeout=WAIT)
        expect(page.locator("#conversation-count")).to_be_visible()
        browser.close()
