"""``dwt config``: print the effective settings, secrets redacted."""

from __future__ import annotations

import argparse
import json

from dwt.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="print the effective settings (redacted)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.describe(), indent=2))
    return 0
