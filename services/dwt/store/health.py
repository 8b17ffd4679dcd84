"""A damaged embedded store is refused, never written.

Before the engine opens a store file (and long before anything writes to it), :func:`check`
looks at it: a directory or special file where the store should be, a header that is not
SQLite's, a file shorter than its header says (truncated), a schema version this program
does not know; and, when the file changed since the last check that passed, SQLite's own
``PRAGMA quick_check`` through a read-only connection. What a passing check saw (size,
modification time, inode) is kept beside the store (``.dwt.db.checked``), so an unchanged
file is not read through again on every command.

The file is read with a plain handle only before this process opens it through SQLite:
closing any handle on a file drops every POSIX lock the process holds on it, SQLite's
included, and another process closing its connection may then checkpoint and delete the
write-ahead log under ours (https://www.sqlite.org/howtocorrupt.html, 2.2). Once open here,
:func:`check` trusts the open connections, or with ``force`` asks SQLite alone.

A damaged store raises :class:`StoreDamaged`, whose message names the file and what to do
(restore a backup, ``dwt store check``, ``dwt store backup``); the commands print it and
exit 2 without a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

from dwt.private import write_private
from dwt.store.errors import StoreError

#: The first bytes of every SQLite 3 database file.
MAGIC = b"SQLite format 3\x00"
HEADER = 100
#: The store's schema version, kept in SQLite's ``user_version``; a newer file is refused.
SCHEMA_VERSION = 1
#: Problems ``quick_check`` lists at most.
PROBLEMS = 5
#: What a person can do about a damaged store.
WHAT_TO_DO = (
    "restore it from a backup (`dwt store backup` makes one) or move it aside to start "
    "afresh; `dwt store check` says what is wrong"
)


#: Store files ((device, inode)) this process has opened through SQLite; see the docstring.
_OPEN_HERE: set[tuple[int, int]] = set()
#: Held from a file's first check until it is open, so two threads never interleave them.
OPENING = threading.RLock()


class StoreDamaged(StoreError):
    """The store file cannot be used as it is; the message names it and says what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the store {path} {problem}: nothing was written to it; {WHAT_TO_DO}")
        self.path = path
        self.problem = problem


def _stamp_file(path: Path) -> Path:
    return path.with_name(f".{path.name}.checked")


def _stamp(found: os.stat_result) -> list[int]:
    return [found.st_size, found.st_mtime_ns, found.st_ino]


def _checked(path: Path, found: os.stat_result) -> bool:
    try:
        return json.loads(_stamp_file(path).read_text()) == _stamp(found)
    except (OSError, ValueError):
        return False


def remember_good(path: Path) -> None:
    """Note that ``path`` as it is now passed (after a check, or after this process wrote
    it and closed it cleanly)."""
    try:
        write_private(_stamp_file(path), json.dumps(_stamp(path.stat())))
    except OSError:  # a read-only directory: the next open checks again, nothing worse
        return


def check(path: Path, *, force: bool = False) -> str:
    """Refuse (:class:`StoreDamaged`) a store file that is not a healthy SQLite store of a
    known schema; ``"new"`` when there is none yet, ``"unchanged"`` when it did not change
    since it last passed (nothing read), ``"ok"`` after a passing ``quick_check``, ``"open
    here"`` when this process already has it open (only ``quick_check``, with ``force``).
    ``force`` checks even an unchanged file."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return "new"
    except OSError as exc:
        raise StoreDamaged(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(found.st_mode):
        raise StoreDamaged(path, "is a directory, not a store file")
    if not stat.S_ISREG(found.st_mode):
        raise StoreDamaged(path, "is not a regular file")
    if found.st_size == 0:
        return "new"
    if (found.st_dev, found.st_ino) in _OPEN_HERE:
        if force:
            _quick_check(path)
        return "open here"
    if not force and _checked(path, found):
        return "unchanged"
    _check_header(path, found.st_size)
    _quick_check(path)
    remember_good(path)
    return "ok"


def opened_here(path: Path) -> None:
    """Note that this process now holds SQLite connections on ``path`` (call under
    :data:`OPENING`, after the engine opened it): its header is never read again here."""
    found = path.stat()
    _OPEN_HERE.add((found.st_dev, found.st_ino))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_header(path: Path, size: int) -> None:
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER)
    except OSError as exc:
        raise StoreDamaged(path, f"cannot be read ({exc.strerror})") from None
    if len(header) < HEADER or not header.startswith(MAGIC):
        raise StoreDamaged(path, "is not an SQLite database (its header is not SQLite's)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreDamaged(path, f"has a damaged header (page size {page_size})")
    pages = int.from_bytes(header[28:32], "big")
    counter, valid_for = header[24:28], header[92:96]
    # With a write-ahead log beside it, another process may be checkpointing: the file then
    # grows behind a header that already counts its new pages (quick_check reads it safely).
    in_use = _size(path.with_name(f"{path.name}-wal")) > 0
    if size % page_size or (counter == valid_for and pages * page_size > size and not in_use):
        raise StoreDamaged(
            path, f"is truncated ({size:,} bytes; its header says {pages * page_size:,})"
        )
    version = int.from_bytes(header[60:64], "big", signed=True)
    if version > SCHEMA_VERSION:
        raise StoreDamaged(
            path,
            f"was written by a newer version of dwt (schema {version}, this one knows "
            f"{SCHEMA_VERSION})",
        )


def _quick_check(path: Path) -> None:
    """SQLite's ``quick_check`` through a read-only connection (the file is not written)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreDamaged(path, f"cannot be opened ({exc})") from None
    try:
        rows = conn.execute(f"PRAGMA quick_check({PROBLEMS})").fetchall()
    except sqlite3.Error as exc:
        raise StoreDamaged(path, f"is damaged ({exc})") from None
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows]
    if problems != ["ok"]:
        raise StoreDamaged(path, f"is damaged ({'; '.join(problems)})")
