"""A CommunityJob's ``status.conditions``: one entry per type, each True/False/Unknown.

Types: ``Running`` (a run is submitted and not finished), ``Complete`` (the last run
succeeded), ``Failed`` (the last run, or the spec, failed), ``Suspended``. A type's
``lastTransitionTime`` moves only when its ``status`` changes; ``reason`` and ``message``
follow the latest update (as ``kubectl wait --for=condition=Complete`` and Kubernetes'
own controllers expect).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TYPES = ("Running", "Complete", "Failed", "Suspended")
MESSAGE_LIMIT = 500


def updated(
    current: list[Mapping[str, Any]] | None,
    now: str,
    changes: Mapping[str, tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """``current`` with ``changes`` ({type: (status, reason, message)}) applied, in
    :data:`TYPES` order; types never set stay absent."""
    by_type = {c["type"]: dict(c) for c in current or [] if c.get("type") in TYPES}
    for kind, (value, reason, message) in changes.items():
        if kind not in TYPES:
            raise ValueError(f"unknown condition type {kind!r}")
        old = by_type.get(kind)
        moved = old is None or old.get("status") != value
        by_type[kind] = {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message[:MESSAGE_LIMIT],
            "lastTransitionTime": now if moved else old.get("lastTransitionTime", now),
        }
    return [by_type[k] for k in TYPES if k in by_type]


def status_of(conditions: list[Mapping[str, Any]] | None, kind: str) -> str | None:
    """The ``status`` of the condition ``kind`` ("True", "False", "Unknown"), None if unset."""
    return next((c.get("status") for c in conditions or [] if c.get("type") == kind), None)
