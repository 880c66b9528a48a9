"""Page contexts for the lists: all claims, the bibliography, the concepts and the maps.

Each function returns finished ``*Page`` objects (see :mod:`kb.site.pages`) plus, for table
pages, the CSV of their rows; :mod:`kb.site.render` writes them. The records themselves are on
the bucket pages of :mod:`kb.site.buckets` and the map cells on the row pages of
:mod:`kb.site.cells`. Lists that would grow with the KB are capped in a large KB
(:mod:`kb.site.limits`): a concept page summarises and links to the cells that hold the rest.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kb.analyse.analysis import Row
from kb.analyse.groups import best_first_key
from kb.bibtex.load import latex_to_text
from kb.io.tables import dicts_to_csv, write_csv
from kb.site import evmap, jsonld, tablequery
from kb.site.addresses import CONCEPT_FOLDERS
from kb.site.deps import Keeper
from kb.site.evidence_base import evidence_base
from kb.site.pages import (
    BibliographyPage,
    BibRow,
    ClaimRow,
    ClaimsIndexPage,
    ConceptGroup,
    ConceptIndexPage,
    ConceptPage,
    Link,
    MapPage,
    Page,
    Term,
)
from kb.site.refdata import everything
from kb.site.views import Resolver

CLAIM_COLUMNS = ["claim_id", "statement", "population", "intervention", "outcome", "direction", "certainty",
                 "design", "source"]
EVERY_CLAIM_CSV = "data/claims.csv.gz"
BIBLIOGRAPHY_FILES = {"ris": "data/references.ris.gz", "json": "data/references.json.gz",
                      "bib": "data/references.bib.gz"}
ROWS_PER_PAGE = 1000  # the claims index lists every claim-outcome up to this many, else the source documents
MAP_PATHS = {"population": "map.html", "setting": "map-settings.html", "delivery": "map-delivery.html",
             "perspective": "map-perspectives.html", "intervention": "map-interventions.html"}
SCHEME_TITLES = {"population": "Populations", "setting": "Settings", "delivery": "Delivery modes",
                 "perspective": "Perspectives", "intervention": "Interventions", "outcome": "Outcomes"}


@dataclass
class Output:
    """What the render stage writes: pages, and other files (CSV) as text."""

    pages: list[Page]
    files: dict[str, str | bytes]
    keeper: Keeper = field(default_factory=Keeper)  # input keys (kb.site.deps); by default none
    tables: list[Any] = field(default_factory=list)  # the table entries (TableRef) of pages kept by their keys
    sink: Callable[[], None] | None = None  # writes what is collected so far (kb.site._render_group's); else held
    _making: int = field(default=0, init=False, repr=False)  # keyed builds under way: their page is looked up after

    def settle(self) -> None:
        """Write the pages and files made so far, where a sink is given and no keyed build is under way. A group
        held every page's context until its end: at 10k/50k the summaries' pages grew a worker by ~170 MB, ~65 MB
        written as made (issue 17, the all-process memory). Called once a page is made and recorded."""
        if self.sink is not None and not self._making:
            self.sink()

    def keyed(self, path: str, key: str, build: Callable[[], None]) -> None:
        """The page at ``path`` made by ``build`` (which adds it), unless the last build made it from ``key``: then
        it is linked from there. A page with a CSV of its own keeps its entry on the data page as its memo."""
        from kb.site import TableRef

        old = self.keeper.reuse(path, key)
        if old is not None:
            if old.memo is not None:
                self.tables.append(old.memo)
            return
        self._making += 1
        try:
            build()
        finally:
            self._making -= 1
        page = next(p for p in reversed(self.pages) if p.path == path)
        table = TableRef(page.template, page.title, page.csv) if page.csv is not None else None
        self.keeper.record(path, key, self.own_csv(page), table)
        self.settle()

    def keyed_file(self, path: str, key: str, make: Callable[[], str | bytes]) -> None:
        """The file at ``path`` made by ``make``, unless the last build made it from ``key``: then it is linked
        from there (an empty key: always made)."""
        if self.keeper.reuse(path, key) is None:
            self.files[path] = make()
            self.keeper.record(path, key)
            self.settle()

    def own_csv(self, page: Page) -> tuple[str, ...]:
        """The page's CSV if it is a file of its own (not a shared one): it is kept or remade with the page."""
        return (page.csv.path,) if page.csv is not None and page.csv.path in self.files else ()


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


def claims_index(res: Resolver, out: Output) -> None:
    """Every claim-outcome in one table while they fit (:data:`ROWS_PER_PAGE`), keyed by those rows; else the source
    documents, each with its number of claims, linking to its entry, which lists them, keyed by the claims without
    their words (a reworded claim keeps it; counting 50,000 claims' sources was ~0.5 s of a worker's CPU)."""
    keep, found = out.keeper, res.analysis.rows
    path = "claims/index.html"
    out.keyed(path, keep.key(path, keep.facets() if len(found) > ROWS_PER_PAGE else keep.rows(found)),
              lambda: _claims_index(res, out))


def _claims_index(res: Resolver, out: Output) -> None:
    found = res.analysis.rows
    description = f"{len(res.analysis.claim_ids)} claims, {len(found)} claim-outcomes."
    sources: tuple[tuple[Link, int], ...] = ()
    rows: tuple[ClaimRow, ...] = ()  # made only when they are listed (88,000 at 50,000 claims were not)
    if len(found) > ROWS_PER_PAGE:
        counts = Counter(res.ev.claims_by_id[c].source for c in res.analysis.claim_ids)
        sources = tuple((res.ref_link(key), n) for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    else:
        rows = res.claim_rows(found)
    index = ClaimsIndexPage(path="claims/index.html", title="All claims", template="claims.html", section="claims",
                            rows=rows, sources=sources, claims=len(res.analysis.claim_ids),
                            description=description, query=tablequery.all_claims())
    index.jsonld = jsonld.collection(res, index.title, index.description)
    if sources:
        index.csv = Link(EVERY_CLAIM_CSV, "every claim as CSV (gzip)")
    else:
        add_csv(out, index, claims_csv(rows))
    out.pages.append(index)


# --- references --------------------------------------------------------------------------------


def bibliography(res: Resolver, out: Output) -> None:
    claims: dict[str, set[str]] = defaultdict(set)
    for row in res.analysis.rows:
        for key in (row.source, *row.cites):
            claims[key].add(row.claim_id)
    bib_rows = []
    for ref in sorted(res.every_work(), key=lambda r: r.key):
        link = res.ref_link(ref.key)
        bib_rows.append(BibRow(Link(link.path, link.label), ref.key, res.refdata.shard(ref.key), res.citations[ref.key],
                               latex_to_text(ref.year) or ref.get("date")[:4], ref.entry_type,
                               len(res.cited_by(ref.key)), len(claims.get(ref.key, ()))))
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
    keep = out.keeper
    for scheme, folder in CONCEPT_FOLDERS.items():
        by_id = res.analysis.groups.by(scheme)
        ranked = res.analysis.groups.by(scheme, ranked=True)  # each concept's rows, best first (best_first)
        groups: dict[str, list[tuple[Term, int]]] = defaultdict(list)
        for concept_id in vocab.ids(scheme):
            concept = vocab.get(scheme, concept_id)
            assert concept is not None
            rows = by_id.get(concept_id, [])
            groups[(concept.broader or "") if scheme == "outcome" else ""].append(
                (res.term(scheme, concept_id), len(rows)))
            broader = res.term("outcome", concept.broader) if scheme == "outcome" and concept.broader else None
            siblings: tuple[tuple[Term, int], ...] = ()
            questions: tuple[Link, ...] = ()
            if broader is not None:
                siblings = tuple((res.term("outcome", o), len(by_id.get(o, ()))) for o in sorted(
                    (o for o in vocab.ids("outcome") if o != concept_id and getattr(
                        vocab.get("outcome", o), "broader", None) == concept.broader),
                    key=lambda o: res.label("outcome", o).lower()))
            path = f"{folder}/{concept_id}.html"
            # its findings (the words of those it shows: rewording another keeps the page), and how many findings
            # each of its sibling outcomes has
            shown = ranked.get(concept_id, [])[:res.limits.concept_claims]
            key = keep.key(path, keep.counted_rows(rows), keep.rows(shown), tuple((t.id, n) for t, n in siblings))
            if keep.reuse(path, key):
                continue
            if scheme in ("population", "intervention") and broader is None:
                pairs = sorted({(p, r.intervention) for r in rows for p in r.population
                                if (p if scheme == "population" else r.intervention) == concept_id})
                questions = tuple(Link(res.summary_path(p, i), f"{res.label('intervention', i)} in "
                                       f"{res.label('population', p)}") for p, i in pairs)
            summaries, more_summaries = res.summaries(rows)
            definition, alt_labels = res.words(scheme, concept_id)
            page = ConceptPage(
                path=path, title=concept.label, template="concept.html", section=folder,
                description=definition, breadcrumbs=(Link(f"{folder}/index.html", SCHEME_TITLES[scheme]),),
                scheme=scheme, scheme_label=vocab.scheme_labels.get(scheme, SCHEME_TITLES[scheme]),
                concept=res.term(scheme, concept_id), definition=definition, alt_labels=alt_labels,
                broader=broader, iri=concept.iri,
                summaries=summaries, more_summaries=more_summaries,
                rows=res.claim_rows(shown), more=len(rows) - len(shown),
                cells=concept_cells(res, scheme, concept_id, rows),
                siblings=siblings, questions=questions,
                domain_summary=Link(res.domain_summary_path(concept.broader), f"Summary of findings: {broader.label}")
                if broader is not None and concept.broader else None,
                base=evidence_base(res, rows) if rows else None,
                query=tablequery.concept_claims(scheme, concept.iri, concept.label) if rows else None,
            )
            page.jsonld = jsonld.concept(res, concept)
            if page.rows:
                add_csv(out, page, claims_csv(page.rows))
            out.pages.append(page)
            keep.record(path, key, out.own_csv(page))
            out.settle()
        ordered = sorted(groups, key=lambda g: (res.label("outcome", g).lower() if g else "", g))
        index = ConceptIndexPage(
            path=f"{folder}/index.html", title=SCHEME_TITLES[scheme], template="concepts.html", section=folder,
            scheme=scheme, intro=res.words(scheme)[0], description=res.words(scheme)[0],
            groups=tuple(ConceptGroup(res.term("outcome", g) if g else None,
                                      tuple(sorted(groups[g], key=lambda t: (t[0].label.lower(), t[0].id))),
                                      Link(res.domain_summary_path(g),
                                           f"Summary of findings: {res.label('outcome', g)}") if g else None)
                         for g in ordered),
        )
        index.jsonld = jsonld.collection(res, index.title, index.description)
        out.pages.append(index)


def concept_cells(res: Resolver, scheme: str, concept_id: str, rows: list[Row]) -> tuple[tuple[Link, int], ...]:
    """The map cells that hold a concept's findings: its row's cells (a map axis), or its column's
    on the populations map (an outcome); each with its number of findings, in the map's order."""
    if scheme == "outcome":
        counts = Counter(p for r in rows for p in r.population)
        return tuple((Link(res.cell_path("population", p, concept_id), res.label("population", p)), counts[p])
                     for p in evmap.axis_ids(res, "population") if counts[p])
    if scheme not in evmap.AXES:
        return ()
    counts = Counter(r.outcome for r in rows)
    return tuple((Link(res.cell_path(scheme, concept_id, o), res.label("outcome", o)), counts[o])
                 for _domain, outcomes in evmap.domains(res) for o in outcomes if counts[o])


def best_first(rows: list[Row], limit: int) -> list[Row]:
    """The first ``limit`` rows by :func:`kb.analyse.groups.best_first_key` (``heapq.nsmallest`` is
    ``sorted(…)[:limit]`` without sorting the rest; a page of many groups takes them from
    :attr:`kb.analyse.groups.Groups.ranked` instead)."""
    return heapq.nsmallest(limit, rows, key=best_first_key)


# --- the maps ----------------------------------------------------------------------------------


def map_pages(res: Resolver, out: Output, threshold: int = evmap.MARKS_PER_CELL,
              axes: tuple[str, ...] = tuple(MAP_PATHS)) -> None:
    rows = res.analysis.rows
    if len(rows) > evmap.MARKS_PER_MAP:
        threshold = 0  # at scale every cell shows counts
    directions, certainties = evmap.legend()
    views = tuple(Link(path, f"{evmap.AXES[axis]} × outcomes") for axis, path in MAP_PATHS.items())
    keep = out.keeper
    filters = None
    for axis, path in MAP_PATHS.items():
        if axis not in axes:
            continue
        # a map of counts reads every finding's facets; a map of marks their words too (the marks' titles)
        key = keep.key(path, threshold, keep.facets() if threshold == 0 else keep.rows(rows))
        if keep.reuse(path, key):
            continue
        filters = filters or evmap.filters(res, rows)
        title = f"Evidence map: {evmap.AXES[axis].lower()} × outcomes"
        groups, map_rows = evmap.build(res, rows, axis, threshold)
        page = MapPage(
            path=path, title=title, template="map.html", section="map",
            description="What the evidence found, for whom, and how sure we can be: one mark per claim and outcome.",
            axis=axis, axis_label=evmap.AXES[axis], axis_noun=evmap.AXIS_NOUNS[axis], views=views, groups=groups,
            rows=map_rows, filters=filters,
            directions=directions, certainties=certainties, threshold=threshold, total=len(rows),
            query=tablequery.evidence_map(axis, evmap.AXES[axis]),
            scripts=("assets/map-data.js", "assets/map.js"),
        )
        page.jsonld = jsonld.collection(res, title, page.description)
        out.pages.append(page)
        keep.record(path, key)
        out.settle()
