"""Which accounts a run collects, and the worker slots over the keys.

Below both the collection step (:mod:`dwt.pipeline.collection`) and its plan
(:mod:`dwt.pipeline.estimate`), which ask the same questions.
"""

from __future__ import annotations

import pyarrow.compute as pc

from dwt.collect.state import never_collected
from dwt.pipeline.insights import Week


class ScopeError(ValueError):
    """A listed account is not a member of the community."""


def slots(key_ids: list[str], workers_per_key: int, max_workers: int) -> list[str]:
    """Worker slots, round-robin over keys, so a cap keeps every key busy."""
    return [k for _ in range(workers_per_key) for k in key_ids][:max_workers]


def accounts_in_scope(week: Week) -> list[str]:
    spec = week.spec.members
    members = week.member_table
    ids = members.column("account_id").to_pylist()
    if spec.scope == "all":
        return ids
    if spec.scope == "new":
        return never_collected(week.store, ids)
    by_name = dict(zip(pc.utf8_lower(members.column("username")).to_pylist(), ids, strict=True))
    wanted, unknown = [], []
    for account in spec.accounts:
        account_id = account if account in set(ids) else by_name.get(account.lstrip("@").lower())
        (wanted if account_id else unknown).append(account_id or account)
    if unknown:
        raise ScopeError(f"not members of {week.spec.community!r}: {', '.join(unknown)}")
    return list(dict.fromkeys(wanted))
