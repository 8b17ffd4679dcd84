"""Operator settings, from ``DWT_OPERATOR_*`` environment variables (no secrets here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Where the Ray cluster is, how jobs find their keys, what to scale."""

    model_config = SettingsConfigDict(env_prefix="DWT_OPERATOR_", extra="forbid", frozen=True)

    ray_address: str = Field(
        "http://127.0.0.1:8265", description="Ray Jobs API (the head's dashboard port)"
    )
    ray_auth_token_file: str | None = Field(
        None, description="file holding the Ray token (Ray 2.60 enables token auth)"
    )
    ray_namespace: str = Field(
        "discover-weekly",
        description="namespace of the Ray cluster: the key Secrets its pods mount and the "
        "workers to scale are there, whatever the CommunityJob's namespace",
    )
    ray_timeout: float = Field(
        30.0, gt=0, description="seconds per Ray Jobs API request (a busy head answers slowly)"
    )
    ray_unreachable_limit: float = Field(
        300.0,
        gt=0,
        description="seconds Ray may stay unreachable before the attempt counts as failed",
    )
    namespaces: list[str] = Field(default_factory=list, description="watched; empty = all")
    default_keys_secret: str = Field("x-api-keys", description="when a job names none")
    keys_mount_root: str = Field(
        "/var/run/dwt/keys", description="where Ray pods mount API-key Secrets, one dir each"
    )
    dwt_command: str = Field(
        "dwt", description="the dwt command on the Ray head (absolute path if not on PATH)"
    )
    workers_kind: Literal["deployment", "raycluster", "none"] = "deployment"
    workers_name: str = Field("dwt-ray-worker", description="Deployment or RayCluster name")
    workers_group: str = Field("collectors", description="RayCluster worker group to scale")
    poll_interval: float = Field(5.0, gt=0, description="seconds between job status polls")
    retry_backoff: float = Field(10.0, ge=0, description="first retry delay; doubles")
    busy_retry: float = Field(
        60.0, gt=0, description="seconds before resubmitting a run whose community was busy"
    )
