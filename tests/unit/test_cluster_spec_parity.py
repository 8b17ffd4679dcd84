"""CommunityJobSpec (the check the dashboard makes before it creates a CommunityJob, and the
operator's reading of one) and the CRD generated from it agree, as the REAL kube-apiserver
(`kube_api`, tests/servers/) applies the CRD: Go's regular expressions, its numbers, its
defaulting. The API emulator the tests once used matched patterns with Python's `re`, so it
could not see where the two differ.

- What the model accepts, the server accepts (sent as the dashboard sends it: the model's
  own JSON), and the defaults the server fills in are the model's.
- What the server refuses, the model refuses first, so a person gets the dashboard's
  message rather than the API server's.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dwt.pipeline.spec import CommunityJobSpec
from servers.apply import JOBS_PATH, fresh_namespace, install_project_crds
from servers.kube import KubeServer

API_VERSION = "discoverweekly.io/v1alpha1"

VALID: dict[str, dict[str, Any]] = {
    "minimal": {},
    "weekly-example": {
        "schedule": "0 6 * * 1",
        "timeZone": "Europe/Paris",
        "collection": {"apiKeysSecret": "x-api-keys", "workersPerKey": 2},
        "activeDeadlineSeconds": 21600,
        "historyLimit": 8,
    },
    "macro": {"schedule": "@weekly"},
    "names-and-steps": {"schedule": "*/15 8-18 * JAN-MAR mon-fri", "steps": ["bonds"]},
    "cron-extras": {"schedule": "0 0 L * ?"},
    "tab-separated": {"schedule": "0\t6\t*\t*\t1"},
    "listed-members": {"members": {"scope": "listed", "accounts": ["ada", "1234"]}},
    "bounds": {
        "windowDays": 30,
        "weights": {"reply": 1_000_000, "tweet": 0},
        "clustering": {"seed": 2**32 - 1, "trials": 1000},
        "content": {"eps": 1, "trendSigma": 0},
        "backoffLimit": 0,
    },
    "nulls": {
        "schedule": None,
        "activeDeadlineSeconds": None,
        "collection": {"apiKeysSecret": None},
    },
    "snake-case-and-text": {"window_days": "3", "weights": {"reply": "50"}},
}

INVALID: dict[str, dict[str, Any]] = {
    # Fields are separated by spaces or tabs only: Python's \s also takes a vertical tab,
    # the API server's (Go's) does not; the model once let this through and got a 422.
    "vertical-tab": {"schedule": "0\v6 * * 1"},
    "words": {"schedule": "every monday"},
    "six-fields": {"schedule": "0 0 6 * * 1"},
    "minute-60": {"schedule": "60 6 * * 1"},
    "no-break-space": {"schedule": "0\u00a06 * * 1"},
    "trailing-newline": {"schedule": "0 6 * * 1\n"},
    "reply-1e308": {"weights": {"reply": 1e308}},
    "negative": {"weights": {"quote": -5}},
    "unknown-field": {"bogus": 1},
    "unknown-nested": {"weights": {"replies": 5}},
    "community": {"community": "Not Valid"},
    "community-64": {"community": "a" * 64},
    "step": {"steps": ["sing"]},
    "no-steps": {"steps": []},
    "repeated-step": {"steps": ["bonds", "bonds"]},
    "window-31": {"windowDays": 31},
    "window-half": {"windowDays": 7.5},
    "policy": {"concurrencyPolicy": "Allow"},
    "eps-0": {"content": {"eps": 0}},
    "seed-2^32": {"clustering": {"seed": 2**32}},
    "algorithm": {"clustering": {"algorithm": "louvain"}},
    "zone-65": {"timeZone": "A" * 65},
    "deadline-0": {"activeDeadlineSeconds": 0},
    "scope": {"members": {"scope": "some"}},
}


@pytest.fixture(scope="module")
def namespace(kube_api: KubeServer) -> str:
    install_project_crds(kube_api)
    return fresh_namespace(kube_api, "parity")


def server_create(kube: KubeServer, ns: str, spec: dict[str, Any]) -> tuple[int, Any]:
    """A dry-run create with strict field validation (kubectl's default)."""
    job = {
        "apiVersion": API_VERSION,
        "kind": "CommunityJob",
        "metadata": {"generateName": "parity-"},
        "spec": spec,
    }
    return kube.request("POST", JOBS_PATH.format(ns=ns) + "?dryRun=All&fieldValidation=Strict", job)


@pytest.mark.parametrize("spec", VALID.values(), ids=VALID.keys())
def test_what_the_model_accepts_the_server_stores_with_the_same_defaults(
    spec: dict[str, Any], kube_api: KubeServer, namespace: str
):
    checked = CommunityJobSpec.model_validate({"community": "ai-ethics", **spec})
    sent = checked.model_dump(mode="json", by_alias=True, exclude_unset=True)
    status, body = server_create(kube_api, namespace, sent)
    assert status == 201, body
    # The server's defaults are the model's: reading the stored spec gives the same run.
    assert CommunityJobSpec.model_validate(body["spec"]) == checked


@pytest.mark.parametrize("spec", INVALID.values(), ids=INVALID.keys())
def test_what_the_server_refuses_the_model_refuses_first(
    spec: dict[str, Any], kube_api: KubeServer, namespace: str
):
    spec = {"community": "ai-ethics", **spec}
    status, body = server_create(kube_api, namespace, spec)
    assert status in (400, 422), body
    with pytest.raises(ValidationError):
        CommunityJobSpec.model_validate(spec)
