"""The product image: `make image` (tools/image/build.py, from tools/image/image.toml) and the
Dockerfile declare the same image, its tag hashes its inputs, and the chart keeps its init.

The image itself is built and run by the cluster tests (tests/cluster); here only what can be
read: the Dockerfile's base, Debian packages (pinned to debian.lock), user, environment,
entrypoint and command against image.toml, and which inputs change the tag."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "tools" / "image"


def _build_module():
    spec = importlib.util.spec_from_file_location("dwt_image_build", IMAGE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build_module()
SPEC = build.spec()


def _dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def _final_stage() -> list[tuple[str, str]]:
    steps = _dockerfile()
    last_from = max(i for i, (ins, _) in enumerate(steps) if ins == "FROM")
    return steps[last_from:]


def _apt_installs(steps: list[tuple[str, str]]) -> list[list[str]]:
    found = []
    for _, rest in steps:
        for m in re.finditer(r"apt-get install -y --no-install-recommends ([^&]+)", rest):
            found.append(m.group(1).split())
    return found


def _env(steps: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for ins, rest in steps:
        if ins == "ENV":
            env.update(dict(pair.split("=", 1) for pair in rest.split()))
    return env


def test_dockerfile_declares_the_base_and_packages_of_make_image():
    deb = SPEC["debian"]
    froms = [rest.split()[0] for ins, rest in _dockerfile() if ins == "FROM"]
    assert froms == [f"debian:{deb['suite']}-slim"] * 2
    installs = _apt_installs(_dockerfile())
    assert len(installs) == 2  # the build stage and the final one
    assert all(packages == deb["packages"] for packages in installs)
    # both stages pin apt to debian.lock, the versions make image installs
    runs = [rest for ins, rest in _dockerfile() if ins == "RUN" and "apt-get install" in rest]
    assert all("/tmp/debian.lock" in r and "Pin: version" in r for r in runs)
    copies = [rest for ins, rest in _dockerfile() if ins == "COPY" and "debian.lock" in rest]
    assert copies == ["tools/image/debian.lock /tmp/debian.lock"] * 2


def test_the_lock_pins_the_packages_and_the_python_of_image_toml():
    lock = build.read_lock()
    assert set(SPEC["debian"]["packages"]) <= set(lock)
    python = SPEC["debian"]["python"]
    assert lock["python3"].startswith(f"{python}.")  # e.g. 3.11.2-1+b1
    assert lock[f"python{python}"].startswith(f"{python}.")
    # pyproject accepts that Python
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    low = pyproject["project"]["requires-python"].split(",")[0].removeprefix(">=")
    assert tuple(map(int, python.split("."))) >= tuple(map(int, low.split(".")))


def test_dockerfile_declares_the_user_env_entrypoint_and_command_of_make_image():
    img = SPEC["image"]
    final = _final_stage()
    assert [rest for ins, rest in final if ins == "USER"] == [f"{img['uid']}:{img['gid']}"]
    useradd = next(rest for ins, rest in final if ins == "RUN" and "useradd" in rest)
    assert f"groupadd --gid {img['gid']} {img['user']}" in useradd
    assert (
        f"useradd --uid {img['uid']} --gid {img['gid']} --no-create-home "
        f"--home-dir {img['home']} --shell /usr/sbin/nologin {img['user']}"
    ) in useradd
    assert _env(final) == img["env"]
    assert [rest for ins, rest in final if ins == "WORKDIR"] == [img["workdir"]]
    assert [json.loads(rest) for ins, rest in final if ins == "ENTRYPOINT"] == [img["entrypoint"]]
    assert [json.loads(rest) for ins, rest in final if ins == "CMD"] == [img["cmd"]]
    assert img["entrypoint"][0] == "/usr/bin/tini" and "tini" in SPEC["debian"]["packages"]
    venvs = {
        m.group(1) for _, rest in _dockerfile() for m in [re.search(r"-m venv (\S+)", rest)] if m
    }
    assert venvs == {img["venv"]}
    assert img["env"]["PATH"].startswith(f"{img['venv']}/bin:")


def test_the_image_version_is_the_projects_and_the_charts():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    chart = yaml.safe_load((REPO / "charts/discover-weekly/Chart.yaml").read_text())
    assert SPEC["version"] == pyproject["project"]["version"] == chart["appVersion"]
    repository, tag = build.reference()
    assert repository == SPEC["repository"]
    assert re.fullmatch(rf"{re.escape(SPEC['version'])}-[0-9a-f]{{12}}", tag)


def test_the_tag_hashes_the_sources_the_wheel_is_built_from():
    files = {str(p.relative_to(REPO)) for p in build.project_files()}
    assert {
        "pyproject.toml",
        "README.md",
        "services/dwt/__init__.py",
        "operator/dwt_operator/__init__.py",
        "dashboard/dwt_dashboard/__init__.py",
    } <= files
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert not any(f.startswith(("tests/", "charts/", "docs/")) for f in files)
    base = build.base_key()
    assert build.project_key(base) != build.project_key("another base")


def test_the_base_key_covers_what_the_base_is_built_from(monkeypatch: pytest.MonkeyPatch):
    """Debian's lock, image.toml, the constraints and the dependency list change the base;
    reformatting the build code does not (its syntax tree is hashed, not its text)."""
    before = build.base_key()
    monkeypatch.setattr(build, "dependencies", lambda: ["ray[default]==9.9"])
    assert build.base_key() != before
    monkeypatch.undo()
    assert build.base_key() == before
    assert "debian_rootfs" in build.base_recipe() and "install_dependencies" in build.base_recipe()


def test_the_charts_containers_keep_the_images_init_as_pid_1():
    """Containers of the product image set `args`, never `command` (which would replace the
    entrypoint, tini, and leave `ray start --block` as PID 1 with nobody reaping zombies)."""
    templates = (REPO / "charts/discover-weekly/templates").glob("*.yaml")
    for template in templates:
        text = template.read_text()
        assert not re.search(r"^\s+command:", text, re.MULTILINE), template.name
