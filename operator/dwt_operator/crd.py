"""The CommunityJob CRD, generated from the one model of its spec.

:class:`dwt.pipeline.spec.CommunityJobSpec` (pydantic) is the single source of the spec's
fields, defaults, enums and ranges; this module turns its JSON schema into the structural
OpenAPI v3 schema Kubernetes wants (refs inlined, ``anyOf null`` → ``nullable``, ``const``
→ ``enum``, no ``additionalProperties: false`` — the API server prunes unknown fields)
and adds the status schema and printer columns. ``manifests/crds/communityjobs.yaml`` and
the chart's copy are written from here (``python -m dwt_operator.crd``); a test fails when
either drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from dwt.pipeline.spec import STEP_ORDER, CommunityJobSpec

GROUP = "discoverweekly.io"
VERSION = "v1alpha1"
KIND = "CommunityJob"
PLURAL = "communityjobs"
SINGULAR = "communityjob"
SHORT_NAMES = ["cjob"]  # not "cj": that is CronJob's (a test checks the built-in ones)
PHASES = ["Pending", "Running", "Succeeded", "Failed", "Suspended", "Capped"]

_DROP = {"title", "additionalProperties", "$defs", "uniqueItems"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Rewrite a pydantic JSON schema node into a Kubernetes structural schema node."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            out = _structural({**options[0], **rest}, defs)
            if nullable:
                out["nullable"] = True
            return out
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":  # JSON Schema 2020 number → OpenAPI 3.0 boolean
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "default" and value is None:
            continue
        elif key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _structural(value, defs)
    return out


def spec_schema() -> dict[str, Any]:
    raw = CommunityJobSpec.model_json_schema(by_alias=True)
    schema = _structural(raw, raw.get("$defs", {}))
    schema["description"] = (
        "What to run for a community (steps, members, window, weights, clustering, content) "
        "and how: once or on a schedule, with a deadline, retries and kept history."
    )
    steps = schema["properties"]["steps"]
    steps["x-kubernetes-list-type"] = "set"
    steps["default"] = [s.value for s in STEP_ORDER]
    # Nested objects default to their own defaults, so `kubectl get -o yaml` shows them.
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object" and "default" not in prop and name != "members":
            prop["default"] = {}
    schema["properties"]["members"]["default"] = {}
    return schema


def status_schema() -> dict[str, Any]:
    string = {"type": "string"}
    time = {"type": "string", "format": "date-time"}
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": string,
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": string,
            "message": string,
            "lastTransitionTime": time,
        },
    }
    run = {
        "type": "object",
        "properties": {
            "runId": string,
            "rayJobId": string,
            "phase": string,
            "startedAt": time,
            "finishedAt": time,
            "counts": counts,
            "message": string,
            "postReads": {"type": "integer"},
            "estimatedSpend": {"type": "number"},
            "capped": {"type": "boolean"},
        },
    }
    # The collect step's plan, made before its first request (dwt.pipeline.estimate).
    plan = {
        "type": "object",
        "properties": {
            "accounts": {"type": "integer"},
            "keys": {"type": "integer"},
            "requests": counts,
            "bindingEndpoint": string,
            "durationSeconds": {"type": "number"},
            "postReads": {"type": "integer"},
            "followingAccounts": {"type": "integer"},
            "userLookups": {"type": "integer"},
            "costUsd": {"type": "number", "description": "USD, every charge X would make"},
            "bound": string,
            "warnings": {"type": "array", "items": string},
        },
    }
    return {
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": PHASES},
            "message": string,
            "observedGeneration": {"type": "integer", "format": "int64"},
            "runId": string,
            "rayJobId": string,
            "attempt": {"type": "integer"},
            "startedAt": time,
            "finishedAt": time,
            "lastScheduleTime": time,
            "workers": {"type": "integer"},
            "keys": {"type": "integer"},
            "driverNode": {
                "type": "string",
                "description": "the Ray node (id) the run's driver runs on",
            },
            "counts": counts,
            "progress": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            # One entry per type (conditions.TYPES), merged by type by server-side apply.
            "conditions": {
                "type": "array",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "lastSuccessfulTime": time,
            "succeeded": {"type": "integer", "description": "runs that succeeded"},
            "failed": {"type": "integer", "description": "runs that failed (after retries)"},
            "waits": {
                "type": "integer",
                "description": "resubmissions of this attempt after its community was busy",
            },
            "retryAt": time,
            "waitingFor": {
                "type": "string",
                "description": "the run or CommunityJob holding the community this run waits for",
            },
            "rayUnreachableSince": time,
            "rayCheckAt": time,
            "unstopped": {
                "type": "array",
                "description": "Ray jobs a stop could not reach; stopped once Ray answers",
                "items": string,
            },
            "rerunToken": {
                "type": "string",
                "description": "the value of the discoverweekly.io/rerun annotation last run",
            },
            "history": {"type": "array", "items": run},
            "collectionPlan": plan,
            "postReads": {"type": "integer", "description": "posts read (billed) by the run"},
            "followingAccounts": {"type": "integer", "description": "follow-list accounts billed"},
            "userLookups": {"type": "integer", "description": "user lookups billed"},
            "estimatedSpend": {"type": "number", "description": "USD, every charge of the run"},
            "spendByKind": {
                "type": "object",
                "description": "USD per resource X billed (posts, followingAccounts, userLookups)",
                "additionalProperties": {"type": "number"},
            },
            "monthSpent": {"type": "number", "description": "USD the community spent this month"},
            "monthForecast": {
                "type": "number",
                "description": "USD the month will cost at its cadence",
            },
            "capped": {"type": "boolean", "description": "stopped at a cap (ours or X's)"},
            "capReason": {"type": "string", "description": "which cap, in X's words for X's"},
            "skipped": {
                "type": "object",
                "description": "accounts left per endpoint when the run stopped at the cap",
                "additionalProperties": {"type": "integer"},
            },
        },
        # kopf keeps its own bookkeeping under status.kopf.
        "x-kubernetes-preserve-unknown-fields": True,
    }


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition object."""
    spec = spec_schema()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["discoverweekly"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Community", "type": "string", "jsonPath": ".spec.community"},
                        {
                            "name": "Steps",
                            "type": "string",
                            "jsonPath": ".spec.steps",
                            "priority": 1,
                        },
                        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
                        {"name": "Last run", "type": "date", "jsonPath": ".status.startedAt"},
                        {
                            "name": "Last success",
                            "type": "date",
                            "jsonPath": ".status.lastSuccessfulTime",
                        },
                        {
                            "name": "Succeeded",
                            "type": "integer",
                            "jsonPath": ".status.succeeded",
                            "priority": 1,
                        },
                        {
                            "name": "Failed",
                            "type": "integer",
                            "jsonPath": ".status.failed",
                            "priority": 1,
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A weekly (or one-off) Discover Weekly run.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated by `python -m dwt_operator.crd` from dwt.pipeline.spec — do not edit.\n"


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    """Write the CRD to the given paths (default: print it)."""
    paths = argv if argv is not None else sys.argv[1:]
    text = render()
    if not paths:
        sys.stdout.write(text)
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
