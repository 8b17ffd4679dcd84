"""Failures a cluster brings to the operator (issue 22), on real servers: ``python -m
dwt_operator`` as manifests/operator/ deploys it (cluster-wide, under its ServiceAccount and
RBAC) against the real kube-apiserver, and a real Ray head that is killed (SIGKILL to every
process it started, as an OOM kill or a deleted pod ends it) and started again on the same
address, empty — a replaced head.

* a Ray job lost with its head is a failed attempt: retried under a new id, an Event says it
  was lost; the deadline holds while Ray is down; deleting a job while Ray is down does not
  block (a Warning Event says its Ray job could not be stopped);
* ``/healthz`` (the readiness probe) answers 500 while Ray is down or the API refuses the
  operator, 200 again once both answer;
* a finished one-off job is not run again by resume or an edit, only by the rerun annotation;
* one run per community: the driver's ``busy`` ending (``dwt run`` found the community's
  store lease held: a stand-in prints the same line and exit status) is no attempt and is
  resubmitted; two CommunityJobs of one community never run at once;
* keys are counted and workers scaled in the Ray cluster's namespace, whatever the job's,
  and the operator may read and scale nothing else there.

Ray runs the `servers.operator_proc.STAND_IN` for ``dwt``. Waits are bounded by what they
wait for, generous for a loaded two-core machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.job_submission import JobSubmissionClient

from dwt_operator import entrypoint
from rayhead import RayHead
from servers.kube import KubeServer
from servers.operator_proc import (
    Install,
    OperatorProcess,
    cleaned_up,
    create_job,
    events,
    fresh_namespace,
    get_job,
    install_manifests,
    job_status,
    patch_job,
    secret,
    worker_deployment,
    write_stand_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RAY_NAMESPACE = "discover-weekly"  # manifests/operator/: the Ray cluster's namespace
WAIT = 180.0


class World:
    def __init__(
        self,
        kube: KubeServer,
        install: Install,
        head: RayHead,
        operator: OperatorProcess,
        state: Path,
    ) -> None:
        self.kube, self.install, self.head = kube, install, head
        self.operator, self.state = operator, state

    @property
    def ray(self) -> JobSubmissionClient:
        return JobSubmissionClient(self.head.address)

    def wait(self, predicate, message: str, timeout: float = WAIT):
        return self.operator.wait_for(predicate, timeout, message)

    def phase(self, ns: str, name: str, *phases: str) -> dict:
        try:
            return self.wait(
                lambda: (s := job_status(self.kube, ns, name)).get("phase") in phases and s,
                f"{ns}/{name} to reach {phases}",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nits status: {job_status(self.kube, ns, name)}") from None

    def driver_started(self, ns: str, name: str) -> None:
        """Wait until the stand-in ran for the job's first trigger: "Running" says the job
        was submitted, and on a busy machine Ray starts its driver seconds later."""
        run = entrypoint.run_id(ns, name, "g1")
        self.wait(lambda: (self.state / run).exists(), f"the driver of {ns}/{name} to start")

    def replace_head(self) -> None:
        """Kill the head and start an empty one at the same address."""
        self.head.stop(kill=True)
        self.head.start()


@pytest.fixture(scope="module")
def world(kube_api: KubeServer, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("failures")
    stand_in, state = write_stand_in(tmp)
    install = install_manifests(kube_api)
    head = RayHead().start()
    try:
        with OperatorProcess(
            kube_api,
            install,
            tmp / "operator",
            ray_address=head.address,
            dwt_command=stand_in,
            poll_interval=0.5,
            retry_backoff=0.5,
            busy_retry=2,
            ray_timeout=3,
        ) as operator:
            yield World(kube_api, install, head, operator, state)
    finally:
        head.close()


@pytest.fixture
def ns(world: World):
    namespace = fresh_namespace(world.kube, "fail")
    with cleaned_up(world.kube, namespace):
        yield namespace


@pytest.fixture
def head_back(world: World):
    """Whatever the test did to the head, a live one afterwards."""
    yield
    if world.head.process is None:
        world.head.start()


def _ray_job(ns: str, name: str, trigger: str = "g1", attempt: int = 0, waits: int = 0) -> str:
    return entrypoint.submission_id(entrypoint.run_id(ns, name, trigger), attempt, waits)


def _events(world: World, ns: str, name: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in events(world.kube, ns, name)]


def _condition(status: dict, kind: str) -> dict:
    return next(c for c in status.get("conditions") or [] if c["type"] == kind)


def _ray_ids(world: World, ns: str, name: str) -> list[str]:
    prefix = f"dwt-{ns}-{name}-"
    return sorted(
        j.submission_id for j in world.ray.list_jobs() if j.submission_id.startswith(prefix)
    )


# ---- a replaced or unreachable Ray head ------------------------------------------------------


def test_a_job_lost_with_its_ray_head_is_retried_and_an_event_says_so(world, ns, head_back):
    create_job(world.kube, ns, "lost", community="lost-a", steps=["bonds"], backoffLimit=2)
    world.phase(ns, "lost", "Running")
    # Its first call sleeps until the head goes; killed before it ran, the retry would be
    # the first call and sleep instead (seen on a loaded machine).
    world.driver_started(ns, "lost")
    world.replace_head()  # the new head has never heard of the job
    status = world.phase(ns, "lost", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["attempt"] == 1 and status["rayJobId"] == _ray_job(ns, "lost", attempt=1)
    assert status["succeeded"] == 1 and status["lastSuccessfulTime"]
    assert _condition(status, "Complete")["status"] == "True"
    lost = [e for e in _events(world, ns, "lost") if e[1] == "JobLost"]
    assert lost and lost[0][0] == "Warning"
    assert f"Ray job {_ray_job(ns, 'lost')} was lost" in lost[0][2]
    assert _ray_ids(world, ns, "lost") == [_ray_job(ns, "lost", attempt=1)]


def test_the_deadline_holds_while_ray_is_down(world, ns, head_back):
    create_job(
        world.kube, ns, "late", community="slow-late", steps=["bonds"], activeDeadlineSeconds=25
    )
    world.phase(ns, "late", "Running")
    world.head.stop(kill=True)
    unreachable = world.wait(
        lambda: (
            "Ray unreachable since" in (s := job_status(world.kube, ns, "late")).get("message", "")
            and s
        ),
        "the status to say Ray is unreachable",
    )
    assert unreachable["phase"] == "Running"
    assert _condition(unreachable, "Running")["status"] == "Unknown"
    status = world.phase(ns, "late", "Failed", "Succeeded")
    assert _condition(status, "Failed")["reason"] == "DeadlineExceeded"
    assert status["unstopped"] == [_ray_job(ns, "late")]  # stopped once Ray answers
    reasons = [e[1] for e in _events(world, ns, "late")]
    assert "RayUnreachable" in reasons and "StopFailed" in reasons
    world.head.start()
    world.wait(
        lambda: "unstopped" not in job_status(world.kube, ns, "late"),
        "the leftover stop to reach the new head",
    )


def test_deleting_a_job_while_ray_is_down_does_not_block(world, ns, head_back):
    create_job(world.kube, ns, "doomed", community="slow-doomed", steps=["bonds"])
    world.phase(ns, "doomed", "Running")
    world.head.stop(kill=True)
    world.kube.request(
        "DELETE", f"/apis/discoverweekly.io/v1alpha1/namespaces/{ns}/communityjobs/doomed"
    )
    world.wait(lambda: get_job(world.kube, ns, "doomed") is None, "the CommunityJob to go", 60)
    said = [
        (kind, message)
        for kind, reason, message in _events(world, ns, "doomed")
        if reason == "StopFailed"
    ]
    assert said, _events(world, ns, "doomed")
    for kind, message in said:
        assert kind == "Warning"
        assert f"Ray job {_ray_job(ns, 'doomed')} could not be stopped" in message


def test_readiness_says_whether_ray_and_the_api_answer(world, ns, head_back):
    world.wait(world.operator.ready, "the operator to be ready", 60)
    world.head.stop(kill=True)
    world.wait(
        lambda: (world.operator.health() or (0,))[0] == 500, "readiness to fail without Ray", 60
    )
    assert world.operator.alive()  # the liveness probe: it still serves
    world.head.start()
    world.wait(world.operator.ready, "readiness back with Ray", 60)
    # Every API call refused: the ClusterRoleBinding goes (install_manifests puts it back).
    binding = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/dwt-operator"
    status, _ = world.kube.request("DELETE", binding)
    assert status == 200
    try:
        world.wait(
            lambda: (world.operator.health() or (0,))[0] == 500,
            "readiness to fail while the API refuses the operator",
            60,
        )
    finally:
        install_manifests(world.kube)
    world.wait(world.operator.ready, "readiness back with its RBAC", 60)


# ---- one-off jobs that ran ---------------------------------------------------------------


def test_a_finished_one_off_job_is_not_rerun_by_resume_or_an_edit(world, ns):
    create_job(world.kube, ns, "once", community="quick", steps=["bonds"])
    world.phase(ns, "once", "Succeeded")
    for change in ({"suspend": True}, {"suspend": False}, {"windowDays": 3}):
        generation = patch_job(world.kube, ns, "once", {"spec": change})["metadata"]["generation"]
        status = world.wait(
            lambda g=generation: (
                (s := job_status(world.kube, ns, "once")).get("observedGeneration") == g and s
            ),
            f"generation {generation} to be observed",
        )
    world.wait(
        lambda: job_status(world.kube, ns, "once").get("phase") == "Succeeded",
        "the finished job to stay Succeeded",
    )
    assert _ray_ids(world, ns, "once") == [_ray_job(ns, "once")]
    assert "discoverweekly.io/rerun" in status["message"]
    assert (world.state / entrypoint.run_id(ns, "once", "g1")).read_text() == "1"
    # The annotation runs it again, once per value.
    patch_job(
        world.kube, ns, "once", {"metadata": {"annotations": {"discoverweekly.io/rerun": "1"}}}
    )
    world.wait(
        lambda: job_status(world.kube, ns, "once").get("succeeded") == 2, "the rerun to succeed"
    )
    rerun = entrypoint.rerun_trigger("1")
    assert _ray_ids(world, ns, "once") == sorted(
        [_ray_job(ns, "once"), _ray_job(ns, "once", rerun)]
    )


# ---- one run per community ---------------------------------------------------------------


def test_a_busy_community_is_waited_for_not_counted_as_an_attempt(world, ns):
    create_job(world.kube, ns, "busy", community="busy-a", steps=["bonds"], backoffLimit=0)
    status = world.phase(ns, "busy", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["attempt"] == 0 and status["waits"] == 1
    assert status["rayJobId"] == _ray_job(ns, "busy", waits=1)
    first = world.ray.get_job_info(_ray_job(ns, "busy"))
    assert first.status.value == "FAILED" and "75" in first.message
    ((kind, _, message),) = [e for e in _events(world, ns, "busy") if e[1] == "CommunityBusy"]
    assert kind == "Normal" and "is being run by dwt-elsewhere-g1" in message
    assert not [e for e in _events(world, ns, "busy") if e[0] == "Warning"]


def test_two_community_jobs_of_one_community_never_run_at_once(world, ns):
    for name in ("twin-a", "twin-b"):
        create_job(world.kube, ns, name, community="nap-twin", steps=["bonds"])
    for name in ("twin-a", "twin-b"):
        assert world.phase(ns, name, "Succeeded", "Failed")["phase"] == "Succeeded"
    runs = sorted(
        (info.start_time, info.end_time, info.submission_id)
        for name in ("twin-a", "twin-b")
        for info in [world.ray.get_job_info(job_status(world.kube, ns, name)["rayJobId"])]
    )
    (_, first_end, _), (second_start, _, _) = runs
    assert first_end <= second_start, runs  # milliseconds, as Ray recorded them
    waited = [
        (name, message)
        for name in ("twin-a", "twin-b")
        for kind, reason, message in _events(world, ns, name)
        if reason == "CommunityBusy"
    ]
    assert waited and "community nap-twin is being run by CommunityJob" in waited[0][1]


# ---- where keys are counted and workers scaled ------------------------------------------


def _put(world: World, path: str, body: dict) -> None:
    """Create, or replace what is there (other tests share the Ray namespace)."""
    name = body["metadata"]["name"]
    status, _ = world.kube.request("GET", f"{path}/{name}")
    if status == 200:
        world.kube.request("DELETE", f"{path}/{name}")
    status, answer = world.kube.request("POST", path, body)
    assert status == 201, answer


def test_keys_and_workers_are_where_the_ray_cluster_runs_and_nothing_else(world, ns):
    core = f"/api/v1/namespaces/{RAY_NAMESPACE}"
    apps = f"/apis/apps/v1/namespaces/{RAY_NAMESPACE}/deployments"
    _put(world, f"{core}/secrets", secret(RAY_NAMESPACE, "x-api-keys", ["k1", "k2", "k3"]))
    _put(world, apps, worker_deployment(RAY_NAMESPACE))
    # The same names in the job's namespace: not what the Ray pods mount, so not used.
    _put(world, f"/api/v1/namespaces/{ns}/secrets", secret(ns, "x-api-keys", ["only-one"]))
    _put(world, f"/apis/apps/v1/namespaces/{ns}/deployments", worker_deployment(ns))
    create_job(
        world.kube,
        ns,
        "collect",
        community="quick-collect",
        steps=["collect"],
        collection={"workersPerKey": 2, "maxWorkers": 5},
    )
    status = world.phase(ns, "collect", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["keys"] == 3 and status["workers"] == 5
    assert world.kube.request("GET", f"{apps}/dwt-ray-worker")[1]["spec"]["replicas"] == 5
    mine = world.kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/dwt-ray-worker")
    assert mine[1]["spec"]["replicas"] == 1
    # Under its RBAC the operator reads that one Secret and scales that one Deployment.
    _put(world, f"{core}/secrets", secret(RAY_NAMESPACE, "other-secret", ["x"]))
    _put(world, apps, worker_deployment(RAY_NAMESPACE, "other-workers"))
    token = world.kube.token_for(world.install.namespace, world.install.service_account)
    scale = {"spec": {"replicas": 2}}
    asked = {
        ("GET", f"{core}/secrets/x-api-keys"): 200,
        ("GET", f"{core}/secrets/other-secret"): 403,
        ("GET", f"{core}/secrets"): 403,
        ("GET", f"/api/v1/namespaces/{ns}/secrets/x-api-keys"): 403,
        ("GET", f"{apps}/dwt-ray-worker/scale"): 200,
        ("PATCH", f"{apps}/other-workers/scale"): 403,
        ("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/dwt-ray-worker/scale"): 403,
        ("PATCH", f"{apps}/dwt-ray-worker"): 403,
    }
    merge = "application/merge-patch+json"
    got = {
        (method, path): world.kube.request(
            method, path, scale if method == "PATCH" else None, token=token, content_type=merge
        )[0]
        for method, path in asked
    }
    assert got == asked
    # A job naming a Secret the Role does not grant fails saying which rule to add.
    create_job(
        world.kube,
        ns,
        "other-keys",
        community="quick-other",
        steps=["collect"],
        collection={"apiKeysSecret": "other-secret"},
    )
    failed = world.phase(ns, "other-keys", "Failed", "Succeeded")
    assert _condition(failed, "Failed")["reason"] == "ApiKeysForbidden"
    assert f"grant get on secrets named other-secret in {RAY_NAMESPACE}" in failed["message"]


# ---- helm uninstall: the pre-delete hook ----------------------------------------------------


def _run_hook(world: World, ns: str, hook: list[dict], tmp: Path) -> str:
    """Run the chart's pre-delete hook as Helm would have it run: its account and RBAC
    applied, then its Job's container args (``python -m dwt_operator.cleanup``) as a
    process logged in with that account's token. Returns its output."""
    import subprocess
    import sys

    from servers.operator_proc import apply

    (job,) = [d for d in hook if d["kind"] == "Job"]
    apply(world.kube, [d for d in hook if d["kind"] != "Job"])
    pod = job["spec"]["template"]["spec"]
    token = world.kube.token_for(ns, pod["serviceAccountName"])
    kubeconfig = world.kube.write_kubeconfig(tmp / f"hook-{ns}.kubeconfig", token, ns)
    (container,) = pod["containers"]
    argv = container["args"]
    assert argv[:3] == ["python", "-m", "dwt_operator.cleanup"]
    argv = [sys.executable, *argv[1:]]
    argv[argv.index("--timeout") + 1] = "20"  # the chart's 120 s, shortened for the test
    done = subprocess.run(
        argv,
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_helm_uninstalls_hook_leaves_no_community_job_terminating(world, ns, tmp_path, head_back):
    """The chart's pre-delete hook in a namespace the operator serves: its CommunityJobs go,
    with Ray down too (a StopFailed Event each, no wait). Then with the operator already
    gone: after its timeout the hook drops kopf's finalizer itself and says so. (The
    module's cluster-wide operator serves the namespace: a second, namespaced one would
    compete with it for the same jobs.)"""
    from servers.apply import render_chart

    hook = [
        d
        for d in render_chart({"ray": {"auth": {"enabled": False}}}, ns)
        if "helm.sh/hook" in (d["metadata"].get("annotations") or {})
    ]
    assert {d["metadata"]["annotations"]["helm.sh/hook"] for d in hook} == {"pre-delete"}
    for name in ("first", "second"):
        create_job(world.kube, ns, name, community=f"slow-{name}", steps=["bonds"])
        world.phase(ns, name, "Running")
    world.head.stop(kill=True)  # Ray is down: deletion must not wait for it
    said = _run_hook(world, ns, hook, tmp_path)
    assert [get_job(world.kube, ns, n) for n in ("first", "second")] == [None, None]
    assert "finalizer was dropped" not in said, said
    assert len([e for e in events(world.kube, ns) if e["reason"] == "StopFailed"]) == 2
    world.head.start()
    create_job(world.kube, ns, "third", community="slow-third", steps=["bonds"])
    world.phase(ns, "third", "Running")
    world.operator.stop()  # the operator is gone first: nothing would release the job
    try:
        said = _run_hook(world, ns, hook, tmp_path)
    finally:
        world.operator.start()
    assert get_job(world.kube, ns, "third") is None
    assert f"CommunityJob {ns}/third was not released by the operator" in said
    assert _ray_job(ns, "third") in said  # the Ray job it could not stop, named
