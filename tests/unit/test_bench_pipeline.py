"""The store-included pipeline benchmark: its loader writes what collection would, and its
workers report the pipeline's time, the store's share and peak memory."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from dwt.bench.load import load_week
from dwt.bench.pipeline import clock_stages, discover_bonds_ratio, measure_pipeline
from dwt.bench.truth import stage_inputs
from dwt.generate import generate_community
from dwt.store import Store


def test_the_loader_stores_what_collection_would(store: Store):
    """The benchmark's stage input is the week as the product reads it after a collection:
    the emulator's pages through the product's normaliser, read back from the store."""
    dataset = generate_community(members=60, communities=2, days=3, seed=21)
    written = load_week(store, dataset, "bench")
    inputs = stage_inputs(dataset)
    got = store.interactions(store.members("bench").column("account_id").to_pylist())
    member_tweets = pc.is_in(dataset.tweets["author_id"], inputs.members)
    assert written.inserted == got.num_rows == pc.sum(member_tweets).as_py()
    assert got.equals(inputs.interactions)
    directed = pc.list_value_length(got["directed_at"]).to_numpy(zero_copy_only=False)
    assert directed.sum() > got.num_rows / 4  # mentions, replies, quotes and retweets
    # The planted truth travels aligned with the rows it describes.
    bursts = dict(zip(dataset.tweets["id"].to_pylist(), dataset.tweets["burst"].to_pylist(),
                      strict=True))  # fmt: skip
    assert inputs.burst.tolist() == [bursts[t] for t in got["tweet_id"].to_pylist()]


def test_discover_bonds_ratio():
    assert discover_bonds_ratio({"discover": 3.0, "bonds": 2.0, "cluster": 9.0}) == 1.5
    assert discover_bonds_ratio({"bonds": 2.0}) is None
    assert discover_bonds_ratio({"discover": 1.0, "bonds": 0.0}) is None


def test_clock_stages_times_each_stage_and_puts_the_originals_back():
    import dwt.pipeline.tasks as steps
    from dwt.stages.cluster import InfomapClusters

    fit, profiles = InfomapClusters.fit, steps.cluster_profiles
    stages = {
        "infomap": ("dwt.stages.cluster", "InfomapClusters", "fit"),
        "cluster_profiles": ("dwt.pipeline.tasks", "cluster_profiles"),
    }
    with clock_stages(stages) as seconds:
        assert InfomapClusters.fit is not fit and steps.cluster_profiles is not profiles
        bonds = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
        InfomapClusters().fit(bonds)
        InfomapClusters().fit(bonds)
    assert set(seconds) == {"infomap"} and seconds["infomap"] > 0  # not called: not listed
    assert InfomapClusters.fit is fit and steps.cluster_profiles is profiles
    with pytest.raises(AttributeError), clock_stages({"x": ("dwt.stages.cluster", "nothing")}):
        pass


@pytest.mark.slow
def test_measure_pipeline_times_the_store(tmp_path):
    dataset = generate_community(members=80, communities=2, days=7, seed=22)
    report = measure_pipeline(dataset, f"sqlite:///{tmp_path / 'dwt.db'}", timeout_s=300)
    assert report["members"] == 80 and report["counts"]["tweets"] > 0
    assert 0 < report["store_s"] < report["pipeline_s"]
    # Both figures are rounded to 10 ms in the report: the share agrees up to that.
    rounding = 0.006 / report["pipeline_s"] + 0.002
    assert report["store_share"] == pytest.approx(report["store_s"] / report["pipeline_s"],
                                                  abs=rounding)  # fmt: skip
    assert set(report["step_s"]) == {"discover", "bonds", "cluster", "content"}
    steps = report["step_s"]
    assert report["discover_bonds_ratio"] == pytest.approx(
        steps["discover"] / steps["bonds"], rel=0.01
    )
    assert report["peak_rss_mb"] > report["baseline_rss_mb"] > 0
    # Inside the steps: the stages, each within its step's time.
    stages = report["stage_s"]
    assert {"bond_matrix", "infomap", "layout", "conversations"} <= set(stages)
    assert stages["infomap"] + stages["layout"] <= steps["cluster"] + 0.02
    assert stages["bond_matrix"] <= steps["bonds"] + 0.02
    assert report["load_s"] > 0
