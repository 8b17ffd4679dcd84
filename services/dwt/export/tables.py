"""The clusters, members, conversations and topics tables, and their JSON and CSV files.

Tables are built once, in the order and with the names a reader sees, then written by
both writers, so JSON and CSV always hold the same rows. Account ids are resolved to
usernames where a person reads them (central members, strongest partners); ids stay
alongside for joins. Times are ISO 8601 strings in UTC; in CSV, lists are joined with
:data:`LIST_SEPARATOR` (X ids and hashtags never contain one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dwt.export.reads import TIERS

TABLE_FORMATS = ("json", "csv")
LIST_SEPARATOR = ";"
STATUS_URL = "https://x.com/i/status/"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Arrow prints the fraction of ms timestamps: .000Z


def _usernames(ids: pa.ChunkedArray | pa.Array, names: Mapping[str, str]) -> pa.Array:
    """Each id's username, or the id itself where the store never saw the account."""
    return pa.array([None if a is None else names.get(a, a) for a in ids.to_pylist()], pa.string())


def _username_lists(lists: pa.ChunkedArray, names: Mapping[str, str]) -> pa.Array:
    return pa.array(
        [None if ids is None else [names.get(a, a) for a in ids] for ids in lists.to_pylist()],
        pa.list_(pa.string()),
    )


def _labels(clusters: pa.Table, numbers: pa.ChunkedArray) -> pa.Array:
    at = pc.index_in(numbers, value_set=clusters.column("cluster").combine_chunks())
    return clusters.column("label").combine_chunks().take(at)


def members_table(members: pa.Table, clusters: pa.Table, names: Mapping[str, str]) -> pa.Table:
    """One row per member (from :func:`dwt.export.reads.member_details`) with its cluster's
    label and each tier's strongest partner by id and username."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: members.column(name) for name in ("account_id", "username", "core", "cluster")
    }
    columns["cluster_label"] = _labels(clusters, members.column("cluster"))
    columns["activity"] = members.column("activity")
    columns["flow"] = members.column("flow")
    for tier in TIERS:
        partner = members.column(f"tier{tier}_partner")
        columns[f"tier{tier}_partner"] = partner
        columns[f"tier{tier}_partner_username"] = _usernames(partner, names)
        columns[f"tier{tier}_weight"] = members.column(f"tier{tier}_weight")
    columns["status"] = members.column("status")
    return pa.table(columns)


def clusters_table(clusters: pa.Table, names: Mapping[str, str]) -> pa.Table:
    """One row per cluster (from :func:`dwt.export.reads.clusters`): central members and
    members as usernames, members also as account ids."""
    return pa.table(
        {
            "cluster": clusters.column("cluster"),
            "size": clusters.column("size"),
            "label": clusters.column("label"),
            "hashtags": clusters.column("hashtags"),
            "central": _username_lists(clusters.column("central"), names),
            "internal_weight": clusters.column("internal_weight"),
            "external_weight": clusters.column("external_weight"),
            "members": _username_lists(clusters.column("members"), names),
            "member_ids": clusters.column("members"),
            "run_id": clusters.column("run_id"),
        }
    )


def conversations_table(conversations: pa.Table) -> pa.Table:
    """One row per conversation slice (from :func:`dwt.export.reads.conversations`) with
    a link that opens the conversation on X."""
    table = conversations.drop_columns(["run_id"])
    at = table.schema.get_field_index("trending")
    link = pc.binary_join_element_wise(STATUS_URL, table.column("conversation_id"), "")
    table = table.add_column(at, "link", link)
    return table.append_column("run_id", conversations.column("run_id"))


def topics_table(topics: pa.Table) -> pa.Table:
    """One row per topic of a cluster and tier (from :func:`dwt.export.reads.topics`), with
    links to the tweets that make it (its burst, or its busiest hours when not trending)."""
    table = topics.drop_columns(["run_id"])
    ids = table.column("tweet_ids").combine_chunks()
    links = pa.ListArray.from_arrays(
        ids.offsets,
        pc.binary_join_element_wise(STATUS_URL, pc.list_flatten(ids), ""),
        mask=ids.is_null(),
    )
    table = table.append_column("links", links)
    return table.append_column("run_id", topics.column("run_id"))


def _iso_times(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            utc = table.column(i).cast(pa.timestamp(field.type.unit, tz="UTC"))
            table = table.set_column(i, field.name, pc.strftime(utc, format=ISO_FORMAT))
    return table


def write_json(table: pa.Table, path: Path) -> None:
    """Write ``table`` as a JSON array of objects (one per row, columns in order)."""
    rows = _iso_times(table).to_pylist()
    with path.open("w", encoding="utf-8") as out:
        json.dump(rows, out, ensure_ascii=False, indent=2)
        out.write("\n")


def write_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` as CSV with a header row; list cells joined by LIST_SEPARATOR."""
    table = _iso_times(table)
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            joined = pc.binary_join(table.column(i), LIST_SEPARATOR)
            table = table.set_column(i, field.name, joined)
    pacsv.write_csv(table, path)
