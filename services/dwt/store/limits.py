"""What X's headers said each API key may send: limits learned per key and endpoint.

X's table (:mod:`dwt.xapi.endpoints`) is what a pay-per-use app gets; a legacy plan, an
Enterprise contract or a change at X gives other numbers, and every answer says the real
one (``x-rate-limit-limit``). The collector keeps the latest per key (by fingerprint, never
the key) and endpoint, so the next plan can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from dwt.store.schema import Coll
from dwt.store.store import Store


def put_learned_limits(
    store: Store, limits: Mapping[str, Mapping[str, int]], now: datetime
) -> None:
    """Keep ``{key fingerprint: {endpoint: limit}}`` as the latest each key reported."""
    docs = [
        {"_id": f"{key}/{endpoint}", "key": key, "endpoint": endpoint, "limit": int(limit),
         "seen_at": now}
        for key, endpoints in limits.items()
        for endpoint, limit in endpoints.items()
        if limit and limit > 0
    ]  # fmt: skip
    if docs:
        store.upsert(Coll.API_LIMITS, docs)


def learned_limits(store: Store, keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{key fingerprint: {endpoint: limit}}`` for the given keys, where one was learned."""
    found: dict[str, dict[str, int]] = {}
    for doc in store[Coll.API_LIMITS].find({"key": {"$in": list(keys)}}):
        found.setdefault(doc["key"], {})[doc["endpoint"]] = int(doc["limit"])
    return found
