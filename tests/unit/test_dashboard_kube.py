"""The dashboard's cluster launcher creates CommunityJobs the API server (emulated, with
the real CRD schema) accepts, and that the operator would run under the run id it gives."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import yaml
from pydantic import ValidationError

from dwt_dashboard.kube_launcher import KubeLauncher
from kube.fixtures import kube_api

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "manifests" / "crds" / "communityjobs.yaml").read_text())
JOBS = "discoverweekly.io/v1alpha1/communityjobs"


def test_runs_become_valid_community_jobs(tmp_path, store):
    with kube_api(crds=[CRD], tmp_dir=tmp_path) as api:
        custom = kubernetes.client.CustomObjectsApi(api.client())
        launcher = KubeLauncher(custom, "default", store, keys_secret="x-api-keys")
        first = launcher.run(
            "ai-ethics", {"steps": ["bonds", "cluster", "content"], "weights": {"reply": 50}}
        )
        second = launcher.run("ai-ethics", {})  # the whole weekly pipeline
        jobs = api.list(JOBS, "default")
        with pytest.raises(ValidationError):
            launcher.run("ai-ethics", {"weights": {"reply": -1}})
        assert len(api.list(JOBS, "default")) == 2
    by_run = {f"dwt-default-{j['metadata']['name']}-g1": j for j in jobs}
    assert set(by_run) == {first, second}
    job = by_run[first]
    assert job["spec"]["weights"]["reply"] == 50 and job["spec"]["weights"]["quote"] == 10
    assert "collection" not in job["spec"] or "apiKeysSecret" not in job["spec"]["collection"]
    assert by_run[second]["spec"]["collection"]["apiKeysSecret"] == "x-api-keys"
    assert job["metadata"]["labels"]["discoverweekly.io/community"] == "ai-ethics"
