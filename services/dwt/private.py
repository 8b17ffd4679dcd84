"""Files only their owner may read: the embedded store, API-key files, the local Ray token.

A directory this module creates is 0700 and a file 0600, whatever the umask says (a
default umask makes files 0644: readable by every user of the machine). Existing
directories are left as they are (they may be shared on purpose); an existing file made
by the product is tightened to 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing directory is kept as it is."""
    missing = []
    for part in (path, *path.parents):
        if part.exists():
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            part.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(part, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a 0600 file (created empty when missing, in a private
    directory when that is missing too)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` as a 0600 file (replacing what was there)."""
    private_file(path)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
    return path
