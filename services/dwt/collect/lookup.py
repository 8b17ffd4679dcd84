"""Adding members by username: checked to exist, once, for the CLI and the dashboard.

Accounts the store already knows (seen in collected tweets) need no request; the rest are
looked up on X with one key — those X cannot show (protected, suspended, not found) are
reported, not added. X bills each user a lookup returns (:mod:`dwt.xapi.prices`): the cost
is said and put in the community's ledger, so the month's spend counts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dwt.model.fields import USERNAME_PATTERN
from dwt.store import Store
from dwt.store.runs import record_lookup
from dwt.xapi.client import XClient
from dwt.xapi.prices import Charges, Resource, Tariff, bill_words

USERNAME = re.compile(USERNAME_PATTERN)


@dataclass
class AddedMembers:
    """What adding by username did: who was added, and why the others were not."""

    added: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # name → protected/…/not_found
    not_looked_up: list[str] = field(default_factory=list)  # unknown here, and no key to ask X
    bill: dict[str, Any] | None = None  # what X billed for the lookup (None: no request)

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
        if self.bill is not None and self.bill["usd"]["total"] > 0:
            parts.append(f"Looked up on X: {bill_words(self.bill)}.")
        return " ".join(parts) or "Type a username."


def add_members_by_username(
    store: Store,
    community: str,
    usernames: list[str],
    *,
    core: bool = False,
    token: str | None = None,
    base_url: str = "https://api.twitter.com",
    tariff: Tariff | None = None,
    now: datetime | None = None,
) -> AddedMembers:
    """Add ``usernames`` to ``community``; unknown ones are looked up with ``token`` (billed
    at ``tariff``'s user price, default X's, and put in the ledger at ``now``).

    Raises :class:`dwt.xapi.errors.XApiError` when X cannot be asked (nothing is added then
    for the names that needed it; the known ones are).
    """
    result = AddedMembers()
    names = list(dict.fromkeys(u.strip().lstrip("@") for u in usernames if u.strip()))
    result.invalid = [n for n in names if not USERNAME.match(n)]
    names = [n for n in names if USERNAME.match(n)]
    known = store.accounts_named(names)
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
        charges = Charges()
        charges.add(Resource.USER, len(found.data))
        result.bill = record_lookup(
            store, community, charges, tariff or Tariff(), now or datetime.now(UTC)
        )
    if accounts:
        store.add_members(community, accounts, core=core, source="manual")
    result.added = [a["username"] for a in accounts]
    return result
