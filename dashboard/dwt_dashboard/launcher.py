"""How the dashboard starts work: pipeline runs, members by username, the daily schedule.

The dashboard never runs a step in a callback (a run takes minutes); it asks a launcher,
which returns at once with a run id the person can follow on the Jobs page.
:class:`LocalLauncher` runs :func:`dwt.pipeline.runner.run_pipeline` in background threads
of the dashboard's process and fires the daily schedule itself;
:class:`dwt_dashboard.kube_launcher.KubeLauncher` creates CommunityJobs for the operator.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from dwt.collect.lookup import add_members_by_username
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.lease import HeldLease, hold
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import RunFailed, new_run_id, run_pipeline
from dwt.pipeline.schedule import due, next_fire
from dwt.pipeline.spec import CommunityJobSpec, RunSpec, Step
from dwt.store import Store
from dwt.store.leases import RunBusy
from dwt.store.schedules import community_schedule, save_schedule, schedule_fired, schedules
from dwt.xapi.errors import XApiError
from dwt_operator.entrypoint import schedule_trigger

log = logging.getLogger(__name__)
LOG_LINES = 200


class LauncherError(RuntimeError):
    """Where runs go could not be reached or refused the request; the message says why."""


@dataclass(frozen=True)
class DailySchedule:
    """The community's daily run: at ``hour`` o'clock in ``time_zone``."""

    hour: int
    time_zone: str

    def __post_init__(self) -> None:
        if not 0 <= self.hour <= 23:
            raise ValueError(f"the hour is 0 to 23, not {self.hour}")
        try:  # the operator's own rule for time zones
            CommunityJobSpec.model_validate(
                {"community": "check", "schedule": self.cron, "timeZone": self.time_zone}
            )
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None

    @property
    def cron(self) -> str:
        return f"0 {self.hour} * * *"

    @classmethod
    def from_cron(cls, cron: str | None, time_zone: str) -> DailySchedule | None:
        """The schedule a daily cron line says, or None (unset, or not a daily line)."""
        fields = (cron or "").split()
        if len(fields) != 5 or fields[0] != "0" or fields[2:] != ["*", "*", "*"]:
            return None
        return cls(int(fields[1]), time_zone) if fields[1].isdigit() else None

    def next_run(self, after: datetime) -> datetime:
        return next_fire(self.cron, self.time_zone, after)

    def due(self, last: datetime, now: datetime) -> datetime | None:
        """The latest firing in ``(last, now]``, or None (the operator's rule)."""
        return due(self.cron, self.time_zone, last, now)

    def describe(self, now: datetime) -> str:
        """``daily at 07:00 Europe/Paris, next 2026-11-30 07:00 CET``."""
        return (
            f"daily at {self.hour:02d}:00 {self.time_zone}, "
            f"next {self.next_run(now):%Y-%m-%d %H:%M %Z}"
        )


def members_lookup_token(keys: Any) -> Callable[[], str | None]:
    """The key the dashboard looks members up with: the first of its key store, if any
    (none when the store cannot be read: adding then says a key is needed)."""

    def token() -> str | None:
        if keys is None:
            return None
        try:
            return keys.first_token()
        except ValueError as exc:  # KeyRefused: e.g. the Secret is missing
            log.warning("no key to look members up with: %s", exc)
            return None

    return token


class Launcher(Protocol):
    """Starts work for a community and returns without waiting for it."""

    def run(self, community: str, spec: dict[str, Any]) -> str:
        """Start a run of ``spec`` (a CommunityJob ``spec`` minus ``community``); its id."""
        ...

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        """Add accounts by username; a message for the person saying what was done."""
        ...

    def schedule(self, community: str) -> DailySchedule | None:
        """The community's daily run, if one is set."""
        ...

    def set_schedule(self, community: str, schedule: DailySchedule) -> str:
        """Set (or change) the daily run; a message saying what was done."""
        ...

    def log_tail(self, community: str, run_id: str) -> list[str]:
        """The last lines a run told (oldest first); empty when none are known here."""
        ...

    def jobs(self, community: str) -> list[dict[str, Any]] | None:
        """The community's CommunityJobs (name, phase, schedule, message…); None when
        runs are not CommunityJobs here."""
        ...


class LocalLauncher:
    """Runs the pipeline in background threads of this process (laptop, demo, tests).

    Collection is possible only when ``collect_config`` says how to reach the X API; the
    insight steps need nothing but the store. ``lookup_token`` gives the key unknown
    usernames are looked up with (None: only accounts the store knows can be added).
    The daily schedule lives on the community's document; :meth:`start_scheduler` fires it.
    """

    def __init__(
        self,
        store: Store,
        collect_config: CollectConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        lookup_token: Callable[[], str | None] | None = None,
        x_api_base_url: str = "https://api.twitter.com",
    ) -> None:
        self.store = store
        self.collect_config = collect_config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lookup_token = lookup_token or (lambda: None)
        self.x_api_base_url = collect_config.base_url if collect_config else x_api_base_url
        self.threads: dict[str, threading.Thread] = {}
        self.logs: dict[str, deque[str]] = {}
        self._stop = threading.Event()

    def run(self, community: str, spec: dict[str, Any], run_id: str | None = None) -> str:
        run_spec = RunSpec.model_validate({**spec, "community": community})
        steps = {}
        if Step.COLLECT in run_spec.steps:
            config = self.collect_config
            if config is None:
                raise ValueError("collection needs X API access, which this dashboard lacks")
            steps[Step.COLLECT] = lambda week, run_id: collect(week, run_id, config)
        now = self.clock()
        run_id = run_id or new_run_id(community, now)
        try:  # one run per community, whoever starts it: refused here, at once
            lease = hold(self.store, community, run_id)
        except RunBusy as exc:
            raise LauncherError(str(exc)) from None
        lines: deque[str] = deque(maxlen=LOG_LINES)
        self.logs[run_id] = lines
        thread = threading.Thread(
            target=self._run,
            args=(run_spec, run_id, now, steps, lines, lease),
            name=run_id,
            daemon=True,
        )
        self.threads[run_id] = thread
        thread.start()
        return run_id

    def _run(
        self,
        spec: RunSpec,
        run_id: str,
        now: datetime,
        steps: dict,
        lines: deque[str],
        lease: HeldLease,
    ) -> None:
        def tell(line: str) -> None:
            lines.append(f"{datetime.now(UTC):%H:%M:%S} {line}")

        tell(f"run {run_id}: {' '.join(spec.steps)}")
        try:
            run_pipeline(
                self.store,
                spec,
                run_id=run_id,
                now=now,
                progress=Progress(self.store, run_id, stream=None, human=tell),
                steps=steps,
                lease=lease,
            )
            tell("succeeded")
        except RunFailed as exc:
            # The run record holds the step and the error; the log keeps the trace.
            tell(f"failed: {exc}")
            log.exception("run %s failed", run_id)

    def log_tail(self, community: str, run_id: str) -> list[str]:
        return list(self.logs.get(run_id, ()))

    def jobs(self, community: str) -> None:
        return None

    def add_members(self, community: str, usernames: list[str], core: bool = False) -> str:
        try:
            result = add_members_by_username(
                self.store,
                community,
                usernames,
                core=core,
                token=self.lookup_token(),
                base_url=self.x_api_base_url,
            )
        except XApiError as exc:
            return f"Not added: X could not be asked ({exc})."
        return result.message()

    # --- the daily schedule ------------------------------------------------------------------
    def schedule(self, community: str) -> DailySchedule | None:
        found = community_schedule(self.store, community)
        return DailySchedule(found["hour"], found["time_zone"]) if found else None

    def set_schedule(self, community: str, schedule: DailySchedule) -> str:
        now = self.clock()  # the next firing is the first after now
        save_schedule(self.store, community, schedule.hour, schedule.time_zone, now)
        return f"Saved: {schedule.describe(now)}."

    def tick(self) -> list[str]:
        """Start the scheduled runs that are due; their run ids. Missed firings collapse
        into one (as the operator does); a run that cannot start is logged, and not retried
        until the next firing."""
        now = self.clock()
        started = []
        for community, sched in schedules(self.store).items():
            last = sched["last_fired"]  # the store hands back aware datetimes
            fire = DailySchedule(sched["hour"], sched["time_zone"]).due(last, now)
            if fire is None:
                continue
            schedule_fired(self.store, community, now)
            # Named as the operator names scheduled runs, so both read as "scheduled".
            run_id = f"{community}-{schedule_trigger(fire)}"
            try:
                started.append(self.run(community, {}, run_id=run_id))
            except (ValueError, LauncherError) as exc:  # LauncherError: another run goes on
                log.error("scheduled run of %s at %s not started: %s", community, fire, exc)
        return started

    def start_scheduler(self, interval_s: float = 30.0) -> threading.Thread:
        """Fire the daily schedules from a background thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.tick()
                except Exception:  # one bad tick must not end the schedule
                    log.exception("scheduler tick failed")

        thread = threading.Thread(target=loop, name="dwt-schedule", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
