"""Export a community's results for other tools: the bond graph with cluster attributes as
GraphML and GEXF (Gephi), and clusters, members and conversations as JSON and CSV.

``export_community(store, community, out, formats)`` is the entry point; ``dwt export``
is its command line.
"""

from dwt.export.community import (
    FORMATS,
    ExportError,
    ExportResult,
    WrittenFile,
    export_community,
    parse_formats,
)

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "WrittenFile",
    "export_community",
    "parse_formats",
]
