"""Shared fixtures.

``store`` / ``store_url`` give a fresh, empty store per test: the embedded store (a SQLite
file in the test's temporary directory) by default. A test module marked
``pytest.mark.both_stores`` runs each of its store tests twice: on the embedded store and on
a fresh database of a real MongoDB wire-protocol server (FerretDB, built by ``make servers``,
started once per session), dropped afterwards. ``DWT_TEST_MONGO_URL`` points the MongoDB
half at another server instead (a real mongod, say); ``pytest.mark.stores("mongo")`` runs a
test on the MongoDB half only.

A test that needs a tool the machine may lack is marked ``pytest.mark.needs_tool(name,
present)``: without it the test is skipped locally with ``missing tool: NAME`` (listed at the
end of the run), and FAILS under ``CI=true`` — CI installs every tool, so a skip there would
hide a missing install step.

Every test runs with ``DWT_DATA_DIR`` in its own temporary directory, so no test reads or
writes the person's own store.

The entry points pyproject.toml declares (``dwt demo``, ``dwt bench dashboard``…) are
registered for the tests' process when the installed metadata lacks them (a checkout newer
than its last ``pip install -e .``), so the tests run what the checkout declares.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dwt.store import Store
from servers.fixtures import *  # noqa: F403 - ferretdb_url, kube_api (real servers)
from vendored import RECORDED

BACKENDS = ("sqlite", "mongo")


def _register_entry_points() -> None:
    """Adds a distribution on ``sys.path`` holding the declared entry points not installed."""
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    missing = {
        group: [f"{name} = {value}" for name, value in points.items()
                if not entry_points(group=group, name=name)]
        for group, points in declared["project"].get("entry-points", {}).items()
    }  # fmt: skip
    lines = [f"[{g}]\n" + "\n".join(points) + "\n" for g, points in missing.items() if points]
    if not lines:
        return
    folder = Path(tempfile.mkdtemp(prefix="dwt-test-entry-points-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    dist = folder / "dwt_test_entry_points-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dwt-test-entry-points\nVersion: 0\n"
    )
    (dist / "entry_points.txt").write_text("\n".join(lines))
    sys.path.append(str(folder))


_register_entry_points()


ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_MISSING_TOOLS: dict[str, list[str]] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("stores")
        marked = metafunc.definition.get_closest_marker("both_stores") is not None
        backends = only.args if only else BACKENDS if marked else BACKENDS[:1]
        metafunc.parametrize("store_backend", backends, indirect=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_tool"):
        name, present = mark.args
        if present:
            continue
        _MISSING_TOOLS.setdefault(name, []).append(item.nodeid)
        if ON_CI:
            pytest.fail(f"missing tool: {name} (CI=true: CI must install it; see the Makefile)")
        pytest.skip(f"missing tool: {name}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, tests in sorted(_MISSING_TOOLS.items()):
        terminalreporter.write_line(
            f"missing tool: {name} — {len(tests)} test(s) "
            f"{'FAILED (CI=true)' if ON_CI else 'skipped'}; `make test` installs it as root",
            red=True,
        )


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    monkeypatch.setenv("DWT_DATA_DIR", str(tmp_path_factory.mktemp("dwt-data")))
    monkeypatch.delenv("DWT_STORE_URL", raising=False)


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def mongo_base_url(request: pytest.FixtureRequest) -> str:
    """A MongoDB wire-protocol server for the session (FerretDB unless DWT_TEST_MONGO_URL)."""
    given = os.environ.get("DWT_TEST_MONGO_URL")
    return given or request.getfixturevalue("ferretdb_url")


@pytest.fixture(scope="session")
def mongo_is_ferretdb() -> bool:
    """Whether the MongoDB half runs on FerretDB (to name where it departs from MongoDB)."""
    return not os.environ.get("DWT_TEST_MONGO_URL")


@pytest.fixture
def store_url(
    store_backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A URL of an empty store; the MongoDB database is dropped when the test ends."""
    if store_backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'dwt.db'}"
        return
    parts = urlsplit(request.getfixturevalue("mongo_base_url"))
    url = urlunsplit(parts._replace(path=f"/dwt_test_{uuid.uuid4().hex[:12]}"))
    yield url
    Store.open(url, ensure_indexes=False).drop()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    """The real X API v2 recordings vendored in tests/data/ (never skipped: they are ours)."""
    assert any(RECORDED.glob("*.yaml")), f"recorded X API responses missing from {RECORDED}"
    return RECORDED


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One small local Ray runtime for the whole session, started as `dwt run --ray` starts
    it: loopback only, token auth on (a session token, so nothing is written to ~/.ray),
    no dashboard."""
    import secrets

    import ray

    from dwt.pipeline.ray_runtime import ensure_ray

    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    if not ray.is_initialized():
        ensure_ray(num_cpus=2, object_store_memory=200 * 1024 * 1024, log_to_driver=False)
    yield
    ray.shutdown()
