"""Page contexts for the records: claims, references, concepts, the maps and their cells.

Each function returns finished ``*Page`` objects (see :mod:`kb.site.pages`) plus, for table
pages, the CSV of their rows; :mod:`kb.site.render` writes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kb.analyse.analysis import Row
from kb.bibtex.load import latex_to_text
from kb.io.tables import dicts_to_csv, write_csv
from kb.site import evmap, jsonld, tablequery
from kb.site.evidence_base import evidence_base
from kb.site.grade import summarise
from kb.site.highwire import highwire_tags
from kb.site.refdata import everything, work_files
from kb.site.pages import (
    BibliographyPage,
    BibRow,
    CellPage,
    CitingDoc,
    ClaimPage,
    ClaimRow,
    ClaimsIndexPage,
    ConceptGroup,
    ConceptIndexPage,
    ConceptPage,
    Fact,
    Link,
    MapPage,
    Page,
    ReferencePage,
    Term,
)
from kb.site.views import CONCEPT_FOLDERS, Resolver, short_cite

CLAIM_COLUMNS = ["claim_id", "statement", "population", "intervention", "outcome", "direction", "certainty",
                 "design", "source"]
BIBLIOGRAPHY_FILES = {"ris": "data/references.ris", "json": "data/references.json", "bib": "data/references.bib"}
ROWS_PER_PAGE = 1000  # the list of all claims is split into pages of this many rows
MAP_PATHS = {"population": "map.html", "setting": "map-settings.html", "delivery": "map-delivery.html",
             "perspective": "map-perspectives.html", "intervention": "map-interventions.html"}
SCHEME_TITLES = {"population": "Populations", "setting": "Settings", "delivery": "Delivery modes",
                 "perspective": "Perspectives", "intervention": "Interventions", "outcome": "Outcomes"}


@dataclass
class Output:
    """What the render stage writes: pages, and other files (CSV, BibTeX) as text."""

    pages: list[Page]
    files: dict[str, str]


def claims_csv(rows: tuple[ClaimRow, ...]) -> str:
    return write_csv(CLAIM_COLUMNS, ((r.claim.label, r.statement, "; ".join(p.label for p in r.population),
                                      r.intervention.label,
                                          r.outcome.label, r.direction.id, r.certainty.id, r.design.label,
                                          r.source.label) for r in rows))


def curation_note(notes: str | None) -> str:
    """The "Curation: …" sentences editors end a claim's notes with (how the second extraction was resolved)."""
    text = " ".join((notes or "").split())
    return "Curation:" + text.split("Curation:", 1)[1] if "Curation:" in text else ""


def add_csv(out: Output, page: Page, text: str) -> None:
    path = page.path.rsplit(".", 1)[0] + ".csv"
    page.csv = Link(path, "these rows as CSV")
    out.files[path] = text


# --- claims ------------------------------------------------------------------------------------


def claim_pages(res: Resolver, out: Output) -> None:
    ev = res.ev
    for claim in sorted(ev.claims, key=lambda c: c.id):
        source = ev.references_by_key.get(claim.source)
        page = ClaimPage(
            path=res.claim_path(claim.id), title=f"Claim: {claim.id}", template="claim.html", section="claims",
            description=" ".join(claim.statement.split()),
            breadcrumbs=(Link("claims/index.html", "Claims"),),
            claim_id=claim.id, iri=res.mint.claim(claim.id), statement=" ".join(claim.statement.split()),
            quote=" ".join(claim.quote.split()), quote_section=claim.section,
            source=res.ref_link(claim.source), source_citation=res.citations.get(claim.source, claim.source),
            source_doi=res.doi_link(source) if source else None, cites=res.cited_works(claim),
            finding_type=res.term("finding_type", claim.finding_type, link=False),
            population=res.terms("population", claim.population), setting=res.terms("setting", claim.setting),
            delivery=res.terms("delivery", claim.delivery), perspective=res.term("perspective", claim.perspective),
            intervention=res.term("intervention", claim.intervention),
            intervention_kind=res.intervention_kind(claim.intervention),
            comparator=res.term("intervention", claim.comparator) if claim.comparator else None,
            design=res.term("design", claim.design),
            findings=res.findings(claim), certainty=res.certainty(claim), facts=res.claim_facts(claim),
            notes=" ".join((claim.notes or "").split()),
            last_changed=res.last_changed(res.history.claims.get(claim.id)), curation=curation_note(claim.notes),
        )
        page.jsonld = jsonld.claim(res, claim)
        page.refs = res.refdata.ref_list(f"claim-{claim.id}-works", claim.cites)
        add_csv(out, page, dicts_to_csv([{
            "claim_id": claim.id, "outcome": f.outcome.label, "domain": f.domain.label, "direction": f.direction.id,
            "certainty": claim.certainty.level, "effect": f.effect, "notes": f.notes} for f in page.findings],
            ["claim_id", "outcome", "domain", "direction", "certainty", "effect", "notes"]))
        out.pages.append(page)
    rows = res.claim_rows(res.analysis.rows)
    description = f"{len(res.analysis.claim_ids)} claims, {len(rows)} claim-outcomes."
    chunks = [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [()]
    paths = ["claims/index.html"] + [f"claims/index-{n}.html" for n in range(2, len(chunks) + 1)]
    pages = tuple(Link(p, str(n)) for n, p in enumerate(paths, start=1)) if len(chunks) > 1 else ()
    for n, (path, chunk) in enumerate(zip(paths, chunks, strict=True), start=1):
        title = "All claims" if n == 1 else f"All claims, page {n} of {len(chunks)}"
        index = ClaimsIndexPage(path=path, title=title, template="claims.html", section="claims", rows=chunk,
                                description=description, pages=pages, first=(n - 1) * ROWS_PER_PAGE + 1,
                                query=tablequery.all_claims())
        index.jsonld = jsonld.collection(res, index.title, index.description)
        if n == 1:
            add_csv(out, index, claims_csv(rows))
        else:
            index.csv = Link("claims/index.csv", "every claim as CSV")
        out.pages.append(index)


# --- references --------------------------------------------------------------------------------


def reference_pages(res: Resolver, out: Output) -> None:
    ev = res.ev
    stated: dict[str, list[Row]] = defaultdict(list)
    resting: dict[str, list[Row]] = defaultdict(list)
    for row in res.analysis.rows:
        stated[row.source].append(row)
        for key in row.cites:
            resting[key].append(row)
    bib_rows = []
    for ref in sorted(ev.references, key=lambda r: r.key):
        cited_by: dict[str, list[int]] = defaultdict(list)
        for doc, n in ev.cited_by.get(ref.key, []):
            cited_by[doc].append(n)
        facts = [Fact("Type", ref.entry_type), Fact("Citation key", ref.key)]
        for name, label in (("year", "Year"), ("date", "Date"), ("journal", "Journal"), ("booktitle", "In"),
                            ("volume", "Volume"), ("number", "Issue"), ("pages", "Pages"),
                            ("publisher", "Publisher"), ("institution", "Institution"),
                            ("organization", "Organisation"), ("urldate", "Accessed")):
            if ref.get(name):
                facts.append(Fact(label, latex_to_text(ref.get(name))))
        bib_path = res.ref_path(ref.key, "bib")
        out.files[bib_path] = ref.raw.rstrip("\n") + "\n"
        page = ReferencePage(
            path=res.ref_path(ref.key), title=short_cite(ref), template="reference.html", section="references",
            description=res.citations[ref.key], breadcrumbs=(Link("references/index.html", "Bibliography"),),
            key=ref.key, iri=res.mint.work(ref.key), entry_type=ref.entry_type, citation=res.citations[ref.key],
            styled=res.styled[ref.key], downloads=work_files(ref, bib_path, ref.key),
            doi=res.doi_link(ref), url=res.url_link(ref), facts=tuple(facts), bibtex=ref.raw.rstrip("\n"),
            bibtex_file=Link(bib_path, f"{ref.key}.bib"),
            cited_by=tuple(CitingDoc(res.ref_link(doc), tuple(sorted(ns))) for doc, ns in sorted(cited_by.items())),
            stated=res.claim_rows(stated.get(ref.key, [])), resting=res.claim_rows(resting.get(ref.key, [])),
            note=latex_to_text(ref.get("annote") or ref.get("note")),
        )
        if page.stated or page.resting:
            page.query = tablequery.work_claims(page.iri, page.title)
        page.jsonld = jsonld.reference(res, ref)
        page.meta = highwire_tags(ref)
        if page.stated or page.resting:
            add_csv(out, page, claims_csv(page.stated + page.resting))
        out.pages.append(page)
        claims = {r.claim_id for r in stated.get(ref.key, []) + resting.get(ref.key, [])}
        bib_rows.append(BibRow(Link(page.path, page.title), ref.key, res.refdata.shard(ref.key), res.citations[ref.key],
                               latex_to_text(ref.year) or ref.get("date")[:4], ref.entry_type,
                               sum(len(ns) for ns in cited_by.values()), len(claims)))
    index = BibliographyPage(path="references/index.html", title="Bibliography", template="bibliography.html",
                             section="references", rows=tuple(bib_rows),
                             types=tuple(sorted({r.entry_type for r in bib_rows})),
                             description=f"{len(bib_rows)} works: the source documents and everything they cite.",
                             everything=everything(BIBLIOGRAPHY_FILES),
                             query=tablequery.bibliography())
    index.refs = res.refdata.chosen_in_browser("bibliography-selection", "#bibliography tbody tr")
    index.jsonld = jsonld.collection(res, index.title, index.description)
    add_csv(out, index, dicts_to_csv([{
        "key": r.key, "citation": r.citation, "year": r.year, "type": r.entry_type, "cited_by": r.cited_by,
        "claims": r.claims} for r in bib_rows], ["key", "citation", "year", "type", "cited_by", "claims"]))
    out.pages.append(index)


# --- concepts ----------------------------------------------------------------------------------


def concept_pages(res: Resolver, out: Output) -> None:
    vocab = res.vocab
    for scheme, folder in CONCEPT_FOLDERS.items():
        by_id: dict[str, list[Row]] = defaultdict(list)
        for row in res.analysis.rows:
            for concept_id in row.values(scheme):
                by_id[concept_id].append(row)
        groups: dict[str, list[tuple[Term, int]]] = defaultdict(list)
        for concept_id in vocab.ids(scheme):
            concept = vocab.get(scheme, concept_id)
            assert concept is not None
            rows = by_id.get(concept_id, [])
            broader = res.term("outcome", concept.broader) if scheme == "outcome" and concept.broader else None
            siblings: tuple[tuple[Term, int], ...] = ()
            questions: tuple[Link, ...] = ()
            if broader is not None:
                siblings = tuple((res.term("outcome", o), len(by_id.get(o, ()))) for o in sorted(
                    (o for o in vocab.ids("outcome") if o != concept_id and getattr(
                        vocab.get("outcome", o), "broader", None) == concept.broader),
                    key=lambda o: res.label("outcome", o).lower()))
            elif scheme in ("population", "intervention"):
                pairs = sorted({(p, r.intervention) for r in rows for p in r.population
                                if (p if scheme == "population" else r.intervention) == concept_id})
                questions = tuple(Link(res.summary_path(p, i), f"{res.label('intervention', i)} in "
                                       f"{res.label('population', p)}") for p, i in pairs)
            page = ConceptPage(
                path=f"{folder}/{concept_id}.html", title=concept.label, template="concept.html", section=folder,
                description=concept.definition, breadcrumbs=(Link(f"{folder}/index.html", SCHEME_TITLES[scheme]),),
                scheme=scheme, scheme_label=vocab.scheme_labels.get(scheme, SCHEME_TITLES[scheme]),
                concept=res.term(scheme, concept_id), definition=concept.definition, alt_labels=concept.alt_labels,
                broader=broader, iri=concept.iri,
                summaries=tuple(res.summary(s) for s in summarise(rows, res.analysis.studies)),
                rows=res.claim_rows(rows), siblings=siblings, questions=questions,
                domain_summary=Link(res.domain_summary_path(concept.broader), f"Summary of findings: {broader.label}")
                if broader is not None and concept.broader else None,
                base=evidence_base(res, rows) if rows else None,
                query=tablequery.concept_claims(scheme, concept.iri, concept.label) if rows else None,
            )
            page.jsonld = jsonld.concept(res, concept)
            if page.rows:
                add_csv(out, page, claims_csv(page.rows))
            out.pages.append(page)
            groups[(concept.broader or "") if scheme == "outcome" else ""].append((page.concept, len(rows)))
        ordered = sorted(groups, key=lambda g: (res.label("outcome", g).lower() if g else "", g))
        index = ConceptIndexPage(
            path=f"{folder}/index.html", title=SCHEME_TITLES[scheme], template="concepts.html", section=folder,
            scheme=scheme, intro=vocab.scheme_definitions.get(scheme, ""),
            description=vocab.scheme_definitions.get(scheme, ""),
            groups=tuple(ConceptGroup(res.term("outcome", g) if g else None,
                                      tuple(sorted(groups[g], key=lambda t: (t[0].label.lower(), t[0].id))),
                                      Link(res.domain_summary_path(g), f"Summary of findings: {res.label('outcome', g)}")
                                      if g else None)
                         for g in ordered),
        )
        index.jsonld = jsonld.collection(res, index.title, index.description)
        out.pages.append(index)


# --- the maps and their cells ------------------------------------------------------------------


def map_pages(res: Resolver, out: Output, threshold: int = evmap.MARKS_PER_CELL,
              axes: tuple[str, ...] = tuple(MAP_PATHS)) -> None:
    rows = res.analysis.rows
    if len(rows) > evmap.MARKS_PER_MAP:
        threshold = 0  # at scale every cell shows counts
    directions, certainties = evmap.legend()
    views = tuple(Link(path, f"{evmap.AXES[axis]} × outcomes") for axis, path in MAP_PATHS.items())
    filters = evmap.filters(res, rows)
    for axis, path in MAP_PATHS.items():
        if axis not in axes:
            continue
        title = f"Evidence map: {evmap.AXES[axis].lower()} × outcomes"
        groups, map_rows = evmap.build(res, rows, axis, threshold)
        page = MapPage(
            path=path, title=title, template="map.html", section="map",
            description="What the evidence found, for whom, and how sure we can be: one mark per claim and outcome.",
            axis=axis, axis_label=evmap.AXES[axis], axis_noun=evmap.AXIS_NOUNS[axis], views=views, groups=groups, rows=map_rows, filters=filters,
            directions=directions, certainties=certainties, threshold=threshold, total=len(rows),
            query=tablequery.evidence_map(axis, evmap.AXES[axis]),
            scripts=("assets/map-data.js", "assets/map.js"),
        )
        page.jsonld = jsonld.collection(res, title, page.description)
        out.pages.append(page)
        cell_pages(res, out, axis, path)


def cell_pages(res: Resolver, out: Output, axis: str, map_path: str) -> None:
    cells: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in res.analysis.rows:
        for value in row.values(axis):
            cells[(value, row.outcome)].append(row)
    for (row_id, outcome), rows in sorted(cells.items()):
        row_term, outcome_term = res.term(axis, row_id), res.term("outcome", outcome)
        page = CellPage(
            path=res.cell_path(axis, row_id, outcome), title=f"{outcome_term.label} — {row_term.label}",
            template="cell.html", section="map", breadcrumbs=(Link(map_path, "Evidence map"),),
            description=evmap.cell_text(rows), row_term=row_term, outcome=outcome_term,
            summaries=tuple(res.summary(s) for s in summarise(rows, res.analysis.studies)),
            rows=res.claim_rows(rows), map_link=Link(f"{map_path}#row-{row_id}", "Back to the map"),
            base=evidence_base(res, rows),
            last_changed=res.last_changed(res.history.cells.get((row_id, outcome))) if axis == "population" else "",
            query=tablequery.cell_claims(axis, res.concept_iri(axis, row_id), row_term.label,
                                         res.concept_iri("outcome", outcome), outcome_term.label),
        )
        page.jsonld = jsonld.collection(res, page.title, page.description)
        page.refs = res.refdata.ref_list(f"{axis}-{row_id}--{outcome}-works",
                                         {key for row in rows for key in (row.source, *row.cites)})
        add_csv(out, page, claims_csv(page.rows))
        out.pages.append(page)
