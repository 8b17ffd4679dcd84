"""The repository's layout keeps its promises."""

from __future__ import annotations

import operator
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_top_level_folder_explains_itself():
    for folder in ("services", "operator", "dashboard", "manifests", "charts", "tests"):
        readme = REPO / folder / "README.md"
        assert readme.is_file() and len(readme.read_text().split()) > 15, folder


def test_no_package_shadows_the_stdlib_operator_module():
    assert Path(operator.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    assert not (REPO / "operator" / "__init__.py").exists()
    assert not list(REPO.glob("*/operator/__init__.py"))


def test_services_never_import_kubernetes():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "services").rglob("*.py")
        if any(
            line.strip().startswith(("import kubernetes", "from kubernetes", "import kopf"))
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    assert (REPO / ".ci" / "run").read_text().strip().endswith("exec make test")
