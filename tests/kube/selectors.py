"""Label and field selectors of list/watch requests (kmock 0.8 ignores both)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


class SelectorError(ValueError):
    """An unparseable selector: the API server answers 400 for it."""


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (a,b)`` sets."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_selector(selector: str | None) -> Predicate:
    """A predicate over objects for a label selector (``a=b,c!=d,e in (f,g),!h``)."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split(selector or ""):
        if m := _EQ_RE.match(term):
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m := _SET_RE.match(term):
            neg, key, op, values = m.groups()
            if op:
                allowed = {v.strip() for v in values.split(",") if v.strip()}
                inside = op == "in"
                checks.append(lambda labels, k=key, a=allowed, i=inside:
                              (k in labels and labels[k] in a) == i)
            else:
                present = not neg
                checks.append(lambda labels, k=key, p=present: (k in labels) == p)
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")

    def predicate(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return predicate


def field_selector(selector: str | None) -> Predicate:
    """A predicate for a field selector over dotted paths (``metadata.name=x,status.phase!=y``)."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in _split(selector or ""):
        m = _EQ_RE.match(term)
        if not m:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        negate = op == "!="
        checks.append(lambda obj, p=path, v=value, n=negate: (_field(obj, p) == v) != n)

    def predicate(obj: Mapping[str, Any]) -> bool:
        return all(check(obj) for check in checks)

    return predicate


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """Render a `LabelSelector` (matchLabels/matchExpressions) as a string, as /scale shows it."""
    if not selector:
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)
