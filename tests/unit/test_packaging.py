"""An installed package (the container image does ``pip install .``) carries every data file
the code reads: a file inside a package that no ``package-data`` glob names would work in
the editable development install and be missing in the image."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_data_file_in_a_package_is_installed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = [REPO / r for r in config["packages"]["find"]["where"]]
    globs = config["package-data"]
    missing = []
    for root in roots:
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            if (
                not path.is_file()
                or path.suffix in {".py", ".pyc"}
                or len(relative.parts) < 2  # a folder's README, outside any package
                or "__pycache__" in relative.parts
                or any(p.endswith(".egg-info") for p in relative.parts)
            ):
                continue
            package, inside = relative.parts[0], "/".join(relative.parts[1:])
            if not any(fnmatch(inside, g) for g in globs.get(package, [])):
                missing.append(str(relative))
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
