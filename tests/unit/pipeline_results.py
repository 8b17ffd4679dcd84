"""What an insight run left in the store, comparable across stores and runs."""

from __future__ import annotations

from typing import Any

from dwt.export.reads import conversations
from dwt.store import Coll, Store


def results(store: Store, run_id: str, community: str) -> dict[str, Any]:
    """Everything the run ``run_id`` left for ``community``, without run and document ids:
    candidates, bonds, members (clusters, placements, stats), clusters, conversation
    documents, every conversation (the columnar table) and topics."""

    def docs(coll: Coll, key: tuple[str, ...]) -> list[dict[str, Any]]:
        found = [
            {k: v for k, v in d.items() if k not in ("_id", "run_id", "added_at")}
            for d in store[coll].find({"community": community})
        ]
        return sorted(found, key=lambda d: tuple(d[k] for k in key))

    assert store[Coll.RUNS].find_one({"_id": run_id})["status"] == "succeeded"
    return {
        "candidates": docs(Coll.CANDIDATES, ("account_id",)),
        "bonds": docs(Coll.BONDS, ("source_id",)),
        "members": docs(Coll.MEMBERS, ("account_id",)),
        "clusters": docs(Coll.CLUSTERS, ("cluster",)),
        "conversation_docs": docs(Coll.CONVERSATIONS, ("cluster", "tier", "rank")),
        "conversations": conversations(store, community).drop_columns(["run_id"]).to_pylist(),
        "topics": docs(Coll.TOPICS, ("cluster", "tier", "rank")),
    }
