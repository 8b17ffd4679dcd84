"""The dashboard's pages, one module each (Dash's multi-page pattern, routed on the shell's
``url``): a page module holds its layout and its callbacks together.

Each page module has ``PATH``, ``NEED`` (what the page needs of its community:
:class:`dwt_dashboard.access.Need`), ``layout(...)`` (the page from :mod:`dwt_dashboard.data`
results only, never from settings), ``view(handlers, community, query, act)`` (reads, then
lays out; ``act``: the user may change the community), ``skeleton()`` (the page without data,
for Dash's validation layout) and ``register(app, callback, handlers)``, which registers its
server callbacks through ``callback``: the guarded registration
:func:`dwt_dashboard.app.create_app` hands every page
(:func:`dwt_dashboard.access.guarded_callback`); ``app`` only for clientside callbacks, which
run in the browser and read nothing.
"""

from __future__ import annotations

from types import ModuleType

from dwt_dashboard.access import Need
from dwt_dashboard.pages import collection, home, insights, jobs, keys, people, users

#: Every page by its path, in the navigation's order.
PAGES: dict[str, ModuleType] = {
    page.PATH: page for page in (home, collection, users, insights, jobs, keys, people)
}


def path_of(pathname: str | None) -> str:
    return (pathname or "/").rstrip("/") or "/"


def page_of(pathname: str | None) -> ModuleType:
    """The page at ``pathname`` (Home for an unknown one)."""
    return PAGES.get(path_of(pathname), home)


def page_need(pathname: str | None) -> Need:
    """What a page needs: the keys page, the shared keys; the people page, admin; others,
    to see the community."""
    return page_of(pathname).NEED
