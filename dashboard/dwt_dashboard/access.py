"""Access control: one rule (:meth:`Access.allows`), checked once, before anything is read.

Every Dash callback is registered through :func:`guarded_callback`, which names what the
callback needs (:class:`Need`) and checks the community the callback will use: the argument
it receives in the ``community`` dropdown's position (every callback but the shared keys'
must take it). The guard asks the rule before the callback runs; a refused callback never
runs, so it can neither act nor read, and answers with a refusal message (or nothing).
Before that, the login guard (:func:`dwt_dashboard.login.install`) refused requests without
a user, and :mod:`dwt_dashboard.callback_shapes` refused (400) any request whose entries
are not exactly the callback's registration, so what the guard checks is what the callback
gets.

The rule: a user may READ a community with any role in it, WRITE (act: candidates, members,
runs, schedule) as editor or admin, ADMIN (see its people, end their sessions) as admin;
KEYS (the X API keys every community's collection shares) needs admin of every community
(``*=admin``, or admin of each one the store holds).
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import dash
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from dwt.store import Coll, Store
from dwt_dashboard.auth import EVERY_COMMUNITY, Role, UserDirectory, current_user

log = logging.getLogger(__name__)

#: The component whose value names the community a callback touches.
COMMUNITY = "community.value"


class Need(enum.Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    KEYS = "keys"


_ROLE_FOR = {Need.READ: Role.VIEWER, Need.WRITE: Role.EDITOR, Need.ADMIN: Role.ADMIN}

REFUSALS = {
    Need.READ: "Choose one of your communities.",
    Need.WRITE: "You may not act on this community.",
    Need.ADMIN: "Only an admin of this community may do this.",
    Need.KEYS: "Only an admin of every community may change the shared API keys.",
}


class Access:
    """The rule, over the users file (roles) and the store (which communities exist)."""

    def __init__(self, users: UserDirectory, store: Store) -> None:
        self.users = users
        self.store = store

    def _existing(self) -> list[str]:
        return sorted(d["_id"] for d in self.store[Coll.COMMUNITIES].find({}, {"_id": 1}))

    def communities(self, user: str | None) -> list[str]:
        """The communities ``user`` may see that exist, in the users file's order (a ``*``
        grant: every community of the store)."""
        found = self.users.get(user)
        if found is None:
            return []
        existing = self._existing()
        named = [c for c in found.communities if c in set(existing)]
        if found.everywhere is None:
            return named
        return named + [c for c in existing if c not in named]

    def keys_admin(self, user: str | None) -> bool:
        """Admin of every community (the keys are theirs together)."""
        found = self.users.get(user)
        if found is None:
            return False
        if found.everywhere == Role.ADMIN:
            return True
        admin_of = {c for c, r in found.roles.items() if r == Role.ADMIN}
        return bool(admin_of) and set(self._existing()) <= admin_of

    def administers(self, actor: str | None, other: str) -> bool:
        """May ``actor`` manage ``other`` (end their sessions): admin of every community
        ``other`` may see."""
        target = self.users.get(other)
        found = self.users.get(actor)
        if found is None or target is None:
            return False
        if target.everywhere is not None:
            return self.keys_admin(actor)
        return all(found.role(c) == Role.ADMIN for c in target.communities)

    def allows(self, user: str | None, community: str | None, need: Need) -> bool:
        if not user:
            return False
        if need is Need.KEYS:
            return self.keys_admin(user)
        if not isinstance(community, str) or not community or community == EVERY_COMMUNITY:
            return False
        role = self.users.role(user, community)
        return role is not None and role >= _ROLE_FOR[need]


NeedOf = Need | Callable[[Mapping[str, Any]], Need]


def refused_notice(need: Need) -> html.Div:
    """A refusal, styled as the error it is (see :func:`dwt_dashboard.components.notice`)."""
    return html.Div(REFUSALS[need], className="notice notice-error", role="alert")


def guarded_callback(
    app: dash.Dash,
    access: Access,
    *dependencies: Any,
    need: NeedOf,
    message: int | None = None,
    **kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.callback(*dependencies, **kwargs)``, with the rule checked first.

    ``need`` is what the callback needs, or a function of the callback's own arguments by
    name (``{"url.pathname": "/keys", ...}``) giving it. Unless it needs KEYS only, the
    callback must take ``community.value``; the community checked is the argument the
    callback receives in that position (never a value found elsewhere in the request: the
    request's shape was checked against this registration by
    :mod:`dwt_dashboard.callback_shapes`). A refusal returns :data:`REFUSALS`'s text in
    output ``message`` (no output changes otherwise)."""
    outputs = [d for d in dependencies if isinstance(d, Output)]
    # Dash passes the inputs' values first, then the states', each in registration order.
    ordered = [d for d in dependencies if isinstance(d, Input)] + [
        d for d in dependencies if isinstance(d, State)
    ]
    names = [f"{d.component_id}.{d.component_property}" for d in ordered]
    if need is not Need.KEYS and COMMUNITY not in names:
        raise TypeError("a dashboard callback must take State('community', 'value')")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any) -> Any:
            if len(args) != len(names):  # Dash always passes one per dependency
                raise PreventUpdate
            values = {n: v for n, v in zip(names, args, strict=True) if not n.startswith("{")}
            wanted = need(values) if callable(need) else need
            user, community = current_user(), values.get(COMMUNITY)
            if not access.allows(user, community, wanted):
                log.warning(
                    "refused %s: %s may not %s %.80r", fn.__name__, user, wanted.value, community
                )
                if message is None:
                    raise PreventUpdate
                refusal = refused_notice(wanted)
                if len(outputs) == 1:
                    return refusal
                return [refusal if i == message else dash.no_update
                        for i in range(len(outputs))]  # fmt: skip
            return fn(*args)

        guarded.dwt_need = need  # type: ignore[attr-defined]  # what the enumeration test sees
        app.callback(*dependencies, **kwargs)(guarded)
        return guarded

    return decorate
