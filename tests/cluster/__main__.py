"""``python -m tests.cluster up|test`` (`make cluster-up`, `make cluster-test`)."""

from __future__ import annotations

import sys
from pathlib import Path

# The harness imports ``servers`` and ``cluster`` as pytest does (tests/ on the path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.cli import main

if __name__ == "__main__":
    sys.exit(main())
