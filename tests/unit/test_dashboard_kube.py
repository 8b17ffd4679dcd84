"""The dashboard's cluster mode on a REAL kube-apiserver (`kube_api`, tests/servers/), as the
chart's dashboard ServiceAccount: the chart is applied into a fresh namespace and every call
is made with a token for that account, so the chart's Role and RoleBinding are what let it
create and patch CommunityJobs (and the real CRD schema is what checks them), and what stop
it from doing more.

No emulator here: nothing in these tests needs a fault injected. (An unreachable cluster is a
closed port, in test_dashboard_actions.py.)
"""

from __future__ import annotations

import kubernetes
import pytest
from pydantic import ValidationError

from dwt.stages.weights import BondWeights
from dwt_dashboard.__main__ import _kube, _parser
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.kube_launcher import KubeLauncher
from dwt_dashboard.launcher import DailySchedule, LauncherError
from dwt_operator import entrypoint
from servers.apply import (
    DASHBOARD_SA,
    JOBS_PATH,
    KEYS_SECRET,
    chart_in_fresh_namespace,
    dashboard_token,
    fresh_namespace,
)
from servers.kube import KubeServer


@pytest.fixture
def cluster(kube_api: KubeServer) -> tuple[str, str]:
    """The chart in a fresh namespace, and a token for its dashboard's ServiceAccount."""
    ns, _ = chart_in_fresh_namespace(kube_api, "dashboard")
    return ns, dashboard_token(kube_api, ns)


def launcher_for(kube: KubeServer, token: str, ns: str, store, **kwargs) -> KubeLauncher:
    custom = kubernetes.client.CustomObjectsApi(kube.client(token))
    return KubeLauncher(custom, ns, store, keys_secret=KEYS_SECRET, **kwargs)


def stored_jobs(kube: KubeServer, ns: str) -> list[dict]:
    """The namespace's CommunityJobs as the API server keeps them (read as the admin)."""
    return kube._ok("GET", JOBS_PATH.format(ns=ns))["items"]


def test_runs_become_valid_community_jobs(kube_api: KubeServer, cluster, store):
    ns, token = cluster
    launcher = launcher_for(kube_api, token, ns, store)
    first = launcher.run(
        "ai-ethics", {"steps": ["bonds", "cluster", "content"], "weights": {"reply": 50}}
    )
    second = launcher.run("ai-ethics", {})  # the whole weekly pipeline
    jobs = stored_jobs(kube_api, ns)
    with pytest.raises(ValidationError):  # refused before the API is asked
        launcher.run("ai-ethics", {"weights": {"reply": -1}})
    assert len(stored_jobs(kube_api, ns)) == 2

    by_run = {entrypoint.run_id(ns, j["metadata"]["name"], "g1"): j for j in jobs}
    assert set(by_run) == {first, second}
    job = by_run[first]
    weights = job["spec"]["weights"]  # the chosen one, the others at their defaults
    assert weights["reply"] == 50 and weights["quote"] == BondWeights().quote
    assert "apiKeysSecret" not in job["spec"]["collection"]  # no collect step, no keys
    assert by_run[second]["spec"]["collection"]["apiKeysSecret"] == KEYS_SECRET
    assert by_run[second]["spec"]["steps"] == ["collect", "discover", "bonds", "cluster", "content"]
    assert job["metadata"]["labels"] == {
        "discoverweekly.io/community": "ai-ethics",
        "app.kubernetes.io/created-by": "dwt-dashboard",
    }
    managers = {m["manager"] for m in job["metadata"]["managedFields"]}
    assert len(managers) == 1  # written by the dashboard's client alone


def test_specs_reach_the_server_as_they_were_checked(kube_api: KubeServer, cluster, store):
    """The launcher checks a spec with CommunityJobSpec (which takes snake_case names and
    numbers as text) and must send what it checked, in the CRD's spelling. Sending the
    caller's dict as given, the real server silently dropped ``window_days`` (an unknown
    field: the run would have read 7 days, not 3) and refused ``"50"`` (422)."""
    ns, token = cluster
    launcher = launcher_for(kube_api, token, ns, store)
    launcher.run("ai-ethics", {"steps": ["bonds"], "window_days": 3})
    launcher.run(
        "open-source",
        {"steps": ["bonds"], "weights": {"reply": "50"}, "clustering": {"trials": 20.0}},
    )
    specs = {j["spec"]["community"]: j["spec"] for j in stored_jobs(kube_api, ns)}
    assert specs["ai-ethics"]["windowDays"] == 3
    assert specs["open-source"]["weights"]["reply"] == 50
    assert specs["open-source"]["clustering"]["trials"] == 20


def test_the_daily_schedule_is_one_job_created_then_patched(kube_api: KubeServer, cluster, store):
    ns, token = cluster
    launcher = launcher_for(kube_api, token, ns, store)
    users = UserDirectory.parse(user_line("ann", "right", ["demo"], iterations=1000))
    handlers = create_app(store, launcher, users).handlers
    store.add_members("demo", [{"id": "1", "username": "one"}])
    assert launcher.schedule("demo") is None
    created = handlers.set_schedule("ann", "demo", 7, "Europe/Paris")
    assert created.startswith("Created CommunityJob demo-daily: daily at 07:00 Europe/Paris")
    updated = handlers.set_schedule("ann", "demo", 21, "America/New_York")
    assert updated.startswith("Updated CommunityJob demo-daily: daily at 21:00")
    (job,) = stored_jobs(kube_api, ns)
    assert job["metadata"]["name"] == "demo-daily" and job["metadata"]["generation"] == 2
    assert job["spec"]["schedule"] == "0 21 * * *"
    assert job["spec"]["timeZone"] == "America/New_York"
    assert job["spec"]["collection"]["apiKeysSecret"] == KEYS_SECRET
    assert launcher.schedule("demo") == DailySchedule(21, "America/New_York")

    # The Jobs page follows the CommunityJobs as the operator reports them (its status,
    # written here as the admin: the dashboard's account may not touch status).
    run_id = launcher.run("demo", {"steps": ["bonds", "cluster", "content"]})
    (name,) = [
        j["metadata"]["name"]
        for j in stored_jobs(kube_api, ns)
        if entrypoint.run_id(ns, j["metadata"]["name"], "g1") == run_id
    ]
    status = {"status": {"phase": "Failed", "runId": run_id, "message": "boom\nlast line"}}
    path = f"{JOBS_PATH.format(ns=ns)}/{name}/status"
    assert (
        kube_api.request(
            "PATCH", path, status, token=token, content_type="application/merge-patch+json"
        )[0]
        == 403
    )
    kube_api._ok("PATCH", path, status, content_type="application/merge-patch+json")
    jobs = {j["name"]: j for j in launcher.jobs("demo")}
    assert jobs[name]["phase"] == "Failed" and jobs["demo-daily"]["schedule"] == "0 21 * * *"
    assert jobs["demo-daily"]["phase"] == "Pending"
    assert launcher.log_tail("demo", run_id) == ["boom", "last line"]
    page = str(handlers.page("ann", "/jobs", "demo"))
    assert "demo-daily" in page and "0 21 * * * America/New_York" in page


def test_the_dashboards_account_may_do_no_more(kube_api: KubeServer, cluster, store):
    ns, token = cluster
    jobs = JOBS_PATH.format(ns=ns)
    launcher_for(kube_api, token, ns, store).set_schedule("demo", DailySchedule(6, "UTC"))
    as_dashboard = {
        ("DELETE", f"{jobs}/demo-daily"): 403,
        ("GET", "/apis/discoverweekly.io/v1alpha1/communityjobs"): 403,  # other namespaces
        ("GET", f"/api/v1/namespaces/{ns}/secrets"): 403,
        ("GET", f"/api/v1/namespaces/{ns}/pods"): 403,
        ("GET", f"/apis/ray.io/v1/namespaces/{ns}/rayclusters"): 403,
        ("GET", f"{jobs}?watch=1&timeoutSeconds=1"): 200,
    }
    got = {key: kube_api.request(*key, token=token)[0] for key in as_dashboard}
    assert got == as_dashboard

    # Elsewhere it has no Role: the refusal is said, with the server's own reason.
    other = fresh_namespace(kube_api, "elsewhere")
    stranger = launcher_for(kube_api, token, other, store)
    with pytest.raises(LauncherError) as refused:
        stranger.run("ai-ethics", {})
    message = str(refused.value)
    assert message.startswith("the Kubernetes API refused: 403 Forbidden")
    assert f"system:serviceaccount:{ns}:{DASHBOARD_SA}" in message
    assert f'in the namespace "{other}"' in message
    with pytest.raises(LauncherError, match="403"):
        stranger.jobs("ai-ethics")
    assert stored_jobs(kube_api, other) == []


def test_cluster_mode_reads_its_kubeconfig(
    kube_api: KubeServer, cluster, store, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """`python -m dwt_dashboard --kube` outside a pod takes the kubeconfig (here: the
    dashboard account's token) and builds its launcher and key store on it."""
    ns, token = cluster
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = str(kube_api.write_kubeconfig(tmp_path / "config", token))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # read when `kubernetes` is first imported:
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    # load_kube_config replaces the client's global default: put it back afterwards.
    monkeypatch.setattr(
        kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default
    )
    args = _parser().parse_args(
        [
            "--users",
            str(tmp_path / "users"),
            "--kube",
            "--namespace",
            ns,
            "--keys-secret",
            KEYS_SECRET,
            "--x-api-base-url",
            "http://127.0.0.1:9",
        ]
    )
    launcher, keys = _kube(args, store)
    assert keys is not None and keys.list() == []  # the chart's Secret, empty
    run_id = launcher.run("ai-ethics", {"steps": ["bonds"]})
    (job,) = stored_jobs(kube_api, ns)
    assert run_id == entrypoint.run_id(ns, job["metadata"]["name"], "g1")
    assert [j["name"] for j in launcher.jobs("ai-ethics")] == [job["metadata"]["name"]]
