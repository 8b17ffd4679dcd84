"""The Ray Jobs API, as the operator uses it: idempotent submit, state with progress, stop.

Progress and counts come from the job itself: ``dwt run --progress`` prints structured
``DWT_PROGRESS`` lines, read here from the job's logs. The operator needs no database.

Two failures are told apart, because the operator answers them differently:

* :class:`RayUnavailable` — Ray did not answer (connection refused, a timeout, a 5xx, a
  refused token). Every request has a timeout: Ray's SDK sends none, and a head that stopped
  answering would hold the operator's handler forever.
* a *lost* job — Ray answers, but has no job with that id (404): the head was replaced (a
  new head starts empty; drivers run on the head, so an OOM kill does it) or the job's
  record is gone. :meth:`RayJobs.state` reports it as the terminal state ``LOST``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
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
LOST = "LOST"
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED", LOST}
#: Exit status of a ``dwt run`` that found its community's store lease held by another run
#: (EX_TEMPFAIL); it prints a ``busy`` progress event first.
BUSY_EXIT = 75
REQUEST_TIMEOUT = 30.0


class RayUnavailable(Exception):
    """Ray's Jobs API did not answer, or refused the operator (not a missing job)."""


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
    busy: dict[str, Any] | None = None  # see read_busy
    driver_node: str | None = None  # the Ray node id the driver runs on, once placed

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


def read_busy(logs: str) -> dict[str, Any] | None:
    """The driver's ``busy`` event (``community``, ``holder``: the run holding the
    community's store lease, ``message``), or None: ``dwt run`` prints it, then exits with
    :data:`BUSY_EXIT`, when another run holds the lease."""
    for line in reversed(logs.splitlines()):
        event = parse_progress_line(line)
        if event is not None and event.get("event") == "busy":
            return {
                "community": str(event.get("community") or ""),
                "holder": str(event.get("holder") or ""),
                "message": str(event.get("message") or ""),
            }
    return None


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


def _status_code(exc: Exception) -> int | None:
    """The HTTP status of a Jobs SDK error (it raises ``RuntimeError("Request failed with
    status code N: ...")``)."""
    match = re.search(r"status code (\d{3})", str(exc))
    return int(match.group(1)) if match else None


@contextmanager
def _answering(what: str) -> Iterator[None]:
    """Turn every way Ray can fail to answer into :class:`RayUnavailable`; a 404 (and any
    other 4xx: the request's fault, not Ray's) stays a ``RuntimeError``."""
    import requests
    from ray.exceptions import AuthenticationError

    try:
        yield
    except (requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise RayUnavailable(f"{what}: {type(exc).__name__}: {exc}") from None
    except AuthenticationError as exc:
        raise RayUnavailable(f"{what}: Ray refused the operator's token: {exc}") from None
    except RuntimeError as exc:
        code = _status_code(exc)
        if code is not None and code >= 500:
            raise RayUnavailable(f"{what}: {exc}") from None
        raise


def _client_class(request_timeout: float) -> type:
    from ray.job_submission import JobSubmissionClient

    class BoundedClient(JobSubmissionClient):
        """Ray's client with a timeout on every request (the SDK sends none)."""

        timeout = request_timeout

        def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self.timeout)
            return super()._do_request(method, endpoint, **kwargs)

    return BoundedClient


class RayJobs:
    """Thin wrapper over ``ray.job_submission.JobSubmissionClient``.

    The client is made on first use, not here (Ray's client asks the head for its version
    when made): an operator that starts while Ray is down reports Ray unreachable in each
    job's status instead of failing every handler."""

    def __init__(
        self, address: str, token_file: str | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> None:
        self.address = address
        self.token_file = token_file
        self.timeout = timeout
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            headers = {}
            if self.token_file:
                headers["Authorization"] = f"Bearer {Path(self.token_file).read_text().strip()}"
            with _answering(f"Ray at {self.address}"):
                client = _client_class(self.timeout)
                self._client = client(self.address, headers=headers or None)
        return self._client

    def version(self) -> str:
        """Ray's version, as the head answers it (the readiness probe asks)."""
        with _answering(f"Ray at {self.address}"):
            return str(self.client.get_version())

    def submit(
        self,
        submission_id: str,
        entrypoint: str,
        metadata: dict[str, str],
        cpus: float | None = None,
        memory: int | None = None,
    ) -> bool:
        """Submit unless a job with this id exists; True if this call submitted it. A
        submission whose answer was lost (a timeout) is found by the next call's check.
        ``cpus`` and ``memory`` (bytes) are what Ray reserves for the driver on the node it
        places it on (a job no node has room for stays PENDING until Ray's start timeout,
        ``RAY_JOB_START_TIMEOUT_SECONDS``, fails it)."""
        if self.exists(submission_id):
            return False
        with _answering(f"submitting Ray job {submission_id}"):
            try:
                self.client.submit_job(
                    entrypoint=entrypoint,
                    submission_id=submission_id,
                    metadata=metadata,
                    entrypoint_num_cpus=cpus,
                    entrypoint_memory=memory,
                )
            except RuntimeError as exc:
                if "already exists" in str(exc) or self.exists(submission_id):
                    return False  # a concurrent or earlier submission won
                raise
        return True

    def exists(self, submission_id: str) -> bool:
        with _answering(f"reading Ray job {submission_id}"):
            try:
                self.client.get_job_info(submission_id)
            except RuntimeError as exc:
                if _status_code(exc) == 404 or "does not exist" in str(exc):
                    return False
                raise
        return True

    def state(self, submission_id: str) -> JobState:
        """The job's state, progress and counts; state ``LOST`` when Ray has no such job."""
        with _answering(f"reading Ray job {submission_id}"):
            try:
                info = self.client.get_job_info(submission_id)
                logs = self.client.get_job_logs(submission_id)
            except RuntimeError as exc:
                if _status_code(exc) != 404:
                    raise
                return JobState(
                    submission_id,
                    LOST,
                    f"Ray at {self.address} has no job {submission_id} (404): the Ray head "
                    "was replaced, or the job's record is gone",
                )
        counts, progress = read_progress(logs)
        status = getattr(info.status, "value", str(info.status))
        tail = "\n".join(
            line for line in logs.splitlines()[-15:] if not line.startswith("DWT_PROGRESS")
        )
        busy = read_busy(logs) if status == "FAILED" else None
        return JobState(
            submission_id,
            status,
            info.message or "",
            counts,
            progress,
            tail,
            read_collection(logs),
            busy,
            getattr(info, "driver_node_id", None) or None,
        )

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; False when it had ended or Ray has no such job. Raises
        :class:`RayUnavailable` when Ray does not answer: the caller says so."""
        with _answering(f"stopping Ray job {submission_id}"):
            try:
                return bool(self.client.stop_job(submission_id))
            except RuntimeError as exc:
                if _status_code(exc) == 404:
                    return False
                raise
