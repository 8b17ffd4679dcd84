"""The Ray job a CommunityJob run becomes: ids and the ``dwt run`` command line.

The submission id is derived from the resource and its trigger (spec generation or
scheduled time) plus the attempt, so a restarted operator re-derives the same id and Ray
refuses a second submission. The command carries the spec (no secrets in it) and the
*path* where the API-key Secret is mounted on the Ray pods — never a key.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime

from dwt.pipeline.spec import CommunityJobSpec
from dwt_operator.settings import OperatorSettings

_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")


def run_id(namespace: str, name: str, trigger: str) -> str:
    """The pipeline's run id: the same for every attempt (retries resume the run)."""
    return _UNSAFE.sub("-", f"dwt-{namespace}-{name}-{trigger}")[:200]


def generation_trigger(generation: int) -> str:
    return f"g{generation}"


def schedule_trigger(fire: datetime) -> str:
    return f"s{fire:%Y%m%d%H%M}"


def submission_id(run: str, attempt: int) -> str:
    return f"{run}-a{attempt}"


def keys_secret(spec: CommunityJobSpec, settings: OperatorSettings) -> str:
    return spec.collection.api_keys_secret or settings.default_keys_secret


def command(spec: CommunityJobSpec, run: str, settings: OperatorSettings) -> str:
    """``dwt run`` for the Ray job; shell-quoted (the Jobs API runs it through a shell)."""
    args = [settings.dwt_command]
    if "collect" in spec.steps:
        args += ["--api-keys-dir", f"{settings.keys_mount_root}/{keys_secret(spec, settings)}"]
    pipeline = spec.run_spec().model_dump(mode="json", by_alias=True)
    pipeline["collection"].pop("apiKeysSecret", None)
    args += [
        "run",
        "--spec-json",
        json.dumps(pipeline, separators=(",", ":")),
        "--run-id",
        run,
        "--progress",
        "--json",
        "--ray",
    ]
    return shlex.join(args)
