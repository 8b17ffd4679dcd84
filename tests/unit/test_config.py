"""Settings: environment and flags, validation with clear messages, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from dwt.cli import main
from dwt.config import SettingsError, load_settings, redact_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch):
    import os

    for name in list(os.environ):
        if name.startswith("DWT_"):
            monkeypatch.delenv(name)


def test_defaults_are_a_local_run(monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    s = load_settings()
    assert s.store_url is None
    assert s.store_url_value == f"sqlite:///{Path.home() / '.local/share/dwt/dwt.db'}"
    assert s.ray_address is None and s.log_level == "INFO"
    assert s.bearer_tokens() == []


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DWT_X_API_BASE_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("DWT_LOG_LEVEL", "debug")
    s = load_settings({"log_level": "warning", "ray_address": None})
    assert s.x_api_base_url == "http://127.0.0.1:8080"
    assert s.log_level == "WARNING"  # the flag wins over the environment


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"store_url": "postgres://x"}, "DWT_STORE_URL: scheme 'postgres'"),
        ({"store_url": "mongomock://x/db"}, "scheme 'mongomock' is not one of sqlite"),
        ({"x_api_base_url": "api.x.com"}, "DWT_X_API_BASE_URL / --x-api-base-url: must be"),
        ({"log_level": "LOUD"}, "DWT_LOG_LEVEL / --log-level"),
        ({"api_keys_file": "/no/such/file"}, "no such file: /no/such/file"),
        ({"api_keys_dir": "/no/such/dir"}, "no such directory"),
        ({"bogus": 1}, "unknown setting 'bogus'"),
    ],
)
def test_bad_values_are_rejected_clearly(overrides, message):
    with pytest.raises(SettingsError) as info:
        load_settings(overrides)
    assert message in str(info.value)
    assert str(info.value).startswith("invalid configuration:")


def test_bad_store_url_message_hides_the_password():
    with pytest.raises(SettingsError) as info:
        load_settings({"store_url": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(info.value)


def test_api_keys_from_env_file_and_mounted_secret(tmp_path: Path, monkeypatch):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# team keys\nAAA\n\n  BBB  \n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key-1").write_text("CCC")
    (secret / "key-2").write_text("AAA\n")  # duplicates are dropped
    (secret / "..data").mkdir()  # Kubernetes' atomic-update directory is skipped
    monkeypatch.setenv("DWT_API_KEYS", "ZZZ,")
    s = load_settings({"api_keys_file": str(keys_file), "api_keys_dir": str(secret)})
    assert [k.get_secret_value() for k in s.bearer_tokens()] == ["ZZZ", "AAA", "BBB", "CCC"]


def test_describe_redacts_every_secret(monkeypatch):
    monkeypatch.setenv("DWT_API_KEYS", "topsecret1,topsecret2")
    s = load_settings({"store_url": "mongodb://app:pa55word@mongo:27017/dwt"})
    text = repr(s) + str(s.describe())
    assert "pa55word" not in text and "topsecret" not in text
    assert s.describe()["api_keys"] == "2 configured"
    assert s.store_url_redacted == "mongodb://app:***@mongo:27017/dwt"


def test_redact_url_without_password_is_unchanged():
    assert redact_url("mongodb://h:1/db") == "mongodb://h:1/db"


def test_cli_reports_bad_settings_with_exit_code_2(capsys, monkeypatch):
    monkeypatch.setenv("DWT_API_KEYS", "hush-hush")
    assert main(["--log-level", "chatty", "config"]) == 2
    err = capsys.readouterr().err
    assert "--log-level" in err and "hush-hush" not in err


def test_cli_config_prints_redacted_settings(capsys, monkeypatch):
    monkeypatch.setenv("DWT_STORE_URL", "mongodb://u:pw123@h/db")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "u:***@h" in out and "pw123" not in out


def test_data_dir_places_the_embedded_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DWT_DATA_DIR", str(tmp_path))
    assert load_settings().store_url_value == f"sqlite:///{tmp_path / 'dwt.db'}"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DWT_DATA_DIR")
    assert load_settings().store_url_value == f"sqlite:///{tmp_path / 'xdg/dwt/dwt.db'}"


def test_the_store_url_has_no_flag():
    """A MongoDB URL may hold a password, and argv is visible to every user."""
    from dwt.cli import build_parser

    usage = build_parser().format_help()
    assert "--data-dir" in usage
    assert "--store-url" not in usage and "--mongo-url" not in usage
