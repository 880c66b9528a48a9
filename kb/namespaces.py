"""Namespace IRIs of the standard vocabularies the KB reuses, and of its own small ontology.

Plain strings, so that importing this module costs nothing; :mod:`kb.graph.build` wraps them in
pyoxigraph terms. The names mirror the vocabularies' own, which keeps SPARQL and code alike.
"""

from __future__ import annotations

from kb.config import ONTOLOGY_NS

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"
BIBO = "http://purl.org/ontology/bibo/"
FABIO = "http://purl.org/spar/fabio/"
CITO = "http://purl.org/spar/cito/"
PROV = "http://www.w3.org/ns/prov#"
FOAF = "http://xmlns.com/foaf/0.1/"
SCHEMA = "https://schema.org/"
SH = "http://www.w3.org/ns/shacl#"
PICO = "http://data.cochrane.org/ontologies/pico/"
PSK = ONTOLOGY_NS

PREFIXES: dict[str, str] = {
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
    "owl": OWL,
    "skos": SKOS,
    "dcterms": DCTERMS,
    "bibo": BIBO,
    "fabio": FABIO,
    "cito": CITO,
    "prov": PROV,
    "foaf": FOAF,
    "schema": SCHEMA,
    "psk": PSK,
    "pico": PICO,
}


def sparql_prologue(extra: dict[str, str] | None = None) -> str:
    """``PREFIX`` lines for the standard prefixes (plus the KB's own), in a stable order."""
    prefixes = dict(PREFIXES, **(extra or {}))
    return "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in sorted(prefixes.items()))
