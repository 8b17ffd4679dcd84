"""Fixtures several unit-test modules share, so each world is set up one way only.

* ``world`` / ``ids`` / ``server``: `xapi_fixtures.small_world` (the dataset and the ids of
  its named accounts) and the X API emulator serving it, one per module;
* ``dataset_dir``: that world saved as a dataset directory (what ``dwt emulator --dataset``
  loads);
* ``emulated`` / ``emulator_env``: a generated 30-member community served by the emulator
  shifted to now, and the environment a ``dwt`` command reads to reach it and the store;
* ``keys``: a `KeySource` of `collect_fixtures.KEYS`, read from the environment.

A module that needs another world defines its own fixture of the same name, which wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collect_fixtures import KEYS, key_source
from playwright.sync_api import expect
from xapi_fixtures import running_emulator, small_world

from dwt.collect.keys import KeySource
from dwt.generate import generate_community
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

#: The API key `emulated`'s emulator accepts and `emulator_env` sets.
CLI_KEY = "cli-key"

# Playwright's assertions give up after 5 s unless told; a 2-core machine loaded by another
# full run answers a Dash callback slower than that now and then. They still fail on what
# never shows.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, dict[str, Any]]:
    return small_world()


@pytest.fixture(scope="module")
def ids(world: tuple[Dataset, dict[str, Any]]) -> dict[str, Any]:
    return world[1]


@pytest.fixture(scope="module")
def server(world: tuple[Dataset, dict[str, Any]]) -> Iterator[EmulatorServer]:
    with running_emulator(world[0]) as srv:
        yield srv


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_world()[0].save(tmp_path_factory.mktemp("world") / "ds")


@pytest.fixture(scope="module")
def emulated() -> Iterator[tuple[Dataset, EmulatorServer]]:
    dataset = generate_community(members=30, communities=2, days=2, seed=4)
    config = EmulatorConfig(tokens=[CLI_KEY], rate_limit=1000)  # shifted to now
    with EmulatorServer(dataset, config) as running:
        yield dataset, running


@pytest.fixture
def emulator_env(
    monkeypatch: pytest.MonkeyPatch, emulated: tuple[Dataset, EmulatorServer], store_url: str
) -> str:
    """``DWT_API_KEYS``, ``DWT_X_API_BASE_URL`` and ``DWT_STORE_URL`` for a ``dwt`` command;
    returns the store's URL."""
    _, running = emulated
    monkeypatch.setenv("DWT_API_KEYS", CLI_KEY)
    monkeypatch.setenv("DWT_X_API_BASE_URL", running.base_url)
    monkeypatch.setenv("DWT_STORE_URL", store_url)
    return store_url


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> KeySource:
    return key_source(monkeypatch, KEYS)
