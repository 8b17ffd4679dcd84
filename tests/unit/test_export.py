"""``dwt export``: the bond graph (GraphML, GEXF) and result tables (JSON, CSV) written
from what a real pipeline run stored, re-read with independent readers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import igraph
import networkx as nx
import pyarrow.csv as pacsv
import pytest

from clirun import dwt
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from results import shown, shown_members
from sample_week import load_sample

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)

NOW = datetime(2026, 11, 28, tzinfo=UTC)
ALL_FILES = {
    "bonds.graphml",
    "bonds.gexf",
    "clusters.json",
    "clusters.csv",
    "members.json",
    "members.csv",
    "conversations.json",
    "conversations.csv",
    "topics.json",
    "topics.csv",
}


def _run(store: Store, steps: list[str]) -> None:
    run_pipeline(
        store,
        RunSpec(community="sample", steps=steps),
        now=NOW,
        progress=Progress(store, "r", stream=None),
        run_id="r",
    )


@pytest.fixture
def loaded(store: Store) -> Store:
    load_sample(store)
    # A core member and an unreachable one, so booleans and status travel too.
    store.set_member_fields(
        "sample",
        [{"account_id": "1001", "core": True}, {"account_id": "1004", "status": "protected"}],
    )
    return store


@pytest.fixture
def ran(loaded: Store) -> Store:
    _run(loaded, ["discover", "bonds", "cluster", "content"])
    return loaded


def _export(url: str, out: Path, *args: str) -> int:
    return dwt(url, ["export", "--community", "sample", "--out", str(out), *args])


def _stored(store: Store):
    members = shown_members(store, "sample")
    bonds = {
        (b["source_id"], t): w
        for b in shown(store, Coll.BONDS, "sample")
        for t, w in zip(b["targets"], b["weights"], strict=True)
    }
    labels = {c["cluster"]: c["label"] for c in shown(store, Coll.CLUSTERS, "sample")}
    return members, bonds, labels


def test_graphml_round_trips_through_igraph(ran: Store, store_url: str, tmp_path: Path, capsys):
    assert _export(store_url, tmp_path) == 0
    assert {p.name for p in tmp_path.iterdir()} == ALL_FILES
    out = capsys.readouterr().out
    assert f"{tmp_path / 'bonds.graphml'}  4 nodes, 6 edges" in out
    members, bonds, labels = _stored(ran)

    g = igraph.Graph.Read_GraphML(str(tmp_path / "bonds.graphml"))
    assert g.is_directed() and g.vcount() == 4
    ids = g.vs["id"]
    assert sorted(ids) == sorted(members)
    edges = {(ids[e.source], ids[e.target]): e["weight"] for e in g.es}
    assert edges == pytest.approx(bonds)
    for v in g.vs:
        member = members[v["id"]]
        assert v["username"] == v["label"] == member["username"]
        assert int(v["cluster"]) == member["cluster"]
        assert v["cluster_label"] == labels[member["cluster"]]
        assert v["core"] is member["core"]
        assert v["flow"] == pytest.approx(member["flow"])
    by_id = dict(zip(ids, g.vs, strict=True))
    assert by_id["1001"]["core"] is True
    assert by_id["1004"]["status"] == "protected" and int(by_id["1004"]["cluster"]) == -1


def test_gexf_round_trips_through_networkx(ran: Store, store_url: str, tmp_path: Path):
    assert _export(store_url, tmp_path, "--formats", "gexf") == 0
    members, bonds, labels = _stored(ran)
    g = nx.read_gexf(tmp_path / "bonds.gexf")
    assert g.is_directed() and set(g.nodes) == set(members)
    assert {(u, v): d["weight"] for u, v, d in g.edges(data=True)} == pytest.approx(bonds)
    for node, data in g.nodes(data=True):
        member = members[node]
        assert data["label"] == data["username"] == member["username"]
        assert data["cluster"] == member["cluster"]
        assert data["cluster_label"] == labels[member["cluster"]]
        assert data["core"] is member["core"] and data["activity"] == member["activity"]
    assert g.nodes["1004"]["status"] == "protected" and "status" not in g.nodes["1001"]


def test_tables_match_the_store(ran: Store, store_url: str, tmp_path: Path):
    assert _export(store_url, tmp_path, "--formats", "json,csv") == 0
    assert {p.name for p in tmp_path.iterdir()} == ALL_FILES - {"bonds.graphml", "bonds.gexf"}
    members, _, _ = _stored(ran)

    rows = json.loads((tmp_path / "members.json").read_text())
    table = pacsv.read_csv(tmp_path / "members.csv")
    assert [r["account_id"] for r in rows] == sorted(members)
    assert table.column("account_id").cast("string").to_pylist() == sorted(members)
    assert table.column("cluster").to_pylist() == [members[a]["cluster"] for a in sorted(members)]
    brook = rows[1]
    assert brook["username"] == "brook" and brook["cluster_label"] == "#graphs #infomap"
    stats = members["1002"]["bond_stats"]
    assert (brook["tier1_partner"], brook["tier1_weight"]) == ("1001", stats["tier1_weight"])
    assert brook["tier1_partner_username"] == "ada"
    assert brook["tier3_partner"] == "2001" and brook["tier3_partner_username"] == "outsider_olu"
    assert rows[0]["core"] is True and rows[3]["status"] == "protected"

    stored = sorted(shown(ran, Coll.CLUSTERS, "sample"), key=lambda c: c["cluster"])
    clusters = json.loads((tmp_path / "clusters.json").read_text())
    assert [c["cluster"] for c in clusters] == [c["cluster"] for c in stored]
    assert [c["member_ids"] for c in clusters] == [c["members"] for c in stored]
    names = {a: m["username"] for a, m in members.items()}
    assert clusters[1]["central"] == [names[a] for a in stored[1]["central"]]
    csv_clusters = pacsv.read_csv(tmp_path / "clusters.csv")
    assert csv_clusters.column("size").to_pylist() == [c["size"] for c in stored]
    assert csv_clusters.column("hashtags").to_pylist()[1] == ";".join(stored[1]["hashtags"])

    stored = sorted(
        shown(ran, Coll.CONVERSATIONS, "sample"), key=lambda c: (c["cluster"], c["tier"], c["rank"])
    )
    conversations = json.loads((tmp_path / "conversations.json").read_text())
    assert len(conversations) == len(stored) == 4
    top = conversations[0]
    assert top["conversation_id"] == stored[0]["conversation_id"] == "1862000000000000001"
    assert top["link"] == "https://x.com/i/status/1862000000000000001"
    assert top["tweet_ids"] == stored[0]["tweet_ids"]
    assert datetime.fromisoformat(top["started_at"]) == stored[0]["started_at"]
    csv_conversations = pacsv.read_csv(tmp_path / "conversations.csv")
    assert csv_conversations.num_rows == 4
    assert csv_conversations.column("tweet_ids").to_pylist()[0] == ";".join(top["tweet_ids"])
    assert csv_conversations.column("started_at").to_pylist()[0] == stored[0]["started_at"]


def test_bad_arguments_exit_2(ran: Store, store_url: str, tmp_path: Path, capsys):
    assert _export(store_url, tmp_path / "x", "--formats", "graphml,pdf") == 2
    assert "unknown format(s) pdf" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    argv = ["export", "--community", "nobody", "--out", str(tmp_path)]
    assert dwt(store_url, argv) == 2
    assert "community 'nobody' has no members" in capsys.readouterr().err


def test_missing_steps_are_named(loaded: Store, store_url: str, tmp_path: Path, capsys):
    # Nothing ran: only the members table exists; the graph alone cannot be written.
    assert _export(store_url, tmp_path / "none", "--formats", "graphml") == 1
    assert "run the bonds step (not written: bonds.graphml)" in capsys.readouterr().err

    _run(loaded, ["bonds", "cluster"])
    assert _export(store_url, tmp_path / "some") == 0
    written = {p.name for p in (tmp_path / "some").iterdir()}
    content = {"conversations.json", "conversations.csv", "topics.json", "topics.csv"}
    assert written == ALL_FILES - content
    err = capsys.readouterr().err
    assert "run the content step (not written: conversations.json, conversations.csv)" in err
    assert "run the content step (not written: topics.json, topics.csv)" in err


def test_empty_results_and_removed_members(ran: Store, store_url: str, tmp_path: Path, capsys):
    # The content step ran and found nothing: empty tables, not a warning.
    ran[Coll.CONVERSATIONS].delete_many({})
    ran[Coll.TABLES].delete_many({})  # every conversation: the run's columnar table
    ran.remove_members("sample", ["1003"])
    assert _export(store_url, tmp_path, "--formats", "csv,graphml") == 0
    assert pacsv.read_csv(tmp_path / "conversations.csv").num_rows == 0
    assert pacsv.read_csv(tmp_path / "topics.csv").num_rows == 0  # none in seven tweets
    g = nx.read_graphml(tmp_path / "bonds.graphml")
    assert set(g.nodes) == {"1001", "1002", "1004"}
    assert set(g.edges) == {("1001", "1002"), ("1002", "1001")}
    err = capsys.readouterr().err
    assert "4 stored bond(s) left out" in err and "content" not in err
