"""The ``dwt`` command line.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``handler(args, settings) -> int``. Packages above
the core add theirs through the ``dwt.commands`` entry point group (``dwt demo`` serves the
dashboard, which the core never imports). Global flags map onto
:class:`dwt.config.Settings` fields and override the ``DWT_*`` environment.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from dwt import __version__
from dwt.config import SettingsError, load_settings
from dwt.store.health import StoreDamaged

#: Sub-command modules, in the order ``dwt --help`` lists them.
COMMANDS = ("run", "members", "generate", "emulator", "export", "store", "bench", "config")
#: The entry point group of sub-commands from the packages above (listed first).
PLUGINS = "dwt.commands"

#: Global flags → settings fields. API keys and the store URL (which may hold a MongoDB
#: password) have no flag: argv is visible to every user of the machine, so they come from
#: DWT_API_KEYS / DWT_STORE_URL, a file or a mounted Secret directory.
_SETTINGS_FLAGS = {
    "--data-dir": "data_dir",
    "--x-api-base-url": "x_api_base_url",
    "--api-keys-file": "api_keys_file",
    "--api-keys-dir": "api_keys_dir",
    "--ray-address": "ray_address",
    "--log-level": "log_level",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwt",
        description="Discover Weekly: who is in an X community, how it splits, what each part "
        "talks about.",
    )
    parser.add_argument("--version", action="version", version=f"dwt {__version__}")
    group = parser.add_argument_group("settings (override DWT_* environment variables)")
    for flag, dest in _SETTINGS_FLAGS.items():
        group.add_argument(flag, dest=dest, default=None, metavar=dest.upper())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for plugin in sorted(entry_points(group=PLUGINS), key=lambda p: p.name):
        plugin.load().register(subparsers)
    for name in COMMANDS:
        importlib.import_module(f"dwt.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings({dest: getattr(args, dest) for dest in _SETTINGS_FLAGS.values()})
    except SettingsError as exc:
        print(f"dwt: {exc}", file=sys.stderr)
        return 2
    settings.configure_logging()
    logging.getLogger("dwt").debug("settings: %s", settings.describe())
    try:
        return int(args.handler(args, settings) or 0)
    except StoreDamaged as exc:  # the sentence says which file and what to do
        print(f"dwt: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dwt: interrupted", file=sys.stderr)
        return 130
