"""Read the VCR cassettes of real X API v2 responses vendored in ``tests/data/``."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Recorded:
    method: str
    uri: str
    status: int
    headers: dict[str, str]
    body: Any


def read_cassette(path: Path) -> list[Recorded]:
    """Every interaction of one cassette, bodies decompressed and parsed as JSON."""
    doc = yaml.load(
        path.read_text(),
        Loader=yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader,
    )
    out = []
    for item in doc["interactions"]:
        request, response = item["request"], item["response"]
        raw = response["body"]["string"]
        if isinstance(raw, bytes) and raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode() if isinstance(raw, bytes) else raw
        headers = {
            k.lower(): v[0] if isinstance(v, list) else v for k, v in response["headers"].items()
        }
        out.append(
            Recorded(
                method=request["method"],
                uri=request["uri"],
                status=response["status"]["code"],
                headers=headers,
                body=json.loads(text) if text else None,
            )
        )
    return out
