"""Bearer-token checks: which configured key made a request, and is it still good.

Keys are known to the rest of the emulator by a label (``key-1``, ``key-2`` …) so that the
statistics endpoint and logs never show a token.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable


class KeyState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # X answers 401, as for an unknown token
    SUSPENDED = "suspended"  # X answers 403 client-forbidden


class TokenRegistry:
    """The configured tokens and their states; tests revoke or suspend keys at run time."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._labels = {token: f"key-{i}" for i, token in enumerate(dict.fromkeys(tokens), 1)}
        self._states = dict.fromkeys(self._labels.values(), KeyState.ACTIVE)
        self._lock = threading.Lock()

    @property
    def labels(self) -> list[str]:
        return list(self._labels.values())

    def identify(self, authorization: str | None) -> tuple[str | None, KeyState | None]:
        """(label, state) of the ``Authorization`` header; (None, None) when unknown."""
        if not authorization or not authorization.startswith("Bearer "):
            return None, None
        label = self._labels.get(authorization[len("Bearer ") :].strip())
        if label is None:
            return None, None
        with self._lock:
            return label, self._states[label]

    def set_state(self, token: str, state: KeyState) -> None:
        label = self._labels.get(token)
        if label is None:
            raise KeyError("not a configured token")  # the token itself stays out of messages
        with self._lock:
            self._states[label] = state
