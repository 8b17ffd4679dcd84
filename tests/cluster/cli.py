"""The two commands: ``up`` (a cluster for a person) and ``test`` (the cluster's tests)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from servers.kube import kubectl_path
from servers.paths import REPO

from .phases import Phases


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def up(args: argparse.Namespace) -> int:
    from . import images
    from .node import run_cluster

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    phases = Phases()
    started = time.monotonic()
    with phases.step("images (build or cache)"):
        built = images.all_images()

    with run_cluster(phases, images=list(built.values())) as cluster:
        kubeconfig = cluster.kubeconfig
        if args.kubeconfig:
            args.kubeconfig.write_bytes(cluster.kubeconfig.read_bytes())
            args.kubeconfig.chmod(0o600)
            kubeconfig = args.kubeconfig
        kubectl = kubectl_path() or "kubectl"
        print(
            f"\nnode Ready in {time.monotonic() - started:.0f}s; phases (s): "
            + ", ".join(f"{k} {v}" for k, v in phases.seconds.items()),
            flush=True,
        )
        print(
            f"kubeconfig (admin): {kubeconfig}\n"
            f"network namespace: {cluster.netns.name} (no interface to the outside)\n"
            f"product image: {built['product'].reference}\n"
            f"try:\n  {kubectl} --kubeconfig {kubeconfig} get nodes,pods -A -o wide\n"
            f"  see docs/helm.md for `helm install` of the chart into it\n"
            f"logs: {cluster.state / 'logs'}  (everything is removed on exit)\n"
            f"Ctrl-C stops it and cleans up.",
            flush=True,
        )
        try:
            while True:
                cluster.check()
                time.sleep(2)
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        finally:
            if args.kubeconfig:
                args.kubeconfig.unlink(missing_ok=True)
    return 0


def test(args: argparse.Namespace) -> int:
    """pytest over tests/cluster (with the cluster switched on); its plugin prints the JSON
    summary as the last line."""
    env = {**os.environ, "DWT_CLUSTER_TESTS": "1"}
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(REPO / "tests" / "cluster"),
        "-p",
        "no:cacheprovider",
        "-o",
        "timeout=3600",
        *args.pytest_args,
    ]
    return subprocess.run(argv, cwd=REPO, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="run a single-node cluster until Ctrl-C")
    p_up.add_argument("--kubeconfig", type=Path, help="also write the admin kubeconfig here")
    sub.add_parser(
        "test",
        help="the end-to-end and failure tests on a new cluster (more arguments go to pytest)",
    )
    args, extra = parser.parse_known_args(argv)
    if args.command == "up":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return up(args)
    args.pytest_args = extra
    return test(args)
