"""A local X API v2: real HTTP endpoints over a generated dataset, for tests and demos.

It answers the read endpoints the product calls (:mod:`dwt.xapi.client`) and only those —
users by ids and by usernames, a user's tweets, a user's following — with X's shapes
(fields, expansions, pagination, errors); the recorded-response parity tests
(tests/unit/test_xapi_recorded_parity.py) replay X's own answers to those four, which is
why every field and expansion X documents for them is served, not only the ones the product
asks for. It meters each bearer token per endpoint with X's headers and 429s, and can be
told to fail: protected / suspended / deleted accounts come from the dataset, revoked or
suspended keys, 503s and latency from :class:`EmulatorConfig` or at run time.
"""

from .config import EmulatorConfig, EmulatorConfigError
from .core import Emulator
from .server import EmulatorServer

__all__ = ["Emulator", "EmulatorConfig", "EmulatorConfigError", "EmulatorServer"]
