"""Hand-built datasets for the X API emulator and client tests (no generator involved).

``make_dataset`` fills every column of the dataset schemas from a few dicts;
``small_world`` is the community most tests run against (see its docstring).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from dwt.xapi.dataset import FOLLOWS_SCHEMA, TWEETS_SCHEMA, USERS_SCHEMA, Dataset
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

TWITTER_EPOCH_MS = 1288834974657
TOKEN = "test-bearer-token-A"
TOKEN_B = "test-bearer-token-B"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def snowflake(moment: datetime, seq: int = 0) -> str:
    """A tweet id for ``moment``, built like X's (time in the high bits)."""
    ms = int(moment.timestamp() * 1000)
    return str(((ms - TWITTER_EPOCH_MS) << 22) | seq)


def snowflake_time(tweet_id: str | int) -> datetime:
    ms = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _user_row(u: Mapping[str, Any]) -> dict[str, Any]:
    state = u.get("state", "active")
    return {
        "id": str(u["id"]),
        "username": u["username"],
        "name": u.get("name", u["username"].title()),
        "created_at": u.get("created_at", datetime(2015, 1, 1, tzinfo=UTC)),
        "description": u.get("description", ""),
        "protected": u.get("protected", state == "protected"),
        "followers_count": u.get("followers_count", 0),
        "following_count": u.get("following_count", 0),
        "tweet_count": u.get("tweet_count", 0),
        "listed_count": u.get("listed_count", 0),
        "state": state,
        "is_member": u.get("is_member", True),
        "community": u.get("community", 0),
    }


def _tweet_row(t: Mapping[str, Any]) -> dict[str, Any]:
    tid = str(t["id"])
    return {
        "id": tid,
        "author_id": str(t["author_id"]),
        "created_at": t.get("created_at") or snowflake_time(tid),
        "text": t.get("text", f"tweet {tid}"),
        "kind": t.get("kind", "tweet"),
        "referenced_id": t.get("referenced_id"),
        "in_reply_to_user_id": t.get("in_reply_to_user_id"),
        "conversation_id": t.get("conversation_id", tid),
        "mentions": [str(m) for m in t.get("mentions", [])],
        "hashtags": list(t.get("hashtags", [])),
        "lang": t.get("lang", "en"),
        "retweet_count": t.get("retweet_count", 0),
        "reply_count": t.get("reply_count", 0),
        "like_count": t.get("like_count", 0),
        "quote_count": t.get("quote_count", 0),
        "impression_count": t.get("impression_count", 0),
        "topic": t.get("topic", "misc"),
        "burst": t.get("burst", -1),
    }


def make_dataset(
    users: Iterable[Mapping[str, Any]],
    tweets: Iterable[Mapping[str, Any]] = (),
    follows: Iterable[tuple[str, str]] = (),
    now: datetime = NOW,
) -> Dataset:
    """A dataset from plain dicts; omitted columns get harmless defaults."""
    user_rows = [_user_row(u) for u in users]
    tweet_rows = sorted((_tweet_row(t) for t in tweets), key=lambda r: int(r["id"]))
    follow_rows = [{"source_id": str(s), "target_id": str(t)} for s, t in follows]
    return Dataset(
        users=pa.Table.from_pylist(user_rows, schema=USERS_SCHEMA),
        tweets=pa.Table.from_pylist(tweet_rows, schema=TWEETS_SCHEMA),
        follows=pa.Table.from_pylist(follow_rows, schema=FOLLOWS_SCHEMA),
        meta={"now": now.isoformat().replace("+00:00", "Z"), "seed": 0, "members": 0},
    )


# --- the small world ----------------------------------------------------------------------
ALICE, BOB, CAROL = "1001", "1002", "1003"
DAVE_PROTECTED, ERIN_SUSPENDED, FRANK_DELETED = "1004", "1005", "1006"
ALICE_TWEETS = 250
ALICE_FOLLOWS = 2500


def small_world() -> tuple[Dataset, dict[str, Any]]:
    """Alice, her friends and a few accounts X would not show.

    - alice (1001) wrote 250 tweets, one every 40 minutes back from NOW: mostly plain with
      ``#topic``; every 10th retweets bob, every 10th+3 quotes carol, every 10th+5 replies to
      carol mentioning ``@carol``; tweet 7 retweets dave (protected), tweet 17 quotes erin
      (suspended), tweet 27 replies to frank (deleted).
    - bob (1002) and carol (1003) wrote 20 tweets each; carol's first tweet starts a thread.
    - dave is protected, erin suspended, frank deleted; each wrote 5 tweets.
    - alice follows 2500 generated accounts (plus bob, carol, dave, erin, frank); 40 of the
      generated accounts follow alice back.

    Returns the dataset and a dict of useful ids (``alice_tweets`` newest first, …).
    """
    users: list[dict[str, Any]] = [
        {"id": ALICE, "username": "alice", "name": "Alice A", "description": "hi, I'm alice",
         "followers_count": 40, "following_count": 2505, "tweet_count": 250},
        {"id": BOB, "username": "bob"},
        {"id": CAROL, "username": "Carol_C"},
        {"id": DAVE_PROTECTED, "username": "dave", "state": "protected"},
        {"id": ERIN_SUSPENDED, "username": "erin", "state": "suspended"},
        {"id": FRANK_DELETED, "username": "frank", "state": "deleted"},
    ]  # fmt: skip
    generated = [str(2_000_000 + i) for i in range(ALICE_FOLLOWS)]
    users += [{"id": g, "username": f"gen{i}", "is_member": False} for i, g in enumerate(generated)]

    tweets: list[dict[str, Any]] = []

    def author_tweets(author: str, count: int, minutes: int, offset: int) -> list[str]:
        ids = []
        for i in range(count):
            moment = NOW - timedelta(minutes=offset + i * minutes)
            tid = snowflake(moment, seq=int(author) % 4096)
            ids.append(tid)
            tweets.append({"id": tid, "author_id": author, "text": f"{author} says {i} #misc",
                           "hashtags": ["misc"]})  # fmt: skip
        return ids

    bob_ids = author_tweets(BOB, 20, 300, 7)
    carol_ids = author_tweets(CAROL, 20, 300, 11)
    dave_ids = author_tweets(DAVE_PROTECTED, 5, 600, 13)
    erin_ids = author_tweets(ERIN_SUSPENDED, 5, 600, 17)
    frank_ids = author_tweets(FRANK_DELETED, 5, 600, 19)
    # carol's oldest tweet starts a thread answered by bob
    thread_root = carol_ids[-1]
    for i in range(3):
        moment = snowflake_time(thread_root) + timedelta(minutes=5 + i)
        tid = snowflake(moment, seq=77 + i)
        tweets.append({"id": tid, "author_id": BOB, "kind": "reply", "referenced_id": thread_root,
                       "in_reply_to_user_id": CAROL, "conversation_id": thread_root,
                       "text": f"@Carol_C reply {i}", "mentions": [CAROL]})  # fmt: skip

    alice_ids = []
    for i in range(ALICE_TWEETS):
        moment = NOW - timedelta(minutes=1 + 40 * i)
        tid = snowflake(moment, seq=1)
        alice_ids.append(tid)
        row: dict[str, Any] = {"id": tid, "author_id": ALICE, "text": f"alice #topic{i % 3} no {i}",
                               "hashtags": [f"topic{i % 3}"], "like_count": i}  # fmt: skip
        if i == 7:
            row.update(kind="retweet", referenced_id=dave_ids[0], text="RT @dave: secret",
                       mentions=[DAVE_PROTECTED], hashtags=[])  # fmt: skip
        elif i == 17:
            row.update(kind="quote", referenced_id=erin_ids[0], text="look at this", hashtags=[])
        elif i == 27:
            row.update(kind="reply", referenced_id=frank_ids[0], in_reply_to_user_id=FRANK_DELETED,
                       conversation_id=frank_ids[0], text="@frank gone?", mentions=[FRANK_DELETED],
                       hashtags=[])  # fmt: skip
        elif i % 10 == 0:
            row.update(kind="retweet", referenced_id=bob_ids[i // 10 % 20],
                       text=f"RT @bob: {BOB} says", mentions=[BOB], hashtags=[])  # fmt: skip
        elif i % 10 == 3:
            row.update(kind="quote", referenced_id=carol_ids[i // 10 % 20],
                       text=f"so true #Topic{i % 3}")  # fmt: skip
        elif i % 10 == 5:
            row.update(kind="reply", referenced_id=carol_ids[i // 10 % 20],
                       in_reply_to_user_id=CAROL, conversation_id=carol_ids[i // 10 % 20],
                       text=f"@carol_c agreed, and @bob too #topic{i % 3}",
                       mentions=[CAROL, BOB])  # fmt: skip
        tweets.append(row)

    follows = [(ALICE, g) for g in generated]
    follows += [(ALICE, u) for u in (BOB, CAROL, DAVE_PROTECTED, ERIN_SUSPENDED, FRANK_DELETED)]
    follows += [(g, ALICE) for g in generated[:40]]
    dataset = make_dataset(users, tweets, follows)
    ids = {
        "alice_tweets": sorted(alice_ids, key=int, reverse=True),
        "bob_tweets": bob_ids,
        "carol_tweets": carol_ids,
        "dave_tweets": dave_ids,
        "erin_tweets": erin_ids,
        "frank_tweets": frank_ids,
        "thread_root": thread_root,
        "generated": generated,
    }
    return dataset, ids


class ManualClock:
    """A clock that moves only when told (``sleep`` moves it): rate windows and waits judged
    on it do not depend on how fast the machine is. Starts a quarter into a whole second,
    so a one-second window has room on both sides."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time()) + 0.25 if start is None else start)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@contextmanager
def running_emulator(
    dataset: Dataset,
    tokens: Sequence[str] = (TOKEN, TOKEN_B),
    clock: Callable[[], float] = time.time,
    **config: Any,
) -> Iterator[EmulatorServer]:
    """An emulator on 127.0.0.1 (free port) for the duration of a ``with`` block."""
    config.setdefault("shift_to_now", False)
    settings = EmulatorConfig(tokens=tuple(tokens), **config)
    with EmulatorServer(dataset, settings, clock=clock) as server:
        yield server
