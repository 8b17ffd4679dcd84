"""What an API server does with a CRD's structural ``openAPIV3Schema``: prune, default, validate.

A real server drops unknown fields (unless ``x-kubernetes-preserve-unknown-fields``), fills
``default:`` values, and refuses invalid objects with 422 ``Invalid`` and a `Status` body listing
the causes. kmock 0.8 does none of this, so an operator bug that only a real server would catch
(a status field missing from the schema, a spec the schema refuses) would pass the tests unseen.
Not emulated: CEL rules (``x-kubernetes-validations``), ``format`` checks, map-type list
uniqueness (``x-kubernetes-list-type: set`` is checked), and the ratcheting of validation on
updates.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

_KEEP_AT_ROOT = {"apiVersion", "kind", "metadata"}


def to_json_schema(schema: Any) -> Any:
    """Translate the OpenAPI v3.0 dialect of CRDs (``nullable``, int-or-string) to JSON Schema."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = to_json_schema(value)
        elif key == "default" or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable"):
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def prune(value: Any, schema: Mapping[str, Any] | None, *, root: bool = False,
          removed: list[str] | None = None, path: str = "") -> Any:
    """Drop the fields the schema does not know, in place, like the API server does;
    their paths go to ``removed`` (what ``fieldValidation=Strict`` refuses)."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            sub_path = f"{path}.{key}" if path else key
            if (root or embedded) and key in _KEEP_AT_ROOT:
                continue  # ObjectMeta is the server's, whatever the schema says about it
            if key in props:
                prune(value[key], props[key], removed=removed, path=sub_path)
            elif isinstance(extra, Mapping):
                prune(value[key], extra, removed=removed, path=sub_path)
            elif preserve or extra is True:
                continue
            else:
                del value[key]
                if removed is not None:
                    removed.append(sub_path)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            prune(item, schema["items"], removed=removed, path=f"{path}[{index}]")
    return value


def apply_defaults(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Fill ``default:`` values of absent (or null, non-nullable) fields, in place."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if not isinstance(sub, Mapping) or "default" not in sub:
                continue
            if key not in value or (value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            if key in props:
                apply_defaults(item, props[key])
            elif isinstance(schema.get("additionalProperties"), Mapping):
                apply_defaults(item, schema["additionalProperties"])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def _field_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _render(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


class CrdSchema:
    """One version's schema: prune + default + validate, and the 422 causes like the server's."""

    def __init__(self, openapi_schema: Mapping[str, Any]):
        self.openapi = copy.deepcopy(dict(openapi_schema))
        json_schema = to_json_schema(self.openapi)
        # OpenAPI v3.0 is draft-4-like (boolean exclusiveMinimum/exclusiveMaximum).
        jsonschema.Draft4Validator.check_schema(json_schema)
        self.validator = jsonschema.Draft4Validator(json_schema)

    def normalize(self, obj: dict[str, Any]) -> list[str]:
        """Prune unknown fields, then fill defaults (in place); returns the pruned paths."""
        removed: list[str] = []
        prune(obj, self.openapi, root=True, removed=removed)
        apply_defaults(obj, self.openapi)
        return removed

    def causes(self, obj: Mapping[str, Any]) -> list[dict[str, str]]:
        """The validation failures as Kubernetes `StatusCause` dicts (empty when valid)."""
        causes: list[dict[str, str]] = []
        errors = sorted(self.validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))
        for error in errors:
            field = _field_path(error.absolute_path)
            if error.validator == "required":
                for prop in error.validator_value:
                    if isinstance(error.instance, Mapping) and prop not in error.instance:
                        name = f"{field}.{prop}" if field else prop
                        causes.append({"reason": "FieldValueRequired",
                                       "message": "Required value", "field": name})
            elif error.validator == "enum":
                supported = ", ".join(_render(v) for v in error.validator_value)
                causes.append({"reason": "FieldValueNotSupported", "field": field,
                               "message": f"Unsupported value: {_render(error.instance)}: "
                                          f"supported values: {supported}"})
            elif error.validator == "uniqueItems":
                items = list(error.instance)
                at, dup = next((n, i) for n, i in enumerate(items) if i in items[:n])
                causes.append({"reason": "FieldValueDuplicate", "field": f"{field}[{at}]",
                               "message": f"Duplicate value: {_render(dup)}"})
            elif error.validator == "type":
                causes.append({"reason": "FieldValueTypeInvalid", "field": field,
                               "message": f"Invalid value: {_render(error.instance)}: {field} in "
                                          f"body must be of type {error.validator_value}: "
                                          f"{_render(error.instance)}"})
            else:
                causes.append({"reason": "FieldValueInvalid", "field": field,
                               "message": f"Invalid value: {_render(error.instance)}: {field} in "
                                          f"body {_describe(error)}"})
        return causes


def _describe(error: jsonschema.ValidationError) -> str:
    """The server's wording for the common keywords, jsonschema's message for the rest."""
    v, kw = error.validator_value, error.validator
    words = {
        "minimum": f"should be greater than or equal to {v}",
        "maximum": f"should be less than or equal to {v}",
        "minLength": f"should be at least {v} chars long",
        "maxLength": f"may not be more than {v} chars long",
        "minItems": f"should have at least {v} items",
        "maxItems": f"must have at most {v} items",
        "pattern": f"should match '{v}'",
    }
    return words.get(str(kw), error.message)
