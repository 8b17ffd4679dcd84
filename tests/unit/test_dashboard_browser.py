"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): log in,
mute a discovered account, run the insight steps, browse clusters and conversations.
Screenshots of every page land in ``out/screenshots/`` as test artifacts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from clirun import dwt
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.stages.weights import BondWeights
from dwt.store import Coll, Store
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.browser import CHROMIUM, launch
from dwt_dashboard.launcher import LocalLauncher
from sample_week import load_sample

SAMPLE_NOW = datetime(2026, 11, 28, tzinfo=UTC)  # the end of the sample's week
SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_tool("chromium", CHROMIUM.exists()),
]


@pytest.fixture
def served(store: Store) -> Iterator[tuple[str, Store]]:
    load_sample(store)
    run_pipeline(
        store,
        RunSpec(community="sample", steps=["discover", "bonds", "cluster", "content"]),
        now=SAMPLE_NOW,
        progress=Progress(store, "r0", stream=None),
        run_id="r0",
    )
    users = UserDirectory.parse(user_line("ada", "correct horse", ["sample"]))
    # The dashboard and the runs it launches share the sample week's clock.
    clock = lambda: SAMPLE_NOW  # noqa: E731
    app = create_app(store, LocalLauncher(store, clock=clock), users, clock=clock)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", store
    server.shutdown()


def test_a_person_uses_the_dashboard(served):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        blocked = []  # the Content-Security-Policy must not stop anything the app needs
        page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text
                else None)  # fmt: skip
        page.goto(url)
        expect(page).to_have_url(f"{url}/login")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit], input[type=submit]")
        expect(page.locator("body")).to_contain_text("Wrong username or password")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit], input[type=submit]")
        expect(page.locator("#page")).to_contain_text("This week", timeout=15000)
        expect(page.locator(".cards")).to_contain_text("7")  # tweets this week
        page.screenshot(path=str(SHOTS / "home.png"), full_page=True)

        page.click("text=Collection")
        expect(page.locator("#time-frame")).to_contain_text("2026-11-23", timeout=15000)
        expect(page.locator("#unreadable")).to_contain_text("Every member could be read")
        page.screenshot(path=str(SHOTS / "collection.png"), full_page=True)

        page.click("text=Users")
        expect(page.locator("#cand-list")).to_contain_text("@outsider_olu", timeout=15000)
        page.screenshot(path=str(SHOTS / "users.png"), full_page=True)
        page.locator("#cand-list button", has_text="mute").first.click()
        expect(page.locator("#preview")).to_contain_text("mute @outsider_olu", timeout=15000)
        assert store[Coll.CANDIDATES].find_one({"account_id": "2001"})["status"] == "pending"
        page.click("#finalise")
        expect(page.locator("#cand-result")).to_contain_text("Muted for 7 days", timeout=15000)
        assert store[Coll.CANDIDATES].find_one({"account_id": "2001"})["status"] == "muted"
        page.fill("#add-username", "outsider_olu")  # an account the week already mentions
        page.click("#add-button")
        expect(page.locator("#add-result")).to_contain_text("Added @outsider_olu", timeout=15000)
        assert store[Coll.MEMBERS].find_one({"account_id": "2001", "community": "sample"})

        page.click("text=Insights")
        expect(page.locator("#cluster-detail")).to_contain_text("#graphs", timeout=15000)
        page.screenshot(path=str(SHOTS / "insights.png"), full_page=True)
        page.click("#cluster-next")  # the next cluster: the member with no interactions
        expect(page.locator("#cluster-detail")).to_contain_text("no interactions", timeout=15000)
        page.click("#cluster-prev")
        first = page.locator("#conversations details.conversation").first
        first.locator("summary").click()  # its tweets and the thread's link come on opening
        expect(first).to_contain_text("x.com/i/status/", timeout=15000)
        page.click("#weights summary")  # the weights are folded away until wanted
        handle = page.locator("#w-reply .rc-slider-handle, #w-reply [role=slider]").first
        handle.focus()
        for _ in range(3):  # reply weight: ×10^-0.3 ≈ ÷2
            page.keyboard.press("ArrowLeft")
        page.click("#run-button")
        expect(page.locator("#run-result")).to_contain_text("Started run", timeout=15000)
        run_id = page.locator("#run-result").inner_text().split("Started run ")[1].split(";")[0]

        page.click("text=Jobs")
        expect(page.locator("#jobs-table")).to_contain_text("succeeded", timeout=30000)
        expect(page.locator("#log-tail")).to_contain_text("content: done", timeout=15000)
        page.screenshot(path=str(SHOTS / "jobs.png"), full_page=True)
        html = page.content()
        cookies = page.context.cookies()
        page.click("#logout")  # a form post; the session ends in the store
        expect(page).to_have_url(f"{url}/login")
        page.context.add_cookies(cookies)  # the cookie from before: dead too
        page.goto(url)
        expect(page).to_have_url(f"{url}/login")
        browser.close()
    assert not blocked, blocked
    assert "correct horse" not in html
    reply = store[Coll.RUNS].find_one({"_id": run_id})["params"]["weights"]["reply"]
    assert reply == pytest.approx(BondWeights().reply * 10**-0.3, rel=0.01)


@pytest.fixture
def demo(store_url: str) -> Iterator[tuple[str, Store]]:
    """The demo's community (generated, collected from the X emulator, analysed), served."""
    assert dwt(store_url, ["demo", "--members", "120", "--communities", "3",
                 "--no-ray", "--no-serve"]) == 0  # fmt: skip
    store = Store.open(store_url)
    users = UserDirectory.parse(user_line("ada", "correct horse", ["demo"]))
    app = create_app(store, LocalLauncher(store), users)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", store
    server.shutdown()


def pick(page, dropdown: str, option: str, exact: bool = True) -> None:
    """Choose a Dash dropdown's option as a person does: open, type to filter, click."""
    from playwright.sync_api import expect

    page.click(dropdown)
    page.get_by_placeholder("Search").fill(option)
    page.get_by_role("option", name=option, exact=exact).first.click()
    expect(page.get_by_role("option")).to_have_count(0)  # closed again


def test_open_a_trending_conversation_and_set_the_schedule(demo):
    from playwright.sync_api import expect, sync_playwright

    url, store = demo
    trending = store[Coll.CONVERSATIONS].find_one({"community": "demo", "trending": True})
    assert trending, "the demo's week has trending conversations"
    first = store[Coll.TWEETS].find_one({"_id": trending["tweet_ids"][0]})
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        expect(page.locator("#page")).to_contain_text("This week", timeout=15000)

        page.click("text=Collection")
        pick(page, "#schedule-hour", "09:00")
        pick(page, "#schedule-tz", "Asia/Tokyo")
        page.click("#schedule-save")
        expect(page.locator("#schedule-result")).to_contain_text(
            "Saved: daily at 09:00 Asia/Tokyo", timeout=15000
        )
        page.screenshot(path=str(SHOTS / "collection-schedule.png"), full_page=True)
        saved = store["communities"].find_one({"_id": "demo"})["schedule"]
        assert (saved["hour"], saved["time_zone"]) == (9, "Asia/Tokyo")

        page.click("text=Insights")
        label = page.locator("#cluster-pick").inner_text()
        wanted = f"{trending['cluster']}: "
        if not label.startswith(wanted):
            pick(page, "#cluster-pick", wanted, exact=False)
        conversations = page.locator("#conversations")
        expect(conversations.locator(".trending").first).to_be_visible(timeout=15000)
        opened = conversations.locator("details.conversation", has=page.locator(".trending"))
        opened = opened.filter(has_text=first["text"][:40]).first
        expect(opened.locator(".tweets")).to_be_hidden()
        opened.locator("summary").click()
        tweets = opened.locator(".tweets li")
        expect(tweets.first).to_be_visible()
        expect(tweets.first).to_contain_text(first["text"][:40])
        assert tweets.count() == min(len(trending["tweet_ids"]), 20)
        link = tweets.first.locator("a").get_attribute("href")
        assert link.startswith("https://x.com/") and link.endswith(f"/status/{first['_id']}")
        page.screenshot(path=str(SHOTS / "trending-conversation.png"), full_page=True)
        browser.close()


def test_a_run_on_a_phone_is_a_card_not_a_column_of_words(served):
    """On a phone a Jobs row lays its cells out as a card (issue 26: a run row was ~580 px
    tall, one word per line), and the page does not scroll sideways."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        expect(page.locator("#page")).to_contain_text("This week", timeout=15000)
        page.click("text=Jobs")
        row = page.locator("#runs-table tbody tr").first
        expect(row).to_contain_text("r0", timeout=15000)
        # Measured in the page, on the row as it is then: the table may be redrawn between
        # finding the row and measuring it (bounding_box() then answered None on a loaded
        # machine, as the row it had found was gone).
        box = row.evaluate(
            "e => { const r = e.getBoundingClientRect(); "
            "return {x: r.x, width: r.width, height: r.height}; }"
        )
        width = page.evaluate("window.innerWidth")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert box["height"] < 300, box
        browser.close()
