"""The Ray job a CommunityJob run becomes: ids and the ``dwt run`` command line.

The submission id is derived from the resource and its trigger (spec generation,
scheduled time or rerun token) plus the attempt, so a restarted operator re-derives the
same id and Ray refuses a second submission. Ids are unique per resource and trigger for any valid
namespace and name: ``dwt-<namespace>-<name>-<trigger>`` when that reads back unambiguously
and fits, else a readable prefix, a hash of the full identity, then the trigger (a name
near 253 characters cut at 200 used to drop the trigger, so a new spec reused the old
run's id and Ray reported the old run's success). The command carries the spec (no
secrets in it) and the *path* where the API-key Secret is mounted on the Ray pods — never
a key. The driver's Ray resources (:func:`driver_resources`) place it: the chart's head
offers no CPUs, so a driver lands on a worker that has room for it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dwt.pipeline.spec import CommunityJobSpec
from dwt_operator.settings import OperatorSettings

_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")
_PLAIN_NAME = re.compile(r"[a-z0-9-]+")
MAX_RUN_ID = 200
_DIGEST = 12  # hex characters of sha256: 48 bits


def run_id(namespace: str, name: str, trigger: str) -> str:
    """The pipeline's run id: the same for every attempt (retries resume the run), and
    ending in ``-<trigger>`` (a retry reads the trigger back from it).

    ``dwt-<namespace>-<name>-<trigger>`` is kept when it is unambiguous — the namespace has
    no ``-`` (else ``a`` + ``b-c`` and ``a-b`` + ``c`` would meet), the name needs no
    rewriting (dots) — and fits in :data:`MAX_RUN_ID`; otherwise a hash of the full
    identity goes before the trigger and the readable part is cut to fit."""
    plain = f"dwt-{namespace}-{name}-{trigger}"
    if "-" not in namespace and _PLAIN_NAME.fullmatch(name) and len(plain) <= MAX_RUN_ID:
        return plain
    digest = hashlib.sha256(f"{namespace}/{name}/{trigger}".encode()).hexdigest()[:_DIGEST]
    tail = f"-{digest}-{_UNSAFE.sub('-', trigger)}"
    head = _UNSAFE.sub("-", f"dwt-{namespace}-{name}")[: MAX_RUN_ID - len(tail)]
    return head + tail


def generation_trigger(generation: int) -> str:
    return f"g{generation}"


def schedule_trigger(fire: datetime) -> str:
    return f"s{fire:%Y%m%d%H%M}"


def rerun_trigger(token: str) -> str:
    """The trigger of a run asked for by the rerun annotation: one per token value."""
    return "r" + hashlib.sha256(token.encode()).hexdigest()[:_DIGEST]


def submission_id(run: str, attempt: int, waits: int = 0) -> str:
    """Attempt ``attempt`` of ``run``; ``waits``: its resubmissions after the community
    was busy (Ray refuses an id twice, and such a submission is not an attempt)."""
    return f"{run}-a{attempt}" + (f"-w{waits}" if waits else "")


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


#: Driver memory when the spec sets none: a base for the interpreter, Ray and the libraries,
#: plus a share per member (the 10,000-member bench's driver peaked at 1,837 MB).
DRIVER_BASE_MIB = 512
DRIVER_MIB_PER_MEMBER = 0.135
DRIVER_MAX_DEFAULT_MIB = 16 * 1024


def known_members(spec: CommunityJobSpec, status: Mapping[str, Any]) -> int | None:
    """How many members the run will read, as far as the operator knows without the store:
    the listed accounts, else the accounts the last run counted."""
    if spec.members.scope == "listed":
        return len(spec.members.accounts)
    for counts in (status.get("counts"), *[r.get("counts") for r in status.get("history") or []]):
        if counts and counts.get("accounts"):
            return int(counts["accounts"])
    return None


def driver_resources(spec: CommunityJobSpec, status: Mapping[str, Any]) -> dict[str, float]:
    """Ray's entrypoint resources for the driver: ``cpus`` and ``memory`` (bytes) from the
    spec, the memory otherwise sized from :func:`known_members`."""
    mib = spec.driver.memory_mib
    if mib is None:
        members = known_members(spec, status) or 0
        mib = min(DRIVER_MAX_DEFAULT_MIB, int(DRIVER_BASE_MIB + DRIVER_MIB_PER_MEMBER * members))
    return {"cpus": spec.driver.cpus, "memory": mib * 1024 * 1024}
