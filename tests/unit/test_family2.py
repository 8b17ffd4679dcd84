"""Family 2 (issue 27): its weeks break the product's assumptions as its doc says — checked
from the datasets the emulator serves, not from the generator's own counts — and its scorer
matches, counts and normalises as documented."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from dwt.bench.family2 import scoring
from dwt.bench.family2.product import Reading
from dwt.bench.family2.scoring import (
    burst_counts,
    grid,
    mean_row,
    nmi,
    oracle_labels,
    score,
    summary,
)
from dwt.bench.family2.serve import WeekData, generate_weeks
from dwt.bench.family2.world import HOUR_MS, Family2Config, Truth


@pytest.fixture(scope="module")
def weeks() -> list[WeekData]:
    return generate_weeks(Family2Config(members=800, mixing=0.35, seed=101))


def _communities(truth: Truth) -> dict[str, set[int]]:
    """Each member's communities this week (a bridge has two, a bot none)."""
    return {
        m: {c for c in (home, other) if c >= 0}
        for m, home, other in zip(truth.members, truth.community, truth.second, strict=True)
    }


def _directed(tweets: pa.Table) -> list[tuple[str, str, str]]:
    """(author, target, kind) of every mention, reply, quote and retweet, read as X gives it."""
    author_of = dict(zip(tweets["id"].to_pylist(), tweets["author_id"].to_pylist(), strict=True))
    out = []
    for row in tweets.select(["author_id", "kind", "referenced_id", "mentions"]).to_pylist():
        targets = set(row["mentions"])
        if row["kind"] in ("reply", "quote", "retweet"):
            targets.add(author_of[row["referenced_id"]])
        out += [(row["author_id"], t, row["kind"]) for t in targets if t != row["author_id"]]
    return out


def _follows(week: WeekData) -> set[tuple[str, str]]:
    follows = week.dataset.follows
    return set(zip(follows["source_id"].to_pylist(), follows["target_id"].to_pylist(), strict=True))


def _member_pairs(week: WeekData) -> list[tuple[str, str, str]]:
    comms = _communities(week.truth)
    return [
        (a, t, k) for a, t, k in _directed(week.dataset.tweets) if comms.get(a) and comms.get(t)
    ]


@pytest.mark.parametrize("aim", [0.2, 0.5])
def test_realised_mixing_is_near_the_aim(aim):
    for week in generate_weeks(Family2Config(members=800, mixing=aim, seed=102)):
        comms = _communities(week.truth)
        pairs = _member_pairs(week)
        across = np.mean([not comms[a] & comms[t] for a, t, _ in pairs])
        assert abs(across - aim) < 0.03, (week.truth.week, across)
        assert week.truth.mixing == pytest.approx(across, abs=0.01)


def test_silent_members_are_mentioned_by_members(weeks):
    for week in weeks:
        truth = week.truth
        wrote = set(week.dataset.tweets["author_id"].to_pylist())
        people = set(truth.members) - set(truth.bots)
        silent = people - wrote
        assert len(silent) > 0.1 * len(people)
        assert silent == set(truth.silent)
        mentioned = {t for a, t, _ in _directed(week.dataset.tweets) if a in people}
        assert len(silent & mentioned) > 0.8 * len(silent)


def test_bots_mention_most_members(weeks):
    for week in weeks:
        truth = week.truth
        people = set(truth.members) - set(truth.bots)
        reached = defaultdict(set)
        for a, t, _ in _directed(week.dataset.tweets):
            reached[a].add(t)
        assert truth.bots
        for bot in truth.bots:
            assert len(reached[bot] & people) > 0.5 * len(people)


def test_members_interact_with_accounts_they_do_not_follow(weeks):
    for week in weeks:
        followed = _follows(week)
        pairs = _member_pairs(week)
        unfollowed = np.mean([(a, t) not in followed for a, t, _ in pairs])
        assert unfollowed > 0.3


def test_arguers_reply_across_more_than_inside(weeks):
    truth = weeks[0].truth
    comms = _communities(truth)
    arguers = set(truth.arguers)
    replies = [(a, t) for a, t, k in _member_pairs(weeks[0]) if k == "reply"]
    argued = [not comms[a] & comms[t] for a, t in replies if a in arguers]
    others = [not comms[a] & comms[t] for a, t in replies if a not in arguers]
    assert len(argued) > 50
    assert np.mean(argued) > 0.6 > 0.4 > np.mean(others)


def test_bridges_have_two_communities(weeks):
    truth = weeks[0].truth
    bridges = [(h, s) for h, s in zip(truth.community, truth.second, strict=True) if s >= 0]
    assert len(bridges) > 0.03 * len(truth.members)
    assert all(h != s and h >= 0 for h, s in bridges)


def _times(week: WeekData, ids: list[str]) -> tuple[list[str], np.ndarray]:
    tweets = week.dataset.tweets
    row = {t: i for i, t in enumerate(tweets["id"].to_pylist())}
    rows = [row[t] for t in ids]
    authors = [tweets["author_id"][r].as_py() for r in rows]
    ms = np.array([tweets["created_at"][r].value for r in rows])
    return authors, ms


def test_true_bursts_come_from_one_community_within_hours(weeks):
    for week in weeks:
        comms = _communities(week.truth)
        topics = [b for b in week.truth.bursts if b["kind"] == "topic"]
        assert len(topics) == 2 and len(week.truth.bursts) == 3
        for burst in week.truth.bursts:
            authors, ms = _times(week, burst["tweet_ids"])
            assert all(burst["community"] in comms[a] for a in authors)
            assert len(set(authors)) >= 8
            assert ms.max() - ms.min() <= 3 * HOUR_MS
        for burst in topics:
            texts = week.dataset.tweets.take(
                [week.dataset.tweets["id"].to_pylist().index(t) for t in burst["tweet_ids"][:3]]
            )["text"].to_pylist()
            assert all(burst["phrase"] in text for text in texts)


def test_noise_bursts_exist_and_are_not_one_communitys(weeks):
    for week in weeks:
        kinds = {b["kind"]: b for b in week.truth.noise}
        assert set(kinds) == {"scattered", "spam", "bot"}
        authors, ms = _times(week, kinds["scattered"]["tweet_ids"])
        home = dict(zip(week.truth.members, week.truth.community, strict=True))
        per = Counter(home[a] for a in authors)
        assert len(per) >= 5 and max(per.values()) <= 2
        assert ms.max() - ms.min() <= 2 * HOUR_MS
        authors, _ = _times(week, kinds["spam"]["tweet_ids"])
        assert len(authors) >= 20 and len(set(authors)) == 1
        authors, _ = _times(week, kinds["bot"]["tweet_ids"])
        assert authors[0] in week.truth.bots
        answering = {home[a] for a in authors if a not in week.truth.bots}
        assert len(answering) >= 5


def test_week_two_grows_one_community_and_merges_two(weeks):
    first, second = (w.truth for w in weeks)
    assert len(set(second.community) - {-1}) == len(set(first.community) - {-1}) - 1
    _, absorbed = second.merged
    assert absorbed in first.community and absorbed not in second.community
    new = weeks[1].new_usernames
    member = [
        dict(zip(*(w.dataset.users[c].to_pylist() for c in ("username", "is_member")), strict=True))
        for w in weeks
    ]
    assert new and all(member[1][u] and not member[0][u] for u in new)
    grown = Counter(second.community)[second.grown] - Counter(first.community)[second.grown]
    assert grown == len(new)
    assert _follows(weeks[0]) < _follows(weeks[1])


def test_the_datasets_carry_no_truth(weeks):
    for week in weeks:
        assert set(week.dataset.users["community"].to_pylist()) == {-1}
        assert set(week.dataset.tweets["burst"].to_pylist()) == {-1}
        assert week.dataset.tweets["topic"].null_count == week.dataset.tweets.num_rows


def test_same_seed_same_weeks_other_seed_other_weeks():
    cfg = Family2Config(members=300, communities=6, seed=103)
    a, b = generate_weeks(cfg), generate_weeks(cfg)
    c = generate_weeks(Family2Config(members=300, communities=6, seed=104))
    for x, y in zip(a, b, strict=True):
        for name in ("users", "tweets", "follows"):
            assert getattr(x.dataset, name).equals(getattr(y.dataset, name))
        assert x.truth.community == y.truth.community
    assert not a[0].dataset.tweets.equals(c[0].dataset.tweets)


@pytest.mark.parametrize(
    "bad",
    [dict(seed=7), dict(communities=2), dict(members=100), dict(mixing=0.95), dict(growth=-1)],
)
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        Family2Config(**bad)


def _truth(community, second, relations=((0, 1, 1),)):
    return Truth(
        week=1,
        members=[f"m{i}" for i in range(len(community))],
        community=list(community),
        second=list(second),
        bots=[],
        silent=[],
        arguers=[],
        relations=np.array(relations),
    )


def test_a_bridge_is_scored_against_its_clusters_majority_community():
    # Members 0-3 in community 0, 4-7 in 1; member 8 is a bridge (home 0, second 1).
    truth = _truth([0] * 4 + [1] * 4 + [0], [-1] * 8 + [1])
    with_second = np.array([0] * 4 + [1] * 4 + [1])
    with_home = np.array([0] * 4 + [1] * 4 + [0])
    elsewhere = np.array([0] * 4 + [1] * 4 + [2])
    assert nmi(truth, with_second) == 1.0
    assert nmi(truth, with_home) == 1.0
    assert nmi(truth, elsewhere) < 1.0
    bot = _truth([0] * 4 + [1] * 4 + [-1], [-1] * 9)
    assert nmi(bot, elsewhere) == 1.0  # a bot is not scored


def test_the_oracles_recover_a_clear_relation_graph():
    cliques = [(a, b, 2) for c in (0, 5, 10) for a in range(c, c + 5) for b in range(a + 1, c + 5)]
    truth = _truth([0] * 5 + [1] * 5 + [2] * 5, [-1] * 15, [*cliques, (0, 5, 1), (5, 10, 1)])
    for labels in oracle_labels(truth, seed=101).values():
        assert nmi(truth, labels) == 1.0


def test_trending_items_are_matched_by_majority():
    truth = _truth([0, 0], [-1, -1])
    truth.bursts = [{"tweet_ids": [f"b{i}" for i in range(10)]}]
    truth.noise = [{"tweet_ids": [f"n{i}" for i in range(10)]}, {"tweet_ids": ["x"]}]
    items = [
        ["b0", "b1", "b2", "g1"],  # the burst's: a true positive
        ["b3", "b4", "g2", "g3"],  # half only: unplanned
        ["n0", "n1", "n2"],  # a noise burst's
        ["g4"],
    ]
    reading = Reading(["m0", "m1"], [0, 0], [{"tweet_ids": ids} for ids in items])
    got = burst_counts(truth, reading)
    assert got["true_positive"] == 1 and got["noise_false_positive"] == 1
    assert got["unplanned"] == 2 and got["trending"] == 4
    assert got["found"] == 0  # 3 of its 10 tweets are in its true-positive items
    assert got["noise_reported"] == 1
    items[1] = ["b3", "b4", "b5", "g2"]
    got = burst_counts(truth, Reading(["m0"], [0], [{"tweet_ids": ids} for ids in items]))
    assert got["found"] == 1  # 6 of 10 over its two items


def test_mean_row_averages_numbers_and_nested_dicts():
    rows = [{"a": 1, "b": None, "c": {"d": 2.0}, "s": "x"}, {"a": 3, "b": 1, "c": {"d": 4.0}}]
    assert mean_row(rows) == {"a": 2, "b": None, "c": {"d": 3.0}}


def test_run_gives_the_mean_and_the_worst_seed_and_summary_keys_them(monkeypatch):
    def fake(members, communities, mixing, seed):
        ratio = {101: 0.9, 102: 0.6, 103: None}[seed]
        return {
            "seed": seed,
            "nmi": 0.5,
            "nmi_vs_oracle": ratio,
            "realised_mixing": mixing + 0.01,
            "bursts": {"true_positive": 2, "trending": 4, "found": 3, "planted": 3},
        }

    monkeypatch.setattr(scoring, "score", fake)
    by_mixing = grid(mixings=(0.2,), seeds=(101, 102))
    result = by_mixing["0.2"]
    assert result["worst"]["seed"] == 102
    assert result["mean"]["nmi_vs_oracle"] == 0.75
    keys = summary(by_mixing)
    assert keys["nmi_vs_oracle_family2"] == {"0.2": 0.75}
    assert keys["nmi_vs_oracle_family2_worst"] == {"0.2": 0.6}
    assert keys["mixing_family2"] == {"0.2": 0.21}
    assert keys["bursts_family2"]["burst_precision"] == 0.5
    assert keys["bursts_family2"]["burst_recall"] == 1.0
    assert scoring.run(seeds=(101, 103))["worst"]["seed"] == 103  # no ratio: the worst
    with pytest.raises(ValueError, match="no seeds"):
        scoring.run(seeds=())


@pytest.mark.slow
def test_a_small_end_to_end_score_is_sane():
    row = score(members=300, communities=8, mixing=0.35, seed=102)
    # Measured: oracle NMI 0.99 both weeks, realised mixing 0.33, 6 of 6 bursts found. The
    # product's NMI is not bounded here: at 300 members it ranged 0.0 (one cluster: the
    # bots' mentions) to 0.98 over seeds 101-103 and 6 or 8 communities.
    assert row["nmi_oracle_infomap"] > 0.9 and row["week1"]["nmi_oracle_infomap"] > 0.9
    assert 0.0 <= row["nmi"] <= 1.0
    assert row["nmi_vs_oracle"] == pytest.approx(row["nmi"] / row["nmi_oracle_infomap"], abs=1e-3)
    assert abs(row["realised_mixing"] - 0.35) < 0.05
    bursts = row["bursts"]
    assert bursts["planted"] == 6 and bursts["noise_planted"] == 6
    kinds = ("true_positive", "noise_false_positive", "unplanned")
    assert sum(bursts[k] for k in kinds) == bursts["trending"]
    assert row["burst_recall"] >= 0.5
    assert row["clusters"] >= 2
