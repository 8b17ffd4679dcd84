"""A run started right after keys were added waits for the kubelet to refresh the mounted
Secret (seen on the real cluster: three attempts failed with "no X API keys configured"
while the Secret held two keys), and gives up with the same sentence when none appear."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dwt.collect.keys import KeyNotFoundError, KeySource, NoKeysError
from dwt.xapi.client import key_fingerprint


def _mounted(root: Path, files: dict[str, str]) -> None:
    """A Secret volume as the kubelet writes it: files in a timestamped directory, swapped in
    through the ``..data`` symlink, one symlink per key beside it."""
    stamp = root / f"..2026_12_07_{len(list(root.glob('..2026_12_07_*')))}"
    stamp.mkdir()
    for name, value in files.items():
        (stamp / name).write_text(value)
    tmp = root / "..data_tmp"
    tmp.symlink_to(stamp.name)
    os.replace(tmp, root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = lambda: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


def test_keys_that_appear_in_the_mounted_secret_are_waited_for(tmp_path, monkeypatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    _mounted(tmp_path, {})  # the Secret as the pod first saw it: empty
    assert len(os.listdir(tmp_path)) == 2  # ..data and its directory, no key
    fake, told = FakeTime(), []
    fake.on_sleep = lambda: (
        fake.now >= 60
        and not (tmp_path / "key-0").exists()
        and _mounted(tmp_path, {"key-0": "token-a", "key-1": "token-b"})
    )
    found = KeySource(directory=str(tmp_path)).wait_for_fingerprints(
        120, told=told.append, clock=fake.clock, sleep=fake.sleep
    )
    assert found == [key_fingerprint("token-a"), key_fingerprint("token-b")]
    assert 60 <= fake.now < 120 and told and "waiting for the mounted Secret" in told[0]
    assert not any("token" in line for line in told)  # never a key in what is said


def test_a_secret_that_stays_empty_ends_the_wait_with_the_sentence(tmp_path, monkeypatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    _mounted(tmp_path, {})
    fake = FakeTime()
    with pytest.raises(NoKeysError, match="no X API keys configured"):
        KeySource(directory=str(tmp_path)).wait_for_fingerprints(
            30, clock=fake.clock, sleep=fake.sleep
        )
    assert fake.now == pytest.approx(30) and len(fake.sleeps) == 6  # 5 s apart, then no more


def test_without_a_directory_there_is_nothing_to_wait_for(monkeypatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    fake = FakeTime()
    with pytest.raises(NoKeysError):
        KeySource().wait_for_fingerprints(120, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == []


def test_a_collector_waits_for_its_own_key_on_its_node(tmp_path, monkeypatch):
    """Each node's kubelet refreshes its own copy of the Secret: the driver's node can hold
    the new key while a collector's node does not yet (seen on the real cluster: the first
    attempt's collectors all died with "... is no longer among the configured keys")."""
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    _mounted(tmp_path, {"key-0": "token-a"})  # this node still has the old Secret
    fake, told = FakeTime(), []
    fake.on_sleep = lambda: (
        fake.now >= 45
        and not (tmp_path / "key-1").exists()
        and _mounted(tmp_path, {"key-0": "token-a", "key-1": "token-b"})
    )
    source = KeySource(directory=str(tmp_path))
    token = source.token(
        key_fingerprint("token-b"), 120, told=told.append, clock=fake.clock, sleep=fake.sleep
    )
    assert token.get_secret_value() == "token-b"
    assert 45 <= fake.now < 120 and told and not any("token" in line for line in told)


def test_a_key_that_never_appears_ends_the_wait_with_the_sentence(tmp_path, monkeypatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    _mounted(tmp_path, {"key-0": "token-a"})
    fake = FakeTime()
    with pytest.raises(KeyNotFoundError, match="no longer among the configured keys"):
        KeySource(directory=str(tmp_path)).token(
            key_fingerprint("token-b"), 20, clock=fake.clock, sleep=fake.sleep
        )
    assert fake.now == pytest.approx(20)


def test_collectors_are_told_how_long_to_wait(tmp_path):
    from dwt.config import load_settings

    settings = load_settings({"api_keys_dir": str(tmp_path), "keys_wait_s": 90})
    assert KeySource.of(settings).wait_s == 90
