"""The cluster's launcher: each run the dashboard asks for becomes a ``CommunityJob``.

The operator turns it into a Ray job; the Jobs page follows the run in the store (the
run id is the one the operator derives) and the CommunityJobs' status. The objects are
validated against the CRD by the API server; nothing secret goes into them — collection
names the key Secret, never a key. The daily schedule is one CommunityJob per community,
``<community>-daily``, whose ``schedule`` and ``timeZone`` the collection page edits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from dwt.pipeline.spec import CommunityJobSpec
from dwt.store import Store
from dwt_dashboard.launcher import DailySchedule, LauncherError, LocalLauncher
from dwt_operator import crd, entrypoint

CREATED_BY = {"app.kubernetes.io/created-by": "dwt-dashboard"}
COMMUNITY_LABEL = "discoverweekly.io/community"


class KubeLauncher:
    """Creates and patches CommunityJobs through the Kubernetes API (``CustomObjectsApi``).

    Adding members by username needs no cluster work: the local launcher's code does it,
    looking unknown names up with ``lookup_token``'s key.
    """

    def __init__(
        self,
        custom_api: Any,
        namespace: str,
        store: Store,
        keys_secret: str | None = None,
        lookup_token: Callable[[], str | None] | None = None,
        x_api_base_url: str = "https://api.twitter.com",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.custom = custom_api
        self.namespace = namespace
        self.keys_secret = keys_secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self._local = LocalLauncher(
            store, lookup_token=lookup_token, x_api_base_url=x_api_base_url, clock=self.clock
        )

    def _call(self, method: str, *args: Any) -> Any:
        """One CustomObjectsApi call on CommunityJobs; failures become a clear LauncherError."""
        try:
            return getattr(self.custom, method)(
                crd.GROUP, crd.VERSION, self.namespace, crd.PLURAL, *args
            )
        except ApiException as exc:
            if exc.status == 404 and method.startswith("get_"):
                return None
            raise LauncherError(
                f"the Kubernetes API refused: {exc.status} {exc.reason} {_api_message(exc)}"
            ) from None
        except HTTPError as exc:
            raise LauncherError(f"the Kubernetes API could not be reached: {exc}") from None

    def _spec(self, community: str, spec: dict[str, Any]) -> dict[str, Any]:
        body_spec = {**spec, "community": community}
        if self.keys_secret and "collect" in body_spec.get("steps", ["collect"]):
            body_spec.setdefault("collection", {})["apiKeysSecret"] = self.keys_secret
        checked = CommunityJobSpec.model_validate(body_spec)  # a clear error before the API's
        # Send what was checked, in the CRD's spelling and types: the model also takes
        # snake_case names and numbers as text, which the API server would silently drop
        # (an unknown field: the default runs instead) or refuse (422).
        return checked.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def _create(self, community: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
        return self._call(
            "create_namespaced_custom_object",
            {
                "apiVersion": f"{crd.GROUP}/{crd.VERSION}",
                "kind": crd.KIND,
                "metadata": {
                    **metadata,
                    "labels": {COMMUNITY_LABEL: community, **CREATED_BY},
                },
                "spec": self._spec(community, spec),
            },
        )

    def run(self, community: str, spec: dict[str, Any]) -> str:
        created = self._create(community, spec, generateName=f"{community}-")
        meta = created["metadata"]
        trigger = entrypoint.generation_trigger(meta.get("generation", 1))
        return entrypoint.run_id(self.namespace, meta["name"], trigger)

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        return self._local.add_members(community, usernames, core)

    # --- the daily schedule: the CommunityJob <community>-daily -----------------------------
    def _get(self, name: str) -> dict[str, Any] | None:
        return self._call("get_namespaced_custom_object", name)

    def schedule(self, community: str) -> DailySchedule | None:
        job = self._get(f"{community}-daily")
        if job is None:
            return None
        spec = job.get("spec", {})
        return DailySchedule.from_cron(spec.get("schedule"), spec.get("timeZone", "UTC"))

    def set_schedule(self, community: str, schedule: DailySchedule) -> str:
        name = f"{community}-daily"
        change = {"schedule": schedule.cron, "timeZone": schedule.time_zone}
        if self._get(name) is None:
            self._create(community, change, name=name)  # the whole weekly pipeline, daily
            verb = "Created"
        else:
            self._call("patch_namespaced_custom_object", name, {"spec": change})
            verb = "Updated"
        return f"{verb} CommunityJob {name}: {schedule.describe(self.clock())}."

    # --- following runs ------------------------------------------------------------------------
    def jobs(self, community: str) -> list[dict[str, Any]]:
        """The community's CommunityJobs, newest first (however they were created)."""
        listed = self._call("list_namespaced_custom_object")["items"]
        mine = [j for j in listed if j.get("spec", {}).get("community") == community]
        mine.sort(key=lambda j: j["metadata"].get("creationTimestamp", ""), reverse=True)
        return [
            {
                "name": j["metadata"]["name"],
                "phase": j.get("status", {}).get("phase", "Pending"),
                "schedule": j["spec"].get("schedule"),
                "time_zone": j["spec"].get("timeZone", "UTC"),
                "steps": j["spec"].get("steps", []),
                "run_id": j.get("status", {}).get("runId"),
                "attempt": j.get("status", {}).get("attempt"),
                "workers": j.get("status", {}).get("workers"),
                "keys": j.get("status", {}).get("keys"),
                "message": j.get("status", {}).get("message", ""),
            }
            for j in mine
        ]

    def log_tail(self, community: str, run_id: str) -> list[str]:
        """What the operator put in the job's status for this run (the Ray job's log tail
        when it failed, else its last message)."""
        for job in self.jobs(community):
            if job["run_id"] == run_id:
                return job["message"].splitlines()
        return []


def _api_message(exc: ApiException) -> str:
    """The API server's own explanation (e.g. which field the CRD schema rejected)."""
    try:
        return json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        return ""
