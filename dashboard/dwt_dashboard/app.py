"""The Dash app: :func:`create_app` wires the login, the shell and the pages over a store.

Each page is a module of :mod:`dwt_dashboard.pages` (its layout and its callbacks); what a
page or button does for a user is a :class:`dwt_dashboard.handlers.Handlers` method (plain
Python, testable without a browser or a request). Every callback is registered through one
guarded registration made here (:func:`dwt_dashboard.access.guarded_callback`), which checks
the one access rule for the community the request names before the callback runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dash
from dash import Input, Output, html

from dwt.store import Store
from dwt_dashboard import callback_shapes, plotly_strict
from dwt_dashboard.access import guarded_callback
from dwt_dashboard.auth import (
    LoginThrottle,
    Role,
    SessionPolicy,
    SessionStore,
    TrustedProxies,
    UserDirectory,
    current_user,
)
from dwt_dashboard.components import shell
from dwt_dashboard.handlers import Handlers
from dwt_dashboard.keys import KeyStore
from dwt_dashboard.launcher import Launcher
from dwt_dashboard.login import content_security_policy, csrf_token, install
from dwt_dashboard.pages import PAGES, page_need

__all__ = ["Handlers", "create_app"]


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
    plotly_strict.install(app)  # after the login guard: for people who logged in

    def serve_layout() -> Any:
        user = current_user()
        roles = [users.role(user, c) for c in access.communities(user)]
        return shell(
            access.communities(user),
            user or "",
            keys=access.keys_admin(user),
            people=Role.ADMIN in roles,
            csrf=csrf_token() if user and not trusted_user_header else None,
        )

    app.layout = serve_layout
    app.validation_layout = html.Div([shell([], ""), *(page.skeleton() for page in PAGES.values())])

    callback = functools.partial(guarded_callback, app, access)

    @callback(
        Output("page", "children"),
        Input("url", "pathname"),
        Input("community", "value"),
        Input("url", "search"),
        need=lambda values: page_need(values.get("url.pathname")),
        message=0,
    )
    def _page(pathname: str | None, community: str | None, search: str | None) -> Any:
        return handlers.page(current_user(), pathname, community, search)

    for page in PAGES.values():
        page.register(app, callback, handlers)
    return app
