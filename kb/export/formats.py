"""The formats ``kb export`` offers: one registry, one module per format beside this one.

To add a format, write ``kb/export/<name>.py`` with a function from the checked evidence to bytes
and add one :class:`Format` here (see ``docs/architecture.md``). Every format is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.analyse.analysis import Analysis
    from kb.graph.build import KnowledgeGraph


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    filename: str  # the file's name on the site's data page
    write: Callable[[KnowledgeGraph, Analysis], bytes]


def _graph(fmt: str) -> Callable[[KnowledgeGraph, Analysis], bytes]:
    def write(kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
        from kb.export.rdf import graph_bytes

        return graph_bytes(kg, fmt)
    return write


def _claims_csv(_kg: KnowledgeGraph, analysis: Analysis) -> bytes:
    from kb.export.table import claims_csv

    return claims_csv(analysis)


def _graphml(_kg: KnowledgeGraph, analysis: Analysis) -> bytes:
    from kb.export.graphml import graphml_bytes

    return graphml_bytes(analysis)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("ttl", "the graph as Turtle", "kb.ttl", _graph("ttl")),
    Format("nt", "the graph as N-Triples, lines sorted", "kb.nt", _graph("nt")),
    Format("jsonld", "the graph as JSON-LD", "kb.jsonld", _graph("jsonld")),
    Format("csv", "the claims table, one row per claim and outcome", "claims.csv", _claims_csv),
    Format("graphml", "the evidence network (claims, works, concepts)", "network.graphml", _graphml),
)}
EXPORT_FORMATS = tuple(FORMATS)


def export_bytes(kg: KnowledgeGraph, analysis: Analysis, fmt: str) -> bytes:
    """The KB in format ``fmt`` (one of :data:`EXPORT_FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}'; expected one of {', '.join(EXPORT_FORMATS)}")
    return FORMATS[fmt].write(kg, analysis)
