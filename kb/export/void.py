"""``data/void.ttl``: the KB described for data catalogues, in VoID and DCAT.

What a harvester needs to list the KB: title, licence, date of the data, size (triples, entities,
classes with their counts, properties), the vocabularies it uses, example resources, and every
download as a ``dcat:Distribution`` with its media type and size in bytes. Links to the files
and pages are relative to ``void.ttl`` itself (``<kb.nt.gz>``, ``<../sparql.html>``), so they hold
wherever the site is published. Written as Turtle text, subjects and values in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.export.formats import DATASET_DESCRIPTION, DATASET_KEYWORDS
from kb.graph.build import KnowledgeGraph, N, text, typed
from kb.graph.iris import Minter
from kb.graph.select import select
from kb.load.evidence import Evidence
from kb.namespaces import DCTERMS, FOAF, PREFIXES, RDFS, XSD, sparql_prologue

VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
IANA = "https://www.iana.org/assignments/media-types/"
# Media types registered with IANA get a dcat:mediaType IRI; the others (BibTeX, RIS, GraphML) only
# a dcterms:format literal, as DCAT asks.
IANA_REGISTERED = frozenset({"text/turtle", "application/n-triples", "application/ld+json", "text/csv",
                             "application/vnd.citationstyles.csl+json", "application/gzip"})
_CLASSES = """SELECT ?class (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY ?class"""
_COUNTS = """SELECT (COUNT(DISTINCT ?s) AS ?entities) WHERE { ?s a ?class }"""
# GROUP BY, not DISTINCT: Oxigraph orders all 2M solutions before removing duplicates (5.4 s against 0.6 s at 10k/50k)
_PROPERTIES = """SELECT ?p WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY ?p"""


@dataclass(frozen=True)
class DataFile:
    """A download beside ``void.ttl``."""

    name: str  # file name in data/
    title: str
    media_type: str  # of the content (a gzipped file's once unpacked)
    size: int  # bytes
    compressed: bool = False  # gzipped (dcat:compressFormat)


def _prefixed(iri: str) -> str:
    for name, ns in sorted(PREFIXES.items(), key=lambda kv: -len(kv[1])):
        if iri.startswith(ns) and iri[len(ns):].replace("_", "").replace("-", "").isalnum():
            return f"{name}:{iri[len(ns):]}"
    return N(iri)


@dataclass(frozen=True)
class Statistics:
    """The graph's size as VoID gives it (:func:`statistics`)."""

    triples: int
    entities: int
    classes: tuple[tuple[str, int], ...]  # class IRI, instances
    properties: tuple[str, ...]


def statistics(kg: KnowledgeGraph) -> Statistics:
    """Three queries over the whole store (~1 s at 2M triples, without the GIL: a build takes them in a
    thread, kb.pipeline.Ahead)."""
    classes = tuple((s["class"].value, int(s["n"].value)) for s in select(kg.store, _CLASSES))
    entities = int(next(iter(select(kg.store, _COUNTS)))["entities"].value)
    properties = tuple(s["p"].value for s in select(kg.store, sparql_prologue() + _PROPERTIES))
    return Statistics(len(kg), entities, classes, properties)


def void_turtle(evidence: Evidence, stats: Statistics, files: list[DataFile]) -> bytes:
    config = evidence.config
    mint = Minter(config.base_iri)
    dataset = N(mint.dataset())
    classes, properties = stats.classes, stats.properties
    used = {iri for iri, _n in classes} | set(properties)
    vocabularies = sorted({ns for ns in PREFIXES.values() if ns != XSD and any(i.startswith(ns) for i in used)})
    updated = config.extra.get("updated", "")
    updated = updated.isoformat() if hasattr(updated, "isoformat") else str(updated or "")
    sources = sorted({c.source for c in evidence.claims})

    about: list[tuple[str, str]] = [
        ("a", "void:Dataset, dcat:Dataset"),
        ("dcterms:title", text(config.title, "en")),
        ("dcterms:description", text(DATASET_DESCRIPTION, "en")),
        ("dcat:keyword", ", ".join(text(k, "en") for k in DATASET_KEYWORDS)),
    ]
    if config.data_licence_url:
        about.append(("dcterms:license", N(config.data_licence_url)))
    if config.data_licence:
        about.append(("dcterms:rights", text(f"Licence: {config.data_licence}", "en")))
    if updated:
        about.append(("dcterms:modified", typed(updated, "date")))
    if sources:
        about.append(("dcterms:source", ", ".join(N(mint.work(s)) for s in sources)))
    about += [
        ("dcat:landingPage", "<../index.html>"),
        ("foaf:page", "<../sparql.html>, <../data.html>"),
        ("void:uriSpace", text(config.base_iri)),
        ("void:triples", typed(stats.triples, "integer")),
        ("void:entities", typed(stats.entities, "integer")),
        ("void:classes", typed(len(classes), "integer")),
        ("void:properties", typed(len(properties), "integer")),
        ("void:vocabulary", ", ".join(N(v) for v in vocabularies)),
    ]
    examples = [mint.work(s) for s in sources[:1]]
    examples += [mint.claim(min(evidence.claims_by_id))] if evidence.claims else []
    examples += [mint.concept("outcome", o) for o in evidence.vocabulary.ids("outcome")[:1]]
    if examples:
        about.append(("void:exampleResource", ", ".join(N(e) for e in examples)))
    dumps = [f for f in files if f.media_type in ("application/n-triples", "text/turtle", "application/ld+json")
             and f.name.startswith("kb.")]
    if dumps:
        about.append(("void:dataDump", ", ".join(f"<{f.name}>" for f in dumps)))
    if files:
        about.append(("dcat:distribution", ", ".join(f"<#{_anchor(f.name)}>" for f in files)))
    if classes:
        about.append(("void:classPartition", ", ".join(f"<#{_anchor('class-' + _prefixed(c))}>" for c, _ in classes)))

    out = ["# The KB described for data catalogues (VoID and DCAT), written by kb build from the graph.",
           "# Links to files and pages are relative to this file.",
           *(f"@prefix {p}: <{ns}> ." for p, ns in (("dcat", DCAT), ("dcterms", DCTERMS), ("foaf", FOAF),
                                                    ("rdfs", RDFS), ("void", VOID), ("xsd", XSD))),
           "", _block(dataset, about)]
    for f in files:
        props = [("a", "dcat:Distribution"), ("dcterms:title", text(f.title, "en")),
                 ("dcat:downloadURL", f"<{f.name}>"), ("dcat:byteSize", typed(f.size, "nonNegativeInteger"))]
        if f.media_type in IANA_REGISTERED:
            props.append(("dcat:mediaType", N(IANA + f.media_type)))
        props.append(("dcterms:format", text(f.media_type)))
        if f.compressed:
            props.append(("dcat:compressFormat", N(IANA + "application/gzip")))
        if config.data_licence_url:
            props.append(("dcterms:license", N(config.data_licence_url)))
        out.append(_block(f"<#{_anchor(f.name)}>", props))
    for iri, count in classes:
        out.append(_block(f"<#{_anchor('class-' + _prefixed(iri))}>",
                          [("void:class", N(iri)),
                           ("void:entities", typed(count, "integer"))]))
    out.append(_block("<../sparql.html>", [("dcterms:title", text("SPARQL over the whole graph, in the browser "
                                                                 "(no endpoint: the page loads the dump)", "en"))]))
    return ("\n".join(out) + "\n").encode("utf-8")


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def _block(subject: str, props: list[tuple[str, str]]) -> str:
    lines = [f"{subject}"]
    for i, (p, o) in enumerate(props):
        end = " ." if i == len(props) - 1 else " ;"
        lines.append(f"    {p} {o}{end}")
    return "\n".join(lines) + "\n"
