"""``dwt members``: list, add (checked against the X API) and remove community members."""

from __future__ import annotations

import argparse
import re
import sys

from dwt.collect.keys import KeySource, NoKeysError
from dwt.collect.lookup import USERNAME, add_members_by_username
from dwt.config import Settings
from dwt.pipeline.runner import community_known, unknown_community
from dwt.pipeline.spec import COMMUNITY_PATTERN
from dwt.store import Store
from dwt.xapi.errors import XApiError
from dwt.xapi.prices import bill_words


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("members", help="list, add or remove community members")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the community's members")
    add = actions.add_parser("add", help="add accounts by username (looked up on X)")
    remove = actions.add_parser("remove", help="remove accounts (username or id)")
    for sub in (listing, add, remove):
        sub.add_argument("--community", required=True)
    for sub in (add, remove):
        sub.add_argument("accounts", nargs="+", metavar="ACCOUNT")
    add.add_argument("--core", action="store_true", help="add as core members")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not re.match(COMMUNITY_PATTERN, args.community):
        print(f"dwt members: community must match {COMMUNITY_PATTERN}", file=sys.stderr)
        return 2
    store = Store.open(settings.store_url_value)
    if args.action != "add" and not community_known(store, args.community):
        # Adding members creates a community; listing or removing cannot.
        print(f"dwt members: {unknown_community(store, args.community)}", file=sys.stderr)
        return 2
    if args.action == "list":
        for row in store.members(args.community).to_pylist():
            core = " (core)" if row["core"] else ""
            print(f"{row['account_id']:>20}  @{row['username']}{core}")
        return 0
    if args.action == "remove":
        table = store.members(args.community)
        wanted = {a.lstrip("@").lower() for a in args.accounts}
        ids = [
            r["account_id"]
            for r in table.to_pylist()
            if r["account_id"] in wanted or r["username"].lower() in wanted
        ]
        removed = store.remove_members(args.community, ids)
        print(f"removed {removed} member(s)")
        return 0 if removed == len(wanted) else 1
    return _add(args, settings, store)


def _add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    names = [a.lstrip("@") for a in args.accounts]
    invalid = [n for n in names if not USERNAME.match(n)]
    if invalid:
        print(f"dwt members: not a valid X username: {', '.join(invalid)}", file=sys.stderr)
        return 2
    try:
        key = KeySource.of(settings)
        token = key.token(key.fingerprints()[0])
    except NoKeysError as exc:
        print(f"dwt members: {exc}", file=sys.stderr)
        return 2
    try:
        result = add_members_by_username(
            store,
            args.community,
            names,
            core=args.core,
            token=token.get_secret_value(),
            base_url=settings.x_api_base_url,
            tariff=settings.tariff(),
        )
    except XApiError as exc:
        print(f"dwt members: X API: {exc}", file=sys.stderr)
        return 1
    for name, reason in result.unavailable.items():
        print(f"  @{name}: {reason.replace('_', ' ')}, not added", file=sys.stderr)
    if result.added:
        print(f"added {len(result.added)} member(s): " + ", ".join(f"@{u}" for u in result.added))
    if result.bill is not None:
        print(f"looked up on X: {bill_words(result.bill)}")
    else:
        print("looked up on X: nothing (every account was known here): $0.00")
    return 0 if not result.unavailable else 1
