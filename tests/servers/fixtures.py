"""Session-scoped pytest fixtures for the real servers; tests/conftest.py star-imports them.

``ferretdb_url`` (str): ``mongodb://127.0.0.1:PORT/`` of one FerretDB for the whole session;
each test should use its own database name (and drop it).
``kube_api`` (`kube.KubeServer`): one kube-apiserver + etcd for the whole session; each test
should use its own namespaces and object names (namespaces never finish deleting here).

Both FAIL (not skip) when the binaries are missing: `make test` builds them (`make servers`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .ferretdb import run_ferretdb
from .kube import KubeServer, run_kube
from .paths import ServerNotBuilt, binary

__all__ = ["ferretdb_url", "kube_api"]


def _require(*names: str) -> None:
    missing = []
    for name in names:
        try:
            binary(name)
        except ServerNotBuilt as e:
            missing.append(str(e))
    if missing:
        pytest.fail("\n".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def ferretdb_url() -> Iterator[str]:
    """A FerretDB (SQLite backend) for the session: ``mongodb://127.0.0.1:PORT/``."""
    _require("ferretdb")
    with run_ferretdb() as url:
        yield url


@pytest.fixture(scope="session")
def kube_api() -> Iterator[KubeServer]:
    """A kube-apiserver + etcd for the session (see `servers.kube.KubeServer`)."""
    _require("etcd", "kube-apiserver")
    with run_kube() as kube:
        yield kube
