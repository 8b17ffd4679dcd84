"""One active run per community within this operator.

Two CommunityJobs of one community running at once would buy the same week twice. Across
operators (and runs started outside Kubernetes) the store's lease per community decides —
``dwt run`` exits with a ``busy`` event when another run holds it; within one operator this
module refuses the second submission before it reaches Ray.

What the operator knows comes from two places: kopf's index of CommunityJobs that hold a
run (filled before any handler runs, so a restarted operator knows the jobs already
running), and the claims this process made since (the index follows the API server's watch,
so two jobs submitted in the same instant would both find it empty).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

ACTIVE = ("Pending", "Running")


def holds_run(status: Mapping[str, Any]) -> bool:
    """Whether a CommunityJob with this status holds its community: a run submitted (or
    between attempts) and not waiting for the community itself."""
    return (
        status.get("phase") in ACTIVE and bool(status.get("runId")) and not status.get("waitingFor")
    )


class CommunityClaims:
    """Claims of this process, by community: ``namespace/name`` of the job running it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, str] = {}

    def claim(self, community: str, job: str, indexed: Iterable[str] = ()) -> str | None:
        """Claim ``community`` for ``job`` unless another job holds it (a claim of this
        process, or ``indexed``: the jobs kopf's index says hold it); that job, or None."""
        with self._lock:
            mine = self._claims.get(community)
            if mine is not None and mine != job:
                return mine
            other = next((j for j in indexed if j != job), None)
            if other is not None:
                return other
            self._claims[community] = job
            return None

    def release(self, community: str, job: str) -> None:
        with self._lock:
            if self._claims.get(community) == job:
                del self._claims[community]
