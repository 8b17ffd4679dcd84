"""The store's query language stays inside the store (issue 28): no module of the product
outside ``services/dwt/store/`` writes a MongoDB-style filter or update — a dict literal
with a key starting with ``$`` — so callers ask :class:`dwt.store.Store` by name and the
embedded engine's SQL translator answers only what the store itself writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "services", ROOT / "operator", ROOT / "dashboard"]
STORE = ROOT / "services" / "dwt" / "store"


def operator_keys(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, key) of every dict literal key that is a string starting with ``$``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, str)
                    and key.value.startswith("$")
                ):
                    found.append((key.lineno, key.value))
    return sorted(found)


def _product_files() -> list[Path]:
    files = [p for top in PRODUCT for p in top.rglob("*.py") if STORE not in p.parents]
    assert len(files) > 100, "the product's sources were not found"
    return sorted(files)


def test_the_scan_finds_filter_and_update_literals():
    source = (
        'q = {"author_id": {"$in": ids}}\n'
        'u = {"$set": {"a": 1}}\n'
        'not_one = {"price": "$0.00", "$": None}\n'
        'nor_this = {"title", "$defs"}\n'
    )
    assert operator_keys(source) == [(1, "$in"), (2, "$set"), (3, "$")]


def test_no_filter_or_update_literal_outside_the_store():
    found = {}
    for path in _product_files():
        keys = operator_keys(path.read_text(), str(path))
        if keys:
            found[path.relative_to(ROOT).as_posix()] = keys
    assert not found, f"ask the Store by name instead (dwt.store.Store): {found}"
