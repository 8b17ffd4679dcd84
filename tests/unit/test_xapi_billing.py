"""The emulator's meter, and the client reading X's billing answers: every resource billed
at its price once per UTC day, 429 ``UsageCapExceeded`` past the monthly post cap, 402
``CreditsDepleted`` once the credits are spent — in X's own answer bodies — and the real
tweepy client turning them into :class:`UsageCapped` / :class:`CreditsDepleted`.

The emulator stands in for X (unreachable from here); its meter's clock is injected, so no
test depends on the calendar day."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

import pytest

from dwt.config import SettingsError, load_settings
from dwt.generate import generate_community
from dwt.xapi.client import XClient
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt.xapi.emulator.billing import Billing
from dwt.xapi.errors import CreditsDepleted, RateLimited, UsageCapped, billing_refusal
from dwt.xapi.prices import PRICES, Resource

TOKEN = "billing-key"
#: 23:00 UTC on the last day of a month: an hour later is a new day and a new month.
LATE = datetime(2026, 11, 30, 23, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def dataset():
    return generate_community(members=12, communities=2, days=2, seed=3, tweets_per_member=8)


def _active(dataset) -> list[dict]:
    """Active members, the one who posted most first."""
    users = dataset.users.filter(dataset.users["is_member"]).to_pylist()
    authors = dataset.tweets.column("author_id").to_pylist()
    active = [u for u in users if u["state"] == "active"]
    return sorted(active, key=lambda u: -authors.count(u["id"]))


def test_a_resource_is_billed_once_a_utc_day():
    now = [LATE]
    meter = Billing(clock=lambda: now[0])
    page = {"data": [{"id": "1"}, {"id": "2"}]}
    assert meter.charge("k", "user_tweets", page) == 2
    assert meter.charge("k2", "user_tweets", page) == 0  # the same posts, the same day
    # a follow list bills its relationships: the same account in another list is billed
    assert meter.charge("k", "following", {"data": [{"id": "9"}]}, owner="a") == 1
    assert meter.charge("k", "following", {"data": [{"id": "9"}]}, owner="b") == 1
    assert meter.charge("k", "following", {"data": [{"id": "9"}]}, owner="a") == 0
    assert meter.charge("k", "users_by", {"data": [{"id": "9"}]}) == 1  # a user read
    now[0] += 3600  # past midnight UTC
    assert meter.charge("k", "user_tweets", page) == 2
    bill = meter.stats()
    assert (bill["posts"], bill["following_accounts"], bill["user_lookups"]) == (4, 2, 1)
    expected = 4 * PRICES[Resource.POST] + 2 * PRICES[Resource.FOLLOWING] + PRICES[Resource.USER]
    assert bill["usd"]["total"] == pytest.approx(expected)
    assert bill["month"] == "2026-12" and bill["month_posts"] == 2  # a new month too


def test_the_monthly_cap_and_the_credits_refuse_in_xs_words():
    meter = Billing(monthly_post_cap=2, credits_usd=0.03, clock=lambda: LATE)
    assert meter.refusal("user_tweets") is None
    meter.charge("k", "user_tweets", {"data": [{"id": "1"}, {"id": "2"}]})
    status, body = meter.refusal("user_tweets")
    assert status == 429 and body["title"] == "UsageCapExceeded"
    assert body["type"].endswith("/2/problems/usage-capped") and body["period"] == "Monthly"
    assert meter.refusal("following") is None  # the cap counts posts only
    meter.charge("k", "following", {"data": [{"id": "9"}, {"id": "8"}]}, owner="a")
    status, body = meter.refusal("following")  # $0.03 of credits spent
    assert status == 402 and body["title"] == "CreditsDepleted"
    assert "does not have any credits" in body["detail"]
    assert meter.stats()["refused"] == {"usage_capped": 1, "credits_depleted": 1}


def test_the_client_reads_billing_refusals_and_nothing_else_as_them():
    assert billing_refusal(402, {"title": "CreditsDepleted", "detail": "no credits"}) == (
        CreditsDepleted,
        "CreditsDepleted: no credits",
    )
    assert billing_refusal(429, {"title": "UsageCapExceeded"})[0] is UsageCapped
    assert billing_refusal(429, {"type": "https://api.x.com/2/problems/usage-capped"})
    assert billing_refusal(429, {"title": "Too Many Requests"}) is None  # a rate limit
    assert billing_refusal(429, None) is None
    assert billing_refusal(503, {"title": "UsageCapExceeded"}) is None


def test_over_http_the_real_client_stops_on_the_cap_and_the_credits(dataset):
    user = _active(dataset)[0]
    config = EmulatorConfig(tokens=(TOKEN,), shift_to_now=False, monthly_post_cap=1)
    with EmulatorServer(dataset, config) as server:
        client = XClient(TOKEN, base_url=server.base_url)
        first = next(client.user_tweets_pages(user["id"], max_results=5))
        assert first.data  # under the cap: served (and billed past it, as X does)
        with pytest.raises(UsageCapped, match="429 UsageCapExceeded") as capped:
            next(client.user_tweets_pages(user["id"], max_results=5))
        assert not isinstance(capped.value, RateLimited)  # no reset to wait for
        assert list(client.following_pages(user["id"]))  # follow lists are not capped
        stats = server.stats()["bill"]
        assert stats["posts"] == len(first.data) and stats["refused"]["usage_capped"] == 1
        client.close()
    config = EmulatorConfig(tokens=(TOKEN,), shift_to_now=False, credits_usd=0.0)
    with EmulatorServer(dataset, config) as server:
        client = XClient(TOKEN, base_url=server.base_url)
        with pytest.raises(CreditsDepleted, match="402 CreditsDepleted"):
            client.lookup_users(usernames=[user["username"]])
        client.close()


def test_the_meter_moves_on_for_a_benchmark(dataset):
    user = _active(dataset)[0]
    config = EmulatorConfig(tokens=(TOKEN,), shift_to_now=False)
    with EmulatorServer(dataset, config) as server:
        client = XClient(TOKEN, base_url=server.base_url)
        list(client.user_tweets_pages(user["id"]))
        list(client.user_tweets_pages(user["id"]))  # the same posts, the same day: free
        once = server.stats()["bill"]["posts"]
        request = urllib.request.Request(
            f"{server.base_url}/_emulator/billing/advance?seconds=604800", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["posts"] == once
        list(client.user_tweets_pages(user["id"]))  # a week later: billed again
        assert server.stats()["bill"]["posts"] == 2 * once > 0
        assert server.stats()["posts_served"] == 3 * once  # what was served, all of it
        client.close()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("x_rate_limits", "following=15,nosuch=3", "nosuch"),
        ("x_rate_limits", "following=0", "at least 1"),
        ("x_prices", "posts=abc", "number of dollars"),
        ("x_prices", "tweets=0.1", "RESOURCE"),
    ],
)
def test_bad_overrides_are_refused_clearly(name, value, words):
    with pytest.raises(SettingsError, match=words):
        load_settings({name: value})


def test_overrides_replace_the_tables_and_say_so():
    tariff = load_settings(
        {"x_rate_limits": "following=15", "x_prices": "posts=0", "x_monthly_post_cap": 0}
    ).tariff()
    assert tariff.limits["following"] == 15 and tariff.limits["user_tweets"] == 10_000
    assert tariff.price(Resource.POST) == 0 and tariff.price(Resource.FOLLOWING) == 0.010
    assert tariff.monthly_post_cap is None
    assert tariff.sources == {
        "prices": "settings", "limits": "settings", "monthly_post_cap": "settings",
    }  # fmt: skip
