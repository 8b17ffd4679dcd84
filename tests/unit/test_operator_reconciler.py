"""The operator's decisions (dwt_operator.handlers.Reconciler) with a fake Ray and fake
Kubernetes APIs: submission, mirroring, retries, deadline, suspend, schedule, deletion, a
lost or unreachable Ray, one-off jobs that ran, a busy community, conditions.

The fake Ray is the reconciler's seam (the same calls, failures as jobs.RayJobs raises
them); the same behaviours against a real Ray head and API server are in
test_operator_failures.py."""

from __future__ import annotations

import base64
import json
import shlex
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import kopf
import pytest

from dwt_operator import entrypoint, handlers
from dwt_operator.jobs import (
    LOST,
    JobState,
    RayUnavailable,
    read_busy,
    read_collection,
    read_progress,
)
from dwt_operator.settings import OperatorSettings

T0 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


class FakeRay:
    """Ray as jobs.RayJobs presents it: ``down`` makes every call raise RayUnavailable; a
    job it does not hold is LOST (a replaced head forgets its jobs)."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.stopped: list[str] = []
        self.down = False

    def _answer(self):
        if self.down:
            raise RayUnavailable("reading Ray job: ConnectionError: connection refused")

    def submit(self, submission_id, entrypoint, metadata, cpus=None, memory=None):
        self._answer()
        if submission_id in self.jobs:
            return False
        self.jobs[submission_id] = {
            "state": "PENDING",
            "entrypoint": entrypoint,
            "metadata": metadata,
            "counts": {},
            "driver": {"cpus": cpus, "memory": memory},
        }
        return True

    def state(self, submission_id):
        self._answer()
        if submission_id not in self.jobs:
            return JobState(submission_id, LOST, f"Ray has no job {submission_id} (404)")
        job = self.jobs[submission_id]
        return JobState(
            submission_id,
            job["state"],
            job.get("message", ""),
            job["counts"],
            {},
            job.get("tail", ""),
            job.get("collection", {}),
            job.get("busy"),
            job.get("node"),
        )

    def stop(self, submission_id):
        self._answer()
        if submission_id not in self.jobs:
            return False
        self.stopped.append(submission_id)
        self.jobs[submission_id]["state"] = "STOPPED"
        return True


class FakeCore:
    def __init__(self, keys):
        self.keys = keys
        self.read: list[tuple[str, str]] = []

    def read_namespaced_secret(self, name, namespace):
        self.read.append((name, namespace))
        data = {f"key-{i}": base64.b64encode(b"secret").decode() for i in range(self.keys)}
        return SimpleNamespace(data=data)


class FakeApps:
    def __init__(self):
        self.scaled = []

    def patch_namespaced_deployment_scale(self, name, namespace, body):
        self.scaled.append((name, namespace, body["spec"]["replicas"]))


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def events(monkeypatch):
    posted = []
    for name in ("info", "warn"):
        monkeypatch.setattr(
            kopf, name, lambda body, reason, message, _n=name: posted.append((_n, reason, message))
        )
    return posted


@pytest.fixture
def world():
    clock = Clock()
    ray = FakeRay()
    apps = FakeApps()
    kube = {"core": FakeCore(keys=3), "apps": apps, "custom": None}
    settings = OperatorSettings(retry_backoff=10, dwt_command="/opt/venv/bin/dwt")
    return SimpleNamespace(
        clock=clock,
        ray=ray,
        apps=apps,
        kube=kube,
        settings=settings,
        reconciler=handlers.Reconciler(settings, ray, kube, clock),
    )


class CR:
    """A CommunityJob as kopf hands it over, with the status kept between calls."""

    def __init__(self, spec, generation=1, name="weekly"):
        self.spec = {"community": "ai-ethics", **spec}
        self.status: dict = {}
        self.meta = {
            "name": name,
            "namespace": "team",
            "generation": generation,
            "creationTimestamp": "2026-11-30T04:00:00Z",
            "annotations": {},
        }

    @property
    def body(self):
        return {"metadata": self.meta, "spec": self.spec, "status": self.status}

    def _apply(self, patch):
        # A merge patch, as the API server applies it: None removes the field.
        for key, value in patch.status.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value

    def on_spec(self, reconciler, holders=()):
        patch = SimpleNamespace(status={})
        reconciler.on_spec(self.body, self.spec, dict(self.status), self.meta, patch, holders)
        self._apply(patch)

    def on_timer(self, reconciler, holders=()):
        patch = SimpleNamespace(status={})
        reconciler.on_timer(self.body, self.spec, dict(self.status), patch, holders)
        self._apply(patch)

    def condition(self, kind):
        return next(c for c in self.status["conditions"] if c["type"] == kind)


def test_a_one_off_job_is_submitted_once_with_keys_scaled(world, events):
    cr = CR({"collection": {"apiKeysSecret": "x-keys", "workersPerKey": 2}})
    cr.on_spec(world.reconciler)
    (job_id,) = world.ray.jobs
    assert job_id == "dwt-team-weekly-g1-a0" and cr.status["phase"] == "Pending"
    # Keys and workers where the Ray cluster runs, not in the job's namespace (team).
    assert world.apps.scaled == [("dwt-ray-worker", "discover-weekly", 6)]  # 3 keys x 2
    assert world.kube["core"].read == [("x-keys", "discover-weekly")]
    assert cr.status["workers"] == 6 and cr.status["keys"] == 3
    command = world.ray.jobs[job_id]["entrypoint"]
    words = shlex.split(command)
    assert words[:3] == ["/opt/venv/bin/dwt", "--api-keys-dir", "/var/run/dwt/keys/x-keys"]
    spec = json.loads(words[words.index("--spec-json") + 1])
    assert spec["community"] == "ai-ethics" and "schedule" not in spec
    assert "secret" not in command  # the key values never leave the Secret
    # The same generation again (a resume, a restarted operator): nothing new.
    cr.on_spec(world.reconciler)
    restarted = handlers.Reconciler(world.settings, world.ray, world.kube, world.clock)
    cr.on_spec(restarted)
    assert len(world.ray.jobs) == 1
    assert [e[1] for e in events] == ["Submitted"]


def test_progress_is_mirrored_then_success_recorded(world, events):
    cr = CR({"steps": ["bonds", "cluster"], "historyLimit": 2})
    cr.on_spec(world.reconciler)
    job = world.ray.jobs["dwt-team-weekly-g1-a0"]
    job.update(state="RUNNING", counts={"tweets": 12})
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Running" and cr.status["counts"] == {"tweets": 12}
    job.update(state="SUCCEEDED", counts={"tweets": 12, "clusters": 3})
    world.clock.now += timedelta(minutes=5)
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Succeeded" and cr.status["finishedAt"] == "2026-11-30T05:05:00Z"
    assert cr.status["history"][0]["counts"] == {"tweets": 12, "clusters": 3}
    assert cr.condition("Complete")["status"] == "True"
    assert cr.condition("Running")["status"] == "False"
    assert cr.status["succeeded"] == 1 and cr.status["lastSuccessfulTime"] == "2026-11-30T05:05:00Z"
    assert world.apps.scaled == []  # no collection, no scaling


def test_the_driver_reserves_what_its_spec_says_and_the_status_says_where_it_runs(world, events):
    """Ray places the driver by what it reserves (the chart's head offers no CPUs); unset
    memory is sized from the members the last run counted, so a grown community's next run
    asks for more."""
    cr = CR({"steps": ["bonds"], "driver": {"cpus": 2, "memoryMib": 3000}})
    cr.on_spec(world.reconciler)
    job = world.ray.jobs["dwt-team-weekly-g1-a0"]
    assert job["driver"] == {"cpus": 2, "memory": 3000 * 2**20}
    assert "2 CPUs and 3000 MiB" in cr.status["message"]
    job.update(state="RUNNING", node="f00d" * 14)
    cr.on_timer(world.reconciler)
    assert cr.status["driverNode"] == "f00d" * 14

    sized = CR({"community": "other", "steps": ["bonds"], "backoffLimit": 1}, name="sized")
    sized.on_spec(world.reconciler)
    first = world.ray.jobs["dwt-team-sized-g1-a0"]
    assert first["driver"] == {"cpus": 1, "memory": entrypoint.DRIVER_BASE_MIB * 2**20}
    first.update(state="FAILED", counts={"accounts": 10_000})
    sized.on_timer(world.reconciler)
    world.clock.now += timedelta(seconds=11)
    sized.on_timer(world.reconciler)  # the retry knows the community's size now
    memory = world.ray.jobs["dwt-team-sized-g1-a1"]["driver"]["memory"]
    assert (
        memory
        == int(entrypoint.DRIVER_BASE_MIB + 10_000 * entrypoint.DRIVER_MIB_PER_MEMBER) * 2**20
    )
    assert "driverNode" not in sized.status


def test_a_failed_run_is_retried_with_backoff_then_succeeds(world, events):
    cr = CR({"steps": ["bonds"], "backoffLimit": 2})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"].update(state="FAILED", message="boom", tail="Trace")
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Pending" and "boom" in cr.status["message"]
    assert cr.status["retryAt"] == "2026-11-30T05:00:10Z"
    cr.on_timer(world.reconciler)  # too early: nothing
    assert len(world.ray.jobs) == 1
    world.clock.now += timedelta(seconds=11)
    cr.on_timer(world.reconciler)
    assert "dwt-team-weekly-g1-a1" in world.ray.jobs and cr.status["attempt"] == 1
    assert cr.status["startedAt"] == "2026-11-30T05:00:00Z"  # the run's first start
    world.ray.jobs["dwt-team-weekly-g1-a1"]["state"] = "SUCCEEDED"
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Succeeded"
    assert ("warn", "Retrying") in [e[:2] for e in events]


def test_a_failed_attempt_says_why_in_its_event(world, events):
    """Ray's sentence opens with its own words and the driver's logs; the event a person
    reads (kubectl describe) carries the run's own last sentence, whole."""
    cr = CR({"steps": ["bonds"], "backoffLimit": 1})
    cr.on_spec(world.reconciler)
    cause = "dwt.collect.keys.KeyNotFoundError: key:1234abcd is no longer among the keys"
    ray_said = (
        "Job entrypoint command failed with exit code 1, last available logs (truncated to "
        "20,000 chars):\n"
        + "collect: 2 API keys\n" * 30
        + "dwt run: run x: step collect failed: WorkersFailedError: every collector "
        + f"failed: {cause}"
    )
    world.ray.jobs["dwt-team-weekly-g1-a0"].update(state="FAILED", message=ray_said)
    cr.on_timer(world.reconciler)
    (said,) = [e[2] for e in events if e[1] == "Retrying"]
    assert said.endswith(cause) and "Job entrypoint" not in said


def test_retries_stop_at_the_backoff_limit(world, events):
    cr = CR({"steps": ["bonds"], "backoffLimit": 0})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"].update(
        state="FAILED", message="bad data", tail="ValueError: x"
    )
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and "ValueError: x" in cr.status["message"]


def test_a_run_past_its_deadline_is_stopped(world, events):
    cr = CR({"steps": ["bonds"], "activeDeadlineSeconds": 60, "backoffLimit": 5})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "RUNNING"
    world.clock.now += timedelta(seconds=61)
    cr.on_timer(world.reconciler)
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"]
    assert cr.status["phase"] == "Failed" and "deadline" in cr.status["message"]
    assert cr.condition("Failed")["reason"] == "DeadlineExceeded"
    assert cr.condition("Failed")["status"] == "True" and cr.status["failed"] == 1


def test_suspend_stops_and_resume_runs_again(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    cr.spec["suspend"] = True
    cr.meta["generation"] = 2
    cr.on_spec(world.reconciler)
    assert cr.status["phase"] == "Suspended" and world.ray.stopped == ["dwt-team-weekly-g1-a0"]
    cr.on_timer(world.reconciler)  # suspended: no polling, no schedule
    cr.spec["suspend"] = False
    cr.meta["generation"] = 3
    cr.on_spec(world.reconciler)
    assert "dwt-team-weekly-g3-a0" in world.ray.jobs and cr.status["phase"] == "Pending"


def test_deletion_stops_the_running_job(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    world.reconciler.on_delete(cr.body, cr.spec, cr.status)
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"]


@pytest.mark.parametrize(("policy", "expected"), [("Forbid", 1), ("Replace", 2)])
def test_schedule_fires_and_obeys_the_concurrency_policy(world, events, policy, expected):
    cr = CR(
        {
            "steps": ["bonds"],
            "schedule": "0 6 * * *",
            "timeZone": "Europe/Paris",
            "concurrencyPolicy": policy,
        }
    )
    cr.on_spec(world.reconciler)
    assert world.ray.jobs == {} and cr.status["phase"] == "Pending"
    world.clock.now = datetime(2026, 12, 1, 5, 0, 30, tzinfo=UTC)  # 06:00:30 in Paris
    cr.on_timer(world.reconciler)
    assert list(world.ray.jobs) == ["dwt-team-weekly-s202612010600-a0"]
    assert cr.status["lastScheduleTime"] == "2026-12-01T05:00:00Z"
    world.ray.jobs["dwt-team-weekly-s202612010600-a0"]["state"] = "RUNNING"
    world.clock.now = datetime(2026, 12, 2, 5, 1, tzinfo=UTC)  # next day, still running
    cr.on_timer(world.reconciler)
    assert len(world.ray.jobs) == expected
    assert cr.status["lastScheduleTime"] == "2026-12-02T05:00:00Z"
    if policy == "Forbid":
        assert ("info", "Skipped") in [e[:2] for e in events]
    else:
        assert world.ray.stopped == ["dwt-team-weekly-s202612010600-a0"]


def test_missed_firings_collapse_into_one_run(world, events):
    cr = CR({"steps": ["bonds"], "schedule": "@hourly"})
    cr.on_spec(world.reconciler)
    world.clock.now = T0 + timedelta(hours=5, minutes=1)  # the operator was down 5 hours
    cr.on_timer(world.reconciler)
    assert len(world.ray.jobs) == 1 and cr.status["lastScheduleTime"] == "2026-11-30T10:00:00Z"


def test_invalid_spec_and_missing_keys_fail_with_a_reason(world, events):
    cr = CR({"timeZone": "Mars/Olympus"})
    cr.on_spec(world.reconciler)
    assert cr.status["phase"] == "Failed" and "unknown time zone" in cr.status["message"]
    world.kube["core"] = FakeCore(keys=0)
    cr = CR({"steps": ["collect"]})
    cr.on_spec(world.reconciler)
    assert cr.status["phase"] == "Failed" and "holds no API key" in cr.status["message"]
    assert world.ray.jobs == {}


def test_progress_lines_are_read_from_job_logs():
    logs = "\n".join(
        [
            "starting",
            'DWT_PROGRESS {"event": "step", "step": "collect", "state": "running"}',
            'DWT_PROGRESS {"event": "progress", "step": "collect", "done": 3, "total": 9}',
            'DWT_PROGRESS {"event": "step", "step": "collect", "state": "done", '
            '"counts": {"tweets_new": 40}}',
            'DWT_PROGRESS {"event": "summary", "status": "succeeded", "counts": {"tweets_new": 40, '
            '"clusters": 2}}',
            "DWT_PROGRESS not json",
        ]
    )
    counts, steps = read_progress(logs)
    assert counts == {"tweets_new": 40, "clusters": 2}
    assert steps["collect"] == {"state": "done", "done": 3, "total": 9}


def test_collection_plan_and_spend_reach_the_status_and_history(world, events):
    logs = "\n".join(
        [
            'DWT_PROGRESS {"event": "progress", "step": "collect", "done": 0, "total": 9, '
            '"plan": {"accounts": 9, "keys": 2, "requests": {"user_tweets": 9, "following": 9}, '
            '"binding_endpoint": "following", "duration_s": 270.0, "post_reads": 400, '
            '"cost_usd": 2.0}}',
            'DWT_PROGRESS {"event": "progress", "step": "collect", "done": 6, "total": 9, '
            '"spend": {"post_reads": 300, "estimated_spend_usd": 1.5, "capped": true, '
            '"skipped": {"user_tweets": 3}}}',
        ]
    )
    collection = read_collection(logs)
    assert collection["collectionPlan"]["bindingEndpoint"] == "following"
    assert collection["collectionPlan"]["durationSeconds"] == 270.0
    assert collection["postReads"] == 300 and collection["estimatedSpend"] == 1.5
    assert collection["capped"] is True and collection["skipped"] == {"user_tweets": 3}
    assert read_collection('DWT_PROGRESS {"event": "step", "step": "bonds"}') == {}
    cr = CR({"steps": ["bonds"]})  # the fake job says what a collecting one would
    cr.on_spec(world.reconciler)
    job = world.ray.jobs["dwt-team-weekly-g1-a0"]
    job.update(state="RUNNING", collection={"collectionPlan": collection["collectionPlan"]})
    cr.on_timer(world.reconciler)
    assert cr.status["collectionPlan"]["postReads"] == 400 and "postReads" not in cr.status
    job.update(state="SUCCEEDED", collection=collection)
    cr.on_timer(world.reconciler)
    assert cr.status["postReads"] == 300 and cr.status["estimatedSpend"] == 1.5
    assert cr.status["history"][0]["postReads"] == 300
    assert cr.status["history"][0]["capped"] is True


def test_every_charge_and_the_month_reach_the_status_and_a_capped_run_is_not_retried(world, events):
    logs = "\n".join(
        [
            'DWT_PROGRESS {"event": "progress", "step": "collect", "done": 0, "total": 9, '
            '"plan": {"accounts": 9, "keys": 1, "requests": {"following": 9}, "post_reads": 40, '
            '"following_accounts": 2700, "user_lookups": 0, "cost_usd": 27.2, '
            '"bound": "request latency", "warnings": ["the estimate $27.20 exceeds ..."]}}',
            'DWT_PROGRESS {"event": "progress", "step": "collect", "done": 6, "total": 9, '
            '"spend": {"post_reads": 30, "following_accounts": 1800, "user_lookups": 0, '
            '"estimated_spend_usd": 18.15, "charges": {"usd": {"posts": 0.15, '
            '"following_accounts": 18.0, "user_lookups": 0.0, "total": 18.15}}, '
            '"month": {"spent_usd": 25.0, "forecast_usd": 90.5}, "capped": true, '
            '"cap_reason": "collection.maxSpendPerRun $20.00", "skipped": {"following": 3}}}',
        ]
    )
    collection = read_collection(logs)
    plan = collection["collectionPlan"]
    assert plan["followingAccounts"] == 2700 and plan["costUsd"] == 27.2
    assert plan["bound"] == "request latency" and plan["warnings"]
    assert collection["followingAccounts"] == 1800 and collection["estimatedSpend"] == 18.15
    assert collection["spendByKind"] == {
        "posts": 0.15, "followingAccounts": 18.0, "userLookups": 0.0,
    }  # fmt: skip
    assert collection["monthSpent"] == 25.0 and collection["monthForecast"] == 90.5
    cr = CR({"steps": ["collect"], "backoffLimit": 3})
    cr.on_spec(world.reconciler)
    job = world.ray.jobs["dwt-team-weekly-g1-a0"]
    job.update(state="FAILED", collection=collection)  # `dwt run` exits 3 at a cap
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Capped" and "retryAt" not in cr.status
    assert cr.condition("Failed")["status"] == "False" and "failed" not in cr.status
    assert "collection.maxSpendPerRun $20.00" in cr.status["message"]
    assert "following 3" in cr.status["message"]
    assert cr.status["history"][0]["phase"] == "Capped"
    assert len(world.ray.jobs) == 1  # no retry: it would stop at the same cap


def test_a_kuberay_worker_group_is_scaled_by_a_guarded_merge_patch():
    from dwt_operator.scaling import ScalingError, scale_workers

    groups = [
        {"groupName": "other", "replicas": 1, "maxReplicas": 1},
        {"groupName": "collectors", "replicas": 1, "maxReplicas": 2, "minReplicas": 0},
    ]

    class Custom:
        def __init__(self):
            self.patches = []

        def get_namespaced_custom_object(self, group, version, namespace, plural, name):
            return {"metadata": {"resourceVersion": "41"}, "spec": {"workerGroupSpecs": groups}}

        def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
            self.patches.append((group, plural, name, body))

    custom = Custom()
    settings = OperatorSettings(workers_kind="raycluster", workers_name="dwt")
    scale_workers({"custom": custom}, "team", 6, settings)
    ((group, plural, name, patch),) = custom.patches
    assert (group, plural, name) == ("ray.io", "rayclusters", "dwt")
    # A JSON merge patch (an object, not a JSON-patch list): the whole group list, at the
    # resourceVersion it was read at; the other group untouched.
    assert patch == {
        "metadata": {"resourceVersion": "41"},
        "spec": {
            "workerGroupSpecs": [
                {"groupName": "other", "replicas": 1, "maxReplicas": 1},
                {"groupName": "collectors", "replicas": 6, "maxReplicas": 6, "minReplicas": 0},
            ]
        },
    }
    assert groups[1]["replicas"] == 1  # what was read is not modified in place
    with pytest.raises(ScalingError, match="no worker group"):
        scale_workers(
            {"custom": custom},
            "team",
            6,
            OperatorSettings(workers_kind="raycluster", workers_group="missing"),
        )


def test_the_operator_command_starts(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "dwt_operator", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "--liveness" in done.stdout


def test_a_stale_tick_cannot_undo_a_suspension(world, events):
    cr = CR({"steps": ["bonds"], "suspend": True})
    cr.status.update(phase="Running", rayJobId="dwt-team-weekly-g1-a0")
    world.ray.jobs["dwt-team-weekly-g1-a0"] = {"state": "RUNNING", "counts": {}}
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Suspended"
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"]
    cr.on_timer(world.reconciler)  # settled: nothing more
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"]


class RefusingCore:
    """The API answering the Secret read with an error status (RBAC, missing)."""

    def __init__(self, status):
        self.status = status

    def read_namespaced_secret(self, name, namespace):
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=self.status, reason="Forbidden")


def test_a_forbidden_keys_secret_fails_the_job_saying_which_rule_is_missing(world, events):
    world.kube["core"] = RefusingCore(403)
    cr = CR({"steps": ["collect"], "collection": {"apiKeysSecret": "x-keys"}})
    cr.on_spec(world.reconciler)  # no exception: kopf would retry it forever
    assert cr.status["phase"] == "Failed" and world.ray.jobs == {}
    message = cr.status["message"]
    assert "secrets/x-keys" in message and "namespace discover-weekly" in message
    assert "forbidden" in message and "grant get on secrets named x-keys" in message
    assert cr.condition("Failed")["reason"] == "ApiKeysForbidden"
    ((kind, reason, said),) = events
    assert (kind, reason) == ("warn", "ApiKeysForbidden") and "x-keys" in said


def test_a_missing_keys_secret_fails_the_job_naming_it(world, events):
    world.kube["core"] = RefusingCore(404)
    cr = CR({"steps": ["collect"], "collection": {"apiKeysSecret": "x-keys"}})
    cr.on_spec(world.reconciler)
    assert cr.status["phase"] == "Failed"
    assert "x-keys" in cr.status["message"]
    assert "namespace discover-weekly" in cr.status["message"]
    assert [e[:2] for e in events] == [("warn", "NoApiKeys")]


def test_a_keys_secret_lost_before_a_retry_fails_once_not_every_tick(world, events):
    cr = CR({"steps": ["collect"], "backoffLimit": 2})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "FAILED"
    cr.on_timer(world.reconciler)
    assert cr.status["retryAt"]
    world.kube["core"] = RefusingCore(403)
    for _ in range(3):
        world.clock.now += timedelta(minutes=1)
        cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and "retryAt" not in cr.status
    assert [e[1] for e in events].count("ApiKeysForbidden") == 1


@pytest.mark.parametrize("schedule", ["61 25 * * *", "a b c d e", "0 0 31 2 *"])
def test_a_stored_schedule_that_cannot_fire_fails_the_job_instead_of_looping(
    world, events, schedule
):
    # Stored before the schema refused it (or, for 0 0 31 2 *, that the schema cannot know).
    cr = CR({"steps": ["bonds"], "schedule": schedule})
    cr.on_spec(world.reconciler)  # a resumed operator sees it the same way
    assert cr.status["phase"] == "Failed" and "schedule" in cr.status["message"]
    for _ in range(3):
        world.clock.now += timedelta(days=40)
        cr.on_timer(world.reconciler)  # no exception for kopf to retry on every tick
    assert world.ray.jobs == {} and cr.status["phase"] == "Failed"


def test_an_invalid_edit_stops_the_running_job_it_replaces(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "RUNNING"
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Running"
    cr.spec["timeZone"] = "Mars/Olympus"
    cr.meta["generation"] = 2
    cr.on_spec(world.reconciler)
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"]
    assert cr.status["phase"] == "Failed" and cr.status["observedGeneration"] == 2
    message = cr.status["message"]
    assert "stopped Ray job dwt-team-weekly-g1-a0" in message and "unknown time zone" in message
    assert ("info", "Stopped") in [e[:2] for e in events]
    assert ("warn", "InvalidSpec") in [e[:2] for e in events]
    cr.on_timer(world.reconciler)  # nothing left to follow, nothing stopped twice
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"] and len(world.ray.jobs) == 1
    # Fixed again: a new run for the new generation.
    del cr.spec["timeZone"]
    cr.meta["generation"] = 3
    cr.on_spec(world.reconciler)
    assert "dwt-team-weekly-g3-a0" in world.ray.jobs and cr.status["phase"] == "Pending"


def test_a_253_character_name_runs_each_spec_change(world, events):
    long_name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    cr = CR({"steps": ["bonds"]})
    cr.meta["name"] = long_name
    cr.on_spec(world.reconciler)
    (first,) = world.ray.jobs
    world.ray.jobs[first]["state"] = "RUNNING"
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Running"
    cr.spec["weights"] = {"reply": 50}  # an edit before the run finished replaces it
    cr.meta["generation"] = 2
    cr.on_spec(world.reconciler)
    second = cr.status["rayJobId"]
    assert second != first and set(world.ray.jobs) == {first, second}
    assert cr.status["phase"] == "Pending" and world.ray.jobs[second]["state"] == "PENDING"
    assert world.ray.stopped == [first]
    assert [e[1] for e in events].count("Submitted") == 2


# ---- issue 22: a lost or unreachable Ray, finished one-off jobs, busy communities --------


def _running(world, cr, job_id="dwt-team-weekly-g1-a0"):
    world.ray.jobs[job_id]["state"] = "RUNNING"
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Running"


def test_a_lost_ray_job_is_a_failed_attempt_retried_under_a_new_id(world, events):
    cr = CR({"steps": ["bonds"], "backoffLimit": 1})
    cr.on_spec(world.reconciler)
    _running(world, cr)
    world.ray.jobs.clear()  # the head was replaced: the new one has no such job
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Pending" and cr.status["attempt"] == 1
    assert "was lost" in events[-1][2] and events[-1][:2] == ("warn", "JobLost")
    assert cr.condition("Running") | {"lastTransitionTime": None} == {
        "type": "Running",
        "status": "False",
        "reason": "JobLost",
        "message": "Ray has no job dwt-team-weekly-g1-a0 (404)",
        "lastTransitionTime": None,
    }
    world.clock.now += timedelta(seconds=11)
    cr.on_timer(world.reconciler)
    assert (
        cr.status["rayJobId"] == "dwt-team-weekly-g1-a1"
        and "dwt-team-weekly-g1-a1" in world.ray.jobs
    )
    world.ray.jobs.clear()  # lost again: the backoff limit is spent
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and cr.condition("Failed")["reason"] == "JobLost"
    assert cr.status["failed"] == 1 and cr.status["history"][0]["phase"] == "Failed"


def test_the_deadline_holds_while_ray_is_unreachable(world, events):
    cr = CR({"steps": ["bonds"], "activeDeadlineSeconds": 120})
    cr.on_spec(world.reconciler)
    _running(world, cr)
    world.ray.down = True
    world.clock.now += timedelta(seconds=30)
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Running" and "Ray unreachable since" in cr.status["message"]
    assert cr.condition("Running")["status"] == "Unknown"
    assert [e[:2] for e in events].count(("warn", "RayUnreachable")) == 1
    world.clock.now += timedelta(seconds=100)  # 130 s after the start
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and cr.condition("Failed")["reason"] == "DeadlineExceeded"
    # The stop could not reach Ray: said, kept, and done once Ray answers.
    assert ("warn", "StopFailed") in [e[:2] for e in events]
    assert cr.status["unstopped"] == ["dwt-team-weekly-g1-a0"]
    world.ray.down = False
    cr.on_timer(world.reconciler)
    assert world.ray.stopped == ["dwt-team-weekly-g1-a0"] and "unstopped" not in cr.status


def test_ray_unreachable_too_long_fails_the_attempt_with_a_growing_delay(world, events):
    world.settings = OperatorSettings(ray_unreachable_limit=100, poll_interval=5)
    world.reconciler = handlers.Reconciler(world.settings, world.ray, world.kube, world.clock)
    cr = CR({"steps": ["bonds"], "backoffLimit": 0})
    cr.on_spec(world.reconciler)
    _running(world, cr)
    world.ray.down = True
    calls = []
    state = world.ray.state
    world.ray.state = lambda job_id: calls.append(world.clock.now) or state(job_id)
    for _ in range(60):
        world.clock.now += timedelta(seconds=5)
        cr.on_timer(world.reconciler)
        if cr.status["phase"] != "Running":
            break
    # Asked again after 5, 10, 20, 40, 80 s: the delay doubles (as long as Ray has been
    # away), and the last try is at the limit...
    offsets = [(c - calls[0]).total_seconds() for c in calls]
    assert offsets == [0, 5, 10, 20, 40, 80, 100], offsets
    # ...and the attempt fails once it has been away for the limit.
    assert cr.status["phase"] == "Failed" and cr.condition("Failed")["reason"] == "RayUnreachable"
    assert "Ray unreachable for" in cr.status["message"]


def test_a_submission_ray_does_not_answer_is_tried_again_with_the_same_id(world, events):
    world.ray.down = True
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    assert cr.status["phase"] == "Pending" and cr.status["retryAt"]
    assert cr.status["rayJobId"] == "dwt-team-weekly-g1-a0" and world.ray.jobs == {}
    assert "Ray unreachable" in cr.status["message"]
    world.ray.down = False
    world.clock.now += timedelta(seconds=10)
    cr.on_timer(world.reconciler)
    assert list(world.ray.jobs) == ["dwt-team-weekly-g1-a0"] and cr.status["attempt"] == 0
    assert "rayUnreachableSince" not in cr.status and "retryAt" not in cr.status


def test_deletion_never_blocks_on_an_unreachable_ray(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    world.ray.down = True
    world.reconciler.on_delete(cr.body, cr.spec, cr.status)  # returns: kopf drops its finalizer
    ((kind, _, message),) = [e for e in events if e[1] == "StopFailed"]
    assert kind == "warn" and "dwt-team-weekly-g1-a0 could not be stopped" in message


def test_a_finished_one_off_job_is_not_rerun_by_an_edit_or_a_resume(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "SUCCEEDED"
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Succeeded"
    for generation, change in enumerate(
        [{"weights": {"reply": 9}}, {"suspend": True}, {"suspend": False}], start=2
    ):
        cr.spec.update(change)
        cr.meta["generation"] = generation
        cr.on_spec(world.reconciler)
        cr.on_timer(world.reconciler)
    assert list(world.ray.jobs) == ["dwt-team-weekly-g1-a0"]
    assert cr.status["phase"] == "Succeeded" and cr.status["observedGeneration"] == 4
    assert "discoverweekly.io/rerun" in cr.status["message"]
    assert cr.condition("Suspended")["status"] == "False"
    assert cr.condition("Complete")["status"] == "True"
    # The annotation runs it once per value, with the current spec.
    cr.meta["annotations"]["discoverweekly.io/rerun"] = "2026-12-01"
    cr.on_spec(world.reconciler)
    cr.on_timer(world.reconciler)
    (rerun,) = [j for j in world.ray.jobs if j != "dwt-team-weekly-g1-a0"]
    assert rerun.startswith("dwt-team-weekly-r") and cr.status["rayJobId"] == rerun
    assert '"reply":9' in world.ray.jobs[rerun]["entrypoint"]
    world.ray.jobs[rerun]["state"] = "SUCCEEDED"
    cr.on_timer(world.reconciler)
    cr.on_timer(world.reconciler)
    assert len(world.ray.jobs) == 2 and cr.status["succeeded"] == 2


def test_a_suspended_unfinished_one_off_job_runs_again_on_resume(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    _running(world, cr)
    cr.spec["suspend"] = True
    cr.meta["generation"] = 2
    cr.on_spec(world.reconciler)
    assert cr.condition("Suspended")["status"] == "True"
    assert cr.condition("Running")["reason"] == "Suspended"
    cr.spec["suspend"] = False
    cr.meta["generation"] = 3
    cr.on_spec(world.reconciler)
    assert cr.status["rayJobId"] == "dwt-team-weekly-g3-a0"  # it never finished


def test_a_busy_community_waits_without_spending_an_attempt(world, events):
    cr = CR({"steps": ["bonds"], "backoffLimit": 0, "activeDeadlineSeconds": 600})
    cr.on_spec(world.reconciler)
    world.ray.jobs["dwt-team-weekly-g1-a0"].update(
        state="FAILED",
        message="Job entrypoint command failed with exit code 75",
        busy={"community": "ai-ethics", "holder": "dwt-other-weekly-g4", "message": "busy!"},
    )
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Pending" and cr.status["attempt"] == 0
    assert cr.status["waitingFor"] == "dwt-other-weekly-g4" and cr.status["message"] == "busy!"
    assert cr.condition("Running")["reason"] == "CommunityBusy"
    assert [e[:2] for e in events][-1] == ("info", "CommunityBusy")
    world.clock.now += timedelta(seconds=61)
    cr.on_timer(world.reconciler)
    assert cr.status["rayJobId"] == "dwt-team-weekly-g1-a0-w1"  # Ray refuses an id twice
    assert "waitingFor" not in cr.status and cr.status["attempt"] == 0
    # Busy again, then the deadline passes while it waits: Failed, not waiting forever.
    world.ray.jobs["dwt-team-weekly-g1-a0-w1"].update(
        state="FAILED", busy={"community": "ai-ethics", "holder": "x", "message": "busy"}
    )
    cr.on_timer(world.reconciler)
    assert cr.status["waits"] == 2 and cr.status["phase"] == "Pending"
    world.clock.now += timedelta(seconds=600)
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and cr.condition("Failed")["reason"] == "DeadlineExceeded"


def test_one_active_run_per_community_within_the_operator(world, events):
    first, second = CR({"steps": ["bonds"]}), CR({"steps": ["bonds"]}, name="again")
    first.on_spec(world.reconciler)
    second.on_spec(world.reconciler)
    assert list(world.ray.jobs) == ["dwt-team-weekly-g1-a0"]
    assert second.status["phase"] == "Pending" and second.status["waitingFor"] == (
        "CommunityJob team/weekly"
    )
    assert (
        "community ai-ethics is being run by CommunityJob team/weekly" in second.status["message"]
    )
    assert second.condition("Running")["reason"] == "CommunityBusy"
    # A restarted operator knows the holder from kopf's index, not from its own claims.
    restarted = handlers.Reconciler(world.settings, world.ray, world.kube, world.clock)
    world.clock.now += timedelta(seconds=61)
    second.on_timer(restarted, holders=["team/weekly"])
    assert len(world.ray.jobs) == 1 and second.status["phase"] == "Pending"
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "SUCCEEDED"
    first.on_timer(world.reconciler)
    world.clock.now += timedelta(seconds=61)
    second.on_timer(world.reconciler)
    assert second.status["rayJobId"] == "dwt-team-again-g1-a0" and len(world.ray.jobs) == 2


def test_a_condition_moves_its_transition_time_only_when_its_status_changes(world, events):
    cr = CR({"steps": ["bonds"]})
    cr.on_spec(world.reconciler)
    submitted = cr.condition("Running")
    assert submitted["status"] == "True" and submitted["reason"] == "Submitted"
    assert [c["type"] for c in cr.status["conditions"]] == [
        "Running",
        "Complete",
        "Failed",
        "Suspended",
    ]
    world.clock.now += timedelta(minutes=1)
    _running(world, cr)
    started = cr.condition("Running")
    assert started["reason"] == "Started"
    assert started["lastTransitionTime"] == submitted["lastTransitionTime"]  # still True
    world.ray.jobs["dwt-team-weekly-g1-a0"]["state"] = "SUCCEEDED"
    world.clock.now += timedelta(minutes=1)
    cr.on_timer(world.reconciler)
    assert cr.condition("Running")["lastTransitionTime"] == "2026-11-30T05:02:00Z"
    assert cr.condition("Complete")["lastTransitionTime"] == "2026-11-30T05:02:00Z"
    assert cr.condition("Failed")["lastTransitionTime"] == submitted["lastTransitionTime"]


def test_the_busy_event_is_read_from_the_drivers_logs():
    logs = "\n".join(
        [
            'DWT_PROGRESS {"event": "step", "step": "collect", "state": "running"}',
            'DWT_PROGRESS {"event": "busy", "community": "ai-ethics", "holder": "run-7", '
            '"message": "community ai-ethics is being run by run-7"}',
        ]
    )
    assert read_busy(logs) == {
        "community": "ai-ethics",
        "holder": "run-7",
        "message": "community ai-ethics is being run by run-7",
    }
    assert read_busy('DWT_PROGRESS {"event": "summary"}\nbusy') is None


def test_the_schedule_keeps_firing_after_a_lost_run(world, events):
    cr = CR({"steps": ["bonds"], "schedule": "0 6 * * *", "backoffLimit": 0})
    cr.on_spec(world.reconciler)
    world.clock.now = datetime(2026, 12, 1, 6, 0, 30, tzinfo=UTC)
    cr.on_timer(world.reconciler)
    first = cr.status["rayJobId"]
    world.ray.jobs.clear()  # the head was replaced mid-run
    cr.on_timer(world.reconciler)
    assert cr.status["phase"] == "Failed" and cr.condition("Failed")["reason"] == "JobLost"
    world.clock.now = datetime(2026, 12, 2, 6, 0, 30, tzinfo=UTC)
    cr.on_timer(world.reconciler)
    assert cr.status["rayJobId"] != first and cr.status["phase"] == "Pending"
    assert cr.status["lastScheduleTime"] == "2026-12-02T06:00:00Z"
