"""The evidence-base block of a page: every distinct work behind its findings, and the reviews' overlap.

Shown on map cells, outcome and population pages and summaries of findings, so that a reader
sees "2 reviews (overlap very high, CCA 50 %), 5 unique studies" and can open the works, the
review × review table and the citation matrix the CCA is computed from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice

from kb.analyse.analysis import Row
from kb.analyse.studies import EvidenceCount, StudyBase
from kb.bibtex.load import latex_to_text
from kb.load.kinds import OTHER, REVIEW, STUDY, UNCLASSIFIED
from kb.site.pages import TableQuery
from kb.site.summary_pages import EvidenceBaseView, MatrixRow, OverlapView, WorkView
from kb.site.views import Resolver

MATRIX_REVIEWS = 12  # reviews up to which the review × review table is shown (c² cells)
MATRIX_CELLS = 600  # study × review cells up to which the citation matrix is shown; its query has any size
KIND_LABELS = {REVIEW: "Review", STUDY: "Primary study", OTHER: "Other work", UNCLASSIFIED: "Design not stated"}
KIND_NOTES = {OTHER: "narrative review, opinion, report, protocol or web page",
              UNCLASSIFIED: "cited with other works under a review design; nothing says which design it has"}


def evidence_base(res: Resolver, rows: Iterable[Row]) -> EvidenceBaseView:
    """The view of every work behind ``rows``, each once, by kind."""
    studies = res.analysis.studies
    count = studies.count(rows)
    return base_view(res, count)


def base_view(res: Resolver, count: EvidenceCount) -> EvidenceBaseView:
    studies = res.analysis.studies
    shown = res.limits.base_works  # works listed (reviews first); the phrase counts them all
    total = len(count.reviews) + len(count.studies) + len(count.others) + len(count.unclassified)
    return EvidenceBaseView(count.phrase(), tuple(islice(_works(res, studies, count), shown)),
                            tuple(res.ref_link(k) for k in count.unrecorded), overlap_view(res, count),
                            tuple(res.ref_link(k) for k in count.uncited), max(0, total - shown))


def _works(res: Resolver, studies: StudyBase, count: EvidenceCount) -> Iterator[WorkView]:
    """The works in the order they are listed: reviews, studies, other works, works of unstated design.

    Made as they are listed: a large KB lists none of the thousands behind a population's page.
    """
    for key in count.reviews:
        n = len(studies.includes.get(key, ()))
        note = (f"{n} included {'study' if n == 1 else 'studies'} recorded" if n
                else "its included studies are not recorded")
        yield _work(res, key, REVIEW, note)
    if count.studies:
        included_in: dict[str, list[str]] = defaultdict(list)
        for review in count.reviews:
            for study in sorted(studies.includes.get(review, ())):
                included_in[study].append(review)
        cited = set(count.cited_studies)
        for key in count.studies:
            parts = ["cited directly"] if key in cited else []
            if included_in.get(key):
                parts.append("included in " + ", ".join(res.ref_link(r).label for r in included_in[key]))
            yield _work(res, key, STUDY, "; ".join(parts))
    for kind, keys in ((OTHER, count.others), (UNCLASSIFIED, count.unclassified)):
        for key in keys:
            yield _work(res, key, kind, KIND_NOTES[kind])


def _work(res: Resolver, key: str, kind: str, note: str) -> WorkView:
    ref = res.works.get(key)
    year = latex_to_text(ref.year) if ref is not None else ""
    return WorkView(res.ref_link(key), kind, KIND_LABELS[kind], year, note)


def overlap_view(res: Resolver, count: EvidenceCount) -> OverlapView | None:
    """The CCA with its review × review table and citation matrix; ``None`` below two recorded reviews."""
    overlap = count.overlap
    if overlap is None or overlap.cca is None:
        return None
    reviews = overlap.reviews
    pair_rows: list[MatrixRow] = []
    citation_rows: list[MatrixRow] = []
    if len(reviews) <= MATRIX_REVIEWS:
        pair_rows = _pairs(res, reviews)
    if len(reviews) * len(overlap.studies) <= MATRIX_CELLS:
        citation_rows = _citations(res, reviews, overlap.studies)
    return OverlapView(overlap.percent_text, overlap.band, len(reviews), len(overlap.studies), overlap.inclusions,
                       overlap.impossible, tuple(res.ref_link(r) for r in reviews), tuple(pair_rows),
                       tuple(citation_rows), matrix_query(res, reviews))


def _pairs(res: Resolver, reviews: tuple[str, ...]) -> list[MatrixRow]:
    pairs = res.analysis.studies.pairwise(reviews)
    pair_rows = []
    for a in reviews:
        cells = []
        for b in reviews:
            if a == b:
                cells.append(("self", "—"))
                continue
            pair = pairs[(a, b) if a < b else (b, a)]
            cells.append((pair.band.replace(" ", "-") or "none",
                          f"{pair.percent_text} %" if pair.cca is not None else "not defined"))
        pair_rows.append(MatrixRow(res.ref_link(a), tuple(cells)))
    return pair_rows


def _citations(res: Resolver, reviews: tuple[str, ...], included: tuple[str, ...]) -> list[MatrixRow]:
    studies = res.analysis.studies
    citation_rows = []
    for study in included:
        cells = []
        for review in reviews:
            if study in studies.includes.get(review, ()):
                cells.append(("in", "included"))
            elif studies.could_not_include(review, study):
                cells.append(("na", "published later: could not be included"))
            else:
                cells.append(("out", "not included"))
        citation_rows.append(MatrixRow(res.ref_link(study), tuple(cells)))
    return citation_rows


def matrix_query(res: Resolver, reviews: tuple[str, ...]) -> TableQuery:
    """The citation matrix as SPARQL: which of these reviews includes which study (``psk:includesStudy``)."""
    values = " ".join(f"<{res.mint.work(r)}>" for r in reviews)
    return TableQuery("# Which of these reviews includes which study: the citation matrix behind their overlap (CCA).\n"
                      "SELECT ?review ?study ?title WHERE {\n"
                      f"  VALUES ?review {{ {values} }}\n"
                      "  ?review psk:includesStudy ?study .\n"
                      "  OPTIONAL { ?study dcterms:title ?title }\n"
                      "}\nORDER BY ?study ?review\n")
