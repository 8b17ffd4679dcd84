"""Screenshots of every dashboard page, from the demo community (headless Chromium).

    .venv/bin/python docs/screenshots.py        # writes docs/*.png

Runs the demo pipeline without Ray (generated community → X API emulator → collection →
insights), serves the dashboard on a free loopback port, logs in with Playwright driving
Debian's chromium (/usr/bin/chromium) and saves a screenshot per page at 1280×900, then
Home, Insights, Users and Jobs on a phone (390×844, ``dashboard-phone-*.png``); Insights
also with a trending conversation opened, a cluster's topics opened, the weights panel
opened, and "All members" as the WebGL map draws it above 1,000 members (the demo's 300
members drawn so by lowering that threshold for the shot).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from dwt.cli import main as dwt
from dwt.store import Store
from dwt_dashboard import insights_map
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.browser import launch
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher

DOCS = Path(__file__).resolve().parent


def shot(page, path: Path) -> None:
    """The page's visible part (what a person sees first) as ``path``."""
    page.screenshot(path=str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp())
    if dwt(["--data-dir", str(data_dir), "demo", "--no-ray", "--no-serve"]) != 0:
        return 1
    store = Store.open(f"sqlite:///{data_dir / 'dwt.db'}")
    keys_file = Path(tempfile.mkdtemp()) / "api-keys"
    keys_file.write_text("demo-key-not-a-secret\n")  # listed by fingerprint only
    users = UserDirectory.parse(user_line("demo", "screenshots", ["demo"]))
    keys = FileKeyStore(keys_file, "http://127.0.0.1:9")
    app = create_app(store, LocalLauncher(store), users, keys=keys)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base)
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", "screenshots")
        page.click("button[type=submit], input[type=submit]")
        for name, link, ready in [
            ("home", None, ".cards"),
            ("collection", "Collection", "#time-frame"),
            ("users", "Users", "#cand-list"),
            ("insights", "Insights", "#cluster-detail"),
            ("jobs", "Jobs", "#jobs-table"),
            ("keys", "API keys", "#key-list"),
        ]:
            if link:
                page.click(f"text={link}")
            expect(page.locator(ready)).to_be_visible(timeout=20000)
            page.wait_for_timeout(1500)  # let the graph lay itself out
            shot(page, args.out / f"dashboard-{name}.png")  # the first screenful
        page.click("text=Insights")  # a trending conversation, opened (its tweets load then)
        trending = page.locator("details.conversation", has=page.locator(".trending")).first
        trending.locator("summary").click()
        expect(trending.locator(".tweets li").first).to_be_visible(timeout=20000)
        trending.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shot(page, args.out / "dashboard-conversation.png")
        topic = page.locator("#cluster-topics details.topic-item").first  # beside: topics
        topic.locator("summary").click()
        expect(topic.locator(".tweets li").first).to_be_visible(timeout=20000)
        page.locator("#cluster-topics").scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        shot(page, args.out / "dashboard-topics.png")
        page.evaluate("window.scrollTo(0, 0)")
        page.click("#weights summary")  # the weights panel, opened: labelled controls
        expect(page.locator("#run-button")).to_be_visible(timeout=20000)
        page.wait_for_timeout(500)
        shot(page, args.out / "dashboard-weights.png")
        page.reload()  # the weights panel closed again
        insights_map.GL_MEMBERS = 100  # the served app is in-process: the WebGL map at 300
        page.click("#map-all")
        page.wait_for_function(
            "() => { const p = document.querySelector('#map-gl .js-plotly-plot');"
            " return !!p && !!p.data && p.data.length === 2; }",
            timeout=30000,
        )
        page.locator("#map-canvas").scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        shot(page, args.out / "dashboard-all-members.png")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.context.add_cookies(page.context.cookies())  # the same session
        for name, where, ready in [
            ("home", "/", "#digest-trending"),
            ("insights", "/insights", "#cluster-detail"),
            ("users", "/users", "#cand-list"),
            ("jobs", "/jobs", "#jobs-table"),
        ]:
            phone.goto(base + where)
            expect(phone.locator(ready)).to_be_visible(timeout=20000)
            phone.wait_for_timeout(1500)
            shot(phone, args.out / f"dashboard-phone-{name}.png")
        browser.close()
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
