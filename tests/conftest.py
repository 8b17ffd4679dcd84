"""Shared fixtures.

``store`` is an empty store per test: in-process (mongomock) by default, or a fresh database
on a real MongoDB server when ``DWT_TEST_MONGO_URL`` is set (e.g. mongodb://localhost:27017).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dwt.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DWT_SHARED_DATA", REPO.parent / "shared" / "data"))


def _test_db_url() -> str:
    name = f"dwt_test_{uuid.uuid4().hex[:12]}"
    base = os.environ.get("DWT_TEST_MONGO_URL")
    if not base:
        return f"mongomock://localhost/{name}"
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def store_url() -> str:
    return _test_db_url()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.db.client.drop_database(store.db.name)


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    path = SHARED_DATA / "x-api-v2-recorded"
    if not path.is_dir():
        pytest.skip(f"recorded X API responses not found at {path}")
    return path


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One small local Ray runtime for the whole session (loopback, no dashboard)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=200 * 1024 * 1024,
            log_to_driver=False,
        )
    yield
    ray.shutdown()
