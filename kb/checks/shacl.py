"""SHACL on the graph: the shipped shapes (``kb/graph/schema/shapes.ttl``), violations mapped back to file:line.

Violations are reported at the file and line of the record they concern, and dropped where a
record-level check (:mod:`kb.checks.crossfile`) already said the same thing with a better message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.graph.build import KnowledgeGraph
from kb.graph.shipped import schema_bytes
from kb.load.evidence import Evidence
from kb.namespaces import BIBO, CITO, DCTERMS, PROV, PSK, SKOS
from kb.problems import Problem, error

if TYPE_CHECKING:
    from collections.abc import Collection

    import pyoxigraph as ox
    from rdflib import Graph

# Graph property → the claim-file or BibTeX field an editor would fix.
FIELD_OF_PROPERTY = {
    PSK + "statement": "statement", PSK + "quote": "quote", PSK + "section": "section",
    PROV + "wasQuotedFrom": "source", DCTERMS + "source": "source", CITO + "citesAsEvidence": "cites",
    PROV + "wasDerivedFrom": "cites", PSK + "population": "population", PSK + "intervention": "intervention",
    PSK + "design": "design", PSK + "certainty": "certainty", PSK + "startingCertainty": "certainty",
    PSK + "certaintyBasis": "certainty", PSK + "downgrade": "certainty", PSK + "finding": "outcomes",
    PSK + "outcome": "outcomes", PSK + "direction": "outcomes", PSK + "effect": "effect",
    PSK + "numberOfStudies": "n_studies", PSK + "numberOfParticipants": "n_participants",
    PSK + "findingType": "finding_type", PSK + "setting": "setting", PSK + "deliveryMode": "delivery",
    PSK + "perspective": "perspective", PSK + "comparator": "comparator", PSK + "figure": "figure",
    PSK + "dose": "dose", PSK + "frequency": "frequency", PSK + "duration": "duration", PSK + "country": "country",
    DCTERMS + "title": "title", PSK + "bibtexType": "type", BIBO + "doi": "doi", DCTERMS + "issued": "year",
    SKOS + "prefLabel": "skos:prefLabel", SKOS + "definition": "skos:definition",
    SKOS + "notation": "skos:notation", SKOS + "inScheme": "skos:inScheme", SKOS + "broader": "skos:broader",
}


SHACL_ENGINES = ("sparql", "pyshacl")


def load_shapes(base_iri: str) -> Graph:
    """The shipped shapes as an rdflib graph, their relative IRIs resolved against the KB's base."""
    import rdflib

    shapes = rdflib.Graph()
    shapes.parse(data=schema_bytes("shapes.ttl"), format="turtle",
                 publicID=base_iri)
    return shapes


def shacl_violations(graph: KnowledgeGraph, base_iri: str, engine: str = "sparql",
                     claims: Collection[str] | None = None, works: bool | Collection[str] = False,
                     concepts: Collection[str] = ()) -> list:
    """Every violation of the shipped shapes, by the compiled-SPARQL engine or by pyshacl.

    With ``claims`` (claim IRIs), only those claims are validated (and their findings and figures), on a
    small graph of their triples and of the triples of every node they point at: all their shapes
    can see (:mod:`kb.checks.scope` says when that is the whole answer); with ``works`` too, every work
    (every subject of ``psk:citekey``), likewise on a graph of their triples, or only the works named (IRIs), on a
    graph of their triples and of the nodes they point at; with ``concepts`` (IRIs) too, those concepts likewise.
    """
    if claims is not None:
        own = tuple(claims)
        scoped = KnowledgeGraph(_claims_subgraph(graph.store, own), graph.locations)
        found = [v for v in shacl_violations(scoped, base_iri, engine)
                 if any(v.focus == iri or v.focus.startswith(iri + "/") for iri in own)]
        if not works and not concepts:
            return found
        named = set(concepts)
        if works is True:
            of_works, nodes = _works_subgraph(graph.store)
            found += _focused(KnowledgeGraph(of_works, graph.locations), base_iri, engine, nodes)
        else:
            named.update(works or ())
        if named:  # the works named and the concepts, on one graph of their triples and of the nodes they point at
            found += _focused(KnowledgeGraph(_claims_subgraph(graph.store, tuple(sorted(named))), graph.locations),
                              base_iri, engine, named)
        return sorted(set(found), key=lambda v: (v.focus, v.path or "", v.component, v.value or ""))
    from kb.checks.shacl_compiler import Violation, compile_shapes, run_checks

    shapes = load_shapes(base_iri)
    if engine == "sparql":
        from kb.checks.shacl_detectors import suspects

        flagged = suspects(graph.store, shapes)  # a few whole-graph queries; exact checks only where needed
        return list(run_checks(graph.store, compile_shapes(shapes, sorted(flagged)))) if flagged else []
    if engine != "pyshacl":
        raise ValueError(f"unknown SHACL engine '{engine}'; expected one of {', '.join(SHACL_ENGINES)}")
    import pyoxigraph as ox
    import rdflib
    from pyshacl import validate

    data = rdflib.Graph()
    data.parse(data=ox.serialize(_shaped_triples(graph, base_iri, shapes), format=ox.RdfFormat.N_TRIPLES),
               format="nt")
    _, results, _ = validate(data, shacl_graph=shapes, inference="none", advanced=False)
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    out = set()
    for result in results.objects(None, sh.result):  # the report's results, not their sh:detail
        path, value = results.value(result, sh.resultPath), results.value(result, sh.value)
        out.add(Violation(str(results.value(result, sh.focusNode)), str(path) if path is not None else None,
                          str(results.value(result, sh.sourceConstraintComponent)),
                          str(results.value(result, sh.resultMessage) or "violates a shape"),
                          str(value) if value is not None else None))
    return sorted(out, key=lambda v: (v.focus, v.path or "", v.component, v.value or ""))


def shacl_problems(evidence: Evidence, graph: KnowledgeGraph, known: list[Problem],
                   engine: str = "sparql", violations: list | None = None) -> list[Problem]:
    """SHACL violations (``violations``, or all of the graph's) as problems at the file and line of the
    record they concern."""
    if violations is None:
        violations = shacl_violations(graph, evidence.config.base_iri, engine)
    if not violations:  # the usual case: the records already known to have errors need not be found (~0.15 s at 50k)
        return []
    already = {(p.path, p.line, p.field) for p in known}
    reported = _records_with_errors(evidence, known)
    out: dict[tuple, Problem] = {}
    for violation in violations:
        focus = violation.focus
        if any(focus == iri or focus.startswith(iri + "/") for iri in reported):
            continue  # the record-level check already told the editor, with a better message
        field_name = FIELD_OF_PROPERTY.get(violation.path or "", violation.path)
        file, line = _locate(evidence, graph, focus, field_name)
        if (file, line, field_name) in already:
            continue
        found = f" (value {violation.value})" if violation.value is not None else ""
        component = violation.component.rsplit("#", 1)[-1]
        problem = error(file, line, "shacl-violation", f"<{focus}> {violation.message}{found} [{component}]",
                        field=field_name, hint="see kb/graph/schema/shapes.ttl")
        out[(file, line, field_name, violation.message, violation.value)] = problem
    return list(out.values())


def _focused(graph: KnowledgeGraph, base_iri: str, engine: str, nodes: set[str]) -> list:
    """The violations of ``graph`` whose focus is one of ``nodes``."""
    return [v for v in shacl_violations(graph, base_iri, engine) if v.focus in nodes]


def _claims_subgraph(store: ox.Store, claims: tuple[str, ...]) -> ox.Store:
    """The claims' triples (the claim, and the nodes under its IRI: findings, figures) and every triple of
    each other node they point at (a work, a concept); likewise for works (their people, a venue, a work included)."""
    import pyoxigraph as ox

    quads: list[ox.Quad] = []
    pointed: set[ox.NamedNode] = set()
    for iri in claims:
        todo, prefix = [ox.NamedNode(iri)], iri + "/"
        while todo:
            for quad in store.quads_for_pattern(todo.pop(), None, None, ox.DefaultGraph()):
                quads.append(quad)
                if isinstance(quad.object, ox.NamedNode):
                    (todo.append if quad.object.value.startswith(prefix) else pointed.add)(quad.object)
    for node in sorted(pointed, key=str):
        quads.extend(store.quads_for_pattern(node, None, None, ox.DefaultGraph()))
    sub = ox.Store()
    sub.extend(quads)
    return sub


def _works_subgraph(store: ox.Store) -> tuple[ox.Store, set[str]]:
    """Every work's triples (a work is a subject of ``psk:citekey``: all pskshape:Work targets, and all that a work's
    shape reads, the works it includes among them), and the works' IRIs."""
    import pyoxigraph as ox

    graph = ox.DefaultGraph()
    works = sorted({q.subject for q in store.quads_for_pattern(None, ox.NamedNode(PSK + "citekey"), None, graph)},
                   key=str)
    sub = ox.Store()
    sub.extend([quad for work in works for quad in store.quads_for_pattern(work, None, None, graph)])
    return sub, {work.value if isinstance(work, ox.NamedNode) else str(work) for work in works}


def _shaped_triples(graph: KnowledgeGraph, base: str, shapes: object) -> list:
    """Only the triples the shapes can see: every triple of a claim (its shapes are closed), and
    elsewhere only the predicates some shape constrains. Author lists, venues, citations and the
    ontology are left out: converting them to rdflib cost more than validating the rest."""
    import pyoxigraph as ox
    import rdflib

    sh_path = rdflib.URIRef("http://www.w3.org/ns/shacl#path")
    predicates = {str(o) for o in shapes.objects(None, sh_path)} | {RDF_TYPE}  # type: ignore[attr-defined]
    claims = base + "claim/"
    return [ox.Triple(q.subject, q.predicate, q.object) for q in graph.store
            if q.predicate.value in predicates or q.subject.value.startswith(claims)]


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _records_with_errors(evidence: Evidence, known: list[Problem]) -> set[str]:
    """IRIs of claims, works and concepts that already have an error: SHACL would only echo it."""
    from kb.graph.iris import Minter

    mint = Minter(evidence.config.base_iri)
    at = {(p.path, p.line) for p in known if p.severity == "error"}
    out = set()
    for claim in evidence.claims:
        lines = {claim.line, claim.certainty.line, *claim.field_lines.values(), *(o.line for o in claim.outcomes)}
        if any((claim.path, line) in at for line in lines):
            out.add(mint.claim(claim.id))
    for ref in evidence.references:
        if any((ref.path, line) in at for line in {ref.line, *ref.field_lines.values()}):
            out.add(mint.work(ref.key))
    for scheme in evidence.vocabulary.concepts.values():
        out.update(c.iri for c in scheme.values() if (c.path, c.line) in at)
    return out


def _locate(evidence: Evidence, graph: KnowledgeGraph, iri: str, field_name: str | None) -> tuple[str, int | None]:
    base = evidence.config.base_iri
    rest = iri[len(base):] if iri.startswith(base) else ""
    parts = rest.split("/")
    if parts[0] == "claim" and len(parts) > 1 and parts[1] in evidence.claims_by_id:
        claim = evidence.claims_by_id[parts[1]]
        return claim.path, claim.line_of(field_name or "")
    if parts[0] == "work" and len(parts) > 1 and parts[1] in evidence.references_by_key:
        ref = evidence.references_by_key[parts[1]]
        return ref.path, ref.line_of(field_name or "")
    path, line = graph.locations.get(iri, (str(evidence.config.evidence_dir), None))
    return path, line
