"""``dwt export``: write a community's bond graph (GraphML, GEXF) and result tables (JSON,
CSV) to a directory, for Gephi, spreadsheets and notebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dwt.config import Settings
from dwt.export import FORMATS, ExportError, export_community, parse_formats
from dwt.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a community's graph and results as GraphML, GEXF, JSON and CSV",
        description="Write what the store holds for a community after a run: bonds.graphml "
        "and bonds.gexf (members with their clusters, weighted bonds), and clusters, members "
        "and conversations as .json and .csv. Files whose step has not run are skipped with "
        "a warning naming the step. Exit status: 0 something written, 1 nothing written, "
        "2 bad arguments or unknown community.",
    )
    parser.add_argument("--community", required=True, help="community name")
    parser.add_argument("--out", required=True, type=Path, help="directory (created if missing)")
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated, any of {', '.join(FORMATS)} (default: all)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        formats = parse_formats(args.formats)
        store = Store.open(settings.store_url_value)
        result = export_community(store, args.community, args.out, formats)
    except ExportError as exc:
        print(f"dwt export: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dwt export: writing failed: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"dwt export: warning: {warning}", file=sys.stderr)
    for written in result.files:
        print(written.describe())
    return 0 if result.files else 1
