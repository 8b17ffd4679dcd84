"""The community generator: determinism, dataset format, and the planted truth."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dwt.cli
from dwt.generate import DEFAULT_NOW, GenerateError, generate_community
from dwt.xapi.dataset import (
    ACCOUNT_STATES,
    FOLLOWS_SCHEMA,
    TWEETS_SCHEMA,
    USERS_SCHEMA,
    Dataset,
)

KINDS = ("tweet", "retweet", "quote", "reply")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate_community(members=300, communities=6, days=7, seed=0)


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _tweet_rows(ds: Dataset, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Row of each id in the tweets table (-1 where absent)."""
    rows = pc.index_in(ids, value_set=ds.tweets.column("id"))
    return pc.fill_null(rows, -1).to_numpy(zero_copy_only=False)


def _users(ds: Dataset) -> dict[str, dict]:
    return {u["id"]: u for u in ds.users.to_pylist()}


# -- determinism and format --------------------------------------------------------------


def test_same_seed_same_tables_other_seed_different(ds: Dataset) -> None:
    again = generate_community(members=300, communities=6, days=7, seed=0)
    for name in ("users", "tweets", "follows"):
        assert getattr(again, name).equals(getattr(ds, name)), name
    assert again.meta == ds.meta
    other = generate_community(members=300, communities=6, days=7, seed=1)
    assert not other.tweets.equals(ds.tweets)
    assert not other.users.column("username").equals(ds.users.column("username"))


def test_schemas_match_the_dataset_format(ds: Dataset) -> None:
    assert ds.users.schema.equals(USERS_SCHEMA, check_metadata=False)
    assert ds.tweets.schema.equals(TWEETS_SCHEMA, check_metadata=False)
    assert ds.follows.schema.equals(FOLLOWS_SCHEMA, check_metadata=False)
    for column in (
        "id",
        "author_id",
        "created_at",
        "text",
        "kind",
        "conversation_id",
        "mentions",
        "hashtags",
        "lang",
        "topic",
        "burst",
    ):
        assert ds.tweets.column(column).null_count == 0, column
    assert ds.users.num_rows == 300 + ds.meta["outsiders"]
    assert ds.meta["format"] == "dwt-dataset/1"


def test_save_load_round_trip(ds: Dataset, tmp_path) -> None:
    loaded = Dataset.load(ds.save(tmp_path / "week"))
    for name in ("users", "tweets", "follows"):
        assert getattr(loaded, name).equals(getattr(ds, name)), name
    assert loaded.meta == ds.meta
    assert loaded.now == DEFAULT_NOW
    assert len(loaded.member_ids) == 300


def test_meta_describes_the_dataset(ds: Dataset) -> None:
    meta = ds.meta
    assert meta["tweets"] == ds.tweets.num_rows
    assert meta["follows"] == ds.follows.num_rows
    assert (meta["members"], meta["communities"], meta["days"], meta["seed"]) == (300, 6, 7, 0)
    assert meta["now"] == "2026-11-29T00:00:00.000Z"
    assert sum(meta["community_sizes"]) == 300
    assert meta["community_sizes"] == sorted(meta["community_sizes"], reverse=True)
    assert meta["community_sizes"][0] > 2 * meta["community_sizes"][-1]  # skewed
    kinds = Counter(ds.tweets.column("kind").to_pylist())
    assert meta["tweets_by_kind"] == {kind: kinds[kind] for kind in KINDS}
    sizes = Counter(_col(ds.users, "community")[_col(ds.users, "is_member")].tolist())
    assert [sizes[k] for k in range(6)] == meta["community_sizes"]


# -- tweets ------------------------------------------------------------------------------


def test_all_four_kinds_and_mostly_english(ds: Dataset) -> None:
    kinds = Counter(ds.tweets.column("kind").to_pylist())
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) > 0.05 * ds.tweets.num_rows
    langs = Counter(ds.tweets.column("lang").to_pylist())
    assert langs["en"] > 0.9 * ds.tweets.num_rows


def test_ids_grow_with_time_inside_the_window(ds: Dataset) -> None:
    ids = np.array(ds.tweets.column("id").to_pylist(), dtype=np.int64)
    assert np.all(np.diff(ids) > 0)
    created = _col(ds.tweets, "created_at").astype("datetime64[ms]").astype(np.int64)
    assert np.all(np.diff(created) >= 0)
    now_ms = int(DEFAULT_NOW.timestamp() * 1000)
    assert created.min() >= now_ms - 7 * 86_400_000
    assert created.max() < now_ms
    # X snowflakes: the id carries its creation time.
    assert np.array_equal((ids >> 22) + 1288834974657, created)
    users_created = _col(ds.users, "created_at").astype("datetime64[ms]").astype(np.int64)
    assert users_created.max() < created.min()


def test_references_point_at_earlier_existing_tweets(ds: Dataset) -> None:
    kind = _col(ds.tweets, "kind")
    ref = ds.tweets.column("referenced_id")
    rows = _tweet_rows(ds, ref)
    has_ref = kind != "tweet"
    assert np.array_equal(~pc.is_null(ref).to_numpy(zero_copy_only=False), has_ref)
    assert np.all(rows[has_ref] >= 0)
    assert np.all(rows[has_ref] < np.flatnonzero(has_ref))  # earlier: smaller row
    # Nothing retweets, quotes or replies to a retweet.
    assert not np.any(kind[rows[has_ref]] == "retweet")


def test_reply_trees_and_conversation_ids(ds: Dataset) -> None:
    t = ds.tweets
    kind = _col(t, "kind")
    ids = _col(t, "id")
    conv = _col(t, "conversation_id")
    authors = _col(t, "author_id")
    rows = _tweet_rows(ds, t.column("referenced_id"))
    reply = kind == "reply"
    assert np.array_equal(conv[~reply], ids[~reply])  # roots, quotes, retweets: own id
    assert np.array_equal(conv[reply], conv[rows[reply]])  # a reply joins its parent's
    assert np.array_equal(_col(t, "in_reply_to_user_id")[reply], authors[rows[reply]])
    assert t.column("in_reply_to_user_id").null_count == int((~reply).sum())
    roots = _tweet_rows(ds, t.column("conversation_id"))
    assert np.all(roots >= 0)
    assert not np.any(kind[roots] == "reply")
    depth_two = reply & (kind[rows] == "reply")
    assert depth_two.sum() > 50  # real trees, not only direct replies


def test_text_agrees_with_entities(ds: Dataset) -> None:
    users = _users(ds)
    by_id = {
        r["id"]: r
        for r in ds.tweets.select(["id", "author_id", "text", "mentions", "hashtags"]).to_pylist()
    }
    for row in ds.tweets.to_pylist():
        text = row["text"]
        assert 0 < len(text) <= 280
        handles = re.findall(r"@(\w+)", text)
        assert handles == [users[uid]["username"] for uid in row["mentions"]], text
        assert re.findall(r"#(\w+)", text) == row["hashtags"], text
        if row["kind"] == "reply":
            parent_author = users[row["in_reply_to_user_id"]]["username"]
            assert text.startswith(f"@{parent_author} ")
            assert row["mentions"][0] == row["in_reply_to_user_id"]
        elif row["kind"] == "retweet":
            original = by_id[row["referenced_id"]]
            orig_author = users[original["author_id"]]["username"]
            assert text == f"RT @{orig_author}: {original['text']}"
            assert row["mentions"] == [original["author_id"], *original["mentions"]]
            assert row["hashtags"] == original["hashtags"]
    mentioning = pc.list_value_length(
        ds.tweets.filter(pc.equal(ds.tweets.column("kind"), "tweet")).column("mentions")
    )
    assert pc.sum(pc.greater(mentioning, 0)).as_py() > 200


def test_engagement_covers_generated_interactions(ds: Dataset) -> None:
    t = ds.tweets
    kind = _col(t, "kind")
    rows = _tweet_rows(ds, t.column("referenced_id"))
    for name, counted in (
        ("retweet", "retweet_count"),
        ("quote", "quote_count"),
        ("reply", "reply_count"),
    ):
        generated = np.bincount(rows[kind == name], minlength=t.num_rows)
        assert np.all(_col(t, counted) >= generated), name
    originals = kind != "retweet"
    assert np.all(_col(t, "impression_count")[originals] >= _col(t, "like_count")[originals])


# -- the planted truth -------------------------------------------------------------------


def test_follows_mostly_inside_sub_communities(ds: Dataset) -> None:
    community = dict(
        zip(
            ds.users.column("id").to_pylist(), ds.users.column("community").to_pylist(), strict=True
        )
    )
    src = np.array([community[s] for s in ds.follows.column("source_id").to_pylist()])
    dst = np.array([community[s] for s in ds.follows.column("target_id").to_pylist()])
    between_members = (src >= 0) & (dst >= 0)
    inside = (src == dst) & between_members
    assert inside.sum() / between_members.sum() >= 0.7
    assert ((src >= 0) & (dst < 0)).sum() > 300  # members follow outsiders too
    pairs = list(
        zip(
            ds.follows.column("source_id").to_pylist(),
            ds.follows.column("target_id").to_pylist(),
            strict=True,
        )
    )
    assert len(set(pairs)) == len(pairs)
    assert all(s != d for s, d in pairs)
    followers = Counter(ds.follows.column("target_id").to_pylist())
    for user in ds.users.to_pylist():
        assert user["followers_count"] >= followers[user["id"]]


def test_bursts_at_their_stated_times(ds: Dataset) -> None:
    t = ds.tweets
    burst = _col(t, "burst")
    created = _col(t, "created_at").astype("datetime64[ms]")
    topic = _col(t, "topic")
    assert len(ds.meta["bursts"]) == 3
    for b in ds.meta["bursts"]:
        mine = burst == b["index"]
        assert mine.sum() == b["tweets"] >= 40
        start = np.datetime64(b["start"].rstrip("Z"), "ms")
        end = np.datetime64(b["end"].rstrip("Z"), "ms")
        assert timedelta(hours=1) <= (end - start).astype(object) <= timedelta(hours=3)
        assert created[mine].min() == start and created[mine].max() <= end
        root = _tweet_rows(ds, pa.array([b["conversation_id"]]))[0]
        assert burst[root] == b["index"] and _col(t, "kind")[root] == "tweet"
        assert set(topic[mine]) == {str(b["community"])}
        # The window holds several times the community's normal traffic.
        normal = (burst < 0) & (topic == str(b["community"]))
        per_window = normal.sum() / (7 * 86_400_000) * (end - start).astype(np.int64)
        assert mine.sum() > 3 * per_window


def test_topic_bursts_are_standalone_tweets_on_a_new_topic(ds: Dataset) -> None:
    t = ds.tweets
    created = _col(t, "created_at").astype("datetime64[ms]")
    users = _users(ds)
    planted = ds.meta["topic_bursts"]
    assert [b["kind"] for b in planted] == ["hashtag", "term", "url"]
    for b in planted:
        rows = _tweet_rows(ds, pa.array(b["tweet_ids"]))
        assert (rows >= 0).all() and len(rows) == b["tweets"] >= 20
        mine = t.take(pa.array(rows))
        # Standalone: plain tweets, each its own conversation, nothing referenced.
        assert set(mine.column("kind").to_pylist()) == {"tweet"}
        assert mine.column("conversation_id").equals(mine.column("id"))
        assert mine.column("referenced_id").null_count == len(rows)
        # By members of the burst's community; many distinct ones.
        authors = mine.column("author_id").to_pylist()
        assert {users[a]["community"] for a in authors} == {b["community"]}
        assert all(users[a]["is_member"] for a in authors)
        assert len(set(authors)) == b["members"] >= 0.6 * b["tweets"]
        # Within the stated hours, which last 1-3 hours.
        start = np.datetime64(b["start"].rstrip("Z"), "ms")
        end = np.datetime64(b["end"].rstrip("Z"), "ms")
        assert timedelta(hours=1) <= (end - start).astype(object) <= timedelta(hours=3)
        assert start < created[rows].min() and created[rows].max() <= end
        # The topic is in every burst tweet and nowhere else: absent before.
        needle = b["topic"].lstrip("#") if b["kind"] == "hashtag" else b["topic"]
        where = pc.match_substring(t.column("text"), needle).to_numpy(zero_copy_only=False)
        assert set(np.flatnonzero(where)) == set(rows.tolist())
        if b["kind"] == "hashtag":
            assert all(tags == [needle] for tags in mine.column("hashtags").to_pylist())


def test_planting_topic_bursts_changes_nothing_else(ds: Dataset) -> None:
    without = generate_community(members=300, communities=6, days=7, seed=0, topic_bursts=0)
    assert without.meta["topic_bursts"] == []
    planted = pa.array([i for b in ds.meta["topic_bursts"] for i in b["tweet_ids"]])
    rest = ds.tweets.filter(pc.invert(pc.is_in(ds.tweets.column("id"), value_set=planted)))
    assert rest.equals(without.tweets)
    assert ds.follows.equals(without.follows)
    assert ds.meta["tweets"] == without.meta["tweets"] + len(planted) == ds.tweets.num_rows


def test_hot_outsiders_are_the_most_interacted_with(ds: Dataset) -> None:
    t = ds.tweets
    users = ds.users
    member_ids = pa.array(ds.member_ids)
    outsider_ids = users.filter(pc.invert(users.column("is_member"))).column("id")
    by_member = pc.is_in(t.column("author_id"), value_set=member_ids).to_numpy(zero_copy_only=False)
    # Directed at: mentions, replied-to authors, quoted/retweeted authors (once per tweet).
    parent = pc.list_parent_indices(t.column("mentions")).to_numpy(zero_copy_only=False)
    mentioned = pc.list_flatten(t.column("mentions"))
    ref_rows = _tweet_rows(ds, t.column("referenced_id"))
    has_ref = ref_rows >= 0
    ref_author = pa.array(_col(t, "author_id")[ref_rows[has_ref]])
    rows = np.concatenate([parent, np.flatnonzero(has_ref)])
    target = pa.concat_arrays(
        [
            mentioned.combine_chunks() if isinstance(mentioned, pa.ChunkedArray) else mentioned,
            ref_author,
        ]
    )
    target_idx = pc.index_in(target, value_set=outsider_ids).to_numpy(zero_copy_only=False)
    keep = by_member[rows] & ~np.isnan(target_idx.astype(float))
    pairs = np.unique(np.stack([rows[keep], target_idx[keep].astype(np.int64)]), axis=1)
    counts = np.bincount(pairs[1], minlength=len(outsider_ids))
    realised = [outsider_ids[int(i)].as_py() for i in np.argsort(-counts, kind="stable")[:5]]
    hot = [h["id"] for h in ds.meta["hot_outsiders"]]
    assert hot[0] == realised[0]
    assert len(set(hot[:5]) & set(realised)) >= 3
    expected = [h["expected_interactions"] for h in ds.meta["hot_outsiders"]]
    assert expected == sorted(expected, reverse=True)
    assert all(
        not users.filter(pc.equal(users.column("id"), h)).column("is_member")[0].as_py()
        for h in hot
    )


def test_hashtags_characteristic_of_each_community(ds: Dataset) -> None:
    t = ds.tweets
    users = ds.users
    community = dict(
        zip(users.column("id").to_pylist(), users.column("community").to_pylist(), strict=True)
    )
    tags: dict[int, Counter] = {k: Counter() for k in range(6)}
    for author, row_tags in zip(
        t.column("author_id").to_pylist(), t.column("hashtags").to_pylist(), strict=True
    ):
        if community[author] >= 0:
            tags[community[author]].update(row_tags)
    topics = ds.meta["topics"]
    all_tags = [tag for k in topics for tag in topics[k]]
    assert len(all_tags) == len(set(all_tags))
    for k in range(6):
        top = [tag for tag, _ in tags[k].most_common(3)]
        assert all(tag in topics[str(k)] for tag in top), (k, top)
        own = sum(tags[k][tag] for tag in topics[str(k)])
        assert own > 0.6 * sum(tags[k].values())


def test_usernames_unique_and_readable(ds: Dataset) -> None:
    names = ds.users.column("username").to_pylist()
    assert len({n.lower() for n in names}) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_]{1,15}", n) for n in names)
    ids = ds.users.column("id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)


def test_special_account_states(ds: Dataset) -> None:
    users = ds.users.to_pylist()
    states = Counter(u["state"] for u in users)
    assert set(states) == set(ACCOUNT_STATES)
    assert states["protected"] == 3 and states["suspended"] == 1 and states["deleted"] == 1
    for u in users:
        assert u["protected"] == (u["state"] == "protected")
        if u["state"] != "active":
            assert u["is_member"]
    listed = ds.meta["accounts_by_state"]
    assert {s: len(v) for s, v in listed.items()} == {"protected": 3, "suspended": 1, "deleted": 1}


# -- arguments and edge cases ------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"members": 3, "communities": 5},
        {"days": 0},
        {"members": 0},
        {"communities": 0},
        {"seed": -1},
        {"outsiders": -2},
        {"tweets_per_member": 0},
        {"tweets_per_member": float("nan")},
        {"bursts": 100, "days": 1},
        {"topic_bursts": 7, "days": 1},
        {"topic_bursts": -1},
        {"days": 1000},
        {"now": datetime(2011, 1, 5, tzinfo=UTC)},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(GenerateError) as info:
        generate_community(**kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"members": 6, "communities": 6, "days": 1},
        {"members": 40, "communities": 1, "outsiders": 0},
        {"members": 50, "communities": 3, "bursts": 0, "days": 2},
        {"members": 30, "communities": 20, "tweets_per_member": 3.5, "outsiders": 2},
    ],
)
def test_small_and_degenerate_worlds(kwargs: dict) -> None:
    ds = generate_community(seed=3, **kwargs)
    assert ds.users.num_rows == kwargs["members"] + ds.meta["outsiders"]
    rows = _tweet_rows(ds, ds.tweets.column("referenced_id"))
    kind = _col(ds.tweets, "kind")
    assert np.all(rows[kind != "tweet"] >= 0)
    assert len(ds.meta["topics"]) == kwargs["communities"]


def test_many_communities_get_invented_topics() -> None:
    ds = generate_community(members=400, communities=15, days=2, seed=5)
    tags = [tag for k in ds.meta["topics"] for tag in ds.meta["topics"][k]]
    assert len(tags) == len(set(tags)) == 15 * 6
    assert all(re.fullmatch(r"[a-z0-9]{1,15}", tag) for tag in tags)


def test_naive_now_is_utc_and_window_follows_it() -> None:
    naive = generate_community(members=30, communities=2, days=1, now=datetime(2025, 3, 1, 12))
    aware = generate_community(
        members=30, communities=2, days=1, now=datetime(2025, 3, 1, 12, tzinfo=UTC)
    )
    assert naive.tweets.equals(aware.tweets)
    assert aware.meta["now"] == "2025-03-01T12:00:00.000Z"
    assert aware.meta["start"] == "2025-02-28T12:00:00.000Z"


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def cli():
    return dwt.cli.main


def test_cli_generates_a_dataset(cli, tmp_path, capsys) -> None:
    out = tmp_path / "week"
    code = cli(
        [
            "generate",
            "--members",
            "60",
            "--communities",
            "3",
            "--days",
            "2",
            "--seed",
            "4",
            "--now",
            "2026-06-01T00:00:00Z",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for needle in (
        "members 60 in 3 communities",
        "outsiders",
        "tweets",
        "reply",
        "follows",
        "bursts",
        "hot outsiders",
        "MB",
    ):
        assert needle in printed
    ds = Dataset.load(out)
    assert ds.meta["members"] == 60 and ds.meta["now"] == "2026-06-01T00:00:00.000Z"
    same = generate_community(
        members=60, communities=3, days=2, seed=4, now=datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert ds.tweets.equals(same.tweets)


def test_cli_plants_the_topic_bursts_asked_for(cli, tmp_path, capsys) -> None:
    common = ["--members", "60", "--communities", "3", "--days", "7", "--seed", "4"]
    common += ["--now", "2026-06-01T00:00:00Z"]
    for n in (0, 1, 5):
        out = tmp_path / f"week{n}"
        assert cli(["generate", *common, "--topic-bursts", str(n), "--out", str(out)]) == 0
        planted = Dataset.load(out).meta["topic_bursts"]
        assert len(planted) == n
        printed = capsys.readouterr().out
        assert f"topic bursts {n}:" in printed
        for burst in planted:
            assert f"{burst['kind']} {burst['topic']} " in printed
    # Without the flag: the generator's default (about three a week, one per community).
    assert cli(["generate", *common, "--out", str(tmp_path / "default")]) == 0
    assert len(Dataset.load(tmp_path / "default").meta["topic_bursts"]) == 3
    assert "topic bursts 3:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--members", "2", "--communities", "4"],
        ["--days", "0"],
        ["--tweets-per-member", "-1"],
        ["--topic-bursts", "-1"],
        ["--days", "1", "--topic-bursts", "7"],
    ],
)
def test_cli_bad_arguments_exit_2(cli, tmp_path, capsys, argv: list[str]) -> None:
    assert cli(["generate", *argv, "--out", str(tmp_path / "x")]) == 2
    assert "dwt generate:" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_unparsable_arguments_exit_2(cli, tmp_path) -> None:
    for argv in (["--members", "many"], ["--now", "yesterday"]):
        with pytest.raises(SystemExit) as info:
            cli(["generate", *argv, "--out", str(tmp_path)])
        assert info.value.code == 2
