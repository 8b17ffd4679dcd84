"""Adding members by username: checked to exist, once, for the CLI and the dashboard.

Accounts the store already knows (seen in collected tweets) need no request; the rest are
looked up on X with one key — those X cannot show (protected, suspended, not found) are
reported, not added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dwt.model.fields import USERNAME_PATTERN
from dwt.store import Coll, Store
from dwt.xapi.client import XClient

USERNAME = re.compile(USERNAME_PATTERN)


@dataclass
class AddedMembers:
    """What adding by username did: who was added, and why the others were not."""

    added: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # name → protected/…/not_found
    not_looked_up: list[str] = field(default_factory=list)  # unknown here, and no key to ask X

    def message(self) -> str:
        """One sentence per outcome, for a person."""
        parts = []
        if self.added:
            parts.append("Added " + ", ".join(f"@{n}" for n in self.added) + ".")
        if self.invalid:
            parts.append("Not a valid X username: " + ", ".join(self.invalid) + ".")
        for name, reason in self.unavailable.items():
            parts.append(f"@{name}: {reason.replace('_', ' ')} on X, not added.")
        if self.not_looked_up:
            parts.append(
                "Unknown account(s) "
                + ", ".join(f"@{n}" for n in self.not_looked_up)
                + ": add an API key so they can be looked up on X."
            )
        return " ".join(parts) or "Type a username."


def add_members_by_username(
    store: Store,
    community: str,
    usernames: list[str],
    *,
    core: bool = False,
    token: str | None = None,
    base_url: str = "https://api.twitter.com",
) -> AddedMembers:
    """Add ``usernames`` to ``community``; unknown ones are looked up with ``token``.

    Raises :class:`dwt.xapi.errors.XApiError` when X cannot be asked (nothing is added then
    for the names that needed it; the known ones are).
    """
    result = AddedMembers()
    names = list(dict.fromkeys(u.strip().lstrip("@") for u in usernames if u.strip()))
    result.invalid = [n for n in names if not USERNAME.match(n)]
    names = [n for n in names if USERNAME.match(n)]
    known = {
        d["username_lower"]: {"id": d["_id"], "username": d["username"]}
        for d in store[Coll.ACCOUNTS].find({"username_lower": {"$in": [n.lower() for n in names]}})
    }
    accounts = [known[n.lower()] for n in names if n.lower() in known]
    unknown = [n for n in names if n.lower() not in known]
    if unknown and token is None:
        result.not_looked_up = unknown
    elif unknown:
        client = XClient(token, base_url=base_url)
        try:
            found = client.lookup_users(usernames=unknown)
        finally:
            client.close()
        accounts += found.data
        result.unavailable = dict(found.unavailable)
    if accounts:
        store.add_members(community, accounts, core=core, source="manual")
    result.added = [a["username"] for a in accounts]
    return result
