"""XClient (the real tweepy.Client underneath) against the emulator over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import tweepy
from xapi_fixtures import (
    ALICE,
    ALICE_TWEETS,
    BOB,
    CAROL,
    DAVE_PROTECTED,
    ERIN_SUSPENDED,
    FRANK_DELETED,
    NOW,
    TOKEN,
    TOKEN_B,
    ManualClock,
    running_emulator,
)

from dwt.model.fields import (
    DEFAULT_TWEET_FIELDS,
    DEFAULT_USER_FIELDS,
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
)
from dwt.model.interactions import TweetKind, normalise_page
from dwt.xapi.client import BaseUrlAdapter, Page, RateLimit, XClient, key_fingerprint
from dwt.xapi.emulator import EmulatorServer
from dwt.xapi.endpoints import DEFAULT_LIMITS
from dwt.xapi.errors import (
    AccountUnavailable,
    ForbiddenKey,
    InvalidRequest,
    RateLimited,
    TransientServerError,
    UnauthorizedKey,
)


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[XClient]:
    c = XClient(TOKEN, server.base_url, timeout=10)
    yield c
    c.close()


def _all(pages: Iterator[Page]) -> list[Page]:
    return list(pages)


# --- transport -----------------------------------------------------------------------------
def test_tweepy_requests_reach_the_emulator(server: EmulatorServer, client: XClient):
    before = server.stats()["requests"]
    result = client.lookup_users(usernames=["alice"])
    assert [u["id"] for u in result.data] == [ALICE]
    assert server.stats()["requests"] == before + 1
    # the adapter serves both of X's hosts
    for host in ("https://api.twitter.com", "https://api.x.com"):
        adapter = client._tweepy.session.get_adapter(f"{host}/2/users/{ALICE}")
        assert isinstance(adapter, BaseUrlAdapter)


def test_adapter_keeps_path_and_query_under_a_prefix():
    adapter = BaseUrlAdapter("http://127.0.0.1:1/prefix", timeout=1)
    request = requests.Request("GET", "https://api.twitter.com/2/users?ids=1,2").prepare()
    with pytest.raises(requests.ConnectionError) as info:
        adapter.send(request)
    assert "/prefix/2/users?ids=1" in str(info.value)
    with pytest.raises(ValueError, match="http"):
        BaseUrlAdapter("ftp://x", timeout=1)


# --- pagination, fields, expansions --------------------------------------------------------
def test_user_tweets_all_pages_newest_first(client: XClient, ids: dict):
    pages = _all(client.user_tweets_pages(ALICE))
    assert [len(p.data) for p in pages] == [100, 100, 50]
    got = [t["id"] for p in pages for t in p.data]
    assert got == ids["alice_tweets"] and len(set(got)) == ALICE_TWEETS
    assert [p.next_token is None for p in pages] == [False, False, True]
    assert pages[0].meta["result_count"] == 100
    assert all(p.rate is not None and p.rate.limit == DEFAULT_LIMITS["user_tweets"] for p in pages)
    remaining = [p.rate.remaining for p in pages if p.rate]
    assert remaining == sorted(remaining, reverse=True)


def test_requested_fields_only(client: XClient):
    sent: list[dict[str, list[str]]] = []
    client._tweepy.session.hooks["response"].append(
        lambda r, *a, **k: sent.append(parse_qs(urlsplit(r.url).query))
    )
    page = next(client.user_tweets_pages(ALICE, max_results=50))
    (query,) = sent
    assert query["tweet.fields"] == [",".join(TWEET_FIELDS)]
    assert query["user.fields"] == [",".join(USER_FIELDS)]
    assert query["expansions"] == [",".join(EXPANSIONS)]
    allowed = set(TWEET_FIELDS) | set(DEFAULT_TWEET_FIELDS)
    assert all(set(t) <= allowed for t in page.data)
    assert all({"author_id", "created_at", "conversation_id", "lang"} <= set(t) for t in page.data)
    for user in page.includes["users"]:
        assert set(user) == set(USER_FIELDS) | set(DEFAULT_USER_FIELDS) | {"id"}


def test_pages_normalise_into_complete_interactions(client: XClient):
    records = [
        record
        for page in client.user_tweets_pages(ALICE)
        for record in normalise_page(
            {"data": page.data, "includes": page.includes}, tweet_fields=TWEET_FIELDS
        )
    ]
    assert len(records) == ALICE_TWEETS
    by_kind: dict[Any, int] = {}
    for r in records:
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
    assert by_kind[TweetKind.RETWEET] == 25 + 1 and by_kind[TweetKind.REPLY] == 25 + 1
    # only the retweet of protected dave and the quote of suspended erin lack their target
    incomplete = sorted(gap for r in records for gap in r.unknown)
    assert incomplete == ["quoted_author", "retweeted_author"]
    replies = [r for r in records if r.kind is TweetKind.REPLY and CAROL in r.directed_at]
    assert replies and all(BOB in r.directed_at for r in replies)


def test_expansions_resolve(client: XClient, ids: dict):
    page = next(client.user_tweets_pages(ALICE))
    users = {u["id"] for u in page.includes["users"]}
    assert {ALICE, BOB, CAROL, DAVE_PROTECTED} <= users
    tweets = {t["id"] for t in page.includes["tweets"]}
    assert set(ids["bob_tweets"][:10]) <= tweets
    assert {e["section"] for e in page.errors} == {"includes"}


def test_since_id_and_time_window(client: XClient, ids: dict):
    alice = ids["alice_tweets"]
    got = [t["id"] for p in client.user_tweets_pages(ALICE, since_id=alice[120]) for t in p.data]
    assert got == alice[:120]
    start = NOW - timedelta(minutes=1 + 40 * 150)
    end = NOW - timedelta(minutes=1 + 40 * 10)
    window = [
        t["id"]
        for p in client.user_tweets_pages(ALICE, start_time=start, end_time=end, max_results=60)
        for t in p.data
    ]
    assert window == alice[11:151]


def test_resume_from_a_pagination_token(client: XClient, ids: dict):
    first = next(client.user_tweets_pages(ALICE, max_results=100))
    rest = client.user_tweets_pages(ALICE, pagination_token=first.next_token, max_results=100)
    got = [t["id"] for t in first.data] + [t["id"] for p in rest for t in p.data]
    assert got == ids["alice_tweets"]


def test_following_pages_of_1000(client: XClient):
    pages = _all(client.following_pages(ALICE))
    assert [len(p.data) for p in pages] == [1000, 1000, 503]
    got = [u["id"] for p in pages for u in p.data]
    assert len(got) == len(set(got))
    assert all(set(u) == {"id", *USER_FIELDS} for u in pages[0].data)
    assert pages[-1].rate is not None and pages[-1].rate.limit == DEFAULT_LIMITS["following"]


def test_lookups(client: XClient, ids: dict):
    users = client.lookup_users(ids=[ALICE, DAVE_PROTECTED, ERIN_SUSPENDED, FRANK_DELETED, "42"])
    assert [u["id"] for u in users.data] == [ALICE, DAVE_PROTECTED]
    assert users.unavailable == {
        ERIN_SUSPENDED: "suspended",
        FRANK_DELETED: "not_found",
        "42": "not_found",
    }
    many = client.lookup_users(ids=ids["generated"][:250])  # three requests of ≤ 100
    assert len(many.data) == 250
    assert many.rate is not None and many.rate.limit == DEFAULT_LIMITS["users"]
    with pytest.raises(ValueError):
        client.lookup_users()


# --- account and key errors ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (DAVE_PROTECTED, "protected"),
        (ERIN_SUSPENDED, "suspended"),
        (FRANK_DELETED, "not_found"),
        ("7777777", "not_found"),
    ],
)
def test_unavailable_accounts(client: XClient, user: str, reason: str):
    for pages in (client.user_tweets_pages(user), client.following_pages(user)):
        with pytest.raises(AccountUnavailable) as info:
            next(pages)
        assert info.value.user_id == user and info.value.reason == reason


def test_bad_token_is_unauthorized_and_never_shown(server: EmulatorServer, caplog):
    secret = "super-secret-bearer-value"
    bad = XClient(secret, server.base_url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnauthorizedKey) as info:
        next(bad.user_tweets_pages(ALICE))
    assert info.value.status == 401
    assert key_fingerprint(secret) in str(info.value)
    assert secret not in str(info.value) and secret not in repr(bad)
    assert secret not in caplog.text
    assert "Bearer ***" in caplog.text  # tweepy's debug log, redacted


def test_revoked_and_suspended_keys(world: tuple[Any, dict[str, Any]]):
    with running_emulator(world[0]) as srv:
        a, b = XClient(TOKEN, srv.base_url), XClient(TOKEN_B, srv.base_url)
        assert a.lookup_users(ids=[ALICE]).data
        srv.revoke_token(TOKEN)
        with pytest.raises(UnauthorizedKey):
            a.lookup_users(ids=[ALICE])
        srv.suspend_token(TOKEN_B)
        with pytest.raises(ForbiddenKey) as info:
            b.lookup_users(ids=[ALICE])
        assert info.value.status == 403 and TOKEN_B not in str(info.value)


# --- rate limits ---------------------------------------------------------------------------
def test_rate_limited_raises_then_resumes(world: tuple[Any, dict[str, Any]], ids: dict):
    clock = ManualClock()  # the window is judged on it, not on how fast the machine runs
    limits = {"rate_window_s": 1.0, "rate_limits": {"user_tweets": 2}}
    with running_emulator(world[0], clock=clock, **limits) as srv:
        client = XClient(TOKEN, srv.base_url, clock=clock, sleep=clock.sleep)
        pages: list[Page] = []
        with pytest.raises(RateLimited) as info:
            for page in client.user_tweets_pages(ALICE):
                pages.append(page)
        assert len(pages) == 2 and pages[-1].rate is not None and pages[-1].rate.remaining == 0
        reset_at = info.value.reset_at
        assert reset_at == int(clock()) + 1  # the end of the current one-second window
        assert info.value.endpoint == "user_tweets" and info.value.limit == 2
        clock.sleep(reset_at - clock() + 0.05)
        rest = list(client.user_tweets_pages(ALICE, pagination_token=pages[-1].next_token))
        got = [t["id"] for p in pages + rest for t in p.data]
        assert got == ids["alice_tweets"]


def test_wait_on_rate_limit_sleeps_until_reset(world: tuple[Any, dict[str, Any]], ids: dict):
    clock = ManualClock()
    limits = {"rate_window_s": 1.0, "rate_limits": {"user_tweets": 2}}
    with running_emulator(world[0], clock=clock, **limits) as srv:
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            clock.sleep(seconds)

        client = XClient(
            TOKEN, srv.base_url, wait_on_rate_limit=True, wait_margin_s=0.05, sleep=sleep,
            clock=clock,
        )  # fmt: skip
        got = [t["id"] for p in client.user_tweets_pages(ALICE) for t in p.data]
        assert got == ids["alice_tweets"]
        # One wait: from a quarter into the second to its end, plus the margin.
        assert slept == [pytest.approx(0.75 + 0.05)]
        stats = srv.stats()["keys"]["key-1"]["user_tweets"]["by_status"]
        assert stats == {"200": 3, "429": 1}


def test_wait_is_bounded(world: tuple[Any, dict[str, Any]]):
    clock = ManualClock()  # no window boundary passes between the calls, however slow they are
    limits = {"rate_window_s": 600, "rate_limits": {"following": 1}}
    with running_emulator(world[0], clock=clock, **limits) as srv:
        client = XClient(
            TOKEN, srv.base_url, wait_on_rate_limit=True, max_wait_s=5, clock=clock,
            sleep=clock.sleep,
        )  # fmt: skip
        assert client.lookup_users(ids=[ALICE]).data
        next(client.following_pages(ALICE))
        with pytest.raises(RateLimited) as info:
            next(client.following_pages(ALICE))
        assert info.value.reset_at - clock() > 5  # too far to wait for: raised, not slept


def test_rate_limit_from_headers():
    assert RateLimit.from_headers({}) is None
    rate = RateLimit.from_headers(
        {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "3", "x-rate-limit-reset": "99"}
    )
    assert rate == RateLimit(15, 3, 99.0)


# --- transient failures --------------------------------------------------------------------
def test_injected_503_is_transient_and_resumable(world: tuple[Any, dict[str, Any]], ids: dict):
    with running_emulator(world[0], fail_rate=0.4, fail_seed=3) as srv:
        client = XClient(TOKEN, srv.base_url)
        got: list[str] = []
        token: str | None = None
        failures = 0
        while True:
            try:
                for page in client.user_tweets_pages(ALICE, pagination_token=token, max_results=20):
                    got += [t["id"] for t in page.data]
                    token = page.next_token
                break
            except TransientServerError as exc:
                assert exc.status == 503
                failures += 1
        assert failures > 0
        assert got == ids["alice_tweets"]


def test_timeouts_and_refused_connections_are_transient(world: tuple[Any, dict[str, Any]]):
    with running_emulator(world[0], latency_ms=300) as srv:
        base_url = srv.base_url
        client = XClient(TOKEN, base_url, timeout=0.05)
        with pytest.raises(TransientServerError) as info:
            client.lookup_users(ids=[ALICE])
        assert info.value.status is None
    closed = XClient(TOKEN, base_url, timeout=1)  # the server is gone now
    with pytest.raises(TransientServerError):
        closed.lookup_users(ids=[ALICE])


def test_tweepy_is_the_transport():
    client = XClient(TOKEN, "http://127.0.0.1:9")
    assert isinstance(client._tweepy, tweepy.Client)
    assert client._tweepy.return_type is dict
    with pytest.raises(ValueError):
        XClient("", "http://127.0.0.1:9")


def test_a_bad_request_is_an_invalid_request(client: XClient):
    with pytest.raises(InvalidRequest) as info:
        next(client.user_tweets_pages(ALICE, max_results=1))  # X allows 5-100
    assert info.value.status == 400 and "max_results" in str(info.value)
