"""The house's import order (issue 28): each layer imports only the layers below it, and no
module reaches itself through a circle of imports (lazy imports inside functions count: they
are how circles hide).

Layers, lowest first; a unit is a top-level package or a sub-package of ``dwt``. The
dashboard is a client of the operator's API (its CommunityJob and run ids), so it sits above.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import igraph
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "dwt": ROOT / "services" / "dwt",
    "dwt_operator": ROOT / "operator" / "dwt_operator",
    "dwt_dashboard": ROOT / "dashboard" / "dwt_dashboard",
}
LAYERS = [
    {"dwt", "dwt.model", "dwt.private", "dwt.words"},
    {"dwt.xapi"},
    {"dwt.config"},
    {"dwt.store", "dwt.stages", "dwt.generate"},
    {"dwt.export", "dwt.collect"},
    {"dwt.pipeline"},
    {"dwt.bench"},
    {"dwt.cli"},
    {"dwt_operator"},
    {"dwt_dashboard"},
]


def _module(path: Path, package: str, root: Path) -> str:
    parts = (package, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "dwt" and len(parts) > 1 else parts[0]


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The module's imports, anywhere in its body but under ``if TYPE_CHECKING:`` (types
    only: nothing is imported when it runs)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []  # its children were queued already: walked again below
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _imports() -> dict[str, set[str]]:
    """Every project module → the project modules it imports."""
    sources = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            sources[_module(path, package, root)] = path
    found: dict[str, set[str]] = defaultdict(set)
    for module, path in sources.items():
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:  # ``from pkg import mod`` names a module
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in sources
                         else node.module for a in node.names]  # fmt: skip
            else:
                continue
            found[module].update(n for n in names if n.split(".")[0] in PACKAGES)
    return found


IMPORTS = _imports()
LAYER = {unit: height for height, units in enumerate(LAYERS) for unit in units}


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in IMPORTS} | {_unit(t) for ts in IMPORTS.values() for t in ts}
    assert units <= set(LAYER), sorted(units - set(LAYER))


def test_imports_only_go_down():
    upward = set()
    for module, targets in IMPORTS.items():
        for target in targets:
            if LAYER[_unit(target)] > LAYER[_unit(module)]:
                upward.add((module, _unit(target)))
    assert not upward, sorted(upward)


def test_no_module_imports_itself_through_a_circle():
    modules = sorted(IMPORTS)
    index = {m: i for i, m in enumerate(modules)}
    edges = [(index[m], index[t]) for m, targets in IMPORTS.items() for t in targets
             if t in index and t != m and not m.startswith(f"{t}.")]  # fmt: skip
    graph = igraph.Graph(n=len(modules), edges=edges, directed=True)
    circles = [[modules[i] for i in c] for c in graph.connected_components("strong") if len(c) > 1]
    assert not circles, circles


@pytest.mark.parametrize("unit", ["dwt.store", "dwt.collect", "dwt.pipeline"])
def test_the_core_imports_neither_kubernetes_nor_the_dashboard(unit):
    for module, targets in IMPORTS.items():
        if _unit(module) == unit:
            assert not {t for t in targets if t.startswith(("dwt_operator", "dwt_dashboard"))}
