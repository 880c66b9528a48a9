"""Serialise the KB: graph dumps (Turtle, N-Triples, JSON-LD), the claims CSV and the GraphML network.

Every format is deterministic: triples are sorted before serialising, rows are ordered by claim
and outcome, network nodes by the query's ORDER BY. Two builds of the same evidence give the
same bytes.
"""

from __future__ import annotations

import io

from kb.analyze import Analysis
from kb.graph import KnowledgeGraph
from kb.namespaces import PREFIXES

GRAPH_FORMATS = {"ttl": "TURTLE", "nt": "N_TRIPLES", "jsonld": "JSON_LD"}
EXPORT_FORMATS = (*GRAPH_FORMATS, "csv", "graphml")
CSV_COLUMNS = ["claim_id", "statement", "source", "cites", "population", "intervention", "outcome",
               "direction", "design", "certainty", "quote"]


def sorted_triples(kg: KnowledgeGraph) -> list:
    import pyoxigraph as ox

    triples = [ox.Triple(q.subject, q.predicate, q.object) for q in kg.store]
    triples.sort(key=lambda t: (t.subject.value, t.predicate.value, str(t.object)))
    return triples


def graph_bytes(kg: KnowledgeGraph, fmt: str, triples: list | None = None) -> bytes:
    import pyoxigraph as ox

    triples = triples if triples is not None else sorted_triples(kg)
    rdf_format = getattr(ox.RdfFormat, GRAPH_FORMATS[fmt])
    prefixes = dict(PREFIXES) if fmt == "ttl" else None
    if fmt == "jsonld":
        prefixes = dict(PREFIXES)
    return ox.serialize(triples, format=rdf_format, prefixes=prefixes)


def claims_csv(analysis: Analysis) -> bytes:
    from kb.query import rows_to_csv

    rows = [{
        "claim_id": r.claim_id, "statement": r.statement, "source": r.source, "cites": ";".join(r.cites),
        "population": r.population_label, "intervention": r.intervention_label, "outcome": r.outcome_label,
        "direction": r.direction, "design": r.design_label, "certainty": r.certainty, "quote": r.quote,
    } for r in analysis.rows]
    return rows_to_csv(rows, CSV_COLUMNS).encode("utf-8")


def graphml_bytes(analysis: Analysis) -> bytes:
    import networkx as nx

    buffer = io.BytesIO()
    nx.write_graphml(analysis.network, buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue()


def export_bytes(kg: KnowledgeGraph, analysis: Analysis, fmt: str) -> bytes:
    if fmt in GRAPH_FORMATS:
        return graph_bytes(kg, fmt)
    if fmt == "csv":
        return claims_csv(analysis)
    if fmt == "graphml":
        return graphml_bytes(analysis)
    raise ValueError(f"unknown export format '{fmt}'; expected one of {', '.join(EXPORT_FORMATS)}")
