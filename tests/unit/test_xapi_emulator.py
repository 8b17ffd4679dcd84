"""The X API v2 emulator over real HTTP: shapes, validation, errors, budgets, faults."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
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

from dwt.collect.state import snowflake_time
from dwt.xapi.emulator import EmulatorConfig, EmulatorConfigError, EmulatorServer
from dwt.xapi.emulator.params import decode_token, encode_token
from dwt.xapi.endpoints import DEFAULT_LIMITS

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
ALL_TWEET_FIELDS = (
    "author_id,created_at,conversation_id,entities,in_reply_to_user_id,lang,public_metrics,"
    "referenced_tweets"
)
ALL_EXPANSIONS = (
    "author_id,entities.mentions.username,in_reply_to_user_id,referenced_tweets.id,"
    "referenced_tweets.id.author_id"
)


def get(server: EmulatorServer, path: str, token: str = TOKEN, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.base_url + path, params=params, headers=headers, timeout=10)


# --- auth ----------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["", "not-a-key"])
def test_missing_or_unknown_token_is_401_exactly_as_x(server: EmulatorServer, token: str):
    r = get(server, f"/2/users/{ALICE}/tweets", token=token)
    assert r.status_code == 401
    assert r.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    # X's own 401 carries no rate-limit headers (the request never reached a budget)
    assert not any(h in r.headers for h in RATE_HEADERS)


def test_revoked_key_401_and_suspended_key_403(world: tuple[Any, dict[str, Any]]):
    with running_emulator(world[0]) as srv:
        srv.revoke_token(TOKEN)
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 401
        srv.suspend_token(TOKEN_B)
        r = get(srv, f"/2/users/{ALICE}/tweets", token=TOKEN_B)
        assert r.status_code == 403
        body = r.json()
        assert body["type"] == "https://api.twitter.com/2/problems/client-forbidden"
        assert body["title"] == "Client Forbidden" and body["reason"] == "client-not-enrolled"
        assert TOKEN_B not in r.text
        srv.restore_token(TOKEN)
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 200
        with pytest.raises(KeyError) as info:
            srv.revoke_token("unknown-token-value")
        assert "unknown-token-value" not in str(info.value)


# --- shapes --------------------------------------------------------------------------------
def test_default_fields_only(server: EmulatorServer):
    r = get(server, f"/2/users/{ALICE}/tweets")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "meta"}
    assert len(body["data"]) == 10  # X's default max_results
    for tweet in body["data"]:
        assert set(tweet) == {"id", "text", "edit_history_tweet_ids"}
        assert tweet["edit_history_tweet_ids"] == [tweet["id"]]
    assert set(body["meta"]) == {"result_count", "newest_id", "oldest_id", "next_token"}
    user = get(server, "/2/users/by", usernames="alice").json()
    assert user == {"data": [{"id": ALICE, "name": "Alice A", "username": "alice"}]}


def test_requested_fields_and_entity_offsets(server: EmulatorServer):
    r = get(
        server, f"/2/users/{ALICE}/tweets", max_results=100, **{"tweet.fields": ALL_TWEET_FIELDS}
    )
    tweets = r.json()["data"]
    allowed = {"id", "text", "edit_history_tweet_ids", *ALL_TWEET_FIELDS.split(",")}
    mentions = hashtags = 0
    for tweet in tweets:
        assert set(tweet) <= allowed
        assert {"author_id", "created_at", "conversation_id", "public_metrics"} <= set(tweet)
        assert TIME_RE.match(tweet["created_at"])
        assert set(tweet["public_metrics"]) == {
            "retweet_count",
            "reply_count",
            "like_count",
            "quote_count",
            "impression_count",
        }
        for m in tweet.get("entities", {}).get("mentions", []):
            assert set(m) == {"start", "end", "username", "id"}
            assert tweet["text"][m["start"] : m["end"]] == "@" + m["username"]
            mentions += 1
        for h in tweet.get("entities", {}).get("hashtags", []):
            assert set(h) == {"start", "end", "tag"}
            assert tweet["text"][h["start"] : h["end"]] == "#" + h["tag"]
            hashtags += 1
        refs = tweet.get("referenced_tweets", [])
        assert all(ref["type"] in {"retweeted", "quoted", "replied_to"} for ref in refs)
    assert mentions > 10 and hashtags > 50
    # the API omits empty fields: a tweet without mentions or tags has no "entities"
    plain = [t for t in tweets if t["text"] == "look at this"]
    assert len(plain) == 1 and "entities" not in plain[0]
    replies = [t for t in tweets if t.get("in_reply_to_user_id") == CAROL]
    assert replies and all(t["referenced_tweets"][0]["type"] == "replied_to" for t in replies)


def test_user_fields(server: EmulatorServer):
    r = get(
        server,
        "/2/users",
        ids=f"{ALICE},{DAVE_PROTECTED}",
        **{"user.fields": "created_at,description,protected,public_metrics"},
    )
    alice, dave = r.json()["data"]
    assert alice["created_at"] == "2015-01-01T00:00:00.000Z"
    assert alice["description"] == "hi, I'm alice" and alice["protected"] is False
    assert alice["public_metrics"] == {
        "followers_count": 40,
        "following_count": 2505,
        "tweet_count": 250,
        "listed_count": 0,
    }
    assert dave["protected"] is True


def test_expansions_resolve_into_includes(server: EmulatorServer, ids: dict[str, Any]):
    r = get(
        server,
        f"/2/users/{ALICE}/tweets",
        max_results=100,
        **{"tweet.fields": ALL_TWEET_FIELDS, "expansions": ALL_EXPANSIONS},
    )
    body = r.json()
    includes = body["includes"]
    users = {u["id"]: u for u in includes["users"]}
    assert {ALICE, BOB, CAROL} <= set(users)
    assert all(set(u) == {"id", "name", "username"} for u in users.values())
    included = {t["id"]: t for t in includes["tweets"]}
    for tweet in body["data"]:
        for ref in tweet.get("referenced_tweets", []):
            author = included.get(ref["id"], {}).get("author_id")
            if author is not None:  # refs to unavailable tweets are reported in errors
                assert author in users
    # the first 100 tweets retweet bob's 10 newest and quote / reply to carol's 10 newest
    assert set(ids["bob_tweets"][:10]) | set(ids["carol_tweets"][:10]) == set(included)
    # the retweet of protected dave, quote of suspended erin and reply to deleted frank
    errors = {(e["parameter"], e["title"]) for e in body["errors"]}
    assert ("referenced_tweets.id", "Authorization Error") in errors
    assert ("referenced_tweets.id", "Not Found Error") in errors
    assert ("in_reply_to_user_id", "Not Found Error") in errors
    assert all(e["section"] == "includes" for e in body["errors"])
    assert DAVE_PROTECTED in users  # protected accounts are shown (their tweets are not)
    assert FRANK_DELETED not in users and ERIN_SUSPENDED not in users


def test_expansion_users_get_requested_user_fields(server: EmulatorServer):
    r = get(
        server,
        f"/2/users/{ALICE}/tweets",
        **{"expansions": "author_id", "user.fields": "protected"},
    )
    assert r.json()["includes"]["users"] == [
        {"id": ALICE, "name": "Alice A", "username": "alice", "protected": False}
    ]


# --- pagination ----------------------------------------------------------------------------
def _walk(server: EmulatorServer, path: str, token_param: str, **params: Any) -> list[dict]:
    pages, token = [], None
    while True:
        if token:
            params[token_param] = token
        body = get(server, path, **params).json()
        pages.append(body)
        token = body["meta"].get("next_token")
        if not token:
            return pages


def test_timeline_pagination_newest_first_no_duplicates(server: EmulatorServer, ids: dict):
    pages = _walk(server, f"/2/users/{ALICE}/tweets", "pagination_token", max_results=100)
    assert [p["meta"]["result_count"] for p in pages] == [100, 100, 50]
    got = [t["id"] for p in pages for t in p["data"]]
    assert got == ids["alice_tweets"]
    assert len(set(got)) == ALICE_TWEETS
    assert [int(i) for i in got] == sorted((int(i) for i in got), reverse=True)
    assert "previous_token" not in pages[0]["meta"]
    assert "previous_token" in pages[1]["meta"]
    for page in pages:
        assert page["meta"]["newest_id"] == page["data"][0]["id"]
        assert page["meta"]["oldest_id"] == page["data"][-1]["id"]


def test_previous_token_goes_back_one_page(server: EmulatorServer):
    first = get(server, f"/2/users/{ALICE}/tweets", max_results=30).json()
    second = get(
        server,
        f"/2/users/{ALICE}/tweets",
        max_results=30,
        pagination_token=first["meta"]["next_token"],
    ).json()
    back = get(
        server,
        f"/2/users/{ALICE}/tweets",
        max_results=30,
        pagination_token=second["meta"]["previous_token"],
    ).json()
    assert back["data"] == first["data"]


def test_bad_pagination_token_is_400(server: EmulatorServer):
    r = get(server, f"/2/users/{ALICE}/tweets", pagination_token="garbage123")
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameters"] == {"pagination_token": ["garbage123"]}
    assert decode_token(encode_token("n", 42), "n") == ("n", 42)
    assert decode_token(encode_token("n", 42)[:-1] + "9", "n") is None


def test_time_and_id_filters(server: EmulatorServer, ids: dict):
    alice = ids["alice_tweets"]
    r = get(server, f"/2/users/{ALICE}/tweets", max_results=100, since_id=alice[20])
    assert [t["id"] for t in r.json()["data"]] == alice[:20]
    r = get(server, f"/2/users/{ALICE}/tweets", max_results=5, until_id=alice[20])
    assert [t["id"] for t in r.json()["data"]] == alice[21:26]
    # tweet i was written at NOW - (1 + 40 i) minutes; start inclusive, end exclusive
    start = (NOW - timedelta(minutes=1 + 40 * 9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (NOW - timedelta(minutes=1 + 40 * 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = get(server, f"/2/users/{ALICE}/tweets", max_results=100, start_time=start, end_time=end)
    assert [t["id"] for t in r.json()["data"]] == alice[3:10]
    r = get(server, f"/2/users/{ALICE}/tweets", start_time=end, end_time=start)
    assert r.status_code == 400


def test_exclude_retweets_and_replies(server: EmulatorServer):
    r = get(
        server,
        f"/2/users/{ALICE}/tweets",
        max_results=100,
        exclude="retweets,replies",
        **{"tweet.fields": "referenced_tweets"},
    )
    kinds = {ref["type"] for t in r.json()["data"] for ref in t.get("referenced_tweets", [])}
    assert kinds == {"quoted"}


def test_empty_page_has_only_meta(server: EmulatorServer, ids: dict):
    r = get(server, f"/2/users/{ALICE}/tweets", since_id=ids["alice_tweets"][0])
    assert r.json() == {"meta": {"result_count": 0}}


# --- validation ----------------------------------------------------------------------------
def _assert_invalid(r: requests.Response, parameter: str, message_part: str) -> None:
    assert r.status_code == 400
    body = r.json()
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert any(
        parameter in e["parameters"] and message_part in e["message"] for e in body["errors"]
    ), body


def test_validation_errors_like_x(server: EmulatorServer):
    r = get(server, f"/2/users/{ALICE}/tweets", max_results=1000)
    _assert_invalid(r, "max_results", "is not between 5 and 100")
    _assert_invalid(get(server, f"/2/users/{ALICE}/tweets", max_results=4), "max_results", "5")
    _assert_invalid(get(server, "/2/users/abc/tweets"), "id", "does not match ^[0-9]{1,19}$")
    r = get(server, f"/2/users/{ALICE}/tweets", **{"tweet.fields": "author_id,nope"})
    _assert_invalid(r, "tweet.fields", "[nope] is not one of [")
    _assert_invalid(get(server, f"/2/users/{ALICE}/tweets", bogus=1), "bogus", "is not one of")
    r = get(server, f"/2/users/{ALICE}/following", max_results=1001)
    _assert_invalid(r, "max_results", "is not between 1 and 1000")
    r = get(server, "/2/users/by", usernames="no-dashes!")
    _assert_invalid(r, "usernames", "does not match")
    _assert_invalid(get(server, "/2/users"), "ids", "can not be empty")
    r = get(server, "/2/users", ids=",".join(str(i) for i in range(1, 102)))
    _assert_invalid(r, "ids", "is not between 1 and 100")
    r = get(server, f"/2/users/{ALICE}/tweets", start_time="yesterday")
    _assert_invalid(r, "start_time", "yesterday")


def test_several_problems_are_reported_at_once(server: EmulatorServer):
    r = get(server, f"/2/users/{ALICE}/tweets", max_results=0, since_id="x", foo="1")
    assert r.status_code == 400
    assert {p for e in r.json()["errors"] for p in e["parameters"]} == {
        "max_results",
        "since_id",
        "foo",
    }


def test_unknown_route_is_404(server: EmulatorServer):
    r = get(server, "/2/nothing/here")
    assert r.status_code == 404
    assert "errors" in r.json()


# --- account states ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "title", "kind", "detail"),
    [
        (DAVE_PROTECTED, "Authorization Error", "not-authorized-for-resource", "not authorized"),
        (ERIN_SUSPENDED, "Forbidden", "resource-not-found", "User has been suspended"),
        (FRANK_DELETED, "Not Found Error", "resource-not-found", "Could not find user"),
        ("999999", "Not Found Error", "resource-not-found", "Could not find user"),
    ],
)
@pytest.mark.parametrize("endpoint", ["tweets", "following"])
def test_unavailable_accounts_answer_200_with_errors(
    server: EmulatorServer, user: str, title: str, kind: str, detail: str, endpoint: str
):
    r = get(server, f"/2/users/{user}/{endpoint}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["title"] == title
    assert error["type"] == f"https://api.twitter.com/2/problems/{kind}"
    assert detail in error["detail"] and f"[{user}]" in error["detail"]
    assert error["parameter"] == "id" and error["value"] == user
    assert error["resource_type"] == "user" and error["resource_id"] == user


def test_user_lookups_by_state(server: EmulatorServer):
    body = get(server, "/2/users/by", usernames="alice,dave,erin,frank,nobody").json()
    assert [u["username"] for u in body["data"]] == ["alice", "dave"]
    errors = {e["value"]: e for e in body["errors"]}
    assert errors["erin"]["detail"] == "User has been suspended: [erin]."
    assert errors["erin"]["title"] == "Forbidden"
    assert errors["frank"]["detail"] == "Could not find user with usernames: [frank]."
    assert errors["nobody"]["title"] == "Not Found Error"
    by_id = get(server, "/2/users", ids=f"{ERIN_SUSPENDED},{DAVE_PROTECTED}").json()
    assert [u["id"] for u in by_id["data"]] == [DAVE_PROTECTED]  # protected: shown
    assert [(e["parameter"], e["value"]) for e in by_id["errors"]] == [("ids", ERIN_SUSPENDED)]
    assert get(server, "/2/users/by", usernames="DAVE").json()["data"][0]["id"] == DAVE_PROTECTED


def test_follow_lists_hide_suspended_and_deleted(server: EmulatorServer, ids: dict):
    pages = _walk(server, f"/2/users/{ALICE}/following", "pagination_token", max_results=1000)
    assert [p["meta"]["result_count"] for p in pages] == [1000, 1000, 503]
    got = [u["id"] for p in pages for u in p["data"]]
    assert len(got) == len(set(got)) == 2503
    assert {BOB, CAROL, DAVE_PROTECTED} <= set(got)
    assert ERIN_SUSPENDED not in got and FRANK_DELETED not in got
    assert set(pages[0]["meta"]) == {"result_count", "next_token"}
    assert "previous_token" in pages[1]["meta"]


# --- time shift ----------------------------------------------------------------------------
@pytest.mark.calendar
def test_shift_to_now_moves_ids_with_times(world: tuple[Any, dict[str, Any]], ids: dict):
    """X's ids carry their time: a shifted week's ids move with its timestamps, so the time
    a client reads from an id is the served ``created_at`` (and a conversation, a reply or
    a quote still points at its tweet)."""
    with running_emulator(world[0], shift_to_now=True) as srv:
        started = srv.emulator.started_at
        step = srv.emulator.shift_ms << 22
        assert srv.emulator.shift_ms > 0
        newest = str(int(ids["alice_tweets"][0]) + step)
        latest = get(srv, f"/2/users/{ALICE}/tweets", **{"tweet.fields": "created_at"})
        tweet = latest.json()["data"][0]
        assert tweet["id"] == newest
        created = datetime.strptime(tweet["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert abs(created.timestamp() - (started - 60)) < 1.0  # newest: NOW - 1 minute
        assert abs(snowflake_time(newest).timestamp() - created.timestamp()) < 0.001
        # a window in shifted time selects the same tweets as the stored one would
        start = datetime.fromtimestamp(started - 3 * 3600, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = get(srv, f"/2/users/{ALICE}/tweets", start_time=start, max_results=100)
        assert r.json()["meta"]["result_count"] == 5  # minutes 1, 41, 81, 121, 161
        assert r.json()["meta"]["newest_id"] == newest
        since = get(srv, f"/2/users/{ALICE}/tweets", since_id=r.json()["meta"]["oldest_id"])
        assert since.json()["meta"]["result_count"] == 4
        # a reply still points at its shifted parent, in the same shifted conversation
        root = str(int(ids["thread_root"]) + step)
        fields = {"tweet.fields": "conversation_id,referenced_tweets"}
        bob = get(srv, f"/2/users/{BOB}/tweets", max_results=100, **fields).json()["data"]
        replies = [t for t in bob if t["text"].startswith("@Carol_C reply")]
        assert len(replies) == 3 and all(t["referenced_tweets"][0]["id"] == root for t in replies)
        assert all(t["conversation_id"] == root for t in replies)


# --- rate limits ---------------------------------------------------------------------------
def test_rate_limit_headers_and_429(world: tuple[Any, dict[str, Any]]):
    clock = ManualClock(start=6000.5)  # ten seconds into a minute's window
    limits = {"rate_window_s": 60, "rate_limits": {"user_tweets": 3}}
    with running_emulator(world[0], clock=clock, **limits) as srv:
        remaining = []
        for _ in range(3):
            r = get(srv, f"/2/users/{ALICE}/tweets")
            assert r.status_code == 200
            remaining.append(int(r.headers["x-rate-limit-remaining"]))
            assert r.headers["x-rate-limit-limit"] == "3"
        assert remaining == [2, 1, 0]
        r = get(srv, f"/2/users/{ALICE}/tweets")
        assert r.status_code == 429
        assert r.json() == {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        assert r.headers["x-rate-limit-remaining"] == "0"
        assert r.headers["x-rate-limit-reset"] == "6060"  # the window's end, epoch seconds
        # other keys and other endpoints have their own budgets
        assert get(srv, f"/2/users/{ALICE}/tweets", token=TOKEN_B).status_code == 200
        other = get(srv, f"/2/users/{ALICE}/following")
        assert other.status_code == 200 and other.headers["x-rate-limit-limit"] == "300"
        # 400s spend budget and carry the headers too
        bad = get(srv, f"/2/users/{ALICE}/following", max_results=0)
        assert bad.status_code == 400 and bad.headers["x-rate-limit-remaining"] == "298"
        srv.reset_rate_limits()
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 200


def test_rate_window_resets(world: tuple[Any, dict[str, Any]]):
    clock = ManualClock(start=1000.1)  # windows are aligned on the epoch grid: [1000, 1002)
    with running_emulator(world[0], clock=clock, rate_window_s=2, rate_limit=1) as srv:
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 200
        clock.sleep(1.8)  # 1001.9: the same window
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 429
        clock.sleep(0.1)  # 1002.0: the next one
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 200


def test_limits_hold_under_concurrency(world: tuple[Any, dict[str, Any]]):
    clock = ManualClock()  # one window, however long the 80 requests take
    limits = {"rate_window_s": 60, "rate_limits": {"user_tweets": 50}}
    with running_emulator(world[0], clock=clock, **limits) as srv:
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def worker() -> None:
            with requests.Session() as session:
                for _ in range(10):
                    r = session.get(
                        f"{srv.base_url}/2/users/{ALICE}/tweets",
                        headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10,
                    )
                    with lock:
                        statuses[r.status_code] += 1

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == {200: 50, 429: 30}
        stats = srv.stats()
        assert stats["keys"]["key-1"]["user_tweets"] == {
            "requests": 80,
            "by_status": {"200": 50, "429": 30},
        }
        served = requests.get(f"{srv.base_url}/_emulator/stats", timeout=10).json()
        assert served["keys"]["key-1"]["user_tweets"]["requests"] == 80
        assert TOKEN not in str(served)


# --- faults --------------------------------------------------------------------------------
def _outcomes(world: tuple[Any, dict[str, Any]], seed: int) -> list[int]:
    with running_emulator(world[0], fail_rate=0.3, fail_seed=seed) as srv:
        return [get(srv, f"/2/users/{ALICE}/tweets").status_code for _ in range(40)]


def test_injected_failures_are_deterministic(world: tuple[Any, dict[str, Any]]):
    first = _outcomes(world, seed=7)
    assert first == _outcomes(world, seed=7)
    assert first != _outcomes(world, seed=8)
    assert set(first) == {200, 503} and 4 <= first.count(503) <= 20


def test_injected_503_body_and_headers(world: tuple[Any, dict[str, Any]]):
    with running_emulator(world[0], fail_rate=1.0) as srv:
        r = get(srv, f"/2/users/{ALICE}/tweets")
        assert r.status_code == 503
        assert r.json()["title"] == "Service Unavailable"
        assert all(h in r.headers for h in RATE_HEADERS)


def test_injected_latency(world: tuple[Any, dict[str, Any]]):
    with running_emulator(world[0], latency_ms=80) as srv:
        begin = time.perf_counter()
        assert get(srv, f"/2/users/{ALICE}/tweets").status_code == 200
        assert time.perf_counter() - begin >= 0.08


def test_config_validation():
    with pytest.raises(EmulatorConfigError, match="token"):
        EmulatorConfig(tokens=())
    with pytest.raises(EmulatorConfigError, match="unknown endpoint"):
        EmulatorConfig(tokens=("t",), rate_limits={"timeline": 3})
    with pytest.raises(EmulatorConfigError, match="fail_rate"):
        EmulatorConfig(tokens=("t",), fail_rate=2)
    config = EmulatorConfig(tokens=("secret-token",), rate_limit=7, rate_limits={"following": 2})
    assert config.limit_of("following") == 2 and config.limit_of("user_tweets") == 7
    assert "secret-token" not in repr(config)
    assert EmulatorConfig(tokens=("t",)).limit_of("user_tweets") == DEFAULT_LIMITS["user_tweets"]
