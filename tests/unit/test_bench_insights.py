"""``dwt bench insights``: the prototype's bond rule equals the bonds stage, the dataset →
interactions conversion follows collection's rule, and every section runs end to end on
tiny sizes (its figures are goals for the benchmark, not assertions here)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dwt.bench.insights import configure, run_bench
from dwt.bench.insights_lfr import lfr_graph
from dwt.bench.insights_quality import measure_quality
from dwt.bench.insights_speed import measure_speed
from dwt.bench.original import OriginalWeek, compare_rows, original_row, rows_matrix
from dwt.bench.truth import stage_inputs, true_conversations
from dwt.cli import main
from dwt.generate import generate_community
from dwt.stages.bonds import IndexedWeek, bond_matrix
from dwt.stages.weights import BondWeights

#: Every section, small enough for a few seconds: same code paths as the real run.
TINY = {
    "speed_members": (200,),
    "tweets_per_member": 10.0,
    "original_budget_s": 5.0,
    "timing_repeats": 1,
    "scale_members": 200,
    "scale_tweets_per_member": 10.0,
    "quality_members": 120,
    "quality_communities": 4,
    "lfr_n": 250,
    "lfr_mus": (0.3,),
    "lfr_graphs": 1,
    "independent_members": 120,
    "follow_mode_members": 120,
    "family2_members": 100,
    "family2_communities": 4,
    "family2_mixings": (0.35,),
}


@pytest.fixture(scope="module")
def week():
    dataset = generate_community(members=200, communities=4, seed=7, tweets_per_member=10)
    return dataset, stage_inputs(dataset)


def test_original_rule_equals_the_bonds_stage_on_every_row(week):
    _, inputs = week
    weights = BondWeights(
        tweet=0.03, mention=0.7, retweet=2.0, quote=5.0, reply=11.0, follow=0.0, normalize=False
    )  # the prototype's rule: raw weights, no follow edge
    original = OriginalWeek.from_tables(inputs.members, inputs.interactions, inputs.follows)
    rows = {u: original_row(original, u, weights) for u in original.members}
    stage = bond_matrix(
        IndexedWeek.from_tables(inputs.members, inputs.interactions, inputs.follows), weights
    )
    expected = rows_matrix(rows, original.members)
    agree, relative = compare_rows(expected, stage, np.arange(len(original.members)))
    assert agree, relative
    assert stage.nnz == expected.nnz > 0
    # Every kind and the follow part contributed: the check is not vacuous.
    assert set(inputs.interactions.column("kind").to_pylist()) == {
        "tweet",
        "retweet",
        "quote",
        "reply",
    }
    assert inputs.follows.num_rows > 0


def test_compare_rows_notices_a_changed_weight_and_a_missing_bond(week):
    _, inputs = week
    stage = bond_matrix(
        IndexedWeek.from_tables(inputs.members, inputs.interactions, inputs.follows),
        BondWeights(),
    )
    rows = np.arange(stage.shape[0])
    changed = stage.copy()
    changed.data[0] += 1e-6
    assert compare_rows(changed, stage, rows)[0] is False
    missing = stage.copy()
    missing.data[0] = 0.0
    assert compare_rows(missing, stage, rows)[0] is False
    assert compare_rows(stage.copy(), stage, rows) == (True, 0.0)


def test_stage_inputs_cover_every_member_tweet(week):
    """The rows are the product's own read of the week (test_bench_pipeline.py compares
    them with the store's); here: none is lost and the truth is aligned."""
    dataset, inputs = week
    assert inputs.interactions.num_rows == len(inputs.burst) == dataset.meta["member_tweets"]
    assert len(inputs.community) == len(inputs.members) == dataset.meta["members"]


def test_a_retweet_truly_belongs_to_the_retweeted_conversation():
    interactions = pa.table(
        {
            "tweet_id": ["1", "2", "3", "4"],
            "conversation_id": ["1", "1", "3", "4"],
            "kind": ["tweet", "reply", "retweet", "retweet"],
            "referenced_id": [None, "1", "2", "99"],
        }
    )
    assert true_conversations(interactions).to_pylist() == ["1", "1", "1", "rt:99"]


def test_speed_rows_agree_and_extrapolate_from_a_sample():
    row = measure_speed(150, communities=3, tweets_per_member=10, budget_s=0.0, repeats=1, seed=3)
    # A zero budget runs one author: the total is extrapolated from it, and it agrees.
    assert row.extrapolated and row.original_authors == 1
    assert row.agree and row.speedup > 0
    assert "extrapolated from 1 of 150 authors" in row.note
    # The fair baseline: a plain per-author loop of the same rule, over every author, agrees
    # with the stage; the product's default rule is timed beside the raw one.
    assert row.plain_agrees and row.plain_s > 0 and row.speedup_vs_plain > 0
    assert row.default_rule_s > 0


def test_quality_scores_a_generated_community():
    row = measure_quality(0, members=120, communities=4)
    assert 0 <= row.nmi <= 1 and row.ari == pytest.approx(1.0)
    assert row.bursts_planted == len(row.burst_details) > 0
    assert 0 <= row.bursts_found <= row.bursts_planted
    assert row.trending_with_burst <= row.trending_slices
    # Topic bursts: standalone tweets on a new hashtag / term / URL, found as topics.
    assert row.topic_bursts_planted == len(row.topic_burst_details) > 0
    assert row.topic_bursts_found == row.topic_bursts_planted
    assert 0 < row.trending_topics_with_burst <= row.trending_topics
    found = {d["kind"]: d for d in row.topic_burst_details}
    assert all(d["in_trending_topics"] >= d["tweets"] / 2 for d in found.values())
    hot = row.trending_slices + row.trending_topics
    assert row.precision == (row.trending_with_burst + row.trending_topics_with_burst) / hot


def test_lfr_graph_has_the_planted_communities():
    config = configure(**TINY)
    graph, seed, failures = lfr_graph(config, 0.3, 1, 8)
    assert graph.number_of_nodes() == 250
    assert all(isinstance(graph.nodes[v]["community"], set) for v in graph)
    assert seed >= 1 and isinstance(failures, list)


@pytest.mark.slow
def test_run_bench_reports_every_headline_figure():
    lines: list[str] = []
    result = run_bench(configure(quick=True, seeds=1, use_ray=False, **TINY), echo=lines.append)
    for key in (
        "speedup_vs_original",
        "nmi_planted",
        "ari_conversations",
        "lfr_nmi",
        "scale_seconds",
        "peak_rss_mb",
        "speedups",
        "scale_stage_seconds",
        "nmi_per_seed",
        "burst_precision",
        "burst_recall",
        "nmi_vs_oracle",
        "oracle_independent",
        "nmi_vs_oracle_planted",
        "lfr_nmi_leiden",
        "nmi_follows_stale_4w",
        "nmi_follows_stale_12w",
        "nmi_follows_refreshed_15pct",
        "nmi_interactions_only",
        "weekly_cost_usd",
        "nmi_vs_oracle_family2",
        "nmi_vs_oracle_family2_worst",
        "nmi_family2",
        "bursts_family2",
    ):
        assert key in result, key
    tuned = {s for rule in result["seeds_tuning"].values() for s in rule}
    assert result["seeds_reported"] and not tuned & set(result["seeds_reported"])
    # Which seeds tuned, which report, per family: quick runs family 2 on one seed.
    roles = result["seeds"]
    assert roles["reported_family2"] == [101] and roles["family2_tuning"] == []
    assert roles["tuning"]["structure"] and not tuned & set(roles["reported_independent"])
    assert set(result["nmi_family2"]) == {"0.35"} and 0 <= result["nmi_family2"]["0.35"] <= 1
    assert any(goal.startswith("family 2 nmi_vs_oracle") for goal in result["goals"])
    assert result["original_agrees"] is True
    assert set(result["lfr_nmi"]) == {"0.3"}
    assert set(result["scale_stage_seconds"]) == {"bonds", "cluster", "content"}
    assert result["peak_rss_mb"] > 0 and result["scale_seconds"] > 0
    text = "\n".join(lines)
    assert "agree" in text and "original: all 200 authors" in text
    # The pipeline's steps, and the stages inside them (what to speed up).
    assert "inside them: bond_matrix" in text and "layout" in text
    assert "== 7. Family 2" in text
    assert {"infomap", "layout"} <= set(result["pipelines"][0]["stage_s"])
    json.dumps(result)  # the CLI prints it as one line


@pytest.mark.slow
def test_cli_prints_tables_to_stderr_and_one_json_line(capsys, monkeypatch):
    import dwt.bench.insights as insights

    real = insights.configure
    monkeypatch.setattr(
        insights, "configure", lambda **kwargs: real(**{**kwargs, **TINY, "use_ray": False})
    )
    assert main(["bench", "insights", "--quick", "--seeds", "1", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["quick"] is True and "speedup_vs_original" in result
    assert "== 1. Bonds" in captured.err and "== 4. Quality on LFR" in captured.err


def test_cli_rejects_bad_seeds(capsys):
    assert main(["bench", "insights", "--seeds", "0"]) == 2


def test_cli_rejects_a_churn_outside_a_share(capsys):
    assert main(["bench", "insights", "--churn", "1.5"]) == 2
    assert "--churn" in capsys.readouterr().err


def test_interaction_lists_are_deduplicated_and_lower_cased():
    dataset = generate_community(members=60, communities=2, seed=2, tweets_per_member=5)
    tweets = dataset.tweets
    # Repeat every mention and shout every hashtag: the conversion must undo both.
    mentions = tweets.column("mentions").combine_chunks()
    offsets = mentions.offsets.to_numpy()
    twice = [np.r_[np.arange(a, b), np.arange(a, b)] for a, b in itertools.pairwise(offsets)]
    doubled = pa.ListArray.from_arrays(
        pa.array(offsets * 2), mentions.values.take(pa.array(np.concatenate(twice)))
    )
    tags = pc.utf8_upper(pc.list_flatten(tweets.column("hashtags").combine_chunks()))
    shouted = pa.ListArray.from_arrays(tweets.column("hashtags").combine_chunks().offsets, tags)
    loud = tweets.set_column(tweets.schema.get_field_index("mentions"), "mentions", doubled)
    loud = loud.set_column(loud.schema.get_field_index("hashtags"), "hashtags", shouted)
    dataset.tweets = loud
    plain = stage_inputs(generate_community(members=60, communities=2, seed=2, tweets_per_member=5))
    assert stage_inputs(dataset).interactions.equals(plain.interactions)
