"""The Dash app: :func:`create_app` wires pages, callbacks and login over a store.

Callbacks are thin: each is registered through :func:`dwt_dashboard.access.guarded_callback`,
which checks the one access rule for the community the request names before the callback
runs, and calls a :class:`Handlers` method (plain Python, testable without a browser or a
request; the methods check the same rule for callers that are not callbacks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import dash
from dash import ALL, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from dwt.pipeline.estimate import plan_collection
from dwt.pipeline.insights import Week
from dwt.pipeline.scope import ScopeError
from dwt.pipeline.spec import RunSpec
from dwt.stages import weights as weights_module
from dwt.store import Coll, Store, StoreError
from dwt.store.candidates import apply_actions
from dwt_dashboard import callback_shapes, data, insights_map, layout, mapdata
from dwt_dashboard.access import REFUSALS, Access, Need, guarded_callback
from dwt_dashboard.auth import (
    LoginThrottle,
    Role,
    SessionPolicy,
    SessionStore,
    TrustedProxies,
    UserDirectory,
    content_security_policy,
    csrf_token,
    current_user,
    install,
)
from dwt_dashboard.insights_map import register_map_callbacks
from dwt_dashboard.keys import KeyRefused, KeyStore
from dwt_dashboard.launcher import DailySchedule, Launcher, LauncherError
from dwt_dashboard.replies import Reply, is_error, usernames_from

INSIGHT_STEPS = ["bonds", "cluster", "content"]
#: Why a viewer's run button is disabled.
VIEWER_RUN = layout.VIEW_ONLY.format(what="start a run with other weights")
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
            return self._page(pathname, community, query, act)
        except LauncherError as exc:
            return html.P(f"This page needs the cluster, which answered: {exc}", className="error")

    def _page(
        self, pathname: str | None, community: str, query: dict[str, list[str]], act: bool
    ) -> Any:
        path = _path(pathname)
        if path == "/people":
            return layout.people(self.people(community))
        if path == "/users":
            return layout.users(
                data.members(self.store, community), data.candidates(self.store, community), act
            )
        if path == "/insights":
            weights, weights_run = data.current_weights(self.store, community)
            clusters = data.clusters(self.store, community, members=False)
            first = layout.first_cluster(clusters, _int(query.get("cluster")))
            return layout.insights(
                clusters,
                insights_map.initial_elements(self.store, community),
                weights=weights,
                weights_run=weights_run,
                busy=self.busy(community) if act else VIEWER_RUN,
                presets=weight_presets(),
                selected=first,
                tier=_int(query.get("tier")) or 1,
                shown=data.cluster(self.store, community, first),
                topics=data.cluster_topics(self.store, community, first),
            )
        if path == "/keys":
            try:
                return layout.keys(self.keys.list() if self.keys else None)
            except KeyRefused as exc:
                return html.P(f"The keys cannot be shown: {exc}.", className="error")
        if path == "/collection":
            return layout.collection(
                data.collection(self.store, community),
                self.schedule_view(community),
                plan=self.collection_plan(community),
                act=act,
            )
        if path == "/jobs":
            runs = data.runs(self.store, community)
            return layout.jobs(runs, self.launcher.jobs(community))  # LauncherError: above
        mapdata.prefetch(self.store, community)  # Insights, the usual next page, opens at once
        return layout.home(data.digest(self.store, community, self.clock()))

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
            return layout.key_rows(self.keys.list() if self.keys else [])
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

    def remove_member(self, user: str | None, community: str | None, account_id: str) -> str:
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        names = data.usernames(self.store, [account_id])
        removed = self.store.remove_members(community, [account_id])
        name = f"@{names.get(account_id, account_id)}"
        return Reply(f"Removed {name}.") if removed else Reply.fail(f"{name} is not a member.")

    def add_member(self, user: str | None, community: str | None, username: str, core: bool) -> str:
        if not self.allows(user, community, Need.WRITE):
            return REFUSALS[Need.WRITE]
        names = usernames_from(username)
        if not names:
            return Reply.fail("Type a username, @name or an x.com/name link.")
        known = {
            d["username_lower"]: d["_id"]
            for d in self.store[Coll.ACCOUNTS].find(
                {"username_lower": {"$in": [n.lower() for n in names]}}, {"username_lower": 1}
            )
        }
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
        return layout.weights_body(weights, busy, weight_presets())

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
        return f"Ended {ended} session(s) of {username}."

    def jobs_tables(self, community: str) -> Any:
        """The Jobs page's refreshing part; the runs still show if the cluster does not."""
        runs = data.runs(self.store, community)
        try:
            return layout.jobs_tables(runs, self.launcher.jobs(community))
        except LauncherError as exc:
            return html.Div([layout.runs_table(runs), html.P(str(exc), className="error")])

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
            layout.cluster_detail(data.cluster(self.store, community, cluster)),
            layout.topic_list(data.cluster_topics(self.store, community, cluster)),
        )

    def conversations(
        self,
        user: str | None,
        community: str | None,
        cluster: int | None,
        tier: int,
        opened: str | None = None,
        shown: int = layout.CONVERSATIONS_SHOWN,
    ) -> tuple[Any, tuple[str, bool]]:
        """The first ``shown`` conversations of a cluster at a tier (and the one opened),
        and the "show more" button (its text, hidden or not)."""
        if not self.allows(user, community, Need.READ) or cluster is None:
            raise PreventUpdate
        convs = data.conversations(self.store, community, cluster, tier, shown, opened=opened)
        total = data.conversation_total(self.store, community, cluster, tier)
        listed = layout.conversation_list(convs, total=total, opened=opened)
        return listed, layout.more_conversations(len(convs), total)


def _path(pathname: str | None) -> str:
    return (pathname or "/").rstrip("/") or "/"


def _int(values: list[str] | None) -> int | None:
    """The first of a query parameter's values as an int (None: absent or not a number)."""
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def weight_presets() -> dict[str, dict[str, float]] | None:
    """Named weight sets (``dwt.stages.weights.PRESETS``, name → BondWeights), if defined."""
    presets = getattr(weights_module, "PRESETS", None)
    if not presets:
        return None
    return {name: w.to_dict() if hasattr(w, "to_dict") else dict(w) for name, w in presets.items()}


def page_need(pathname: str | None) -> Need:
    """What a page needs: the keys page, the shared keys; the people page, admin; others,
    to see the community."""
    return {"/keys": Need.KEYS, "/people": Need.ADMIN}.get(_path(pathname), Need.READ)


def slider_weights(values: list[float]) -> dict[str, float]:
    """Slider positions (log10; :data:`layout.OFF` for 0) back to weights, in
    ``BondWeights`` field order."""
    names = data.weight_defaults()
    return {n: layout.value_of(n, v) for n, v in zip(names, values, strict=True)}


def create_app(
    store: Store,
    launcher: Launcher,
    users: UserDirectory,
    clock: Callable[[], datetime] | None = None,
    keys: KeyStore | None = None,
    trusted_user_header: str | None = None,
    *,
    trusted_proxies: Sequence[str] = (),
    proxy_hops: int = 1,
    secure_cookies: str = "auto",
    session_policy: SessionPolicy | None = None,
    throttle: LoginThrottle | None = None,
) -> dash.Dash:
    """The dashboard over ``store``; ``launcher`` starts runs; ``users`` may log in (or an
    OIDC proxy at one of ``trusted_proxies`` vouches for them in ``trusted_user_header``);
    ``keys`` holds the X API keys (None: they are managed elsewhere). Sessions live in the
    store under ``session_policy``; cookies are ``Secure`` as ``secure_cookies`` says (auto:
    when the request came over TLS, directly or through a trusted proxy)."""
    app = dash.Dash(
        __name__,
        title="Discover Weekly",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
        # Phones lay the page out at their own width (one column under 700 px).
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    sessions = SessionStore(store, session_policy)
    handlers = Handlers(store, launcher, users, clock, keys, sessions)
    access = handlers.access
    app.handlers = handlers  # type: ignore[attr-defined]  # for tests and embedding
    install(
        app.server,
        users,
        sessions,
        trusted_header=trusted_user_header,
        proxies=TrustedProxies(trusted_proxies, proxy_hops),
        throttle=throttle,
        secure_cookies=secure_cookies,
        csp=content_security_policy(app.csp_hashes()),
    )
    callback_shapes.install(app)  # after the login guard, before Dash reads a request

    def serve_layout() -> Any:
        user = current_user()
        roles = [users.role(user, c) for c in access.communities(user)]
        return layout.shell(
            access.communities(user),
            user or "",
            keys=access.keys_admin(user),
            people=Role.ADMIN in roles,
            csrf=csrf_token() if user and not trusted_user_header else None,
        )

    app.layout = serve_layout
    app.validation_layout = html.Div(
        [
            layout.shell([], ""),
            layout.users([], []),
            layout.insights([], []),
            html.Div(layout.weights_body(data.weight_defaults(), None, weight_presets())),
            layout.jobs([], []),
            layout.keys([]),
            layout.people([]),
            layout.schedule_editor(None),
        ]
    )

    def callback(*dependencies: Any, need: Any, message: int | None = None, **kw: Any) -> Any:
        """Every callback of the dashboard: the access rule first (see dwt_dashboard.access)."""
        return guarded_callback(app, access, *dependencies, need=need, message=message, **kw)

    def ask_first(button: str, field: str, need: Need, question: Callable[..., str]) -> None:
        """A click on a destructive button (``{"type": button, field: value}``) only asks,
        in dialog ``{button}-confirm`` (``question(value, community)``); the value waits in
        ``{button}-pending`` for the dialog's OK, whose callback acts."""

        @callback(
            Output(f"{button}-confirm", "displayed"),
            Output(f"{button}-confirm", "message"),
            Output(f"{button}-pending", "data"),
            Input({"type": button, field: ALL}, "n_clicks"),
            State("community", "value"),
            need=need,
            prevent_initial_call=True,
        )
        def _ask(clicks: list[int | None], community: str | None) -> tuple[bool, str, str]:
            trigger = ctx.triggered_id
            if not isinstance(trigger, dict) or not any(clicks):
                raise PreventUpdate
            value = trigger[field]
            return True, question(value, community), value

    ask_first(
        "key-del", "fingerprint", Need.KEYS,
        lambda fingerprint, _: f"Delete key {fingerprint}? Collection stops using it.",
    )  # fmt: skip
    ask_first(
        "member-del", "account", Need.WRITE,
        lambda account, community: (
            f"Remove @{data.member_name(store, community, account) or account} from {community}?"
        ),
    )  # fmt: skip

    @callback(
        Output("key-result", "children"),
        Output("key-input", "value"),
        Output("key-list", "children"),
        Input("key-add", "n_clicks"),
        Input("key-del-confirm", "submit_n_clicks"),
        State("key-input", "value"),
        State("key-del-pending", "data"),
        need=Need.KEYS,
        message=0,
        prevent_initial_call=True,
    )
    def _keys(_: int, confirmed: int | None, token: str | None, fingerprint: str | None) -> tuple:
        user = current_user()
        if ctx.triggered_id == "key-add":
            message = handlers.add_key(user, token)
        elif ctx.triggered_id == "key-del-confirm" and confirmed and fingerprint:
            message = handlers.delete_key(user, fingerprint)
        else:
            raise PreventUpdate
        # The field is cleared whatever happened: a key is never sent back to the page.
        return layout.notice(message), "", handlers.key_rows()

    def _page_need(values: Mapping[str, Any]) -> Need:
        return page_need(values.get("url.pathname"))

    @callback(
        Output("page", "children"),
        Input("url", "pathname"),
        Input("community", "value"),
        Input("url", "search"),
        need=_page_need,
        message=0,
    )
    def _page(pathname: str | None, community: str | None, search: str | None) -> Any:
        return handlers.page(current_user(), pathname, community, search)

    @callback(
        Output("decisions", "data"),
        Output("preview", "children"),
        Output("cand-result", "children"),
        Output("cand-list", "children"),
        Output("member-list", "children", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Input({"type": "cand", "account": ALL, "action": ALL}, "n_clicks"),
        Input("finalise", "n_clicks"),
        Input("decisions-clear", "n_clicks"),
        State("decisions", "data"),
        State("community", "value"),
        need=Need.WRITE,  # choosing is the first step of acting: editors only
        message=2,
        prevent_initial_call=True,
    )
    def _decide(
        clicks: list[int | None], _f: int, _c: int, decisions: dict | None, community: str
    ) -> tuple[Any, ...]:
        trigger = ctx.triggered_id
        decisions = dict(decisions or {})
        if trigger == "finalise":
            message = handlers.finalise(current_user(), community, decisions)
            candidates = data.candidates(store, community)
            return (
                {},
                layout.preview({}, candidates),
                layout.notice(message),
                layout.candidate_rows(candidates),
                *_member_views(community),
            )
        if trigger == "decisions-clear":
            decisions = {}
        elif isinstance(trigger, dict) and any(clicks):
            account, action = trigger["account"], trigger["action"]
            # The same choice again takes it back; another replaces it.
            if decisions.get(account) == action:
                del decisions[account]
            else:
                decisions[account] = action
        else:
            raise PreventUpdate
        candidates = data.candidates(store, community)
        keep = dash.no_update
        return decisions, layout.preview(decisions, candidates), keep, keep, keep, keep

    def _member_views(community: str) -> tuple[Any, str]:
        """What an action on members refreshes: the list and its count."""
        members = data.members(store, community)
        return layout.member_rows(members), layout.members_title(len(members))

    @callback(
        Output("member-result", "children"),
        Output("member-list", "children"),
        Output("members-title", "children"),
        Input("member-del-confirm", "submit_n_clicks"),
        State("member-del-pending", "data"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _remove(confirmed: int | None, account: str | None, community: str) -> tuple[Any, ...]:
        if not confirmed or not account:
            raise PreventUpdate
        message = handlers.remove_member(current_user(), community, account)
        return layout.notice(message), *_member_views(community)

    @callback(
        Output("add-result", "children"),
        Output("add-username", "value"),
        Output("member-list", "children", allow_duplicate=True),
        Output("members-title", "children", allow_duplicate=True),
        Output("cand-list", "children", allow_duplicate=True),
        Input("add-button", "n_clicks"),
        Input("add-username", "n_submit"),
        State("add-username", "value"),
        State("add-core", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _add(
        _: int, _s: int, username: str | None, core: list[str], community: str
    ) -> tuple[Any, ...]:
        message = handlers.add_member(
            current_user(), community, username or "", "core" in (core or [])
        )
        kept = username if is_error(message) else ""  # a typo stays to be corrected
        candidates = layout.candidate_rows(data.candidates(store, community))
        return layout.notice(message), kept, *_member_views(community), candidates

    weight_ids = [f"w-{name}" for name in data.weight_defaults()]

    @callback(
        Output("weights-body", "children"),
        Input("weights-open", "n_clicks"),
        State("weights-body", "children"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _weights_body(clicks: int | None, shown: Any, community: str) -> Any:
        """The weights' controls, drawn the first time the panel is opened."""
        if not clicks or shown:
            raise PreventUpdate
        return handlers.weights_body(current_user(), community)

    @callback(
        Output("run-result", "children"),
        Output("run-button", "disabled"),
        Output("run-state", "children"),
        Input("run-button", "n_clicks"),
        State("community", "value"),
        *[State(i, "value") for i in weight_ids],
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _launch(_: int, community: str, *values: float) -> tuple[Any, bool, str]:
        message = handlers.launch(current_user(), community, slider_weights(list(values)))
        busy = handlers.busy(community)
        return layout.notice(message), bool(busy), busy or ""

    @callback(
        Output("run-button", "disabled", allow_duplicate=True),
        Output("run-button", "title"),
        Output("run-state", "children", allow_duplicate=True),
        Input("run-tick", "n_intervals"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _run_state(_: int, community: str) -> tuple[bool, str, str]:
        """One run at a time: the button says why it is disabled, and comes back after
        (never for a viewer, who may not start one)."""
        act = handlers.allows(current_user(), community, Need.WRITE)
        busy = handlers.busy(community) if act else VIEWER_RUN
        return bool(busy), busy or "", busy or ""

    @callback(
        *[Output(f"{i}-value", "children") for i in weight_ids],
        *[Input(i, "value") for i in weight_ids],
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _weight_values(*values: Any) -> list[str]:
        """Each slider's weight as a number (or "off"), as the run would use it."""
        weights = slider_weights(list(values[: len(weight_ids)]))
        return [layout.weight_text(w, n) for n, w in weights.items()]

    presets = weight_presets()
    if presets:

        @callback(
            *[Output(i, "value") for i in weight_ids],
            Input("weights-preset", "value"),
            State("community", "value"),
            need=Need.READ,
            prevent_initial_call=True,
        )
        def _preset(name: str | None, _community: str) -> list[float]:
            if name not in presets:
                raise PreventUpdate
            chosen = data.weights_of(presets[name])
            return [layout.control_value(n, chosen[n]) for n in data.weight_defaults()]

    @callback(
        Output("cluster-pick", "value"),
        Input("cluster-prev", "n_clicks"),
        Input("cluster-next", "n_clicks"),
        State("cluster-pick", "value"),
        State("cluster-pick", "options"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _step(
        _p: int, _n: int, current: int | None, options: list[dict[str, Any]], _community: str
    ) -> int:
        values = [o["value"] for o in options or []]
        if not values:
            raise PreventUpdate
        index = values.index(current) if current in values else 0
        index += -1 if ctx.triggered_id == "cluster-prev" else 1
        return values[index % len(values)]

    @callback(
        Output("cluster-detail", "children"),
        Output("cluster-topics", "children"),
        Input("cluster-pick", "value"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _cluster(cluster: int | None, community: str) -> tuple[Any, Any]:
        return handlers.cluster(current_user(), community, cluster)

    # The map's own callbacks (dwt_dashboard.insights_map), through the same guard.
    register_map_callbacks(app, callback, store)

    @callback(
        Output("conversations", "children"),
        Output("conversations-shown", "data"),
        Output("conversations-more", "children"),
        Output("conversations-more", "hidden"),
        Input("cluster-pick", "value"),
        Input("tier-pick", "value"),
        Input("conversations-more", "n_clicks"),
        State("conversations-shown", "data"),
        State("community", "value"),
        State("url", "search"),
        need=Need.READ,
    )
    def _conversations(
        cluster: int | None,
        tier: int,
        more: int | None,
        shown: int | None,
        community: str,
        search: str | None,
    ) -> tuple[Any, int, str, bool]:
        """A page of conversations at a time: a new cluster or tier starts again at the
        first page, "show more" adds one."""
        opened = (parse_qs((search or "").lstrip("?")).get("conversation") or [None])[0]
        page = layout.CONVERSATIONS_SHOWN
        more_clicked = ctx.triggered_id == "conversations-more"
        if more_clicked and not more:
            raise PreventUpdate
        shown = (shown or page) + page if more_clicked else page
        listed, (text, hidden) = handlers.conversations(
            current_user(), community, cluster, tier, opened, shown
        )
        return listed, shown, text, hidden

    @callback(
        Output({"type": "conversation-tweets", "conversation": ALL}, "children"),
        Input({"type": "conversation-open", "conversation": ALL}, "n_clicks"),
        State({"type": "conversation-tweets", "conversation": ALL}, "children"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _open_conversation(clicks: list[int | None], shown: list[Any], community: str) -> list:
        """A conversation's tweets, fetched the first time it is opened (the others'
        stay as they are)."""
        trigger = ctx.triggered_id
        ids = [i["id"]["conversation"] for i in ctx.inputs_list[0]]
        if not isinstance(trigger, dict) or trigger["conversation"] not in ids:
            raise PreventUpdate
        at = ids.index(trigger["conversation"])
        if not clicks[at] or shown[at]:
            raise PreventUpdate
        found = data.conversation(store, community, str(trigger["conversation"]))
        tweets = (
            layout.conversation_tweets(found)
            if found
            else html.P("This conversation is gone (a newer analysis replaced it).")
        )
        return [tweets if i == at else dash.no_update for i in range(len(ids))]

    @callback(
        Output("jobs-table", "children"),
        Input("jobs-tick", "n_intervals"),
        State("community", "value"),
        need=Need.READ,
        prevent_initial_call=True,
    )
    def _jobs(_: int, community: str) -> Any:
        return handlers.jobs_tables(community)

    @callback(
        Output("log-tail", "children"),
        Input("log-run", "value"),
        Input("jobs-tick", "n_intervals"),
        State("community", "value"),
        need=Need.READ,
    )
    def _log(run_id: str | None, _: int, community: str) -> str:
        return handlers.log_tail(current_user(), community, run_id)

    @callback(
        Output("schedule-result", "children"),
        Output("schedule-now", "children"),
        Input("schedule-save", "n_clicks"),
        State("schedule-hour", "value"),
        State("schedule-tz", "value"),
        State("community", "value"),
        need=Need.WRITE,
        message=0,
        prevent_initial_call=True,
    )
    def _schedule(_: int, hour: int | None, time_zone: str | None, community: str) -> tuple:
        message = handlers.set_schedule(current_user(), community, hour, time_zone)
        try:  # the line above the editor says what is set now, whatever happened
            now = layout.schedule_line(handlers.schedule_view(community))
        except LauncherError as exc:
            now = f"The schedule cannot be read: {exc}"
        return layout.notice(message), now

    @callback(
        Output("people-result", "children"),
        Output("people-list", "children"),
        Input({"type": "people-end", "user": ALL}, "n_clicks"),
        State("community", "value"),
        need=Need.ADMIN,
        message=0,
        prevent_initial_call=True,
    )
    def _end_sessions(clicks: list[int | None], community: str) -> tuple[str, Any]:
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            raise PreventUpdate
        message = handlers.end_sessions(current_user(), community, trigger["user"])
        return layout.notice(message), layout.people_rows(handlers.people(community))

    return app
