"""The three PATCH flavours of the Kubernetes API, applied to plain dicts.

kmock 0.8 merges dicts its own way (a dict cannot replace a scalar, lists are replaced, no
strategic-merge directives), which differs from what the `kubernetes` client (strategic merge
for built-in kinds), kubectl and kopf (JSON merge patch, JSON patch) expect from a real server.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# patchMergeKey of the list fields of built-in kinds that strategic merge merges item by item
# (from the Go struct tags; the ones a Deployment, Pod template, Service or RBAC object uses).
# Lists not named here are replaced as a whole, like JSON merge patch does.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars merged as sets (patchStrategy "merge").
PRIMITIVE_MERGE_LISTS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied: the API server answers 422 for it."""


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def json_patch(target: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902; a failed ``test`` or a bad path is a `PatchError` (422, as the API server says)."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(copy.deepcopy(dict(target)), ops, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchError(str(e)) from e


def strategic_merge_patch(target: Any, patch: Any, field: str | None = None) -> Any:
    """An approximation of strategic merge patch for built-in kinds.

    Supports merging lists of objects by the merge keys in `MERGE_KEYS`, set-like lists of
    scalars (`finalizers`), and the directives ``$patch: replace|delete``,
    ``$deleteFromPrimitiveList/<field>``, ``$retainKeys`` and ``$setElementOrder/<field>``
    (ignored: the order of the target list is kept).
    """
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive == "replace" or not isinstance(target, Mapping):
        target = {}
    result = dict(target)
    for key, value in body.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            drop = set(map(repr, value or []))
            result[name] = [v for v in result.get(name) or [] if repr(v) not in drop]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key)
        else:
            merged = strategic_merge_patch(result.get(key), value, key)
            if merged is None and isinstance(value, Mapping) and value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = merged
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(target: Any, patch: list[Any], field: str) -> list[Any]:
    old = list(target) if isinstance(target, list) else []
    if any(isinstance(item, Mapping) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, Mapping) and "$patch" in i)]
    if field in PRIMITIVE_MERGE_LISTS:
        return old + [copy.deepcopy(v) for v in patch if v not in old]
    key = MERGE_KEYS.get(field)
    if key is None and field == "ports":
        key = "containerPort" if any("containerPort" in p for p in patch) else "port"
    if key is None or not all(isinstance(item, Mapping) and key in item for item in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(item) for item in old]
    for item in patch:
        index = next((i for i, cur in enumerate(result)
                      if isinstance(cur, Mapping) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge_patch({}, item, field))
        else:
            result[index] = strategic_merge_patch(result[index], item, field)
    return result
