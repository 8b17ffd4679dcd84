"""Collection checkpoints: what to fetch next for each account, and recording what came.

A timeline *pass* fetches an account's tweets newer than what the last completed pass saw
(``since_id``), or the whole window for a new account. Its parameters and the pagination
token of the next page are saved after every page, so a killed run resumes the pass where
it stopped; once the last page is in, the newest id seen becomes the floor of the next
pass. A following pass does the same for follow lists and, when complete, removes the
follows that were not seen again (unfollows). Every write is an idempotent upsert.

Follow lists have their own, slower cadence (:class:`FollowingPolicy`): X bills every
account a list returns ($0.010 each, :mod:`dwt.xapi.prices`), so a first collection's lists
cost several times its posts and re-reading every list every week would too. A list is read
when its member joins, then a rolling budget of accounts per week of elapsed time is spent
on the lists expected to have changed most (each list's change rate, learned when it was
last re-read, × its age; the oldest first while nothing is learned), and any list older
than the maximum age is re-read whatever the budget. Members following more accounts than
``max_list_size`` are not read at all (the plan says so).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dwt.collect.items import Kind, Outcome, WorkItem
from dwt.model.fields import TWEET_FIELDS
from dwt.store import Coll, Store, WriteSummary
from dwt.store.store import FollowChange

#: X's snowflake ids count milliseconds from this instant (2010-11-04).
TWITTER_EPOCH_MS = 1288834974657


def load_states(store: Store, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The accounts' collection checkpoints, by account id (accounts never planned left
    out)."""
    return store.checkpoints(account_ids)


def snowflake_time(tweet_id: str) -> datetime:
    """When a tweet was posted, read from its id (X ids carry milliseconds since 2010)."""
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)


#: Share of a follow list assumed to change per week until its own rate is learned.
DEFAULT_CHANGE_RATE = 0.02


@dataclass(frozen=True)
class FollowingPolicy:
    """When follow lists are read. Every list never read (up to ``max_list_size`` accounts;
    None: any size) and every list older than ``max_age`` (None: no maximum age; zero: every
    run). Then, per week since the last refresh, ``share`` of the accounts the known lists
    hold (what reading them all would cost), spent on the lists whose expected change —
    change rate × age — is largest, if at least ``min_change``."""

    share: float = 0.15
    max_age: timedelta | None = timedelta(days=60)
    min_change: float = 0.0
    max_list_size: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"following refresh share must be within [0, 1], got {self.share}")
        if self.max_age is not None and self.max_age < timedelta(0):
            raise ValueError(f"following max age must be >= 0, got {self.max_age}")
        if not 0.0 <= self.min_change <= 1.0:
            raise ValueError(f"following min change must be within [0, 1], got {self.min_change}")
        if self.max_list_size is not None and self.max_list_size < 1:
            raise ValueError(f"following max list size must be >= 1, got {self.max_list_size}")

    @classmethod
    def of(cls, collection: Any) -> FollowingPolicy:
        """The policy of a spec's ``collection`` section."""
        return cls(
            share=collection.following_refresh_share,
            max_age=timedelta(days=collection.following_refresh_days),
            min_change=collection.following_min_change,
            max_list_size=collection.following_max_list_size,
        )

    def too_big(self, size: int | None) -> bool:
        return size is not None and self.max_list_size is not None and size > self.max_list_size


def list_sizes(
    store: Store, account_ids: Sequence[str], states: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """The last known size of each account's follow list: the size its last read found,
    else its stored list's, else its ``following_count`` (accounts unknown left out)."""
    sizes = {
        a: int(states[a]["following_size"])
        for a in account_ids
        if isinstance(states.get(a, {}).get("following_size"), int)
    }
    missing = [a for a in account_ids if a not in sizes]
    if missing:
        sizes |= store.follow_list_sizes(missing)
    missing = [a for a in account_ids if a not in sizes]
    if missing:
        for doc in store.accounts(missing, ["public_metrics"]).values():
            count = (doc.get("public_metrics") or {}).get("following_count")
            if isinstance(count, int):
                sizes[doc["_id"]] = count
    return sizes


def following_due(
    states: dict[str, dict[str, Any]],
    account_ids: Sequence[str],
    now: datetime,
    policy: FollowingPolicy,
    done_since: datetime | None = None,
    sizes: dict[str, int] | None = None,
) -> list[str]:
    """Accounts whose follow list a run should start re-reading, in ``account_ids`` order.

    Never read, or older than ``policy.max_age``: always — unless larger than
    ``policy.max_list_size`` (never then). Then the rolling budget: ``share`` × the accounts
    the known lists hold (``sizes``; a list of unknown size counts one) × the weeks since the
    newest refresh before this run, rounded (a weekly run re-reads ``share`` of them, a
    daily one a seventh of that), less what this run already refreshed (a retry) and the over-age
    ones; the lists expected to have changed most (change rate × age, learned rates or
    :data:`DEFAULT_CHANGE_RATE`) fill it, each while at least half of it fits, if their
    expected change reaches ``policy.min_change``. An unreadable account (protected,
    suspended...) counts as read when it was last found so, so it is tried again in its
    turn, not every run. Accounts with a pass under way (resumed anyway) or done in this
    run are left out.
    """
    sizes = sizes or {}

    def size(account: str) -> int:
        return max(1, sizes.get(account, 1))

    never: list[str] = []
    known: list[tuple[datetime, str]] = []
    refreshed_in_run = 0
    latest: datetime | None = None
    for account in account_ids:
        state = states.get(account, {})
        if state.get("following_pass") is not None:
            continue
        done = state.get("following_done_at")
        if done is None and state.get("status", "active") != "active":
            done = state.get("status_seen_at")  # unreadable: tried then, in the rotation
        if _done_in_run(state, "following_done_at", done_since):
            refreshed_in_run += size(account) if done is not None else 0
            continue
        if policy.too_big(sizes.get(account)):
            continue  # not worth its price: the plan names it
        if done is None:
            never.append(account)
            continue
        done = _aware(done)
        known.append((done, account))
        latest = done if latest is None or done > latest else latest
    if not known or latest is None:
        return [a for a in account_ids if a in set(never)]
    max_age = policy.max_age
    aged = {a for d, a in known if max_age is not None and d <= now - max_age}
    week = timedelta(days=7).total_seconds()
    weeks = max(0.0, (now - latest).total_seconds()) / week
    held = sum(size(a) for _, a in known) + refreshed_in_run
    # Rounded to the nearest: a rerun minutes later re-reads nothing, and a budget below
    # one list builds up over the days since the newest refresh.
    quota = math.floor(policy.share * held * weeks + 0.5)
    quota -= refreshed_in_run + sum(size(a) for a in aged)
    learned = [
        float(r)
        for r in (states.get(a, {}).get("following_change_rate") for _, a in known)
        if isinstance(r, int | float)
    ]
    prior = statistics.median(learned) if learned else DEFAULT_CHANGE_RATE

    def expected(done: datetime, account: str) -> float:
        rate = states.get(account, {}).get("following_change_rate")
        rate = float(rate) if isinstance(rate, int | float) else prior
        return rate * max(0.0, (now - done).total_seconds()) / week

    ranked = sorted(
        ((expected(d, a), d, a) for d, a in known if a not in aged),
        key=lambda t: (-t[0], t[1]),
    )
    chosen: set[str] = set()
    spent = 0
    for change, _, account in ranked:
        if change < policy.min_change or spent + size(account) / 2 > quota:
            continue
        chosen.add(account)
        spent += size(account)
    due = set(never) | aged | chosen
    return [a for a in account_ids if a in due]


def follows_age_days(
    store: Store, account_ids: Sequence[str], now: datetime
) -> dict[str, float | int | None]:
    """How old the follow lists the bond stage will use are: median and maximum age in
    days over the accounts with a list read, and how many have none."""
    states = load_states(store, account_ids)
    ages = sorted(
        (now - _aware(s["following_done_at"])).total_seconds() / 86400
        for s in states.values()
        if s.get("following_done_at") is not None
    )
    if not ages:
        return {"median": None, "max": None, "never_read": len(account_ids)}
    mid = len(ages) // 2
    median = ages[mid] if len(ages) % 2 else (ages[mid - 1] + ages[mid]) / 2
    return {
        "median": round(median, 2),
        "max": round(ages[-1], 2),
        "never_read": len(account_ids) - len(ages),
    }


#: A pass :func:`plan_passes` starts: (account, the timeline pass's parameters), or
#: (account, None) for a following pass.
NewPass = tuple[str, dict[str, Any] | None]


def plan(
    store: Store,
    account_ids: Sequence[str],
    since: datetime,
    until: datetime | None,
    now: datetime,
    following: FollowingPolicy | None,
    done_since: datetime | None = None,
) -> list[WorkItem]:
    """The first item of every pass the accounts need; unfinished passes resume.

    ``until=None`` leaves the window open at the present (the API refuses end times in the
    last seconds). ``following=None`` skips follow lists; else :func:`following_due` says
    which lists are re-read. Passes completed at or
    after ``done_since`` (the start of the run being retried) are not repeated. The new
    passes are saved (checkpoints) before the items are returned.
    """
    items, new_passes = plan_passes(store, account_ids, since, until, now, following, done_since)
    start_passes(store, new_passes, now)
    return items


def plan_passes(
    store: Store,
    account_ids: Sequence[str],
    since: datetime,
    until: datetime | None,
    now: datetime,
    following: FollowingPolicy | None,
    done_since: datetime | None = None,
    states: dict[str, dict[str, Any]] | None = None,
    sizes: dict[str, int] | None = None,
) -> tuple[list[WorkItem], list[NewPass]]:
    """What :func:`plan` does, without writing: the items, and the passes it would start
    (the rest of the items resume unfinished passes). Reads the store only (``states``:
    the accounts' checkpoints, ``sizes``: their follow lists' :func:`list_sizes`, when the
    caller has read them already)."""
    if states is None:
        states = load_states(store, account_ids)
    due: set[str] = set()
    if following is not None:
        if sizes is None:
            sizes = list_sizes(store, account_ids, states)
        due = set(following_due(states, account_ids, now, following, done_since, sizes))
    items: list[WorkItem] = []
    new_passes: list[NewPass] = []
    for account in account_ids:
        state = states.get(account, {})
        current = state.get("timeline_pass")
        if current is None and not _done_in_run(state, "timeline_done_at", done_since):
            floor = state.get("timeline_newest_id")
            use_floor = floor is not None and snowflake_time(floor) >= since
            current = {
                "start_time": None if use_floor else since.isoformat(),
                "end_time": until.isoformat() if until else None,
                "since_id": floor if use_floor else None,
                "next_token": None,
                "newest_id": None,
                "started_at": now,
            }
            new_passes.append((account, current))
        if current is not None:
            items.append(
                WorkItem(
                    Kind.TIMELINE,
                    account,
                    start_time=current["start_time"],
                    end_time=current["end_time"],
                    since_id=current["since_id"],
                    pagination_token=current["next_token"],
                )
            )
        if following is None:
            continue
        under_way = state.get("following_pass")
        if under_way is not None:
            items.append(
                WorkItem(Kind.FOLLOWING, account, pagination_token=under_way["next_token"])
            )
        elif account in due:
            new_passes.append((account, None))
            items.append(WorkItem(Kind.FOLLOWING, account))
    return items, new_passes


def _done_in_run(state: dict[str, Any], field: str, run_start: datetime | None) -> bool:
    """Whether the run being retried (started at ``run_start``) already did this pass:
    completed it, or found the account unreadable."""
    if run_start is None:
        return False
    done = state.get(field)
    if done is not None and _aware(done) >= run_start:
        return True
    seen = state.get("status_seen_at")
    unreadable = state.get("status", "active") != "active"
    return unreadable and seen is not None and _aware(seen) >= run_start


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_passes(store: Store, passes: Iterable[NewPass], now: datetime) -> None:
    """Save the checkpoints of the passes :func:`plan_passes` would start."""
    docs = []
    for account, timeline in passes:
        if timeline is None:
            docs.append({"_id": account, "following_pass": {"next_token": None, "started_at": now}})
        else:
            docs.append({"_id": account, "timeline_pass": timeline})
    if docs:
        store.upsert(Coll.COLLECT_STATE, docs)


def record_page(
    store: Store, outcome: Outcome, now: datetime, accounts_seen: set[str] | None = None
) -> tuple[WriteSummary, bool]:
    """Store a fetched page and move the account's checkpoint, in one transaction (the
    embedded store; in that order on MongoDB: every write is idempotent, so a page stored
    without its checkpoint is stored again, harmlessly); returns (what was written, whether
    the pass is complete). ``accounts_seen``: see :meth:`Store.put_tweets`."""
    with store.transaction():
        return _record_page(store, outcome, now, accounts_seen)


def _record_page(
    store: Store, outcome: Outcome, now: datetime, accounts_seen: set[str] | None
) -> tuple[WriteSummary, bool]:
    item = outcome.item
    if item.kind is Kind.FOLLOWING:
        return _record_following(store, outcome, now)
    written = WriteSummary()
    if outcome.data:
        page = {"data": outcome.data, "includes": outcome.includes}
        written = store.put_tweets(page, TWEET_FIELDS, accounts_seen)
    account = item.account_id
    moved: dict[str, Any] = {}
    if item.pagination_token is None and outcome.newest_id:
        moved["timeline_pass.newest_id"] = outcome.newest_id
    if outcome.next_token:
        moved["timeline_pass.next_token"] = outcome.next_token
        store.update_checkpoint(account, moved)
        return written, False
    store.update_checkpoint(account, moved)
    doc = store.checkpoints([account]).get(account, {})
    seen = (doc.get("timeline_newest_id"), (doc.get("timeline_pass") or {}).get("newest_id"))
    newest = [i for i in seen if i]
    done: dict[str, Any] = {"timeline_done_at": now}
    if newest:
        done["timeline_newest_id"] = max(newest, key=int)
    if doc.get("status", "active") != "active":  # readable again
        done.update(status="active", status_seen_at=now)
        store.mark_member_status(account, "active", now)
    store.update_checkpoint(account, done, clear=["timeline_pass"])
    return written, True


def _record_following(store: Store, outcome: Outcome, now: datetime) -> tuple[WriteSummary, bool]:
    account = outcome.item.account_id
    users = [u for u in outcome.data if u.get("id") and u.get("username")]
    written = store.put_accounts(users) if users else WriteSummary()
    last = not outcome.next_token
    change = store.put_follows(account, [u["id"] for u in users], last_page=last)
    if change is None:  # not the last page
        store.update_checkpoint(account, {"following_pass.next_token": outcome.next_token})
        return written, False
    done: dict[str, Any] = {"following_done_at": now, "following_size": change.current}
    rate = _change_rate(change, now)
    if rate is not None:
        done["following_change_rate"] = rate
    store.update_checkpoint(account, done, clear=["following_pass"])
    return written, True


def _change_rate(change: FollowChange, now: datetime) -> float | None:
    """Share of a list followed or unfollowed per week since it was last read (None when
    it was never read before, or moments ago)."""
    if change.changed is None or change.previous_at is None:
        return None
    weeks = (now - _aware(change.previous_at)).total_seconds() / timedelta(days=7).total_seconds()
    if weeks < 1 / 7:  # under a day: too short to say anything about a week
        return None
    return round(change.changed / max(1, change.previous or 0, change.current) / weeks, 6)


def record_unavailable(store: Store, item: WorkItem, reason: str, now: datetime) -> None:
    """The account cannot be read: end its passes and mark it on every community's roster."""
    ended = "timeline_pass" if item.kind is Kind.TIMELINE else "following_pass"
    store.update_checkpoint(
        item.account_id, {"status": reason, "status_seen_at": now}, clear=[ended], create=True
    )
    store.mark_member_status(item.account_id, reason, now)


def never_collected(store: Store, account_ids: Sequence[str]) -> list[str]:
    """Accounts never collected nor found unreadable (scope ``new``)."""
    states = load_states(store, account_ids)
    return [a for a in account_ids if not {"timeline_done_at", "status"} & set(states.get(a, {}))]
