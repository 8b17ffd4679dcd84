"""Reading a community's results the way the product shows them: through the week its
last complete run published (dwt.store.weeks), never a half-written run's."""

from __future__ import annotations

from typing import Any

from dwt.store import Coll, Store

#: What the cluster step keeps per member (in ``placements``).
PLACED = ("cluster", "flow", "bond_stats", "x", "y", "run_id")


def shown(store: Store, coll: Coll, community: str, **match: Any) -> list[dict[str, Any]]:
    """The community's results in ``coll`` that are shown (and match ``match``)."""
    return list(store[coll].find(store.shown(coll, community, **match)))


def shown_one(store: Store, coll: Coll, community: str, **match: Any) -> dict[str, Any] | None:
    return store[coll].find_one(store.shown(coll, community, **match))


def shown_members(store: Store, community: str) -> dict[str, dict[str, Any]]:
    """Each member's document with its results of the week shown: ``activity`` (bonds),
    and ``cluster``, ``flow``, ``bond_stats``, ``x``, ``y`` (placements)."""
    members = {m["account_id"]: dict(m) for m in store[Coll.MEMBERS].find({"community": community})}
    for placed in shown(store, Coll.PLACEMENTS, community):
        if placed["account_id"] in members:
            members[placed["account_id"]].update({k: placed[k] for k in PLACED if k in placed})
    for bonds in shown(store, Coll.BONDS, community):
        if bonds["source_id"] in members:
            members[bonds["source_id"]]["activity"] = bonds.get("activity")
    return members
