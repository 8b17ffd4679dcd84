"""kopf handlers: CommunityJob → Ray job, and the job's state back into the CR's status.

* spec created/changed (or operator resumed): a one-off job submits a run for the new
  spec generation until its run has finished — after that, edits and suspend/resume start
  nothing, and a new value of the annotation ``discoverweekly.io/rerun`` runs it once more;
  ``suspend`` stops the running job.
* a timer polls the running job: progress and counts from its ``DWT_PROGRESS`` lines,
  the deadline, success, failure with retries (``backoffLimit``, doubling delay) and the
  schedule (``concurrencyPolicy`` Forbid or Replace). A job Ray no longer knows (404: the
  head was replaced) is a failed attempt; Ray unreachable is tried again with a growing
  delay and fails the attempt after ``ray_unreachable_limit``; a run whose community is
  busy (another run holds it) waits and is resubmitted, which is not an attempt. The
  deadline counts through all of these.
* deletion stops the job (kopf's finalizer holds the CR until then); when Ray does not
  answer, a Warning Event says so and the deletion goes on.
* a spec the model refuses (an edit the schema let through: a time zone, a schedule that
  never fires) fails the job with the reason, and stops the Ray job the edit replaces.
* probes (``/healthz``): the Kubernetes API lets the operator list CommunityJobs, and
  Ray's Jobs API answers.

Submission ids are derived, not stored first: a restarted operator computes the same id
and Ray refuses to run it twice. Every transition posts a Kubernetes Event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from dwt.pipeline import schedule
from dwt.pipeline.spec import CommunityJobSpec, Step
from dwt_operator import conditions, crd, entrypoint, scaling
from dwt_operator.communities import ACTIVE, CommunityClaims, holds_run
from dwt_operator.jobs import LOST, PHASES, JobState, RayJobs, RayUnavailable
from dwt_operator.settings import OperatorSettings

log = logging.getLogger(__name__)
RESOURCE = (crd.GROUP, crd.VERSION, crd.PLURAL)
RERUN_ANNOTATION = f"{crd.GROUP}/rerun"
PROBE_TIMEOUT = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


def _driver_words(driver: Mapping[str, float]) -> str:
    """``1 CPU and 512 MiB``: what the driver reserves, for a person reading the status."""
    cpus = f"{driver['cpus']:g} CPU" + ("" if driver["cpus"] == 1 else "s")
    return f"{cpus} and {driver['memory'] / 2**20:.0f} MiB"


def _gist(message: str, limit: int = 600) -> str:
    """The line of a failure that says why, for an event: Ray's sentence opens with its
    own words and the driver's logs, and the run's own sentence (``dwt …: …``) is last."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("dwt ")]
    line = (ours or lines or [""])[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
    """The operator's decisions, separated from kopf's plumbing for testing.

    Handlers receive the status as the API server last had it and write into
    ``patch.status``; where a later step of the same call must see an earlier one's
    writes (a run finished, then the schedule), it reads :func:`_current`."""

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
        self.claims = CommunityClaims()

    # ---- starting runs --------------------------------------------------------------------

    def start(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        trigger: str,
        attempt: int = 0,
        waits: int = 0,
        started: datetime | None = None,
        holders: Iterable[str] = (),
    ) -> None:
        """Submit attempt ``attempt`` of the run for ``trigger``, unless another job of this
        operator runs the community (then wait for it, in status)."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        job = f"{namespace}/{name}"
        run = entrypoint.run_id(namespace, name, trigger)
        submission = entrypoint.submission_id(run, attempt, waits)
        now = self.clock()
        out = patch.status
        out.update(
            runId=run,
            attempt=attempt,
            waits=waits,
            startedAt=_iso(started or now),
            finishedAt=None,
            retryAt=None,
            waitingFor=None,
        )
        holder = self.claims.claim(spec.community, job, holders)
        if holder is not None:
            message = (
                f"community {spec.community} is being run by CommunityJob {holder}; this run "
                f"waits for it (checked again every {self.settings.busy_retry:.0f}s)"
            )
            self._wait_for_community(body, status, patch, now, f"CommunityJob {holder}", message)
            return
        scales = Step.COLLECT in spec.steps and self.kube is not None
        if scales and not self._scale_for_keys(body, spec, status, patch):
            self.claims.release(spec.community, job)
            return
        command = entrypoint.command(spec, run, self.settings)
        metadata = {"communityjob": job, "run": run, "attempt": str(attempt)}
        driver = entrypoint.driver_resources(spec, status)
        out.update(
            phase="Pending",
            rayJobId=submission,
            counts={},
            progress={},
            # The last run's collection figures go; history keeps them.
            collectionPlan=None,
            postReads=None,
            estimatedSpend=None,
            capped=None,
            skipped=None,
            followingAccounts=None,
            userLookups=None,
            spendByKind=None,
            monthSpent=None,
            monthForecast=None,
            capReason=None,
            driverNode=None,
        )
        try:
            submitted = self.ray.submit(submission, command, metadata, **driver)
        except RayUnavailable as exc:
            # Not submitted (or its answer was lost: the retry's check finds it): the same
            # id is tried again, and the attempt fails once Ray stays away too long.
            self._ray_unreachable(body, spec, _current(status, patch), patch, now, exc, retry=True)
            return
        out.update(
            message=f"submitted Ray job {submission}: its driver reserves {_driver_words(driver)} "
            "on the Ray worker that has them free",
            rayUnreachableSince=None,
        )
        self._conditions(
            status,
            patch,
            Running=("True", "Submitted", f"Ray job {submission}"),
            Complete=("False", "RunInProgress", f"run {run}"),
            Failed=("False", "RunInProgress", f"run {run}"),
            Suspended=("False", "NotSuspended", ""),
        )
        if submitted:
            kopf.info(body, reason="Submitted", message=f"Ray job {submission} ({trigger})")

    def _scale_for_keys(
        self, body: Any, spec: CommunityJobSpec, status: Mapping[str, Any], patch: Any
    ) -> bool:
        """Count the keys and scale the workers, both in the Ray cluster's namespace (its
        pods mount the Secret; the job's namespace may be any other); False once the job
        failed for it."""
        assert self.kube is not None
        where = self.settings.ray_namespace
        secret = entrypoint.keys_secret(spec, self.settings)
        try:
            keys = scaling.count_keys(self.kube["core"], where, secret)
            workers = scaling.desired_workers(
                keys, spec.collection.workers_per_key, spec.collection.max_workers
            )
            scaling.scale_workers(self.kube, where, workers, self.settings)
        except (scaling.KeysSecretError, scaling.ScalingError) as exc:
            self._fail(body, status, patch, str(exc), reason=exc.reason)
            return False
        patch.status.update(keys=keys, workers=workers)
        return True

    # ---- events from kopf ---------------------------------------------------------------------

    def on_spec(
        self,
        body: Any,
        spec: dict,
        status: dict,
        meta: dict,
        patch: Any,
        holders: Iterable[str] = (),
    ) -> None:
        """A new spec (or the operator resumed). A one-off job runs for a new spec
        generation until its run has finished; after that only the rerun annotation
        starts one (see :func:`finished_one_off`)."""
        generation = meta.get("generation", 1)
        parsed = self.parse(body, spec, status, patch, replacing=status)
        if parsed is None:
            patch.status["observedGeneration"] = generation
            return
        if parsed.suspend:
            self._suspend(body, parsed, status, patch)
            patch.status["observedGeneration"] = generation
            return
        resumed = status.get("phase") == "Suspended"
        if resumed:
            self._conditions(status, patch, Suspended=("False", "Resumed", "spec.suspend is false"))
            patch.status.update(phase=_settled_phase(status), message="resumed")
        started = False
        if parsed.schedule is None:
            if finished_one_off(status):
                if status.get("observedGeneration") != generation or resumed:
                    patch.status["message"] = (
                        f"run {status.get('runId')} finished; a one-off job runs once: set the "
                        f"annotation {RERUN_ANNOTATION} to a new value to run it again"
                    )
            elif status.get("observedGeneration") != generation:
                if _in_flight(status):
                    self._stop_active(body, status, patch, "replaced by a new spec")
                patch.status["rerunToken"] = _rerun_token(body)  # this run answers it too
                self.start(
                    body,
                    parsed,
                    status,
                    patch,
                    entrypoint.generation_trigger(generation),
                    holders=holders,
                )
                started = True
        elif not status.get("phase"):
            patch.status.update(phase="Pending", message=f"waiting for {parsed.schedule}")
        if not started:
            self._rerun(body, parsed, _current(status, patch), patch, holders)
        patch.status["observedGeneration"] = generation

    def on_timer(
        self,
        body: Any,
        spec: dict,
        status: dict,
        patch: Any,
        holders: Iterable[str] = (),
    ) -> None:
        parsed = self.parse(body, spec, status, patch, quiet=True)
        if parsed is None:
            return
        job = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        if not holds_run(status):
            self.claims.release(parsed.community, job)
        self._stop_leftovers(status, patch)
        if parsed.suspend:
            # Also here, not only in on_spec: a tick that read the body just before the
            # spec changed may have written "Running" after on_spec wrote "Suspended".
            self._suspend(body, parsed, status, patch)
            return
        now = self.clock()
        if _in_flight(status):
            self._follow(body, parsed, status, patch, now)
        elif status.get("phase") in ACTIVE and status.get("retryAt"):
            if self._past_deadline(parsed, status, now):
                self._deadline(body, parsed, status, patch, None)
            elif now >= _parse_time(status["retryAt"]):
                self.start(
                    body,
                    parsed,
                    status,
                    patch,
                    status["runId"].rsplit("-", 1)[-1],
                    attempt=status.get("attempt", 0),
                    waits=status.get("waits", 0),
                    started=_parse_time(status.get("startedAt")),
                    holders=holders,
                )
        current = _current(status, patch)
        self._rerun(body, parsed, current, patch, holders)
        if parsed.schedule is not None:
            self._schedule(body, parsed, _current(status, patch), patch, now, holders)

    def on_rerun(
        self,
        body: Any,
        spec: dict,
        status: dict,
        patch: Any,
        holders: Iterable[str] = (),
    ) -> None:
        """The rerun annotation changed. ``patch`` is shared with the cycle's other
        handlers (a spec change in the same update has already written to it)."""
        parsed = self.parse(body, spec, status, patch, quiet=True)
        if parsed is not None and not parsed.suspend:
            self._rerun(body, parsed, _current(status, patch), patch, holders)

    def on_delete(self, body: Any, spec: dict, status: dict) -> None:
        """Stop the job's Ray job; never block on Ray: when it does not answer, the
        deletion goes on with a Warning Event saying the Ray job could not be stopped."""
        self._stop_active(body, status, None, "CommunityJob deleted")
        community = (spec or {}).get("community")
        if community:
            meta = body["metadata"]
            self.claims.release(community, f"{meta['namespace']}/{meta['name']}")

    # ---- following a running job ----------------------------------------------------------

    def _follow(
        self, body: Any, spec: CommunityJobSpec, status: dict, patch: Any, now: datetime
    ) -> None:
        check_at = _parse_time(status.get("rayCheckAt"))
        job: JobState | None = None
        problem: RayUnavailable | None = None
        if check_at is None or now >= check_at:
            try:
                job = self.ray.state(status["rayJobId"])
            except RayUnavailable as exc:
                problem = exc
        if self._past_deadline(spec, status, now) and (job is None or not job.terminal):
            self._deadline(body, spec, status, patch, job)
            return
        if job is None:
            if problem is not None:
                self._ray_unreachable(body, spec, status, patch, now, problem, retry=False)
            return
        if status.get("rayUnreachableSince"):
            patch.status.update(rayUnreachableSince=None, rayCheckAt=None)
            kopf.info(body, reason="RayReachable", message=f"Ray answers again ({job.state})")
        if job.state == LOST:
            self._attempt_failed(body, spec, status, patch, now, job, job.message, "JobLost")
            return
        patch.status.update(counts=job.counts, progress=job.progress, **job.collection)
        if job.driver_node and job.driver_node != status.get("driverNode"):
            patch.status["driverNode"] = job.driver_node
        if not job.terminal:
            phase = PHASES.get(job.state, "Running")
            if phase != status.get("phase"):
                patch.status["phase"] = phase
            if phase == "Running":
                self._conditions(
                    status, patch, Running=("True", "Started", f"Ray job {job.submission_id}")
                )
            return
        if job.capped is not None:  # stopped at a cap: no retry would help (dwt.collect.budget)
            self._finish(body, spec, status, patch, job, "Capped", job.capped, reason="Capped")
            return
        if job.state == "SUCCEEDED":
            self._finish(body, spec, status, patch, job, "Succeeded", "run succeeded")
            return
        if job.busy is not None:
            holder = job.busy["holder"] or "another run"
            message = job.busy["message"] or (
                f"community {job.busy['community'] or spec.community} is busy: run {holder} "
                "holds its store lease"
            )
            self._wait_for_community(
                body, status, patch, now, holder, message, consumed=job.submission_id
            )
            return
        message = (job.message or job.state) + (f"\n{job.log_tail}" if job.log_tail else "")
        self._attempt_failed(body, spec, status, patch, now, job, message, "Failed")

    def _attempt_failed(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        now: datetime,
        job: JobState | None,
        message: str,
        reason: str,
    ) -> None:
        """An attempt ended without success (failed, lost, or Ray away too long): retry
        with a doubling delay within ``backoffLimit``, else the run failed."""
        attempt = status.get("attempt", 0)
        patch.status.update(rayUnreachableSince=None, rayCheckAt=None)
        what = {
            "JobLost": f"Ray job {status.get('rayJobId')} was lost",
            "RayUnreachable": "Ray was unreachable",
        }.get(reason, f"attempt {attempt + 1} failed")
        if attempt < spec.backoff_limit:
            delay = self.settings.retry_backoff * 2**attempt
            patch.status.update(
                phase="Pending",
                attempt=attempt + 1,
                waits=0,
                retryAt=_iso(now + timedelta(seconds=delay)),
                waitingFor=None,
                message=f"attempt {attempt + 1} failed, retry in {delay:.0f}s: {message[-1500:]}",
            )
            self._conditions(status, patch, Running=("False", reason, message[-500:]))
            kopf.warn(
                body,
                reason="Retrying" if reason == "Failed" else reason,
                message=f"{what} (attempt {attempt + 1} of {spec.backoff_limit + 1}); "
                f"retry in {delay:.0f}s: {_gist(message)}",
            )
            return
        self._finish(body, spec, status, patch, job, "Failed", message[-3000:], reason=reason)

    def _ray_unreachable(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        now: datetime,
        problem: RayUnavailable,
        retry: bool,
    ) -> None:
        """Ray did not answer: tried again with a growing delay (as long as it has been
        away, between the poll interval and a minute, and not past the limit), said in
        status; once away for
        ``ray_unreachable_limit`` the attempt fails. ``retry``: the submission is what
        failed (tried again at ``retryAt``), else the following of a submitted job."""
        since = _parse_time(status.get("rayUnreachableSince")) or now
        away = (now - since).total_seconds()
        limit = self.settings.ray_unreachable_limit
        if not status.get("rayUnreachableSince"):
            patch.status["rayUnreachableSince"] = _iso(now)
            kopf.warn(
                body,
                reason="RayUnreachable",
                message=f"{problem}; trying again for up to {limit:.0f}s",
            )
        if away >= limit:
            if not retry and status.get("rayJobId"):
                # It may still run where Ray cannot be reached: stopped (now or once Ray
                # answers) so that the retry does not run beside it.
                self._stop(body, status["rayJobId"], "Ray unreachable too long", status, patch)
            self._attempt_failed(
                body,
                spec,
                status,
                patch,
                now,
                None,
                f"Ray unreachable for {away:.0f}s: {problem}",
                "RayUnreachable",
            )
            return
        poll = self.settings.poll_interval
        delay = min(max(poll, away), 60.0, max(poll, limit - away))
        at = _iso(now + timedelta(seconds=delay))
        patch.status.update(
            message=f"Ray unreachable since {_iso(since)} (the attempt fails after "
            f"{limit:.0f}s): {problem}; next try at {at}",
            **({"phase": "Pending", "retryAt": at} if retry else {"rayCheckAt": at}),
        )
        self._conditions(status, patch, Running=("Unknown", "RayUnreachable", str(problem)))

    def _wait_for_community(
        self,
        body: Any,
        status: Mapping[str, Any],
        patch: Any,
        now: datetime,
        holder: str,
        message: str,
        consumed: str | None = None,
    ) -> None:
        """Another run holds the community: not an attempt; resubmitted after
        ``busy_retry`` (a new submission id when ``consumed`` used one) while the deadline
        still counts."""
        waits = status.get("waits", 0) + (1 if consumed else 0)
        patch.status.update(
            phase="Pending",
            waits=waits,
            retryAt=_iso(now + timedelta(seconds=self.settings.busy_retry)),
            waitingFor=holder,
            message=message,
        )
        was = next((c for c in status.get("conditions") or [] if c.get("type") == "Running"), {})
        self._conditions(status, patch, Running=("False", "CommunityBusy", message))
        if was.get("reason") != "CommunityBusy":
            kopf.info(body, reason="CommunityBusy", message=message[:500])

    def _past_deadline(self, spec: CommunityJobSpec, status: Mapping[str, Any], now: datetime):
        deadline = spec.active_deadline_seconds
        started = _parse_time(status.get("startedAt"))
        return bool(deadline and started and now - started > timedelta(seconds=deadline))

    def _deadline(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        job: JobState | None,
    ) -> None:
        if status.get("rayJobId") and not status.get("retryAt"):
            self._stop(body, status["rayJobId"], "deadline exceeded", status, patch)
        self._finish(
            body,
            spec,
            status,
            patch,
            job,
            "Failed",
            f"deadline of {spec.active_deadline_seconds}s exceeded",
            reason="DeadlineExceeded",
        )

    def _finish(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        job: JobState | None,
        phase: str,
        message: str,
        reason: str = "Succeeded",
    ) -> None:
        now = self.clock()
        counts = job.counts if job is not None else dict(status.get("counts") or {})
        collection = job.collection if job is not None else {}
        record = {
            "runId": status.get("runId"),
            "rayJobId": status.get("rayJobId"),
            "phase": phase,
            "startedAt": status.get("startedAt"),
            "finishedAt": _iso(now),
            "counts": counts,
            "message": message[:500],
        }
        for name in ("postReads", "estimatedSpend", "capped"):
            if name in collection:
                record[name] = collection[name]
        history = [record, *list(status.get("history") or [])][: spec.history_limit]
        # A Capped run is neither: it stopped where its budget said (the next one resumes).
        counters = {"Succeeded": "succeeded", "Failed": "failed"}
        counted = {c: status.get(c, 0) + 1 for c in [counters.get(phase)] if c}
        patch.status.update(
            phase=phase,
            finishedAt=_iso(now),
            message=message,
            counts=counts,
            history=history,
            retryAt=None,
            waitingFor=None,
            rayUnreachableSince=None,
            rayCheckAt=None,
            **counted,
            **collection,
        )
        if job is not None:
            patch.status["progress"] = job.progress
        if phase == "Succeeded":
            patch.status["lastSuccessfulTime"] = _iso(now)
            self._conditions(
                status,
                patch,
                Running=("False", reason, message),
                Complete=("True", reason, message),
                Failed=("False", reason, message),
            )
        else:
            self._conditions(
                status,
                patch,
                Running=("False", reason, message[-500:]),
                Complete=("False", reason, message[-500:]),
                Failed=("True" if phase == "Failed" else "False", reason, message[-500:]),
            )
        meta = body["metadata"]
        self.claims.release(spec.community, f"{meta['namespace']}/{meta['name']}")
        (kopf.info if phase == "Succeeded" else kopf.warn)(
            body,
            reason=reason,
            message=f"Ray job {status.get('rayJobId')}: {_gist(message)}",
        )

    # ---- schedules and reruns -------------------------------------------------------------

    def _schedule(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        now: datetime,
        holders: Iterable[str],
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
        running = status.get("phase") in ACTIVE and status.get("runId")
        if running and spec.concurrency_policy == "Forbid":
            kopf.info(body, reason="Skipped", message=f"{_iso(fire)}: previous run still running")
            return
        if running:
            self._stop_active(body, status, patch, f"replaced by the run of {_iso(fire)}")
            meta = body["metadata"]
            self.claims.release(spec.community, f"{meta['namespace']}/{meta['name']}")
        self.start(body, spec, status, patch, entrypoint.schedule_trigger(fire), holders=holders)

    def _rerun(
        self,
        body: Any,
        spec: CommunityJobSpec,
        status: Mapping[str, Any],
        patch: Any,
        holders: Iterable[str],
    ) -> None:
        """A new value of the rerun annotation runs the job once more with its current spec
        (one-off or scheduled), once no run of it is going on."""
        token = _rerun_token(body)
        if not token or token == status.get("rerunToken") or status.get("phase") in ACTIVE:
            return
        patch.status["rerunToken"] = token
        self.start(body, spec, status, patch, entrypoint.rerun_trigger(token), holders=holders)

    # ---- helpers --------------------------------------------------------------------------

    def parse(
        self,
        body: Any,
        spec: dict,
        status: Mapping[str, Any],
        patch: Any,
        quiet: bool = False,
        replacing: Mapping[str, Any] | None = None,
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
            if _in_flight(running):
                self._stop_active(body, running, patch, "replaced by an invalid spec")
                message = (
                    f"stopped Ray job {running['rayJobId']} (it ran the previous spec); " + message
                )
            self._fail(body, status, patch, message, reason="InvalidSpec")
            return None

    def _stop_active(
        self, body: Any, status: Mapping[str, Any], patch: Any | None, why: str
    ) -> None:
        if _in_flight(status):
            self._stop(body, status["rayJobId"], why, status, patch)

    def _stop(
        self,
        body: Any,
        submission: str,
        why: str,
        status: Mapping[str, Any],
        patch: Any | None,
    ) -> None:
        """Stop a Ray job; when Ray does not answer, a Warning Event says the job could not
        be stopped and (unless the CommunityJob is going: ``patch`` None) ``unstopped``
        keeps it, stopped on a later tick once Ray answers."""
        try:
            self.ray.stop(submission)
        except RayUnavailable as exc:
            later = "" if patch is None else "; stopped once Ray answers again"
            message = f"Ray job {submission} could not be stopped ({why}): {exc}{later}"
            log.warning("%s", message)
            kopf.warn(body, reason="StopFailed", message=message[:500])
            if patch is not None:
                kept = set(_current(status, patch).get("unstopped") or [])
                patch.status["unstopped"] = sorted(kept | {submission})
            return
        kopf.info(body, reason="Stopped", message=f"Ray job {submission}: {why}")

    def _stop_leftovers(self, status: Mapping[str, Any], patch: Any) -> None:
        """Stop the Ray jobs an earlier stop could not reach (the first failure ends the
        try: Ray is still away)."""
        left = list(status.get("unstopped") or [])
        for submission in list(left):
            try:
                self.ray.stop(submission)
            except RayUnavailable:
                break
            left.remove(submission)
        if left != list(status.get("unstopped") or []):
            patch.status["unstopped"] = left or None

    def _fail(
        self, body: Any, status: Mapping[str, Any], patch: Any, message: str, reason: str
    ) -> None:
        # No retryAt left behind: a pending retry would start again on every tick.
        patch.status.update(phase="Failed", message=message, retryAt=None, waitingFor=None)
        self._conditions(
            status,
            patch,
            Running=("False", reason, message),
            Complete=("False", reason, message),
            Failed=("True", reason, message),
        )
        kopf.warn(body, reason=reason, message=message[:500])

    def _suspend(
        self, body: Any, spec: CommunityJobSpec, status: Mapping[str, Any], patch: Any
    ) -> None:
        """Stop the running job; no run and no schedule until resumed."""
        if status.get("phase") == "Suspended":
            return
        self._stop_active(body, status, patch, "suspended")
        patch.status.update(phase="Suspended", message="suspended", retryAt=None)
        changes = {"Suspended": ("True", "Suspended", "spec.suspend is true")}
        if conditions.status_of(status.get("conditions"), "Running") not in (None, "False"):
            changes["Running"] = ("False", "Suspended", "suspended")
        self._conditions(status, patch, **changes)
        meta = body["metadata"]
        self.claims.release(spec.community, f"{meta['namespace']}/{meta['name']}")

    def _conditions(
        self, status: Mapping[str, Any], patch: Any, **changes: tuple[str, str, str]
    ) -> None:
        current = patch.status.get("conditions") or status.get("conditions")
        patch.status["conditions"] = conditions.updated(current, _iso(self.clock()), changes)


def _current(status: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """The status once ``patch`` is applied (a merge patch: None removes a field)."""
    merged = {**status, **patch.status}
    return {k: v for k, v in merged.items() if v is not None}


def _in_flight(status: Mapping[str, Any]) -> bool:
    """A submitted Ray job that is (as far as the status knows) still going."""
    return (
        status.get("phase") in ACTIVE and bool(status.get("rayJobId")) and not status.get("retryAt")
    )


def finished_one_off(status: Mapping[str, Any]) -> bool:
    """Whether the job's latest run has finished (it is in ``history``, which only
    finished runs enter: Succeeded, or Failed after its retries or deadline). A one-off job
    runs once: after that, spec edits and suspend/resume start nothing."""
    history = status.get("history") or []
    return (
        bool(history)
        and history[0].get("runId") == status.get("runId")
        and status.get("phase") not in ACTIVE
    )


def _settled_phase(status: Mapping[str, Any]) -> str:
    """The phase a resumed job returns to: its finished run's, else Pending."""
    if finished_one_off(status):
        return str(status["history"][0].get("phase") or "Pending")
    return "Pending"


def _rerun_token(body: Any) -> str | None:
    annotations = body["metadata"].get("annotations") or {}
    token = annotations.get(RERUN_ANNOTATION)
    return str(token) if token else None


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


def kubernetes_access(kube: dict[str, Any] | None, namespaces: list[str]) -> str:
    """List CommunityJobs as the handlers do (one per watched namespace, else cluster-wide):
    what the readiness probe asks. Raises when the API server refuses or does not answer."""
    from kubernetes.client.exceptions import ApiException

    if kube is None:
        raise RuntimeError("no Kubernetes client")
    custom = kube["custom"]
    args = (crd.GROUP, crd.VERSION)
    try:
        for namespace in namespaces or [None]:
            if namespace is None:
                custom.list_cluster_custom_object(
                    *args, crd.PLURAL, limit=1, _request_timeout=PROBE_TIMEOUT
                )
            else:
                custom.list_namespaced_custom_object(
                    *args, namespace, crd.PLURAL, limit=1, _request_timeout=PROBE_TIMEOUT
                )
    except ApiException as exc:
        where = ", ".join(namespaces) or "all namespaces"
        raise RuntimeError(
            f"the Kubernetes API refused listing CommunityJobs in {where}: {exc.status} "
            f"{exc.reason}"
        ) from None
    return "ok"


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
    making = threading.Lock()  # sync handlers run in kopf's threads: one Reconciler
    # The probe's own client: a readiness answer within the kubelet's probe timeout.
    probe_ray = ray or RayJobs(settings.ray_address, settings.ray_auth_token_file, PROBE_TIMEOUT)

    def reconciler() -> Reconciler:
        with making:
            if "r" not in state:
                jobs = ray or RayJobs(
                    settings.ray_address, settings.ray_auth_token_file, settings.ray_timeout
                )
                state["r"] = Reconciler(settings, jobs, kube())
            return state["r"]

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 60

    @kopf.index(*RESOURCE, id="community_runs", registry=registry)  # the handlers' kwarg
    def community_runs(namespace: str, name: str, spec: Any, status: Any, **_: Any) -> dict:
        """The CommunityJobs holding a run, by community (see communities.py). An empty
        mapping, not None, for the others: kopf keeps an object's last entry on None."""
        community = (spec or {}).get("community")
        if community and holds_run(status or {}):
            return {community: f"{namespace}/{name}"}
        return {}

    def holders(index: Any, spec: Any) -> list[str]:
        community = (spec or {}).get("community")
        return list(index.get(community, [])) if community else []

    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    @kopf.on.resume(*RESOURCE, registry=registry)
    def spec_changed(
        body: Any, spec: Any, status: Any, meta: Any, patch: Any, community_runs: Any, **_: Any
    ) -> None:
        reconciler().on_spec(body, spec, status, meta, patch, holders(community_runs, spec))

    @kopf.on.update(
        *RESOURCE, field=["metadata", "annotations", RERUN_ANNOTATION], registry=registry
    )
    def rerun_asked(
        body: Any, spec: Any, status: Any, patch: Any, community_runs: Any, **_: Any
    ) -> None:
        reconciler().on_rerun(body, spec, status, patch, holders(community_runs, spec))

    @kopf.timer(*RESOURCE, interval=settings.poll_interval, registry=registry)
    def poll(body: Any, spec: Any, status: Any, patch: Any, community_runs: Any, **_: Any) -> None:
        reconciler().on_timer(body, spec, status, patch, holders(community_runs, spec))

    @kopf.on.delete(*RESOURCE, registry=registry)
    def deleted(body: Any, spec: Any, status: Any, **_: Any) -> None:
        reconciler().on_delete(body, spec, status)

    # Readiness: /healthz answers 200 only while both hold (kopf caches it for 10 s). A
    # failing probe fails at once (no retries: kopf would hold the probe's answer back).
    @kopf.on.probe(id="kubernetes", errors=kopf.ErrorsMode.PERMANENT, registry=registry)
    def kubernetes_probe(**_: Any) -> str:
        return kubernetes_access(reconciler().kube, settings.namespaces)

    @kopf.on.probe(id="ray", errors=kopf.ErrorsMode.PERMANENT, registry=registry)
    def ray_probe(**_: Any) -> str:
        return probe_ray.version()

    return registry
