"""Every table's "open as a SPARQL query" link runs, and gives the table's rows (issue 14).

The site's tables are built from the records (fast); the queries are what a researcher would
write. Each test builds the page contexts, runs each page's query against the same graph with
`kb query`'s engine, and holds the two to each other.
"""

from __future__ import annotations

from collections import Counter

import pytest

from kb.query.sparql import run_query
from kb.site.context import Output
from kb.site.tablequery import work_claims


@pytest.fixture(scope="module")
def pages(fixture_checked, fixture_analysis):
    from kb.site import buckets, cells, context
    from kb.site.views import Resolver

    res = Resolver(fixture_checked.evidence, fixture_analysis)
    res.prime()
    out = Output([], {})
    for build in (buckets.claim_pages, context.claims_index, buckets.reference_pages, context.bibliography,
                  context.concept_pages):
        build(res, out)
    context.map_pages(res, out)
    for axis, path in context.MAP_PATHS.items():
        cells.row_pages(res, out, axis, path)
    return out.pages


def tables(pages) -> list[tuple[str, object, object]]:
    """(where, the rows shown, the query) of every claim table: concept pages, the index, each map cell."""
    found = []
    for page in pages:
        if page.template == "cell.html":
            found += [(f"{page.path}#{c.outcome.id}", c.rows, c.query) for c in page.cells]
        elif page.template in ("concept.html", "claims.html") and page.query is not None:
            found.append((page.path, page.rows, page.query))
    return found


def rows_of(store, query: str) -> list[dict[str, str]]:
    results = run_query(store, query)
    names = [v.value for v in results.variables]
    return [{n: (s[n].value if s[n] is not None else "") for n in names} for s in results]


def last(iri: str) -> str:
    return iri.rsplit("/", 1)[1]


def test_claim_tables_as_queries_give_the_tables_rows(pages, fixture_checked, fixture_analysis) -> None:
    store = fixture_checked.graph.store
    checked = 0
    for where, rows, query in tables(pages):
        got = Counter((last(r["claim"]), last(r["outcome"])) for r in rows_of(store, query.text))
        assert got == Counter((r.claim.label, r.outcome.id) for r in rows), where
        checked += 1
    for page in (p for p in pages if p.template == "reference.html"):  # a work's claims, each once
        for work in page.works:
            listed = {i.link.path.rsplit("#", 1)[1] for i in (*work.stated.items, *work.resting.items)}
            query = work_claims(
                fixture_checked.evidence.config.base_iri + f"work/{work.key}", work.title)
            assert {last(r["claim"]) for r in rows_of(store, query.text)} == listed, work.key
            checked += 1
    assert checked > 20


def test_every_page_with_a_claim_table_has_its_query(pages) -> None:
    for page in pages:
        if page.template in ("claims.html", "bibliography.html", "map.html"):
            assert page.query is not None, page.path
        if page.template == "cell.html":
            assert all(c.query is not None for c in page.cells), page.path
        if page.template == "concept.html":
            assert (page.query is not None) == bool(page.rows), page.path


def test_the_maps_query_counts_the_maps_marks(pages, fixture_checked, fixture_analysis) -> None:
    store = fixture_checked.graph.store
    for page in (p for p in pages if p.template == "map.html"):
        got = Counter()
        for r in rows_of(store, page.query.text):
            got[(last(r[page.axis]), last(r["outcome"]), last(r["direction"]))] += int(r["findings"])
        want = Counter((v, r.outcome, r.direction) for r in fixture_analysis.rows for v in r.values(page.axis))
        assert got == want, page.path


def test_the_maps_query_takes_the_filters_the_script_adds(pages, fixture_checked, fixture_analysis) -> None:
    """map.js puts FILTER EXISTS blocks where the query says ``# filters``; the same text here."""
    from kb.site.tablequery import FACET_PATHS, FILTER_MARK

    page = next(p for p in pages if p.path == "map.html")
    base = fixture_checked.evidence.config.base_iri
    block = (f"  FILTER EXISTS {{ {FACET_PATHS['finding_type']} ?t_ . VALUES ?t_ {{ <{base}concept/finding_type/effect> }} }}\n"
             f"  FILTER EXISTS {{ {FACET_PATHS['direction']} ?d_ . VALUES ?d_ {{ <{base}concept/direction/benefit> }} }}\n")
    assert FILTER_MARK in page.query.text
    rows = rows_of(fixture_checked.graph.store, page.query.text.replace(FILTER_MARK, block))
    want = sum(len(r.population) for r in fixture_analysis.rows if r.finding_type == "effect" and r.direction == "benefit")
    assert want and sum(int(r["findings"]) for r in rows) == want


def test_the_bibliographys_query_counts_citations_and_claims(pages, fixture_checked) -> None:
    page = next(p for p in pages if p.template == "bibliography.html")
    got = {r["key"]: (int(r["cited"]), int(r["claims"])) for r in rows_of(fixture_checked.graph.store, page.query.text)}
    assert got == {r.key: (r.cited_by, r.claims) for r in page.rows}


@pytest.fixture(scope="module", params=["fixture", "real"])
def gaps_of(request, fixture_checked, fixture_analysis):
    """The gaps page of a corpus (the fixture has few gaps; the real corpus has every kind) and its store."""
    from kb.analyse.analysis import analyse
    from kb.config import load_config
    from kb.pipeline import check
    from kb.site import gaps
    from kb.site.views import Resolver
    from tests.conftest import REAL

    if request.param == "fixture":
        checked, analysis = fixture_checked, fixture_analysis
    else:
        checked = check(load_config(REAL))
        analysis = analyse(checked.graph, checked.evidence)
    res = Resolver(checked.evidence, analysis)
    res.prime()
    out = Output([], {})
    gaps.gaps_page(res, out)
    return out.pages[0], checked.graph.store


def test_each_gap_list_is_what_its_query_finds(gaps_of) -> None:
    page, store = gaps_of
    for g in page.lists:
        got = [(last(r["population"]), last(r["outcome"])) for r in rows_of(store, g.query.text)]
        want = [(c.row.id, c.outcome.id) for c in g.cells + g.more]
        assert sorted(got) == sorted(want), g.id
        assert len(got) == len(set(got)), g.id


def test_a_gap_is_expected_only_where_the_domain_and_the_outcome_were_studied(fixture_checked, fixture_analysis) -> None:
    """Readmission in serious mental illness is a gap when SMI has findings on hospitalisation
    (same domain) and readmission has findings elsewhere; not for a population with no finding in
    that domain, and never for "population not stated"."""
    from kb.site.gaps import Cells, expected
    from kb.site.views import Resolver

    res = Resolver(fixture_checked.evidence, fixture_analysis)
    row = fixture_analysis.rows[0]
    found = {("smi", "hospitalisation"): [row], ("schizophrenia", "readmission"): [row, row],
             ("not_stated", "hospitalisation"): [row]}
    empty = [(p, o) for p in res.vocab.ids("population") for o in res.vocab.ids("outcome") if (p, o) not in found]
    ranked = {key: (n, m) for key, n, m in expected(res, Cells(found, empty))}
    assert ranked[("smi", "readmission")] == (1, 1)
    assert ranked[("schizophrenia", "hospitalisation")] == (2, 1)  # not_stated does not count as a population
    assert ("addiction", "readmission") not in ranked
    assert not any(p == "not_stated" for p, _ in ranked)
    assert ("smi", "hope") not in ranked  # nobody studied hope


def test_a_map_rows_page_writes_its_cells_query_once(pages) -> None:
    """Regression (issue 17): eighty copies of the cell query were a fifth of a row's page; the page
    writes one template and site.js fills in each cell's outcome, as tablequery.fill does."""
    from kb.site.tablequery import fill

    rows = [p for p in pages if p.template == "cell.html"]
    assert rows
    for page in rows:
        assert page.query_template.count("@OUTCOME_IRI@") == 1
        assert all(fill(page.query_template, c.outcome_iri, c.outcome.label) == c.query.text for c in page.cells)

