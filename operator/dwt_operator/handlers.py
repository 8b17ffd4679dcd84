"""kopf handlers: CommunityJob → Ray job, and the job's state back into the CR's status.

* spec created/changed (or operator resumed): a one-off job submits a run for the new
  spec generation; ``suspend`` stops the running job.
* a timer polls the running job: progress and counts from its ``DWT_PROGRESS`` lines,
  the deadline, success, failure with retries (``backoffLimit``, doubling delay) and the
  schedule (``concurrencyPolicy`` Forbid or Replace).
* deletion stops the job (kopf's finalizer holds the CR until then).
* a spec the model refuses (an edit the schema let through: a time zone, a schedule that
  never fires) fails the job with the reason, and stops the Ray job the edit replaces.

Submission ids are derived, not stored first: a restarted operator computes the same id
and Ray refuses to run it twice. Every transition posts a Kubernetes Event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from dwt.pipeline.spec import CommunityJobSpec, Step
from dwt_operator import crd, entrypoint, scaling, schedule
from dwt_operator.jobs import PHASES, JobState, RayJobs
from dwt_operator.settings import OperatorSettings

log = logging.getLogger(__name__)
ACTIVE = ("Pending", "Running")
RESOURCE = (crd.GROUP, crd.VERSION, crd.PLURAL)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def kube_apis() -> dict[str, Any]:
    """kubernetes clients from the in-cluster config, else the kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return {
        "core": client.CoreV1Api(),
        "apps": client.AppsV1Api(),
        "custom": client.CustomObjectsApi(),
    }


class Reconciler:
    """The operator's decisions, separated from kopf's plumbing for testing."""

    def __init__(
        self,
        settings: OperatorSettings,
        ray: RayJobs,
        kube: dict[str, Any] | None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self.ray = ray
        self.kube = kube
        self.clock = clock

    # ---- starting runs --------------------------------------------------------------------

    def start(
        self,
        body: Any,
        spec: CommunityJobSpec,
        patch: Any,
        trigger: str,
        attempt: int = 0,
        started: datetime | None = None,
    ) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        run = entrypoint.run_id(namespace, name, trigger)
        submission = entrypoint.submission_id(run, attempt)
        now = self.clock()
        status = patch.status
        if Step.COLLECT in spec.steps and self.kube is not None:
            secret = entrypoint.keys_secret(spec, self.settings)
            try:
                keys = scaling.count_keys(self.kube["core"], namespace, secret)
            except scaling.KeysSecretError as exc:
                self._fail(body, patch, str(exc), reason=exc.reason)
                return
            workers = scaling.desired_workers(
                keys, spec.collection.workers_per_key, spec.collection.max_workers
            )
            try:
                scaling.scale_workers(self.kube, namespace, workers, self.settings)
            except scaling.ScalingError as exc:
                self._fail(body, patch, str(exc), reason=exc.reason)
                return
            status["keys"], status["workers"] = keys, workers
        command = entrypoint.command(spec, run, self.settings)
        metadata = {"communityjob": f"{namespace}/{name}", "run": run, "attempt": str(attempt)}
        submitted = self.ray.submit(submission, command, metadata)
        status.update(
            phase="Pending",
            runId=run,
            rayJobId=submission,
            attempt=attempt,
            startedAt=_iso(started or now),
            finishedAt=None,
            retryAt=None,
            counts={},
            progress={},
            # The last run's collection figures go; history keeps them.
            collectionPlan=None,
            postReads=None,
            estimatedSpend=None,
            capped=None,
            skipped=None,
            message=f"submitted Ray job {submission}",
        )
        self._condition(patch, "Running", "Submitted", f"Ray job {submission}")
        if submitted:
            kopf.info(body, reason="Submitted", message=f"Ray job {submission} ({trigger})")

    # ---- events from kopf ---------------------------------------------------------------------

    def on_spec(self, body: Any, spec: dict, status: dict, meta: dict, patch: Any) -> None:
        generation = meta.get("generation", 1)
        parsed = self.parse(body, spec, patch, replacing=status)
        if parsed is None:
            patch.status["observedGeneration"] = generation
            return
        if parsed.suspend:
            self._stop_active(body, status, "suspended")
            patch.status.update(
                phase="Suspended", message="suspended", observedGeneration=generation
            )
            return
        if status.get("phase") == "Suspended":
            patch.status["phase"] = "Pending"
        if parsed.schedule is None and status.get("observedGeneration") != generation:
            if status.get("phase") in ACTIVE and status.get("rayJobId"):
                self._stop_active(body, status, "replaced by a new spec")
            self.start(body, parsed, patch, entrypoint.generation_trigger(generation))
        elif parsed.schedule is not None and not status.get("phase"):
            patch.status.update(phase="Pending", message=f"waiting for {parsed.schedule}")
        patch.status["observedGeneration"] = generation

    def on_timer(self, body: Any, spec: dict, status: dict, patch: Any) -> None:
        parsed = self.parse(body, spec, patch, quiet=True)
        if parsed is None:
            return
        if parsed.suspend:
            # Also here, not only in on_spec: a tick that read the body just before the
            # spec changed may have written "Running" after on_spec wrote "Suspended".
            if status.get("phase") != "Suspended":
                self._stop_active(body, status, "suspended")
                patch.status.update(phase="Suspended", message="suspended")
            return
        now = self.clock()
        if status.get("phase") in ACTIVE and status.get("rayJobId") and not status.get("retryAt"):
            self._follow(body, parsed, status, patch, now)
        elif status.get("retryAt") and now >= _parse_time(status["retryAt"]):
            run_trigger = status["runId"].rsplit("-", 1)[-1]
            self.start(
                body,
                parsed,
                patch,
                run_trigger,
                attempt=status.get("attempt", 0) + 1,
                started=_parse_time(status.get("startedAt")),
            )
        if parsed.schedule is not None:
            self._schedule(body, parsed, status, patch, now)

    def on_delete(self, body: Any, status: dict) -> None:
        self._stop_active(body, status, "CommunityJob deleted")

    # ---- following a running job ----------------------------------------------------------

    def _follow(
        self, body: Any, spec: CommunityJobSpec, status: dict, patch: Any, now: datetime
    ) -> None:
        job = self.ray.state(status["rayJobId"])
        started = _parse_time(status.get("startedAt")) or now
        deadline = spec.active_deadline_seconds
        if deadline and not job.terminal and now - started > timedelta(seconds=deadline):
            self.ray.stop(job.submission_id)
            self._finish(
                body,
                spec,
                status,
                patch,
                job,
                "Failed",
                f"deadline of {deadline}s exceeded",
                reason="DeadlineExceeded",
            )
            return
        patch.status.update(counts=job.counts, progress=job.progress, **job.collection)
        if not job.terminal:
            phase = PHASES.get(job.state, "Running")
            if phase != status.get("phase"):
                patch.status["phase"] = phase
                self._condition(patch, "Running", "Started", f"Ray job {job.submission_id}")
            return
        if job.capped is not None:  # stopped at a cap: no retry would help (dwt.collect.budget)
            self._finish(body, spec, status, patch, job, "Capped", job.capped, reason="Capped")
            return
        if job.state == "SUCCEEDED":
            self._finish(body, spec, status, patch, job, "Succeeded", "run succeeded")
            return
        attempt = status.get("attempt", 0)
        message = (job.message or job.state) + (f"\n{job.log_tail}" if job.log_tail else "")
        if attempt < spec.backoff_limit:
            delay = self.settings.retry_backoff * 2**attempt
            patch.status.update(
                phase="Pending",
                retryAt=_iso(now + timedelta(seconds=delay)),
                message=f"attempt {attempt + 1} failed, retry in {delay:.0f}s: {message[-1500:]}",
            )
            kopf.warn(
                body, reason="Retrying", message=f"attempt {attempt + 1} failed: {job.message}"
            )
            return
        self._finish(body, spec, status, patch, job, "Failed", message[-3000:], reason="Failed")

    def _finish(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: dict,
        patch: Any,
        job: JobState,
        phase: str,
        message: str,
        reason: str = "Succeeded",
    ) -> None:
        now = self.clock()
        record = {
            "runId": status.get("runId"),
            "rayJobId": job.submission_id,
            "phase": phase,
            "startedAt": status.get("startedAt"),
            "finishedAt": _iso(now),
            "counts": job.counts,
            "message": message[:500],
        }
        for name in ("postReads", "estimatedSpend", "capped"):
            if name in job.collection:
                record[name] = job.collection[name]
        history = [record, *list(status.get("history") or [])][: spec.history_limit]
        patch.status.update(
            phase=phase,
            finishedAt=_iso(now),
            message=message,
            counts=job.counts,
            progress=job.progress,
            history=history,
            retryAt=None,
            **job.collection,
        )
        self._condition(patch, phase, reason, message[:500])
        (kopf.info if phase == "Succeeded" else kopf.warn)(
            body, reason=reason, message=f"Ray job {job.submission_id}: {message[:300]}"
        )

    # ---- schedules ------------------------------------------------------------------------

    def _schedule(
        self, body: Any, spec: CommunityJobSpec, status: dict, patch: Any, now: datetime
    ) -> None:
        last = (
            _parse_time(status.get("lastScheduleTime"))
            or _parse_time(body["metadata"].get("creationTimestamp"))
            or now
        )
        fire = schedule.due(spec.schedule, spec.time_zone, last, now)
        if fire is None:
            return
        patch.status["lastScheduleTime"] = _iso(fire)
        running = status.get("phase") in ACTIVE and status.get("rayJobId")
        if running and spec.concurrency_policy == "Forbid":
            kopf.info(body, reason="Skipped", message=f"{_iso(fire)}: previous run still running")
            return
        if running:
            self._stop_active(body, status, f"replaced by the run of {_iso(fire)}")
        self.start(body, spec, patch, entrypoint.schedule_trigger(fire))

    # ---- helpers --------------------------------------------------------------------------

    def parse(
        self,
        body: Any,
        spec: dict,
        patch: Any,
        quiet: bool = False,
        replacing: dict | None = None,
    ) -> CommunityJobSpec | None:
        """The spec, or None once the job is Failed for it. ``replacing``: the status of
        the run the new spec replaces; a run still going is stopped (it ran the previous
        spec, and nothing would follow it any more)."""
        try:
            return CommunityJobSpec.model_validate(dict(spec))
        except ValidationError as exc:
            if quiet:
                return None
            message = f"invalid spec: {exc}"
            running = replacing or {}
            if (
                running.get("phase") in ACTIVE
                and running.get("rayJobId")
                and not running.get("retryAt")
            ):
                self._stop_active(body, running, "replaced by an invalid spec")
                message = (
                    f"stopped Ray job {running['rayJobId']} (it ran the previous spec); " + message
                )
            self._fail(body, patch, message, reason="InvalidSpec")
            return None

    def _stop_active(self, body: Any, status: dict, why: str) -> None:
        if status.get("phase") in ACTIVE and status.get("rayJobId"):
            self.ray.stop(status["rayJobId"])
            kopf.info(body, reason="Stopped", message=f"Ray job {status['rayJobId']}: {why}")

    def _fail(self, body: Any, patch: Any, message: str, reason: str) -> None:
        # No retryAt left behind: a pending retry would start again on every tick.
        patch.status.update(phase="Failed", message=message, retryAt=None)
        self._condition(patch, "Failed", reason, message[:500])
        kopf.warn(body, reason=reason, message=message[:500])

    def _condition(self, patch: Any, kind: str, reason: str, message: str) -> None:
        patch.status["conditions"] = [
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": _iso(self.clock()),
            }
        ]


def operator_registry() -> kopf.OperatorRegistry:
    """A fresh registry that logs in as ``kopf run`` does. ``kopf.run(registry=...)`` only
    runs that registry's login handlers, and a bare ``kopf.OperatorRegistry()`` has none
    (kopf's default registry adds them): the operator died with "Ran out of valid
    credentials". With the ``kubernetes`` client installed (a dependency: the reconciler
    uses it) kopf's default login is ``login_via_client``: the in-cluster ServiceAccount
    token, else the kubeconfig. Its failure is ignored, as kopf does, so kopf says what
    it could not find."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry, id="login_via_client", errors=kopf.ErrorsMode.IGNORED)(
        kopf.login_via_client
    )
    return registry


def build_registry(
    settings: OperatorSettings | None = None,
    ray: RayJobs | None = None,
    kube: Callable[[], dict[str, Any] | None] = kube_apis,
    registry: kopf.OperatorRegistry | None = None,
) -> kopf.OperatorRegistry:
    """The CommunityJob handlers in ``registry``: by default a fresh one with kopf's logins
    (:func:`operator_registry`); tests pass one per operator, with their own login."""
    settings = settings or OperatorSettings()
    registry = registry or operator_registry()
    state: dict[str, Reconciler] = {}

    def reconciler() -> Reconciler:
        if "r" not in state:
            jobs = ray or RayJobs(settings.ray_address, settings.ray_auth_token_file)
            state["r"] = Reconciler(settings, jobs, kube())
        return state["r"]

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 60

    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    @kopf.on.resume(*RESOURCE, registry=registry)
    def spec_changed(body: Any, spec: Any, status: Any, meta: Any, patch: Any, **_: Any) -> None:
        reconciler().on_spec(body, spec, status, meta, patch)

    @kopf.timer(*RESOURCE, interval=settings.poll_interval, registry=registry)
    def poll(body: Any, spec: Any, status: Any, patch: Any, **_: Any) -> None:
        reconciler().on_timer(body, spec, status, patch)

    @kopf.on.delete(*RESOURCE, registry=registry)
    def deleted(body: Any, status: Any, **_: Any) -> None:
        reconciler().on_delete(body, status)

    return registry
