"""Stage 3: check that the records agree with each other, and the graph with the shipped shapes.

Cross-reference checks run on the records, where every problem knows its file and line.
SHACL then checks the graph as a consumer sees it; its results are mapped back to file:line
through the records, and dropped where a record-level check already said the same thing.
"""

from __future__ import annotations

from kb.graph.build import KnowledgeGraph
from kb.graph.shipped import schema_bytes
from kb.load.evidence import Evidence
from kb.load.sources import normalise_ws
from kb.model import Claim
from kb.namespaces import BIBO, CITO, DCTERMS, PROV, PSK, SKOS
from kb.problems import Problem, did_you_mean, error, warning

LEVELS = ("high", "moderate", "low", "very_low")

# Graph property → the claim-file or BibTeX field an editor would fix.
FIELD_OF_PROPERTY = {
    PSK + "statement": "statement", PSK + "quote": "quote", PSK + "section": "section",
    PROV + "wasQuotedFrom": "source", DCTERMS + "source": "source", CITO + "citesAsEvidence": "cites",
    PROV + "wasDerivedFrom": "cites", PSK + "population": "population", PSK + "intervention": "intervention",
    PSK + "design": "design", PSK + "certainty": "certainty", PSK + "startingCertainty": "certainty",
    PSK + "certaintyBasis": "certainty", PSK + "downgrade": "certainty", PSK + "finding": "outcomes",
    PSK + "outcome": "outcomes", PSK + "direction": "outcomes", PSK + "effect": "effect",
    PSK + "numberOfStudies": "n_studies", PSK + "numberOfParticipants": "n_participants",
    DCTERMS + "title": "title", PSK + "bibtexType": "type", BIBO + "doi": "doi", DCTERMS + "issued": "year",
    SKOS + "prefLabel": "skos:prefLabel", SKOS + "definition": "skos:definition",
    SKOS + "notation": "skos:notation", SKOS + "inScheme": "skos:inScheme", SKOS + "broader": "skos:broader",
}


def check_evidence(evidence: Evidence) -> list[Problem]:
    """Every cross-file check: ids exist, quotes are found, certainty follows the rule."""
    problems: list[Problem] = []
    problems += _check_citation_lists(evidence)
    seen: dict[str, Claim] = {}
    unchecked_sources: set[str] = set()
    for claim in evidence.claims:
        if claim.id in seen:
            first = seen[claim.id]
            problems.append(error(claim.path, claim.line, "claim-duplicate-id",
                                  f"claim id '{claim.id}' is also used at {first.path}:{first.line}", field="id",
                                  expected="a unique id", hint="ids are stable identifiers: rename the new one"))
        seen.setdefault(claim.id, claim)
        problems += _check_claim(evidence, claim, unchecked_sources)
    for key in sorted(unchecked_sources):
        ref = evidence.references_by_key.get(key)
        problems.append(warning(ref.path if ref else evidence.config.sources_dir, ref.line if ref else None,
                                "claim-quote-unchecked", f"no archived text for '{key}': its quotes are not checked",
                                hint="archive the text under sources/ if its licence allows"))
    return problems


def _check_citation_lists(evidence: Evidence) -> list[Problem]:
    problems = []
    keys = evidence.references_by_key
    for clist in evidence.citations:
        if clist.source not in keys:
            problems.append(error(clist.path, clist.line, "citation-unknown-reference",
                                  f"citing document '{clist.source}' is not in references.bib", field="source",
                                  hint=did_you_mean(clist.source, keys)))
        for key, line in zip(clist.references, clist.item_lines, strict=True):
            if key not in keys:
                problems.append(error(clist.path, line, "citation-unknown-reference",
                                      f"'{key}' is not in references.bib", field="references",
                                      expected="a citekey of references.bib", hint=did_you_mean(key, keys)))
    cited = set(evidence.cited_by) | {c.source for c in evidence.citations} | {c.source for c in evidence.claims}
    for claim in evidence.claims:
        cited.update(claim.cites)
    for ref in evidence.references:
        if ref.key not in cited:
            problems.append(warning(ref.path, ref.line, "reference-uncited",
                                    f"'{ref.key}' is neither cited by a citation list nor a claim",
                                    hint="add it to the citing document's citations/*.yaml"))
    return problems


def _check_claim(evidence: Evidence, claim: Claim, unchecked_sources: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    keys = evidence.references_by_key
    vocab = evidence.vocabulary

    def fail(field: str, code: str, message: str, line: int | None = None, **kw: object) -> None:
        problems.append(error(claim.path, line or claim.line_of(field), code, f"claim '{claim.id}': {message}",
                              field=field, **kw))

    if claim.source not in keys:
        fail("source", "claim-unknown-reference", f"source '{claim.source}' is not in references.bib",
             hint=did_you_mean(claim.source, keys))
    stem = claim.path.rsplit("/", 1)[-1].removesuffix(".yaml")
    listed = {k for c in evidence.citations if c.source == claim.source for k in c.references}
    for key in claim.cites:
        if key not in keys:
            fail("cites", "claim-unknown-reference", f"cites '{key}', which is not in references.bib",
                 expected="a citekey of references.bib", hint=did_you_mean(key, keys))
        elif listed and key not in listed:
            problems.append(warning(claim.path, claim.line_of("cites"), "claim-cite-not-listed",
                                    f"claim '{claim.id}' cites '{key}', which is not in the reference list of "
                                    f"'{claim.source}'", field="cites"))
    if not claim.cites and not claim.notes:
        fail("cites", "claim-no-cites", "cites no reference and its notes do not say why",
             expected="at least one citekey, or 'notes' explaining why there is none")
    for field_name, scheme, value in (("population", "population", claim.population),
                                      ("intervention", "intervention", claim.intervention),
                                      ("design", "design", claim.design)):
        wrong = vocab.check_id(scheme, value)
        if wrong:
            fail(field_name, "claim-unknown-term", wrong, expected=f"an id from vocab ({scheme} scheme)")
    outcomes_seen: set[str] = set()
    for finding in claim.outcomes:
        for scheme, value in (("outcome", finding.outcome), ("direction", finding.direction)):
            wrong = vocab.check_id(scheme, value)
            if wrong:
                fail("outcomes", "claim-unknown-term", wrong, line=finding.line,
                     expected=f"an id from vocab ({scheme} scheme)")
        if finding.outcome in outcomes_seen:
            fail("outcomes", "claim-duplicate-outcome", f"outcome '{finding.outcome}' is listed twice",
                 line=finding.line, hint="a claim has one direction per outcome; split it into two claims")
        outcomes_seen.add(finding.outcome)
    problems += _check_certainty(evidence, claim)
    source = evidence.sources.get(claim.source)
    if source is None:
        unchecked_sources.add(claim.source)
    else:
        quote = normalise_ws(claim.quote)
        if quote not in source.text:
            fail("quote", "claim-quote-not-found", f"the quote is not in the archived text of '{claim.source}'",
                 expected="a verbatim passage (whitespace may differ)", hint=_quote_hint(quote, source.text))
        headings = [s.heading for s in source.sections]
        if headings and claim.section not in headings:
            fail("section", "claim-unknown-section", f"section '{claim.section}' is not a heading of the source",
                 expected="a heading listed in sources/" + claim.source + ".yaml",
                 hint=did_you_mean(claim.section, headings))
    if stem != claim.source:
        problems.append(warning(claim.path, claim.line_of("source"), "claim-file-name",
                                f"claim '{claim.id}' has source '{claim.source}' but lives in {stem}.yaml",
                                hint=f"move it to claims/{claim.source}.yaml"))
    return problems


def _check_certainty(evidence: Evidence, claim: Claim) -> list[Problem]:
    cert = claim.certainty
    out = []
    line = cert.line or claim.line_of("certainty")
    for value in (cert.level, cert.start):
        if value is not None and value not in LEVELS:
            out.append(error(claim.path, line, "claim-unknown-term", f"claim '{claim.id}': certainty '{value}' is "
                             "not a GRADE level", field="certainty", expected=", ".join(LEVELS),
                             hint=did_you_mean(value, LEVELS)))
            return out
    if cert.basis != "assigned":
        return out
    design = evidence.vocabulary.get("design", claim.design)
    if design is not None and design.starting_certainty and cert.start != design.starting_certainty:
        out.append(error(claim.path, line, "claim-certainty-start",
                         f"claim '{claim.id}': start '{cert.start}' differs from the starting level of design "
                         f"'{claim.design}'", field="certainty", expected=design.starting_certainty))
    expected = LEVELS[min(LEVELS.index(cert.start or "high") + len(cert.downgrades), len(LEVELS) - 1)]
    if cert.level != expected:
        out.append(error(claim.path, line, "claim-certainty-level",
                         f"claim '{claim.id}': level '{cert.level}' does not follow from start '{cert.start}' "
                         f"with {len(cert.downgrades)} downgrade(s)", field="certainty", expected=expected,
                         hint="one step down per GRADE domain listed in 'downgrades'"))
    return out


def _quote_hint(quote: str, text: str) -> str:
    words = quote.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # longest prefix of the quote that occurs in the text
        mid = (lo + hi + 1) // 2
        if " ".join(words[:mid]) in text:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return "not even its first word matches; check the source"
    return f"the first {lo} words match; it differs after “{' '.join(words[max(0, lo - 4):lo])}”"


# --- SHACL ------------------------------------------------------------------------------


SHACL_ENGINES = ("sparql", "pyshacl")


def load_shapes(base_iri: str) -> object:
    """The shipped shapes as an rdflib graph, their relative IRIs resolved against the KB's base."""
    import rdflib

    shapes = rdflib.Graph()
    shapes.parse(data=schema_bytes("shapes.ttl"), format="turtle",
                 publicID=base_iri)
    return shapes


def shacl_violations(graph: KnowledgeGraph, base_iri: str, engine: str = "sparql") -> list:
    """Every violation of the shipped shapes, by the compiled-SPARQL engine or by pyshacl."""
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
                   engine: str = "sparql") -> list[Problem]:
    """SHACL violations as problems at the file and line of the record they concern."""
    already = {(p.path, p.line, p.field) for p in known}
    reported = _records_with_errors(evidence, known)
    out: dict[tuple, Problem] = {}
    for violation in shacl_violations(graph, evidence.config.base_iri, engine):
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
