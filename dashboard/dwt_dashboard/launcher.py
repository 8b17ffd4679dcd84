"""How the dashboard starts work: a pipeline run, or adding members by username.

The dashboard never runs a step in a callback (a run takes minutes); it asks a launcher,
which returns at once with a run id the person can follow on the Jobs page. Here:
:class:`LocalLauncher`, which runs :func:`dwt.pipeline.runner.run_pipeline` in a
background thread of the dashboard's process. In the cluster a Kubernetes launcher will
create a ``CommunityJob`` per run instead (the operator then runs it on Ray); it is not
written yet and has no placeholder here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from dwt.collect.step import CollectConfig, collect
from dwt.model.fields import USERNAME_PATTERN
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import RunFailed, new_run_id, run_pipeline
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store

log = logging.getLogger(__name__)
USERNAME = re.compile(USERNAME_PATTERN)


class Launcher(Protocol):
    """Starts work for a community and returns without waiting for it."""

    def run(self, community: str, spec: dict[str, Any]) -> str:
        """Start a run of ``spec`` (a CommunityJob ``spec`` minus ``community``); its id."""
        ...

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        """Add accounts by username; a message for the person saying what was done."""
        ...


class LocalLauncher:
    """Runs the pipeline in a background thread of this process (laptop, demo, tests).

    Collection is possible only when ``collect_config`` says how to reach the X API; the
    insight steps need nothing but the store.
    """

    def __init__(
        self,
        store: Store,
        collect_config: CollectConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.collect_config = collect_config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.threads: dict[str, threading.Thread] = {}

    def run(self, community: str, spec: dict[str, Any]) -> str:
        run_spec = RunSpec.model_validate({**spec, "community": community})
        steps = {}
        if Step.COLLECT in run_spec.steps:
            config = self.collect_config
            if config is None:
                raise ValueError("collection needs X API access, which this dashboard lacks")
            steps[Step.COLLECT] = lambda week, run_id: collect(week, run_id, config)
        now = self.clock()
        run_id = new_run_id(community, now)
        thread = threading.Thread(
            target=self._run, args=(run_spec, run_id, now, steps), name=run_id, daemon=True
        )
        self.threads[run_id] = thread
        thread.start()
        return run_id

    def _run(self, spec: RunSpec, run_id: str, now: datetime, steps: dict) -> None:
        try:
            run_pipeline(
                self.store,
                spec,
                run_id=run_id,
                now=now,
                progress=Progress(self.store, run_id, stream=None),
                steps=steps,
            )
        except RunFailed:
            # The run record already holds the step and the error; the log keeps the trace.
            log.exception("run %s failed", run_id)
        finally:
            self.store.flush()

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        """Add accounts the store already knows (seen in collected tweets); others need an
        X API lookup, which only ``dwt members add`` (or a configured launcher) does."""
        names = [u.strip().lstrip("@") for u in usernames if u.strip()]
        invalid = [n for n in names if not USERNAME.match(n)]
        if invalid:
            return f"Not a valid X username: {', '.join(invalid)}"
        lower = [n.lower() for n in names]
        found = {
            d["username_lower"]: {"id": d["_id"], "username": d["username"]}
            for d in self.store[Coll.ACCOUNTS].find({"username_lower": {"$in": lower}})
        }
        accounts = [found[n] for n in lower if n in found]
        if accounts:
            self.store.add_members(community, accounts, core=core, source="manual")
            self.store.flush()
        missing = [n for n in names if n.lower() not in found]
        parts = []
        if accounts:
            parts.append("Added " + ", ".join(f"@{a['username']}" for a in accounts) + ".")
        if missing:
            parts.append(
                "Unknown account(s) "
                + ", ".join(f"@{n}" for n in missing)
                + ": look them up with `dwt members add` first."
            )
        return " ".join(parts)
