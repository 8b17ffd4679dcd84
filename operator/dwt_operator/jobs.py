"""The Ray Jobs API, as the operator uses it: idempotent submit, state with progress, stop.

Progress and counts come from the job itself: ``dwt run --progress`` prints structured
``DWT_PROGRESS`` lines, read here from the job's logs. The operator needs no database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dwt.pipeline.progress import parse_progress_line

log = logging.getLogger(__name__)

#: Ray job states → CommunityJob phases.
PHASES = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "SUCCEEDED": "Succeeded",
    "FAILED": "Failed",
    "STOPPED": "Failed",
}
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


@dataclass
class JobState:
    """What a Ray job is doing, with what its progress lines said."""

    submission_id: str
    state: str
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    log_tail: str = ""
    collection: dict[str, Any] = field(default_factory=dict)  # see read_collection

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def capped(self) -> str | None:
        """Why a finished run stopped at a cap (its own or X's), or None: such a run is
        neither a success nor a failure a retry could mend (``dwt run`` exits 3)."""
        if not self.terminal or not self.collection.get("capped"):
            return None
        left = ", ".join(f"{e} {n}" for e, n in (self.collection.get("skipped") or {}).items())
        reason = self.collection.get("capReason") or "a cap"
        return f"stopped at {reason}; skipped: {left or 'nothing'}; the next run resumes"


def read_progress(logs: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Counts (from step and summary events) and per-step progress from job logs."""
    counts: dict[str, int] = {}
    steps: dict[str, Any] = {}
    for line in logs.splitlines():
        event = parse_progress_line(line)
        if event is None:
            continue
        step = event.get("step")
        if event.get("event") == "summary":
            counts.update(event.get("counts") or {})
        elif event.get("event") == "step" and step:
            steps.setdefault(step, {})["state"] = event.get("state")
            counts.update(event.get("counts") or {})
        elif event.get("event") == "progress" and step:
            steps.setdefault(step, {}).update(
                {
                    k: event[k]
                    for k in ("done", "total", "tweets", "waiting_s", "eta_s")
                    if k in event
                }
            )
    return {k: int(v) for k, v in counts.items() if isinstance(v, int | float)}, steps


def read_collection(logs: str) -> dict[str, Any]:
    """The collect step's plan and spend, from its progress lines, as status fields:
    ``collectionPlan`` (made before the first request: requests, what binds, the itemised
    estimate, warnings), and once the step is done what X billed — ``postReads``,
    ``followingAccounts``, ``userLookups``, ``estimatedSpend`` (USD, every charge) and
    ``spendByKind`` — the month (``monthSpent``, ``monthForecast``), ``capped``,
    ``capReason`` and ``skipped`` (accounts left per endpoint at the cap). Empty when the
    job did not collect."""
    plan: dict[str, Any] | None = None
    spend: dict[str, Any] | None = None
    for line in logs.splitlines():
        event = parse_progress_line(line)
        if event is None or event.get("event") != "progress" or event.get("step") != "collect":
            continue
        if isinstance(event.get("plan"), dict):
            plan = event["plan"]
        if isinstance(event.get("spend"), dict):
            spend = event["spend"]
    status: dict[str, Any] = {}
    if plan is not None:
        status["collectionPlan"] = {
            "accounts": int(plan.get("accounts") or 0),
            "keys": int(plan.get("keys") or 0),
            "requests": {k: int(v) for k, v in (plan.get("requests") or {}).items()},
            "bindingEndpoint": plan.get("binding_endpoint") or "",
            "durationSeconds": float(plan.get("duration_s") or 0.0),
            "postReads": int(plan.get("post_reads") or 0),
            "followingAccounts": int(plan.get("following_accounts") or 0),
            "userLookups": int(plan.get("user_lookups") or 0),
            "costUsd": float(plan.get("cost_usd") or 0.0),
            "bound": str(plan.get("bound") or ""),
            "warnings": [str(w) for w in plan.get("warnings") or []],
        }
    if spend is not None:
        usd = (spend.get("charges") or {}).get("usd") or {}
        month = spend.get("month") or {}
        status.update(
            postReads=int(spend.get("post_reads") or 0),
            followingAccounts=int(spend.get("following_accounts") or 0),
            userLookups=int(spend.get("user_lookups") or 0),
            estimatedSpend=float(spend.get("estimated_spend_usd") or 0.0),
            spendByKind={_camel(k): float(v) for k, v in usd.items() if k != "total"},
            monthSpent=float(month.get("spent_usd") or 0.0),
            monthForecast=float(month.get("forecast_usd") or 0.0),
            capped=bool(spend.get("capped")),
            capReason=str(spend.get("cap_reason") or ""),
            skipped={k: int(v) for k, v in (spend.get("skipped") or {}).items()},
        )
    return status


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RayJobs:
    """Thin wrapper over ``ray.job_submission.JobSubmissionClient``."""

    def __init__(self, address: str, token_file: str | None = None) -> None:
        from ray.job_submission import JobSubmissionClient

        headers = {}
        if token_file:
            headers["Authorization"] = f"Bearer {Path(token_file).read_text().strip()}"
        self.client = JobSubmissionClient(address, headers=headers or None)

    def submit(self, submission_id: str, entrypoint: str, metadata: dict[str, str]) -> bool:
        """Submit unless a job with this id exists; True if this call submitted it."""
        if self.exists(submission_id):
            return False
        try:
            self.client.submit_job(
                entrypoint=entrypoint, submission_id=submission_id, metadata=metadata
            )
        except RuntimeError as exc:
            if "already exists" in str(exc) or self.exists(submission_id):
                return False  # a concurrent or earlier submission won
            raise
        return True

    def exists(self, submission_id: str) -> bool:
        try:
            self.client.get_job_info(submission_id)
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return False
            raise
        return True

    def state(self, submission_id: str) -> JobState:
        info = self.client.get_job_info(submission_id)
        logs = self.client.get_job_logs(submission_id)
        counts, progress = read_progress(logs)
        status = getattr(info.status, "value", str(info.status))
        tail = "\n".join(
            line for line in logs.splitlines()[-15:] if not line.startswith("DWT_PROGRESS")
        )
        return JobState(
            submission_id, status, info.message or "", counts, progress, tail, read_collection(logs)
        )

    def stop(self, submission_id: str) -> bool:
        try:
            return bool(self.client.stop_job(submission_id))
        except RuntimeError as exc:
            log.warning("stopping %s: %s", submission_id, exc)
            return False
