"""Export one community's results: whatever the store holds, with a word about the rest.

A community's results come from separate steps (bonds → graph, cluster → clusters and
cluster attributes, content → conversations and topics) that may not all have run. The export writes
every requested file it has data for and says, for each one it cannot write, which step to
run; files are written whole or not at all, so a failed export never leaves a half file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from dwt.export import reads
from dwt.export.graph import GRAPH_FORMATS, bond_graph, write_graph
from dwt.export.tables import (
    TABLE_FORMATS,
    clusters_table,
    conversations_table,
    members_table,
    topics_table,
    write_csv,
    write_json,
)
from dwt.store import Store

FORMATS = (*GRAPH_FORMATS, *TABLE_FORMATS)
GRAPH_NAME = "bonds"


class ExportError(ValueError):
    """The export cannot start (unknown format, no such community, unusable directory)."""


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file the export wrote: rows of a table, or nodes (``rows``) and edges of a graph."""

    path: Path
    rows: int
    edges: int | None = None

    def describe(self) -> str:
        if self.edges is not None:
            return f"{self.path}  {self.rows} nodes, {self.edges} edges"
        return f"{self.path}  {self.rows} rows"


@dataclass
class ExportResult:
    """The files written, and what could not be (with the step that would make it)."""

    files: list[WrittenFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_formats(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"gexf,csv"`` (or a list) → the formats in :data:`FORMATS` order; all when empty or
    None. Raises ExportError naming an unknown one."""
    if text is None:
        return FORMATS
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {item.strip().lower() for item in items if item.strip()}
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ExportError(f"unknown format(s) {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in wanted) or FORMATS


@contextmanager
def _whole(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``, moved onto it once written completely."""
    part = path.with_name(f".{path.name}.part")
    try:
        yield part
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _missing(step: str, what: str, community: str, files: list[str], extra: str = "") -> str:
    skipped = f" (not written: {', '.join(files)})" if files else ""
    return f"no {what} stored for {community!r}: run the {step} step{skipped}{extra}"


def export_community(
    store: Store, community: str, out: Path, formats: Iterable[str] = FORMATS
) -> ExportResult:
    """Write ``community``'s bond graph and result tables in ``formats`` into ``out``
    (created if missing). Raises ExportError when the community has no members."""
    formats = parse_formats(list(formats))
    members = reads.member_details(store, community)
    if members.num_rows == 0:
        raise ExportError(f"community {community!r} has no members (nothing to export)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create output directory {out}: {exc}") from exc

    result = ExportResult()
    clusters = reads.clusters(store, community)
    graph_formats = [f for f in formats if f in GRAPH_FORMATS]
    table_formats = [f for f in formats if f in TABLE_FORMATS]
    if graph_formats:
        _export_graph(store, community, members, clusters, out, graph_formats, result)
    if clusters.num_rows == 0:
        files = [f"clusters.{f}" for f in table_formats]
        result.warnings.append(
            _missing("cluster", "clusters", community, files, "; members have no cluster yet")
        )
    if table_formats:
        _export_tables(store, community, members, clusters, out, table_formats, result)
    return result


def _export_graph(
    store: Store,
    community: str,
    members: pa.Table,
    clusters: pa.Table,
    out: Path,
    formats: list[str],
    result: ExportResult,
) -> None:
    bonds = store.bond_lists(community)
    # A bonds step sets every member's activity, even in a week without a single bond.
    if bonds.num_rows == 0 and members.column("activity").null_count == members.num_rows:
        files = [f"{GRAPH_NAME}.{f}" for f in formats]
        result.warnings.append(_missing("bonds", "bonds", community, files))
        return
    built = bond_graph(community, members, bonds, clusters)
    if built.dropped_edges:
        result.warnings.append(
            f"{built.dropped_edges} stored bond(s) left out: an end is no longer a member "
            "(run the bonds step to refresh them)"
        )
    graph = built.graph
    for fmt in formats:
        path = out / f"{GRAPH_NAME}.{fmt}"
        with _whole(path) as part:
            write_graph(graph, part, fmt)
        result.files.append(WrittenFile(path, graph.number_of_nodes(), graph.number_of_edges()))


def _export_tables(
    store: Store,
    community: str,
    members: pa.Table,
    clusters: pa.Table,
    out: Path,
    formats: list[str],
    result: ExportResult,
) -> None:
    partners = [members.column(f"tier{t}_partner") for t in reads.TIERS]
    names = store.usernames([a for col in partners for a in col.to_pylist()])
    names.update(
        zip(
            members.column("account_id").to_pylist(),
            members.column("username").to_pylist(),
            strict=True,
        )
    )
    tables: list[tuple[str, pa.Table]] = []
    if clusters.num_rows:
        tables.append(("clusters", clusters_table(clusters, names)))
    tables.append(("members", members_table(members, clusters, names)))
    # The content step's tables: empty when it ran and found nothing, else a warning.
    content_ran: bool | None = None
    for name, read, to_table in (
        ("conversations", reads.conversations, conversations_table),
        ("topics", reads.topics, topics_table),
    ):
        found = read(store, community)
        if not found.num_rows and content_ran is None:
            content_ran = reads.content_ran(store, community)
        if found.num_rows or content_ran:
            tables.append((name, to_table(found)))
        else:
            files = [f"{name}.{f}" for f in formats]
            result.warnings.append(_missing("content", name, community, files))

    writers = {"json": write_json, "csv": write_csv}
    for name, table in tables:
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            with _whole(path) as part:
                writers[fmt](table, part)
            result.files.append(WrittenFile(path, table.num_rows))
