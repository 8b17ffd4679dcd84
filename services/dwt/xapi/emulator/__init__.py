"""A local X API v2: real HTTP endpoints over a generated dataset, for tests and demos.

It answers the read endpoints the product uses with X's shapes (fields, expansions,
pagination, errors), meters each bearer token per endpoint with X's headers and 429s, and
can be told to fail: protected / suspended / deleted accounts come from the dataset,
revoked or suspended keys, 503s and latency from :class:`EmulatorConfig` or at run time.
"""

from .config import EmulatorConfig, EmulatorConfigError
from .core import Emulator
from .server import EmulatorServer

__all__ = ["Emulator", "EmulatorConfig", "EmulatorConfigError", "EmulatorServer"]
