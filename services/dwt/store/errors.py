"""The store's error, below the engines and the facade that both raise it."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store operation failed; the message says which and why (never the password)."""
