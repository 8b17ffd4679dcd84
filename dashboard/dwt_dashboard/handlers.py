"""What each page and button does for a given user and community (:class:`Handlers`):
plain Python, so tests call it without a browser or a request. Each method that acts checks
the access rule itself, for callers that are not callbacks (the callbacks' guard checked it
already, before anything was read)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from dash import html
from dash.exceptions import PreventUpdate

from dwt.pipeline.estimate import plan_collection
from dwt.pipeline.insights import Week
from dwt.pipeline.scope import ScopeError
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store, StoreError
from dwt.store.candidates import apply_actions
from dwt.words import plural
from dwt_dashboard import data
from dwt_dashboard.access import REFUSALS, Access, Need
from dwt_dashboard.auth import SessionStore, UserDirectory
from dwt_dashboard.components import runs_table
from dwt_dashboard.keys import KeyRefused, KeyStore
from dwt_dashboard.launcher import DailySchedule, Launcher, LauncherError
from dwt_dashboard.pages import page_need, page_of
from dwt_dashboard.pages.insights import (
    CONVERSATIONS_SHOWN,
    cluster_detail,
    conversation_list,
    more_conversations,
    topic_list,
)
from dwt_dashboard.pages.jobs import jobs_tables, runs_pager
from dwt_dashboard.pages.keys import key_rows
from dwt_dashboard.pages.weights import VIEWER_RUN, controls, weight_presets
from dwt_dashboard.replies import Reply, usernames_from

INSIGHT_STEPS = ["bonds", "cluster", "content"]
log = logging.getLogger(__name__)


class Handlers:
    """What each page and button does, for a given user and community."""

    def __init__(
        self,
        store: Store,
        launcher: Launcher,
        users: UserDirectory,
        clock: Callable[[], datetime] | None = None,
        keys: KeyStore | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.users = users
        self.keys = keys
        self.sessions = sessions
        self.access = Access(users, store)
        self.clock = clock or (lambda: datetime.now(UTC))

    def allows(self, user: str | None, community: str | None, need: Need) -> bool:
        """The one access rule (:meth:`dwt_dashboard.access.Access.allows`)."""
        return self.access.allows(user, community, need)

    def allowed(self, user: str | None, community: str | None) -> bool:
        return self.allows(user, community, Need.READ)

    def page(
        self,
        user: str | None,
        pathname: str | None,
        community: str | None,
        search: str | None = None,
    ) -> Any:
        need = page_need(pathname)
        if not self.allows(user, community, need):
            return html.P(REFUSALS[need], className="error")
        query = parse_qs((search or "").lstrip("?"))
        act = self.allows(user, community, Need.WRITE)  # viewers see no action buttons
        try:
            return page_of(pathname).view(self, community, query, act)
        except LauncherError as exc:
            return html.P(f"This page needs the cluster, which answered: {exc}", className="error")

    def add_key(self, user: str | None, token: str | None) -> str:
        """Check a new key with X and keep it; the message never repeats the key."""
        if not self.allows(user, None, Need.KEYS):
            return REFUSALS[Need.KEYS]
        if self.keys is None:
            return "Keys are managed in the cluster's Secret here."
        try:
            info = self.keys.add(token or "")
        except KeyRefused as exc:
            return Reply.fail(f"Not added: {exc}.")
        return Reply(f"Added {info.fingerprint}; collection uses it from the next run.")

    def key_rows(self) -> Any:
        try:
            return key_rows(self.keys.list() if self.keys else [])
        except KeyRefused as exc:
            return html.P(f"The keys cannot be shown: {exc}.", className="error")

    def delete_key(self, user: str | None, fingerprint: str) -> str:
        if not self.allows(user, None, Need.KEYS):
            return REFUSALS[Need.KEYS]
        if self.keys is None:
            return "Keys are managed in the cluster's Secret here."
        try:
            deleted = self.keys.delete(fingerprint)
        except KeyRefused as exc:
            return Reply.fail(f"Not deleted: {exc}.")
        return Reply(f"Deleted {fingerprint}.") if deleted else Reply.fail(f"No key {fingerprint}.")

    def finalise(self, user: str | None, community: str | None, decisions: dict[str, str]) -> str:
        """Apply the previewed decisions on candidates at once, and start collecting the
        accounts added (a CommunityJob in the cluster); the message says what happened."""
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        if not decisions:
            return Reply.fail("Nothing to finalise: choose add, core, mute or block first.")
        names = {c["account_id"]: c["username"] or c["account_id"] for c in
                 data.candidates(self.store, community)}  # fmt: skip
        try:
            added = apply_actions(self.store, community, decisions, self.clock())
        except (StoreError, ValueError) as exc:
            return Reply.fail(f"Nothing done: {exc}")
        told = []
        for verb, action in (("Muted for 7 days", "mute"), ("Blocked", "block")):
            chosen = [f"@{names.get(a, a)}" for a, act in decisions.items() if act == action]
            if chosen:
                told.append(f"{verb}: {', '.join(chosen)}.")
        reply = Reply(" ".join(told))
        if added:
            names = ", ".join(f"@{a['username']}" for a in added)
            reply = Reply(f"{reply} Added {names}. ".lstrip()) + self.collect_new(community)
        return reply

    def collect_new(self, community: str) -> Reply:
        """Start collecting the members just added (a "discovery" run), and say which run;
        without an API key, say to add one instead of starting a run bound to fail."""
        if self.keys is not None:
            try:
                has_key = bool(self.keys.list())
            except KeyRefused as exc:
                log.warning("keys not readable: %s", exc)
                has_key = False
            if not has_key:
                return Reply.fail(
                    "Add an API key first: they are collected once one exists.",
                    link=("API keys", "/keys"),
                )
        busy = self.busy(community)  # one run at a time, in the cluster too
        if busy:
            return Reply(f"They are collected on the next run ({busy})", link=("Jobs", "/jobs"))
        try:
            run_id = self.launcher.run(
                community, {"steps": ["collect"], "members": {"scope": "new"}}
            )
        except (ValueError, LauncherError) as exc:
            return Reply(f"They are collected on the next run ({exc}).")
        return Reply(f"Collecting them in run {run_id}.", link=("Follow it on Jobs", "/jobs"))

    def collect_uncollected(self, user: str | None, community: str | None) -> str:
        """Start collecting the members never collected (added without an API key, or
        whose collection failed): the Users page's button."""
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        waiting = data.uncollected(self.store, community)
        if not waiting:
            return Reply("Every member has been collected: nothing waits.")
        return Reply(f"{plural(waiting, 'member')} not collected yet. ") + self.collect_new(
            community
        )

    def remove_member(self, user: str | None, community: str | None, account_id: str) -> str:
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        names = self.store.usernames([account_id])
        removed = self.store.remove_members(community, [account_id])
        name = f"@{names.get(account_id, account_id)}"
        return Reply(f"Removed {name}.") if removed else Reply.fail(f"{name} is not a member.")

    def add_member(self, user: str | None, community: str | None, username: str, core: bool) -> str:
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        names = usernames_from(username)
        if not names:
            return Reply.fail("Type a username, @name or an x.com/name link.")
        known = {n: a["id"] for n, a in self.store.accounts_named(names).items()}
        before = data.member_ids(self.store, community)
        already = [n for n in names if known.get(n.lower()) in before]
        wanted = [n for n in names if n not in already]
        told = []
        if already:
            listed = ", ".join(f"@{n}" for n in already)
            told.append(f"{listed} {'is' if len(already) == 1 else 'are'} already a member.")
        if not wanted:
            return Reply(" ".join(told))
        try:
            said = self.launcher.add_members(community, wanted, core=core)
        except LauncherError as exc:
            return Reply.fail(" ".join([*told, f"Not added: {exc}"]))
        added = data.member_ids(self.store, community) - before
        reply = Reply(" ".join([*told, said]), error=not added)
        return reply + " " + self.collect_new(community) if added else reply

    def launch(self, user: str | None, community: str | None, weights: dict[str, float]) -> str:
        """Start bonds + cluster + content with the chosen weights; the run id to follow."""
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        busy = self.busy(community)
        if busy:
            return Reply.fail(f"Not started: {busy}", link=("Jobs", "/jobs"))
        try:
            run_id = self.launcher.run(community, {"steps": INSIGHT_STEPS, "weights": weights})
        except (ValueError, LauncherError) as exc:
            return Reply.fail(f"Not started: {exc}")
        return Reply(f"Started run {run_id}; follow it on the Jobs page.", link=("Jobs", "/jobs"))

    def weights_body(self, user: str | None, community: str | None) -> Any:
        """The weights panel's controls, from the weights of the run the clusters come
        from; the run button says why it is disabled (a run is running, or a viewer)."""
        if not self.allows(user, community, Need.READ):
            raise PreventUpdate
        weights, _ = data.current_weights(self.store, community)
        act = self.allows(user, community, Need.WRITE)
        busy = self.busy(community) if act else VIEWER_RUN
        return controls(weights, busy, weight_presets())

    def busy(self, community: str) -> str | None:
        """Why no run may start now (one runs already), or None: one run at a time."""
        run = data.active_run(self.store, community)
        if run is None:
            return None
        started = run.get("started_at")
        when = f", started {started:%H:%M} UTC" if hasattr(started, "strftime") else ""
        return f"run {run['_id']} is still running{when}; wait for it to finish."

    def collection_plan(self, community: str) -> dict[str, Any] | str:
        """What the next collection would do, from the store alone (no request, no write):
        passes, the endpoint whose rate limit binds and its time with the keys there are,
        estimated post reads and cost; or why it cannot be planned."""
        try:
            keys = len(self.keys.list()) if self.keys is not None else 0
        except KeyRefused:
            keys = 0
        now = self.clock()
        try:
            week = Week(self.store, RunSpec(community=community, steps=["collect"]), now)
            plan = plan_collection(week, max(keys, 1), now=now)
        except (ScopeError, ValueError) as exc:
            return f"No plan: {exc}"
        summary = plan.summary()
        return {
            **summary,
            "charges": plan.bill(),
            "keys": keys,
            "timeline": plan.passes.get("timeline", {}),
            "following": plan.passes.get("following", {}),
            "notes": list(plan.notes),
        }

    def schedule_view(self, community: str) -> dict[str, Any] | None:
        schedule = self.launcher.schedule(community)
        if schedule is None:
            return None
        return {
            "hour": schedule.hour,
            "time_zone": schedule.time_zone,
            "text": schedule.describe(self.clock()),
        }

    def set_schedule(
        self, user: str | None, community: str | None, hour: int | None, time_zone: str | None
    ) -> str:
        """Change the community's daily run (the CommunityJob's schedule in the cluster)."""
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        if hour is None or not time_zone:
            return Reply.fail("Choose an hour and a time zone.")
        try:
            schedule = DailySchedule(int(hour), time_zone)
            return Reply(self.launcher.set_schedule(community, schedule))
        except (ValueError, LauncherError) as exc:
            return Reply.fail(f"Not saved: {exc}")

    def people(self, community: str) -> list[dict[str, Any]]:
        """Who may see ``community``, with their role there and their live sessions."""
        roles = {n: self.users.role(n, community) for n in self.users.usernames()}
        names = [n for n, r in roles.items() if r is not None]
        live = self.sessions.active(names) if self.sessions else {}
        return [
            {
                "username": n,
                "role": roles[n].name.lower(),  # type: ignore[union-attr]
                "sessions": live.get(n, {}).get("sessions", 0),
                "seen_at": live.get(n, {}).get("seen_at"),
            }
            for n in names
        ]

    def end_sessions(self, user: str | None, community: str | None, username: str) -> str:
        """Log ``username`` out everywhere: an admin of every community they may see may."""
        if not self.allows(user, community, Need.ADMIN):
            return REFUSALS[Need.ADMIN]
        if self.users.role(username, community) is None:
            return f"{username} does not use this community."
        if not self.access.administers(user, username):
            return f"{username} also uses communities you are not an admin of."
        ended = self.sessions.revoke_user(username) if self.sessions else 0
        return f"Ended {plural(ended, 'session')} of {username}."

    def jobs_tables(self, community: str, page: int = 0) -> Any:
        """The Jobs page's refreshing part (its runs at ``page``); the runs still show if
        the cluster does not."""
        runs, page, total = data.runs_page(self.store, community, page)
        shown = runs_pager(page, len(runs), total)
        try:
            return jobs_tables(runs, self.launcher.jobs(community), shown)
        except LauncherError as exc:
            return html.Div([runs_table(runs), shown, html.P(str(exc), className="error")])

    def log_tail(self, user: str | None, community: str | None, run_id: str | None) -> str:
        if not self.allows(user, community, Need.READ) or not run_id:
            return ""
        # Asked every few seconds while the Jobs page is open: one indexed lookup.
        if not self.store[Coll.RUNS].count_documents({"_id": run_id, "community": community}):
            return "No such run of this community."
        try:
            lines = self.launcher.log_tail(community, run_id)
        except LauncherError as exc:
            return str(exc)
        return "\n".join(lines) or "No log lines kept for this run here."

    def cluster(self, user: str | None, community: str | None, cluster: int | None) -> Any:
        """A cluster's details and its topics (read for that cluster alone)."""
        if not self.allows(user, community, Need.READ):
            raise PreventUpdate
        return (
            cluster_detail(data.cluster(self.store, community, cluster)),
            topic_list(data.cluster_topics(self.store, community, cluster)),
        )

    def conversations(
        self,
        user: str | None,
        community: str | None,
        cluster: int | None,
        tier: int,
        opened: str | None = None,
        shown: int = CONVERSATIONS_SHOWN,
    ) -> tuple[Any, tuple[str, bool]]:
        """The first ``shown`` conversations of a cluster at a tier (and the one opened),
        and the "show more" button (its text, hidden or not)."""
        if not self.allows(user, community, Need.READ) or cluster is None:
            raise PreventUpdate
        convs = data.conversations(self.store, community, cluster, tier, shown, opened=opened)
        total = data.conversation_total(self.store, community, cluster, tier)
        listed = conversation_list(convs, total=total, opened=opened)
        return listed, more_conversations(len(convs), total)
