"""Insights as a person uses it: a cluster's trending topics beside its conversations (each
topic's tweets linking to X), legend entries that open their cluster, weight controls
labelled for a person whose values (a preset's, or changed by hand) are the ones a launched
run carries, and a viewer who sees no button they may not use. The data and handler halves
run without a browser; the flows in Debian's headless Chromium (Playwright)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from test_dashboard_map import _CY, _cy
from werkzeug.serving import make_server

from dwt.stages.weights import PRESETS
from dwt.store import Coll, Store
from dwt_dashboard import data, digest, mapdata
from dwt_dashboard.access import REFUSALS, Need
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.bench.dashboard import COMMUNITY, PASSWORD, USER, WEEK_END, analysed_store
from dwt_dashboard.browser import CHROMIUM, launch
from dwt_dashboard.launcher import LocalLauncher
from dwt_dashboard.pages import home as home_page
from dwt_dashboard.pages import insights
from dwt_dashboard.pages import weights as weights_page

VIEWER, VIEWER_PASSWORD = "vera", "viewer-password"
WAIT = 20000

browser_only = [
    pytest.mark.slow,
    pytest.mark.needs_tool("chromium", CHROMIUM.exists()),
]


def _app(store: Store) -> Any:
    users = UserDirectory.parse(
        user_line(USER, PASSWORD, [COMMUNITY], iterations=1000)
        + "\n"
        + user_line(VIEWER, VIEWER_PASSWORD, [COMMUNITY], role="viewer", iterations=1000)
    )
    clock = lambda: WEEK_END  # noqa: E731 - the analysed week's end, not the calendar's
    return create_app(store, LocalLauncher(store, clock=clock), users, clock=clock)


@contextmanager
def _served(store: Store) -> Iterator[tuple[str, Any]]:
    app = _app(store)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()


def _log_in(page: Any, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", timeout=WAIT)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Iterator[Store]:
    """300 generated members, analysed by the pipeline (bonds, cluster, content + topics)."""
    store = analysed_store(f"sqlite:///{tmp_path_factory.mktemp('ins') / 'dwt.db'}", 300)
    yield store
    store.close()


def _clusters_with_topics(store: Store) -> list[int]:
    found = {d["cluster"] for d in store[Coll.TOPICS].find({"community": COMMUNITY})}
    return sorted(c for c in found if c >= 0)


# ---- without a browser -----------------------------------------------------------------


def test_a_clusters_topics_come_with_the_tweets_that_make_them(analysed):
    clusters = _clusters_with_topics(analysed)
    assert len(clusters) >= 2, "the generated week plants topics in several clusters"
    topics = data.cluster_topics(analysed, COMMUNITY, clusters[0])
    assert 0 < len(topics) <= data.CLUSTER_TOPICS
    flags = [not t["trending"] for t in topics]
    assert flags == sorted(flags)  # trending first
    first = topics[0]
    doc = analysed[Coll.TOPICS].find_one(
        {"community": COMMUNITY, "cluster": clusters[0], "topic": first["topic"],
         "tier": first["tier"]}
    )  # fmt: skip
    wanted = doc["tweet_ids"][: data.TOPIC_TWEETS]
    assert [t["url"].rsplit("/", 1)[1] for t in first["tweets"]] == wanted
    for t in first["tweets"]:
        assert t["url"] == f"https://x.com/{t['author']}/status/{t['url'].rsplit('/', 1)[1]}"
    assert first["kind"] in ("hashtag", "term", "url") and first["count"] >= len(wanted)
    # The cluster's detail shows them, each tweet as a link to X.
    shown = str(insights.topic_list(topics))
    assert first["topic"] in shown and first["tweets"][0]["url"] in shown
    # Home's digest lists them too, each cluster linking to its topics on Insights.
    home = str(home_page.layout(digest.digest(analysed, COMMUNITY)))
    assert first["topic"] in home and f"/insights?cluster={clusters[0]}" in home
    # The pills' colours have a key: plain for a topic, red for a trending one.
    assert "topic-legend" in home and "trending: used far more than usual" in home
    assert data.cluster_topics(analysed, COMMUNITY, None) == []
    assert "No topics" in str(insights.topic_list([]))


def test_conversations_come_a_page_at_a_time(analysed):
    handlers = _app(analysed).handlers
    cluster, tier = max(
        ((c, t) for c in _clusters_with_topics(analysed) for t in (1, 2)),
        key=lambda ct: data.conversation_total(analysed, COMMUNITY, *ct),
    )
    total = data.conversation_total(analysed, COMMUNITY, cluster, tier)
    assert total > insights.CONVERSATIONS_SHOWN, "a cluster with more than a page"
    listed, (more, hidden) = handlers.conversations(USER, COMMUNITY, cluster, tier)
    assert str(listed).count("className='conversation") == insights.CONVERSATIONS_SHOWN
    assert f"The first 20 of {total:,} conversations" in str(listed)
    assert not hidden and more == f"Show {min(20, total - 20)} more"
    _, (_, hidden) = handlers.conversations(USER, COMMUNITY, cluster, tier, shown=total)
    assert hidden
    # A conversation opened from Home's digest is listed even when it ranks below a page.
    last = data.conversations(analysed, COMMUNITY, cluster, tier, limit=total)[-1]
    convs = data.conversations(
        analysed, COMMUNITY, cluster, tier, limit=20, opened=last["conversation_id"]
    )
    assert convs[-1]["conversation_id"] == last["conversation_id"]


def test_home_reads_the_map_ahead_once(analysed, monkeypatch):
    """Home starts reading the map for Insights; a request meanwhile waits for that read
    instead of reading again (the spy counts the real reads)."""
    reads = []
    real = mapdata._read

    def counted(store: Store, community: str) -> mapdata.MapData:
        reads.append(community)
        return real(store, community)

    monkeypatch.setattr(mapdata, "_read", counted)
    mapdata._CACHE.clear()
    ahead = mapdata.prefetch(analysed, COMMUNITY)
    found = mapdata.load(analysed, COMMUNITY)
    ahead.join(timeout=60)
    assert reads == [COMMUNITY] and mapdata.load(analysed, COMMUNITY) is found
    assert found is not None and len(found.ids) == 300


def test_a_viewer_is_shown_no_action_and_refused_any(analysed):
    handlers = _app(analysed).handlers
    for path, buttons in (
        ("/users", ("member-del", "'finalise'", "add-button")),
        ("/insights", ()),
        ("/collection", ()),
    ):
        editor = str(handlers.page(USER, path, COMMUNITY))
        viewer = str(handlers.page(VIEWER, path, COMMUNITY))
        for button in buttons:
            assert button in editor and button not in viewer, (path, button)
        if path == "/collection":
            assert "viewer" in viewer and "viewer" not in editor
    opened = str(handlers.weights_body(VIEWER, COMMUNITY))  # the weights panel, opened
    assert "viewer" in opened.split("id='run-button'")[1].split(")")[0]
    assert "disabled=True" in opened.split("id='run-button'")[1].split(")")[0]
    assert "viewer" not in str(handlers.weights_body(USER, COMMUNITY))
    assert (
        "disabled=True"
        in str(handlers.page(VIEWER, "/collection", COMMUNITY)).split("schedule-save")[1][:200]
    )
    assert handlers.launch(VIEWER, COMMUNITY, {}) == REFUSALS[Need.WRITE]
    assert handlers.remove_member(VIEWER, COMMUNITY, "x") == REFUSALS[Need.WRITE]
    assert handlers.set_schedule(VIEWER, COMMUNITY, 6, "UTC") == REFUSALS[Need.WRITE]


def test_each_weight_is_labelled_for_a_person():
    weights = PRESETS["seed"].to_dict()
    shown = {n: weights[n] for n in data.weight_defaults()}
    panel = str(weights_page.panel(shown, None, None, {"seed": shown}, opened=True))
    assert "w-reply" not in str(weights_page.panel(shown, None, None))  # drawn when opened
    for name in shown:
        assert data.WEIGHT_LABELS[name] in panel and data.WEIGHT_HELP[name] in panel
    assert weights_page.weight_text(0.0, "follow") == "off"
    assert weights_page.weight_text(False, "normalize") == "off"
    assert weights_page.weight_text(0.5, "follow_share") == "50%"
    assert weights_page.weight_text(100.0, "reply") == "100"


# ---- in the browser --------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_topics_beside_conversations_and_the_legend_opens_a_cluster(analysed, viewport):
    from playwright.sync_api import expect, sync_playwright

    first, second = _clusters_with_topics(analysed)[:2]
    topics = {c: data.cluster_topics(analysed, COMMUNITY, c) for c in (first, second)}
    with _served(analysed) as (base, _), sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _log_in(page, base, USER, PASSWORD)
        page.goto(f"{base}/insights?cluster={first}")
        box = page.locator("#cluster-topics")
        expect(box).to_contain_text(topics[first][0]["topic"], timeout=WAIT)
        expect(page.locator("#conversations")).to_contain_text("conversations", timeout=WAIT)
        if viewport[0] > 700:  # beside the conversations on a desktop, below on a phone
            talk, told = page.locator("#conversations").bounding_box(), box.bounding_box()
            assert told["x"] > talk["x"] + talk["width"] / 2, (talk, told)
        # A topic opens to the tweets that make it, each linking to the tweet on X.
        item = box.locator("details.topic-item").first
        expect(item).to_contain_text(f"{topics[first][0]['count']} tweets")
        item.locator("summary").click()
        link = item.locator(".topic-tweets a").first
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", topics[first][0]["tweets"][0]["url"])
        expect(link).to_have_attribute("target", "_blank")

        # A conversation's tweets come when it is opened; more conversations on demand.
        conv = page.locator("#conversations details.conversation").first
        conv.locator("summary").click()
        expect(conv.locator(".tweets li").first).to_be_visible(timeout=WAIT)
        href = conv.locator(".tweets li a").first.get_attribute("href")
        assert re.fullmatch(r"https://x\.com/\w+/status/\d+", href), href
        total = data.conversation_total(analysed, COMMUNITY, first, 1)
        listed = page.locator("#conversations details.conversation")
        expect(listed).to_have_count(min(total, insights.CONVERSATIONS_SHOWN))
        if total > insights.CONVERSATIONS_SHOWN:
            page.click("#conversations-more")
            expect(listed).to_have_count(min(total, 2 * insights.CONVERSATIONS_SHOWN))

        # The legend's entry for another cluster opens it: its members on the map, its
        # details and its topics beside.
        page.wait_for_function(f"() => {_CY}.nodes().length > 0", timeout=WAIT)
        entry = page.locator(f"#map-legend button:has-text('{second}: ')").first
        entry.click()
        page.wait_for_function(
            f"() => {_CY}.nodes('.member').length > 0 && "
            f"{_CY}.nodes('.member').every(n => n.data('cluster') === {second})",
            timeout=WAIT,
        )
        # ... fitted to the map's box (the positions come with the elements; one fit).
        page.wait_for_function(
            f"() => {{ const cy = {_CY}; const b = cy.elements().renderedBoundingBox();"
            " return b.x1 >= -2 && b.y1 >= -2 && b.x2 <= cy.width() + 2"
            " && b.y2 <= cy.height() + 2 && b.w > cy.width() / 3; }",
            timeout=WAIT,
        )
        size = analysed[Coll.CLUSTERS].find_one({"community": COMMUNITY, "cluster": second})
        assert _cy(page, "cy.nodes('.member').length") == size["size"]
        expect(page.locator("#map-title")).to_contain_text(f"Cluster {second}")
        expect(page.locator("#cluster-detail")).to_contain_text(f"Cluster {second}:")
        expect(box).to_contain_text(topics[second][0]["topic"], timeout=WAIT)
        expect(page.locator("#cluster-pick")).to_contain_text(f"{second}: ")
        assert not errors, errors
        browser.close()


@pytest.fixture
def small(tmp_path) -> Iterator[Store]:
    """A store of its own: the run launched below rewrites its clusters."""
    store = analysed_store(f"sqlite:///{tmp_path / 'dwt.db'}", 120)
    yield store
    store.close()


def test_weight_controls_are_what_the_launched_run_carries(small):
    from playwright.sync_api import expect, sync_playwright

    seed = {n: PRESETS["seed"].to_dict()[n] for n in data.weight_defaults()}
    with _served(small) as (base, app), sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        _log_in(page, base, USER, PASSWORD)
        page.goto(f"{base}/insights")
        page.click("#weights summary")
        page.click("#weights-preset")
        page.get_by_role("option", name="seed", exact=True).click()
        page.keyboard.press("Escape")
        # The preset wrote every control; each is labelled with its name for a person and
        # its value ("off" for nothing).
        for name, value in seed.items():
            label = page.locator(f"label[for=w-{name}]")
            expect(label).to_contain_text(data.WEIGHT_LABELS[name])
            expect(page.locator(f"#w-{name}-value")).to_have_text(
                weights_page.weight_text(value, name), timeout=WAIT
            )
        expect(page.locator("#w-follow-value")).to_have_text("off")
        # Changed by hand: the switch, the share and a log-scale weight.
        page.locator("#w-normalize input[type=checkbox]").check()
        expect(page.locator("#w-normalize-value")).to_have_text("on", timeout=WAIT)
        page.locator("#w-follow_share [role=slider]").first.focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#w-follow_share-value")).to_have_text("55%", timeout=WAIT)
        page.locator("#w-reply [role=slider]").first.focus()
        page.keyboard.press("ArrowLeft")
        reply = weights_page.value_of("reply", weights_page.slider_position(100.0) - 0.1)
        expect(page.locator("#w-reply-value")).to_have_text(
            weights_page.weight_text(reply, "reply")
        )
        page.click("#run-button")
        expect(page.locator("#run-result")).to_contain_text("Started run", timeout=WAIT)
        run_id = re.search(r"Started run (\S+);", page.locator("#run-result").inner_text())[1]
        browser.close()
        app.handlers.launcher.threads[run_id].join(120)  # the run goes on in a thread
    params = small[Coll.RUNS].find_one({"_id": run_id})["params"]
    expected = seed | {"normalize": True, "follow_share": 0.55, "reply": reply}
    assert data.weights_of(params["weights"]) == expected
    assert set(params["steps"]) == {"bonds", "cluster", "content"}


def test_a_viewer_sees_no_button_they_may_not_use(analysed):
    from playwright.sync_api import expect, sync_playwright

    with _served(analysed) as (base, _), sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        _log_in(page, base, VIEWER, VIEWER_PASSWORD)
        expect(page.locator("nav.top")).not_to_contain_text("API keys")
        page.locator("nav.top a", has_text="Users").first.click()
        expect(page.locator("#view-only")).to_contain_text("viewer", timeout=WAIT)
        expect(page.locator("#member-list tr").nth(2)).to_be_visible()  # the list is there
        for gone in ("#add-button", "#finalise", "#add-username"):
            expect(page.locator(gone)).to_have_count(0)
        expect(
            page.get_by_role("button", name=re.compile("^(remove|add|mute|block)$"))
        ).to_have_count(0)

        page.locator("nav.top a", has_text="Insights").first.click()
        page.click("#weights summary")
        run = page.locator("#run-button")
        expect(run).to_be_disabled(timeout=WAIT)
        expect(run).to_have_attribute("title", re.compile("viewer"))
        page.wait_for_timeout(4500)  # the run state is polled every 4 s: still disabled
        expect(run).to_be_disabled()
        expect(page.locator("#run-state")).to_contain_text("viewer")

        page.locator("nav.top a", has_text="Collection").first.click()
        expect(page.locator("#schedule-save")).to_be_disabled(timeout=WAIT)
        expect(page.locator("#schedule-result")).to_contain_text("viewer")
        browser.close()


for _test in (
    test_topics_beside_conversations_and_the_legend_opens_a_cluster,
    test_weight_controls_are_what_the_launched_run_carries,
    test_a_viewer_sees_no_button_they_may_not_use,
):
    for _mark in browser_only:
        _mark(_test)


def test_counts_of_one_are_singular_and_engagement_is_explained():
    """A conversation, topic or cluster of one says "1 tweet", "1 member", never "1 members";
    engagement carries its meaning in a tooltip."""
    conv = {
        "conversation_id": "9", "trending": False, "size": 1, "participants": 1,
        "engagement": 1, "tweets": [{"text": "hi"}],
    }  # fmt: skip
    listed = str(insights.conversation_list([conv], total=1))
    assert "1 tweet ·" in listed and "1 member ·" in listed and "1 conversation'" in listed
    assert "likes, retweets, replies and quotes" in listed
    topic = {"topic": "#x", "kind": "hashtag", "count": 1, "members": 1, "tier": 1, "tweets": []}
    shown = str(insights.topic_list([topic]))
    assert "1 tweet ·" in shown and "1 member ·" in shown
    assert "1 member ·" in insights.cohesion({"size": 1})
    trending = {"text": "t", "href": "/", "cluster": 0, "label": "", "tier": 1,
                "size": 1, "participants": 1}  # fmt: skip
    home = str(home_page._trending_list([trending]))
    assert "1 tweet ·" in home and "1 member'" in home
    pills = str(home_page._topics_list([{"cluster": 0, "label": "", "topics": [topic]}]))
    assert "1 tweet, 1 member" in pills
    for text in (listed, shown, home, pills):
        assert not re.search(r"\b1 (tweets|members|conversations)\b", text), text


def test_a_week_without_groups_is_said_before_its_one_cluster_is_read(analysed):
    """When neither Infomap nor modularity found groups (dwt.stages.cluster), the run counts
    ``no_structure``; the Insights page and the run's counts say it in words."""
    handlers = _app(analysed).handlers
    assert "no-structure" not in str(handlers.page(USER, "/insights", COMMUNITY))
    run = data.clusters_run(analysed, COMMUNITY)["run_id"]
    counts = analysed[Coll.RUNS].find_one({"_id": run})["counts"]
    analysed[Coll.RUNS].update_one({"_id": run}, {"$set": {"counts.no_structure": 1}})
    try:
        page = str(handlers.page(VIEWER, "/insights", COMMUNITY))
        assert "no-structure" in page and "too evenly mixed" in page
        assert "week without groups" in data.count_words({**counts, "no_structure": 1})
        assert "without groups" not in data.count_words(counts)
    finally:
        analysed[Coll.RUNS].update_one({"_id": run}, {"$set": {"counts": counts}})
