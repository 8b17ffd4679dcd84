"""The cluster's launcher: each run the dashboard asks for becomes a ``CommunityJob``.

The operator turns it into a Ray job; the Jobs page follows the run in the store (the
run id is the one the operator derives). The object is validated against the CRD by the
API server; nothing secret goes into it — collection names the key Secret, never a key.
"""

from __future__ import annotations

from typing import Any

from dwt.pipeline.spec import CommunityJobSpec
from dwt.store import Store
from dwt_dashboard.launcher import LocalLauncher
from dwt_operator import crd, entrypoint


class KubeLauncher:
    """Creates CommunityJobs through the Kubernetes API (``CustomObjectsApi``).

    Adding members by username needs no cluster work, so it is the local launcher's.
    """

    def __init__(
        self, custom_api: Any, namespace: str, store: Store, keys_secret: str | None = None
    ) -> None:
        self.custom = custom_api
        self.namespace = namespace
        self.keys_secret = keys_secret
        self._local = LocalLauncher(store)

    def run(self, community: str, spec: dict[str, Any]) -> str:
        body_spec = {**spec, "community": community}
        if self.keys_secret and "collect" in body_spec.get("steps", ["collect"]):
            body_spec.setdefault("collection", {})["apiKeysSecret"] = self.keys_secret
        CommunityJobSpec.model_validate(body_spec)  # a clear error before the API's
        created = self.custom.create_namespaced_custom_object(
            crd.GROUP,
            crd.VERSION,
            self.namespace,
            crd.PLURAL,
            {
                "apiVersion": f"{crd.GROUP}/{crd.VERSION}",
                "kind": crd.KIND,
                "metadata": {
                    "generateName": f"{community}-",
                    "labels": {
                        "discoverweekly.io/community": community,
                        "app.kubernetes.io/created-by": "dwt-dashboard",
                    },
                },
                "spec": body_spec,
            },
        )
        meta = created["metadata"]
        trigger = entrypoint.generation_trigger(meta.get("generation", 1))
        return entrypoint.run_id(self.namespace, meta["name"], trigger)

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        return self._local.add_members(community, usernames, core)
