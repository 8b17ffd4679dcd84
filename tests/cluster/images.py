"""The images the cluster runs, built here (no registry can be reached) and imported into the
node's containerd: the product image (`make image`), the pod sandbox's pause image (Kubernetes'
own ``build/pause/linux/pause.c`` compiled statically), and one-binary images of CoreDNS and
FerretDB (the binaries `make servers` built). Each is cached by its contents."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from servers.paths import REPO, binary, server

BUILD = REPO / "tools" / "image" / "build.py"
PAUSE_VERSION = "3.10"
CACHE = Path.home() / ".cache" / "dwt" / "cluster"
NONROOT = "65532:65532"


@dataclasses.dataclass(frozen=True)
class Image:
    reference: str
    archive: Path


def _build(*args: str) -> Image:
    out = subprocess.run(
        [sys.executable, str(BUILD), *args], check=True, text=True, stdout=subprocess.PIPE
    ).stdout.split()
    return Image(out[0], Path(out[1]))


def product() -> Image:
    """The product image (tools/image/build.py: cached by the hash of its inputs)."""
    return _build()


def _kubernetes_source() -> Path:
    node = server("kube-node")
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{node.module}@{node.version}"],
        cwd=node.source,
        check=True,
        capture_output=True,
        text=True,
        env=_go_env(),
    ).stdout
    return Path(json.loads(out)["Dir"])


def _go_env() -> dict[str, str]:
    import os

    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": f"{path}:/usr/local/go/bin"}


def pause_binary() -> Path:
    """Kubernetes' pause.c (from the k8s.io/kubernetes module) built static, cached by its
    source's hash."""
    source = _kubernetes_source() / "build" / "pause" / "linux" / "pause.c"
    digest = hashlib.sha256(source.read_bytes() + PAUSE_VERSION.encode()).hexdigest()[:16]
    out = CACHE / f"pause-{PAUSE_VERSION}-{digest}" / "pause"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run(
            [
                "gcc",
                "-static",
                "-Os",
                "-s",
                f"-DVERSION=v{PAUSE_VERSION}",
                "-o",
                str(tmp),
                str(source),
            ],
            check=True,
        )
        tmp.rename(out)
    return out


def pause() -> Image:
    return _build(
        "binary",
        "--name",
        "localhost/pause",
        "--tag",
        PAUSE_VERSION,
        "--file",
        f"{pause_binary()}:/pause",
        "--entrypoint",
        "/pause",
        "--user",
        "65535:65535",
    )


def coredns() -> Image:
    return _build(
        "binary",
        "--name",
        "localhost/coredns",
        "--tag",
        server("coredns").version,
        "--file",
        f"{binary('coredns')}:/coredns",
        "--entrypoint",
        "/coredns",
        "--user",
        NONROOT,
    )


def ferretdb() -> Image:
    return _build(
        "binary",
        "--name",
        "localhost/ferretdb",
        "--tag",
        server("ferretdb").version,
        "--file",
        f"{binary('ferretdb')}:/ferretdb",
        "--entrypoint",
        "/ferretdb",
        "--user",
        NONROOT,
    )


def all_images() -> dict[str, Image]:
    """Every image the cluster and the e2e need, built or found in their caches."""
    return {"pause": pause(), "coredns": coredns(), "ferretdb": ferretdb(), "product": product()}
