"""One settings object for every entry point (CLI, Ray job driver, operator, dashboard).

Values come from ``DWT_*`` environment variables, then command-line flags override them.
Secrets (API keys, passwords inside a MongoDB URL) are held as ``SecretStr`` and only ever
printed redacted, so a settings dump is safe to log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dwt.xapi.endpoints import parse_limits
from dwt.xapi.prices import Tariff, parse_prices

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

#: URL schemes the store accepts: the embedded store, a MongoDB server.
STORE_SCHEMES = ("sqlite", "mongodb", "mongodb+srv")
#: The store's file name in the data directory (the embedded default).
STORE_FILE = "dwt.db"


#: Settings that may hold a secret: environment (or a file) only, never a flag, since argv
#: is visible to every user of the machine.
SECRET_SETTINGS = frozenset({"store_url", "api_keys"})


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/dwt``, else ``~/.local/share/dwt``: where the embedded store lives."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "dwt"


class SettingsError(ValueError):
    """Raised with a human-readable list of what is wrong in the configuration."""


class Settings(BaseSettings):
    """Runtime configuration of Discover Weekly.

    API keys have three sources, merged in this order: ``api_keys`` (comma-separated,
    env ``DWT_API_KEYS``), ``api_keys_file`` (one bearer token per line; ``#`` comments),
    ``api_keys_dir`` (a mounted Kubernetes Secret: one token per file).
    """

    model_config = SettingsConfigDict(
        env_prefix="DWT_", extra="forbid", validate_default=True, frozen=True
    )

    store_url: SecretStr | None = Field(
        None,
        description="mongodb://user:pass@host/db for a MongoDB server, sqlite:///PATH for an "
        "embedded store file; unset: the embedded store in data_dir",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the embedded store (dwt.db) when store_url is unset.",
    )
    x_api_base_url: str = Field(
        "https://api.twitter.com",
        description="Base URL of the X API v2; point it at the emulator for local runs.",
    )
    api_keys: SecretStr | None = Field(None, description="Comma-separated bearer tokens.")
    api_keys_file: Path | None = Field(None, description="File with one bearer token per line.")
    api_keys_dir: Path | None = Field(None, description="Directory of mounted Secret files.")
    ray_address: str | None = Field(
        None, description="Ray cluster address; unset starts a local Ray in-process."
    )
    log_level: LogLevel = "INFO"
    x_rate_limits: str | None = Field(
        None,
        description="requests per 15 minutes per key where your X plan differs from X's "
        "table, e.g. following=15,user_tweets=1500 (a legacy Pro plan)",
    )
    x_prices: str | None = Field(
        None,
        description="USD per resource where your X plan differs from X's price table, e.g. "
        "posts=0,following_accounts=0,user_lookups=0 (a legacy subscription)",
    )
    x_monthly_post_cap: int | None = Field(
        None, ge=0, description="post reads X allows your account per month (0 = none)"
    )
    keys_wait_s: float = Field(
        120.0,
        ge=0,
        le=900,
        description="how long a run waits for keys to appear in api_keys_dir (a mounted "
        "Secret is refreshed by the kubelet about once a minute)",
    )
    collect_give_up_s: float = Field(
        240.0,
        gt=0,
        le=3600,
        description="stop collecting when X answers 429 without rate-limit headers and no "
        "request succeeds for this long (seconds)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("x_rate_limits")
    @classmethod
    def _check_limits(cls, value: str | None) -> str | None:
        if value is not None:
            parse_limits(value)
        return value

    @field_validator("x_prices")
    @classmethod
    def _check_prices(cls, value: str | None) -> str | None:
        if value is not None:
            parse_prices(value)
        return value

    def tariff(self) -> Tariff:
        """X's prices, limits and monthly post cap as this account has them: X's tables,
        with the ``x_*`` settings in their place where set."""
        tariff = Tariff()
        if self.x_rate_limits or self.x_prices:
            tariff = tariff.override(
                "settings",
                prices=parse_prices(self.x_prices or ""),
                limits=parse_limits(self.x_rate_limits or ""),
            )
        if self.x_monthly_post_cap is not None:
            cap = self.x_monthly_post_cap or None
            tariff = tariff.override("settings", monthly_post_cap=cap)
        return tariff

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        scheme = urlsplit(url).scheme
        if scheme not in STORE_SCHEMES:
            raise ValueError(
                f"scheme {scheme or '(none)'!r} is not one of {', '.join(STORE_SCHEMES)}"
                f" (got {redact_url(url)!r})"
            )
        return value

    @field_validator("data_dir")
    @classmethod
    def _check_data_dir(cls, value: Path) -> Path:
        """A directory the store can live in: not a file, not a pseudo-filesystem
        (``/proc``, ``/sys``, ``/dev``: nothing written there is kept)."""
        resolved = value.expanduser().resolve()
        if resolved.parts[1:2] in (("proc",), ("sys",), ("dev",)):
            raise ValueError(f"{value} is on a pseudo-filesystem ({resolved}); choose a directory")
        if resolved.exists() and not resolved.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("x_api_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value.rstrip("/")

    @field_validator("api_keys_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("api_keys_dir")
    @classmethod
    def _check_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"no such directory: {value}")
        return value

    @property
    def store_url_value(self) -> str:
        """The store to open: ``store_url``, else the embedded store in ``data_dir``."""
        if self.store_url is not None:
            return self.store_url.get_secret_value()
        return f"sqlite:///{self.data_dir.expanduser().resolve() / STORE_FILE}"

    @property
    def store_url_redacted(self) -> str:
        """The store URL with any password replaced, for logs and messages."""
        return redact_url(self.store_url_value)

    def bearer_tokens(self) -> list[SecretStr]:
        """All configured API keys, de-duplicated, in a stable order."""
        tokens: list[str] = []
        if self.api_keys is not None:
            tokens += self.api_keys.get_secret_value().split(",")
        if self.api_keys_file is not None:
            tokens += _token_lines(self.api_keys_file.read_text())
        if self.api_keys_dir is not None:
            for path in sorted(self.api_keys_dir.iterdir()):
                # Kubernetes mounts Secrets through ``..data`` symlinks; skip the dot entries.
                if path.name.startswith(".") or not path.is_file():
                    continue
                tokens += _token_lines(path.read_text())
        cleaned = dict.fromkeys(t.strip() for t in tokens if t.strip())
        return [SecretStr(t) for t in cleaned]

    def describe(self) -> dict[str, Any]:
        """A dict safe to print or log: secrets redacted, keys only counted."""
        return {
            "store_url": self.store_url_redacted,
            "x_api_base_url": self.x_api_base_url,
            "api_keys": f"{len(self.bearer_tokens())} configured",
            "ray_address": self.ray_address or "(local)",
            "log_level": self.log_level,
            "x_rate_limits": self.x_rate_limits or "(X's table)",
            "x_prices": self.x_prices or "(X's table)",
            "x_monthly_post_cap": self.x_monthly_post_cap,
        }

    def configure_logging(self) -> None:
        logging.basicConfig(
            level=self.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def _token_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def redact_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from ``DWT_*`` environment variables plus explicit overrides (CLI flags).

    ``None`` overrides are ignored so that unset flags fall through to the environment.
    Raises :class:`SettingsError` with one line per problem, naming the variable and flag.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc)) from None


def _format_errors(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        env_name = f"DWT_{field.upper()}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"  unknown setting {field!r}")
        elif field in SECRET_SETTINGS:
            lines.append(f"  {env_name}: {message}")
        else:
            lines.append(f"  {env_name} / --{field.replace('_', '-')}: {message}")
    return "\n".join(lines)
