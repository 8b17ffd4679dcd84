"""``dwt emulator``: flags → emulator settings, dataset loading, serving."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import pytest
import requests
from xapi_fixtures import ALICE

from dwt.cli import emulator as cli
from dwt.config import load_settings


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


def test_flags_become_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    tokens = tmp_path / "tokens"
    tokens.write_text("# keys\nfile-token-1\n\nfile-token-2\n")
    args = _parse(
        "--dataset", "x", "--token", "flag-token", "--tokens-file", str(tokens),
        "--rate-window", "2", "--rate-limit", "60", "--endpoint-limit", "following=3",
        "--fail-rate", "0.05", "--fail-seed", "9", "--latency-ms", "20", "--no-shift",
    )  # fmt: skip
    config = cli.build_config(args, load_settings())
    assert config.tokens == ("flag-token", "file-token-1", "file-token-2")
    assert config.rate_window_s == 2 and config.limit_of("user_tweets") == 60
    assert config.limit_of("following") == 3
    assert (config.fail_rate, config.fail_seed, config.latency_ms) == (0.05, 9, 20)
    assert config.shift_to_now is False
    assert _parse("--dataset", "x", "--token", "t").shift_to_now is True


def test_tokens_fall_back_to_the_api_keys(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DWT_API_KEYS", "env-key-1,env-key-2")
    config = cli.build_config(_parse("--dataset", "x"), load_settings())
    assert config.tokens == ("env-key-1", "env-key-2")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--token", "t", "--endpoint-limit", "following"), "NAME=N"),
        (("--token", "t", "--endpoint-limit", "timeline=3"), "unknown endpoint"),
        (("--token", "t", "--fail-rate", "3"), "fail_rate"),
        ((), "no tokens"),
    ],
)
def test_bad_flags_are_usage_errors(monkeypatch: pytest.MonkeyPatch, argv: tuple, message: str):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    with pytest.raises(cli.UsageError, match=message):
        cli.build_config(_parse("--dataset", "x", *argv), load_settings())


def test_missing_dataset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = _parse("--dataset", str(tmp_path / "none"), "--token", "t", "--port", "0")
    assert cli.run(args, load_settings()) == 2
    assert "not a dataset directory" in capsys.readouterr().err


def test_serves_the_dataset(dataset_dir: Path):
    args = _parse(
        "--dataset", str(dataset_dir), "--token", "cli-token", "--port", "0", "--no-shift"
    )
    server = cli.build_server(args, load_settings())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = server.base_url
        health = requests.get(f"{base}/_emulator/health", timeout=10).json()
        assert health["status"] == "ok" and health["tweets"] > 250
        r = requests.get(
            f"{base}/2/users",
            params={"ids": ALICE},
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert r.json()["data"][0]["username"] == "alice"
    finally:
        server.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
