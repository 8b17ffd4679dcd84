"""``python -m dwt_operator.cleanup``: the chart's pre-delete hook for ``helm uninstall``.

kopf holds each CommunityJob with a finalizer until the operator has stopped its Ray job.
``helm uninstall`` removes the operator but not the CommunityJobs (they are not the
release's objects), so nothing would release them any more: deleting them, or their
namespace, would stay ``Terminating`` for ever. Before the release goes, this deletes the
namespace's CommunityJobs while the operator still runs (it stops their Ray jobs, or says
in an Event that Ray did not answer, and releases them), waits for them to go, and drops
kopf's finalizer from any still there after ``--timeout`` (an operator already gone),
saying which.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dwt_operator import crd

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def clean(
    custom: Any,
    namespace: str,
    timeout: float,
    say: Callable[[str], None] = print,
    poll: float = 1.0,
) -> list[str]:
    """Delete the namespace's CommunityJobs and wait for them to go; the names whose
    finalizer had to be dropped."""
    from kubernetes.client.exceptions import ApiException

    args = (crd.GROUP, crd.VERSION, namespace, crd.PLURAL)

    def names() -> list[str]:
        return [i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*args)["items"]]

    jobs = names()
    for name in jobs:
        try:
            custom.delete_namespaced_custom_object(*args, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    say(f"deleted {len(jobs)} CommunityJob(s) in {namespace}; waiting for the operator")
    deadline = time.monotonic() + timeout
    while (left := names()) and time.monotonic() < deadline:
        time.sleep(poll)
    for name in left:
        try:
            job = custom.get_namespaced_custom_object(*args, name)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        meta = job["metadata"]
        kept = [f for f in meta.get("finalizers") or [] if f != KOPF_FINALIZER]
        custom.patch_namespaced_custom_object(
            *args,
            name,
            {"metadata": {"finalizers": kept or None}},
        )
        say(
            f"CommunityJob {namespace}/{name} was not released by the operator within "
            f"{timeout:.0f}s: its finalizer was dropped (its Ray job "
            f"{(job.get('status') or {}).get('rayJobId') or '-'} may not have been stopped)"
        )
    say(f"{len(jobs)} CommunityJob(s) gone from {namespace}")
    return left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dwt_operator.cleanup", description=__doc__)
    parser.add_argument("--namespace", help="default: the pod's own")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    args = parser.parse_args(argv)
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    namespace = args.namespace or POD_NAMESPACE.read_text().strip()
    clean(client.CustomObjectsApi(), namespace, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
