"""Cron schedules in a time zone: when a scheduled CommunityJob fires next."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


def next_fire(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first firing strictly after ``after`` (aware), as an aware UTC-comparable time."""
    local = after.astimezone(ZoneInfo(time_zone))
    return croniter(schedule, local).get_next(datetime)


def due(schedule: str, time_zone: str, last: datetime, now: datetime) -> datetime | None:
    """The latest firing in ``(last, now]`` or None. Missed firings collapse into one, as a
    CronJob with no starting deadline would start one run after an outage, not many."""
    fire = next_fire(schedule, time_zone, last)
    if fire > now:
        return None
    while True:
        following = next_fire(schedule, time_zone, fire)
        if following > now:
            return fire
        fire = following
