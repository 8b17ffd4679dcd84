"""The Dash app: :func:`create_app` wires pages, callbacks and login over a store.

Callbacks are thin: each reads the session's user and the selected community, checks the
user may see it, and calls a :class:`Handlers` method (plain Python, testable without a
browser or a request).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from dwt.store import Coll, Store, StoreError
from dwt.store.candidates import apply_actions
from dwt_dashboard import data, layout
from dwt_dashboard.auth import UserDirectory, current_user, install
from dwt_dashboard.keys import KeyRefused, KeyStore
from dwt_dashboard.launcher import DailySchedule, Launcher, LauncherError

INSIGHT_STEPS = ["bonds", "cluster", "content"]


class Handlers:
    """What each page and button does, for a given user and community."""

    def __init__(
        self,
        store: Store,
        launcher: Launcher,
        users: UserDirectory,
        clock: Callable[[], datetime] | None = None,
        keys: KeyStore | None = None,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.users = users
        self.keys = keys
        self.clock = clock or (lambda: datetime.now(UTC))

    def allowed(self, user: str | None, community: str | None) -> bool:
        return self.users.allowed(user, community)

    def page(self, user: str | None, pathname: str | None, community: str | None) -> Any:
        if not self.allowed(user, community):
            return html.P("Choose one of your communities.", className="error")
        try:
            return self._page(pathname, community)
        except LauncherError as exc:
            return html.P(f"This page needs the cluster, which answered: {exc}", className="error")

    def _page(self, pathname: str | None, community: str) -> Any:
        path = (pathname or "/").rstrip("/") or "/"
        if path == "/users":
            return layout.users(
                data.members(self.store, community), data.candidates(self.store, community)
            )
        if path == "/insights":
            return layout.insights(
                data.clusters(self.store, community), data.graph_elements(self.store, community)
            )
        if path == "/keys":
            try:
                return layout.keys(self.keys.list() if self.keys else None)
            except KeyRefused as exc:
                return html.P(f"The keys cannot be shown: {exc}.", className="error")
        if path == "/collection":
            return layout.collection(
                data.collection(self.store, community), self.schedule_view(community)
            )
        if path == "/jobs":
            runs = data.runs(self.store, community)
            return layout.jobs(runs, self.launcher.jobs(community))  # LauncherError: above
        return layout.home(data.overview(self.store, community, self.clock()))

    def add_key(self, user: str | None, token: str | None) -> str:
        """Check a new key with X and keep it; the message never repeats the key."""
        if user is None or self.keys is None:
            return "Keys are managed in the cluster's Secret here."
        try:
            info = self.keys.add(token or "")
        except KeyRefused as exc:
            return f"Not added: {exc}."
        return f"Added {info.fingerprint}; collection uses it from the next run."

    def key_rows(self) -> Any:
        try:
            return layout.key_rows(self.keys.list() if self.keys else [])
        except KeyRefused as exc:
            return html.P(f"The keys cannot be shown: {exc}.", className="error")

    def delete_key(self, user: str | None, fingerprint: str) -> str:
        if user is None or self.keys is None:
            return "Keys are managed in the cluster's Secret here."
        try:
            deleted = self.keys.delete(fingerprint)
        except KeyRefused as exc:
            return f"Not deleted: {exc}."
        return f"Deleted {fingerprint}." if deleted else f"No key {fingerprint}."

    def finalise(self, user: str | None, community: str | None, decisions: dict[str, str]) -> str:
        """Apply the previewed decisions on candidates at once, and start collecting the
        accounts added (a CommunityJob in the cluster); the message says what happened."""
        if not self.allowed(user, community):
            return "You may not act on this community."
        if not decisions:
            return "Nothing to finalise: choose add, core, mute or block first."
        names = {c["account_id"]: c["username"] or c["account_id"] for c in
                 data.candidates(self.store, community)}  # fmt: skip
        try:
            added = apply_actions(self.store, community, decisions, self.clock())
        except (StoreError, ValueError) as exc:
            return f"Nothing done: {exc}"
        told = []
        for verb, action in (("Muted for 7 days", "mute"), ("Blocked", "block")):
            chosen = [f"@{names.get(a, a)}" for a, act in decisions.items() if act == action]
            if chosen:
                told.append(f"{verb}: {', '.join(chosen)}.")
        if added:
            told.append("Added " + ", ".join(f"@{a['username']}" for a in added) + ".")
            try:
                run_id = self.launcher.run(
                    community, {"steps": ["collect"], "members": {"scope": "new"}}
                )
                told.append(f"Collecting them in run {run_id}.")
            except (ValueError, LauncherError) as exc:
                told.append(f"They are collected on the next run ({exc}).")
        return " ".join(told)

    def remove_member(self, user: str | None, community: str | None, account_id: str) -> str:
        if not self.allowed(user, community):
            return "You may not act on this community."
        names = data.usernames(self.store, [account_id])
        removed = self.store.remove_members(community, [account_id])
        name = f"@{names.get(account_id, account_id)}"
        return f"Removed {name}." if removed else f"{name} is not a member."

    def add_member(self, user: str | None, community: str | None, username: str, core: bool) -> str:
        if not self.allowed(user, community):
            return "You may not act on this community."
        if not (username or "").strip():
            return "Type a username."
        return self.launcher.add_members(community, [username], core=core)

    def launch(self, user: str | None, community: str | None, weights: dict[str, float]) -> str:
        """Start bonds + cluster + content with the chosen weights; the run id to follow."""
        if not self.allowed(user, community):
            return "You may not act on this community."
        try:
            run_id = self.launcher.run(community, {"steps": INSIGHT_STEPS, "weights": weights})
        except (ValueError, LauncherError) as exc:
            return f"Not started: {exc}"
        return f"Started run {run_id}; follow it on the Jobs page."

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
        if not self.allowed(user, community):
            return "You may not act on this community."
        if hour is None or not time_zone:
            return "Choose an hour and a time zone."
        try:
            schedule = DailySchedule(int(hour), time_zone)
            return self.launcher.set_schedule(community, schedule)
        except (ValueError, LauncherError) as exc:
            return f"Not saved: {exc}"

    def jobs_tables(self, community: str) -> Any:
        """The Jobs page's refreshing part; the runs still show if the cluster does not."""
        runs = data.runs(self.store, community)
        try:
            return layout.jobs_tables(runs, self.launcher.jobs(community))
        except LauncherError as exc:
            return html.Div([layout.runs_table(runs), html.P(str(exc), className="error")])

    def log_tail(self, user: str | None, community: str | None, run_id: str | None) -> str:
        if not self.allowed(user, community) or not run_id:
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
        if not self.allowed(user, community):
            raise PreventUpdate
        found = [c for c in data.clusters(self.store, community) if c["cluster"] == cluster]
        return layout.cluster_detail(found[0] if found else None)

    def conversations(
        self, user: str | None, community: str | None, cluster: int | None, tier: int
    ) -> Any:
        if not self.allowed(user, community) or cluster is None:
            raise PreventUpdate
        return layout.conversation_list(data.conversations(self.store, community, cluster, tier))


def slider_weights(values: list[float]) -> dict[str, float]:
    """Slider positions (log10) back to weights, in ``BondWeights`` field order."""
    return {name: round(10**v, 4) for name, v in zip(data.weight_defaults(), values, strict=True)}


def create_app(
    store: Store,
    launcher: Launcher,
    users: UserDirectory,
    clock: Callable[[], datetime] | None = None,
    keys: KeyStore | None = None,
    trusted_user_header: str | None = None,
) -> dash.Dash:
    """The dashboard over ``store``; ``launcher`` starts runs; ``users`` may log in (or an
    OIDC proxy vouches for them in ``trusted_user_header``); ``keys`` holds the X API keys
    (None: they are managed elsewhere)."""
    app = dash.Dash(
        __name__,
        title="Discover Weekly",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    handlers = Handlers(store, launcher, users, clock, keys)
    app.handlers = handlers  # type: ignore[attr-defined]  # for tests and embedding
    install(app.server, users, trusted_header=trusted_user_header)

    def serve_layout() -> Any:
        user = current_user()
        return layout.shell(data.communities(store, users.communities(user)), user or "")

    app.layout = serve_layout
    app.validation_layout = html.Div(
        [
            layout.shell([], ""),
            layout.users([], []),
            layout.insights([], []),
            layout.jobs([], []),
            layout.keys([]),
            layout.schedule_editor(None),
        ]
    )

    @app.callback(
        Output("key-result", "children"),
        Output("key-input", "value"),
        Output("key-list", "children"),
        Input("key-add", "n_clicks"),
        Input({"type": "key-del", "fingerprint": ALL}, "n_clicks"),
        State("key-input", "value"),
        prevent_initial_call=True,
    )
    def _keys(_: int, deletes: list[int | None], token: str | None) -> tuple[str, str, Any]:
        user = current_user()
        if ctx.triggered_id == "key-add":
            message = handlers.add_key(user, token)
        elif isinstance(ctx.triggered_id, dict) and any(deletes):
            message = handlers.delete_key(user, ctx.triggered_id["fingerprint"])
        else:
            raise PreventUpdate
        # The field is cleared whatever happened: a key is never sent back to the page.
        return message, "", handlers.key_rows()

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("community", "value"))
    def _page(pathname: str | None, community: str | None) -> Any:
        return handlers.page(current_user(), pathname, community)

    @app.callback(
        Output("decisions", "data"),
        Output("preview", "children"),
        Output("cand-result", "children"),
        Output("cand-list", "children"),
        Input({"type": "cand", "account": ALL, "action": ALL}, "n_clicks"),
        Input("finalise", "n_clicks"),
        Input("decisions-clear", "n_clicks"),
        State("decisions", "data"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _decide(
        clicks: list[int | None], _f: int, _c: int, decisions: dict | None, community: str | None
    ) -> tuple[dict, Any, Any, Any]:
        trigger = ctx.triggered_id
        decisions = dict(decisions or {})
        if trigger == "finalise":
            message = handlers.finalise(current_user(), community, decisions)
            candidates = data.candidates(store, community)
            return {}, layout.preview({}, candidates), message, layout.candidate_rows(candidates)
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
        candidates = data.candidates(store, community) if community else []
        return decisions, layout.preview(decisions, candidates), dash.no_update, dash.no_update

    @app.callback(
        Output("member-result", "children"),
        Output("member-list", "children"),
        Input({"type": "member-del", "account": ALL}, "n_clicks"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _remove(clicks: list[int | None], community: str | None) -> tuple[str, Any]:
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            raise PreventUpdate
        message = handlers.remove_member(current_user(), community, trigger["account"])
        return message, layout.member_rows(data.members(store, community))

    @app.callback(
        Output("add-result", "children"),
        Input("add-button", "n_clicks"),
        State("add-username", "value"),
        State("add-core", "value"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _add(_: int, username: str | None, core: list[str], community: str | None) -> str:
        return handlers.add_member(
            current_user(), community, username or "", "core" in (core or [])
        )

    weight_ids = [f"w-{name}" for name in data.weight_defaults()]

    @app.callback(
        Output("run-result", "children"),
        Input("run-button", "n_clicks"),
        State("community", "value"),
        *[State(i, "value") for i in weight_ids],
        prevent_initial_call=True,
    )
    def _launch(_: int, community: str | None, *values: float) -> str:
        return handlers.launch(current_user(), community, slider_weights(list(values)))

    @app.callback(
        Output("cluster-pick", "value"),
        Input("cluster-prev", "n_clicks"),
        Input("cluster-next", "n_clicks"),
        State("cluster-pick", "value"),
        State("cluster-pick", "options"),
        prevent_initial_call=True,
    )
    def _step(_p: int, _n: int, current: int | None, options: list[dict[str, Any]]) -> int:
        values = [o["value"] for o in options or []]
        if not values:
            raise PreventUpdate
        index = values.index(current) if current in values else 0
        index += -1 if ctx.triggered_id == "cluster-prev" else 1
        return values[index % len(values)]

    @app.callback(
        Output("cluster-detail", "children"),
        Output("bond-graph", "stylesheet"),
        Input("cluster-pick", "value"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _cluster(cluster: int | None, community: str | None) -> tuple[Any, Any]:
        return handlers.cluster(current_user(), community, cluster), layout.graph_style(cluster)

    @app.callback(
        Output("conversations", "children"),
        Input("cluster-pick", "value"),
        Input("tier-pick", "value"),
        State("community", "value"),
    )
    def _conversations(cluster: int | None, tier: int, community: str | None) -> Any:
        return handlers.conversations(current_user(), community, cluster, tier)

    @app.callback(
        Output("jobs-table", "children"),
        Input("jobs-tick", "n_intervals"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _jobs(_: int, community: str | None) -> Any:
        if not handlers.allowed(current_user(), community):
            raise PreventUpdate
        return handlers.jobs_tables(community)

    @app.callback(
        Output("log-tail", "children"),
        Input("log-run", "value"),
        Input("jobs-tick", "n_intervals"),
        State("community", "value"),
    )
    def _log(run_id: str | None, _: int, community: str | None) -> str:
        return handlers.log_tail(current_user(), community, run_id)

    @app.callback(
        Output("schedule-result", "children"),
        Input("schedule-save", "n_clicks"),
        State("schedule-hour", "value"),
        State("schedule-tz", "value"),
        State("community", "value"),
        prevent_initial_call=True,
    )
    def _schedule(_: int, hour: int | None, time_zone: str | None, community: str | None) -> str:
        return handlers.set_schedule(current_user(), community, hour, time_zone)

    return app
