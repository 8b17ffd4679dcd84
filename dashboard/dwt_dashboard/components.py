"""What every page shares: the shell (navigation, community selector, logging out), an
action's notice, the runs table, the viewer's line, and the ask-first dialog of a
destructive button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dwt_dashboard import data
from dwt_dashboard.access import Need
from dwt_dashboard.replies import is_error


def notice(message: Any) -> Any:
    """An action's answer, styled as what it is: ``notice-error`` for a refusal or a
    failure, ``notice-ok`` otherwise, with the place to fix it when the reply names one."""
    if message is None or message == "":
        return ""
    error = is_error(message)
    link = getattr(message, "link", None)
    parts: list[Any] = [str(message)]
    if link:
        parts += [" ", dcc.Link(link[0], href=link[1], className="notice-link")]
    return html.Div(
        parts,
        className="notice notice-error" if error else "notice notice-ok",
        role="alert" if error else "status",
    )


def logout(csrf: str | None) -> Any:
    """Logging out is a form post (a link on another site cannot log anyone out); behind an
    OIDC proxy, a link to the proxy's own sign-out."""
    if csrf is None:
        return html.A("Log out", href="/logout")
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=csrf),
            html.Button("Log out", type="submit", id="logout", className="link-button"),
        ],
        action="/logout",
        method="POST",
        className="logout",
    )


def shell(
    communities: list[str],
    username: str,
    *,
    keys: bool = False,
    people: bool = False,
    csrf: str | None = None,
) -> html.Div:
    """The frame around every page: navigation (the API keys and People pages only for
    those who may use them) and the community selector."""
    links = [
        dcc.Link("Home", href="/"),
        dcc.Link("Collection", href="/collection"),
        dcc.Link("Users", href="/users"),
        dcc.Link("Insights", href="/insights"),
        dcc.Link("Jobs", href="/jobs"),
    ]
    if keys:
        links.append(dcc.Link("API keys", href="/keys"))
    if people:
        links.append(dcc.Link("People", href="/people"))
    return html.Div(
        [
            dcc.Location(id="url"),
            html.Nav(
                [
                    *links,
                    dcc.Dropdown(
                        id="community",
                        options=communities,
                        value=communities[0] if communities else None,
                        clearable=False,
                        className="community",
                    ),
                    html.Span(username, className="who"),
                    logout(csrf),
                ],
                className="top",
            ),
            html.Div(id="page", className="page"),
        ]
    )


def fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else ""


def step_progress(step: str, p: dict[str, Any]) -> html.Div:
    """One step's state, with a bar when its size is known."""
    state = p.get("state") or "?"
    parts: list[Any] = [html.Span(f"{step} {state}", className=f"step {state}")]
    if p.get("total"):
        parts += [
            html.Progress(value=str(p.get("done") or 0), max=str(p["total"])),
            html.Span(f" {p.get('done') or 0}/{p['total']}"),
        ]
    if p.get("eta_s"):
        parts.append(html.Span(f" ETA {p['eta_s']:.0f}s"))
    return html.Div(parts, className="progress")


#: Run statuses told as errors: a step failed, or the run's process died (its heartbeat
#: stopped: dwt.store.leases).
ENDED_BADLY = ("failed", "abandoned")


def _stopped(run: dict[str, Any], progress: dict[str, Any]) -> dict[str, Any]:
    """A step an abandoned run left "running" is shown stopped, not running."""
    if run["status"] == "abandoned" and progress.get("state") == "running":
        return {**progress, "state": "stopped"}
    return progress


def runs_table(runs: list[dict[str, Any]]) -> html.Table:
    head = html.Tr(
        [html.Th(h) for h in ("run", "kind", "status", "steps", "started", "progress", "counts")]
    )
    rows = []
    for run in runs:
        counts = " · ".join(p for p in (data.count_words(run["counts"]),
                                        data.spend_words(run)) if p)  # fmt: skip
        status = run["status"] + (f" ({run['error']})" if run.get("error") else "")
        rows.append(
            html.Tr(
                [
                    html.Td(run["run_id"]),
                    html.Td(run["kind"]),
                    html.Td(
                        status,
                        className={
                            "failed": "error",
                            "abandoned": "error",
                            "capped": "warning",
                        }.get(run["status"], ""),
                    ),
                    html.Td(" ".join(run["steps"])),
                    html.Td(fmt_time(run["started_at"])),
                    html.Td(
                        [step_progress(s, _stopped(run, p)) for s, p in run["progress"].items()]
                    ),
                    html.Td(counts),
                ]
            )
        )
    return scroll(html.Table([html.Thead(head), html.Tbody(rows)], id="runs-table"))


def scroll(table: Any) -> html.Div:
    """A wide table in a box that scrolls sideways on a phone (the page itself does not)."""
    return html.Div(table, className="scroll")


#: Why a viewer sees no action buttons (the server refuses their actions in any case).
VIEW_ONLY = (
    "You can look at this community but not change it (your role here is viewer): "
    "an editor or admin can {what}."
)


def view_only(what: str, id: str | None = None) -> html.P:
    """The line that stands where a viewer's action buttons would be, with the reason."""
    kw = {"id": id} if id else {}
    return html.P(VIEW_ONLY.format(what=what), className="notice notice-info view-only", **kw)


def ask_first(
    callback: Callable[..., Any],
    button: str,
    field: str,
    need: Need,
    question: Callable[[Any, str], str],
) -> None:
    """A click on a destructive button (``{"type": button, field: value}``) only asks,
    in dialog ``{button}-confirm`` (``question(value, community)``); the value waits in
    ``{button}-pending`` for the dialog's OK, whose callback acts. Registered through
    ``callback``, the guarded registration."""

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
