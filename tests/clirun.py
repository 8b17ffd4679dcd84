"""Run the ``dwt`` command line in-process against a given store.

The store URL has no flag (it may hold a password, and argv is visible to every user), so
the command reads it from ``DWT_STORE_URL``, set here for the one call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from unittest import mock

from dwt.cli import main


def dwt(store_url: str, argv: Sequence[str]) -> int:
    with mock.patch.dict(os.environ, {"DWT_STORE_URL": store_url}):
        return main(list(argv))
