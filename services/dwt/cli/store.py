"""``dwt store``: check the store, or back the embedded one up.

``check`` reads the whole embedded store file (its header, its schema version and SQLite's
``quick_check``) and says whether it can be used; a MongoDB store is asked whether it
answers. ``backup --out FILE`` copies a healthy embedded store into a new private file with
SQLite's online backup (other processes may keep using the store meanwhile); restoring is
moving that file back in place of ``dwt.db`` while nothing runs.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pymongo.errors import PyMongoError

from dwt.config import Settings
from dwt.private import private_file
from dwt.store import Store, StoreError
from dwt.store.health import StoreDamaged, check


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("store", help="check the store or back it up")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("check", help="read the store through and say whether it can be used")
    backup = actions.add_parser("backup", help="copy the embedded store into a new file")
    backup.add_argument("--out", type=Path, required=True, help="the backup file (must not exist)")
    parser.set_defaults(handler=run)


def _sqlite_path(url: str) -> Path | None:
    if urlsplit(url).scheme != "sqlite":
        return None
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://")).expanduser()


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.store_url_value
    path = _sqlite_path(url)
    if path is None:
        return _mongo(args, url, settings.store_url_redacted)
    try:
        found = check(path, force=True)
    except StoreDamaged as exc:
        print(f"dwt store {args.action}: {exc}", file=sys.stderr)
        return 2
    if found == "new":
        print(f"dwt store {args.action}: there is no store at {path} yet", file=sys.stderr)
        return 2
    if args.action == "check":
        print(f"store {path}: ok (header, schema version and SQLite's quick_check)")
        return 0
    return _backup(path, args.out)


def _backup(path: Path, out: Path) -> int:
    if out.exists():
        print(f"dwt store backup: {out} exists; name a new file", file=sys.stderr)
        return 2
    try:
        private_file(out)
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(out)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    except (OSError, sqlite3.Error) as exc:
        out.unlink(missing_ok=True)
        print(f"dwt store backup: {out} not written: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {path} to {out} ({out.stat().st_size:,} bytes)")
    return 0


def _mongo(args: argparse.Namespace, url: str, shown: str) -> int:
    if args.action == "backup":
        print(
            f"dwt store backup: {shown} is a MongoDB server: back it up with its own tools "
            "(mongodump, or the volume's snapshots)",
            file=sys.stderr,
        )
        return 2
    try:
        store = Store.open(url, ensure_indexes=False)
        counts = store.counts()
        store.close()
    except (StoreError, OSError, PyMongoError) as exc:
        print(f"dwt store check: {shown} did not answer: {exc}", file=sys.stderr)
        return 2
    print(f"store {shown}: answers ({sum(counts.values()):,} documents)")
    return 0
