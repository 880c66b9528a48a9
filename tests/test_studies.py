"""Studies counted once, overlap measured: the CCA, the kinds of cited works, inclusions and their checks.

The overlap fixture (tests/data/overlap) is fictional: two reviews that share two of their trials,
an older review that could not have included the later trials, a review whose trials no source
names, and findings that conflict.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb.analyse.overlap import band, corrected_covered_area, impossible_cells, pairwise
from kb.config import load_config
from kb.pipeline import check
from tests.conftest import DATA, codes
from tests.test_validate import edit

OVERLAP = DATA / "overlap"


@pytest.fixture(scope="module")
def overlap_checked():
    return check(load_config(OVERLAP))


@pytest.fixture(scope="module")
def overlap_analysis(overlap_checked):
    from kb.analyse.analysis import analyse

    return analyse(overlap_checked.graph, overlap_checked.evidence)


@pytest.fixture
def overlap_copy(tmp_path: Path) -> Path:
    target = tmp_path / "overlap"
    shutil.copytree(OVERLAP, target)
    return target


# --- the corrected covered area: worked examples --------------------------------------------------


def test_cca_of_two_reviews_sharing_two_of_four_trials_is_50_percent() -> None:
    # N = 6 inclusions, r = 4 studies, c = 2 reviews: (6 − 4) / (4·2 − 4) = 2 / 4.
    o = corrected_covered_area({"A": ["t1", "t2", "t3"], "B": ["t2", "t3", "t4"]})
    assert (o.inclusions, len(o.studies), len(o.reviews), o.impossible) == (6, 4, 2, 0)
    assert o.cca == pytest.approx(0.5) and o.band == "very high" and o.percent_text == "50"


def test_cca_of_reviews_sharing_nothing_is_zero_and_slight() -> None:
    o = corrected_covered_area({"A": ["t1", "t2"], "B": ["t3"], "C": ["t4", "t5"]})
    assert o.cca == 0 and o.band == "slight"


def test_identical_reviews_overlap_100_percent() -> None:
    trials = ["t1", "t2", "t3", "t4"]
    o = corrected_covered_area({"A": trials, "B": trials, "C": trials})
    assert o.cca == pytest.approx(1.0) and o.percent_text == "100"


def test_cca_is_undefined_without_two_reviews() -> None:
    assert corrected_covered_area({}).cca is None
    assert corrected_covered_area({"A": ["t1", "t2"]}).cca is None  # one review: r·c − r = 0
    assert corrected_covered_area({"A": [], "B": []}).cca is None  # no study


def test_a_textbook_matrix_of_high_overlap() -> None:
    # 4 reviews, 10 studies, 15 inclusions: (15 − 10) / (40 − 10) = 16.7 % (very high);
    # with 5 inclusions fewer duplicated: 12 inclusions → 2/30 = 6.7 % (moderate).
    a = {"A": ["s1", "s2", "s3", "s4"], "B": ["s1", "s5", "s6", "s7"], "C": ["s2", "s8", "s9"],
         "D": ["s3", "s4", "s10", "s1"]}
    o = corrected_covered_area(a)
    assert (o.inclusions, len(o.studies)) == (15, 10)
    assert o.percent == pytest.approx(100 * 5 / 30) and o.band == "very high"
    b = {"A": ["s1", "s2", "s3"], "B": ["s1", "s4", "s5"], "C": ["s6", "s7", "s8"], "D": ["s2", "s9", "s10"]}
    assert corrected_covered_area(b).percent == pytest.approx(100 * 2 / 30)
    assert corrected_covered_area(b).band == "moderate"


def test_cells_a_review_could_not_have_included_leave_the_denominator() -> None:
    # C (2015) could not include t4 (2018): (7 − 4) / (4·3 − 4 − 1) = 3/7, not 3/8.
    includes = {"A": ["t1", "t2", "t3"], "B": ["t2", "t3", "t4"], "C": ["t1"]}
    years = {"A": 2020, "B": 2021, "C": 2015, "t1": 2010, "t2": 2012, "t3": 2014, "t4": 2018}
    cells = impossible_cells(includes, years)
    assert cells == {("C", "t4")}
    assert corrected_covered_area(includes).cca == pytest.approx(3 / 8)
    corrected = corrected_covered_area(includes, cells)
    assert corrected.impossible == 1 and corrected.cca == pytest.approx(3 / 7)


def test_an_included_cell_is_never_counted_as_impossible() -> None:
    o = corrected_covered_area({"A": ["t1"], "B": ["t1", "t2"]}, {("A", "t1"), ("A", "t2")})
    assert o.impossible == 1 and o.cca == pytest.approx(1 / 1)


def test_a_year_missing_means_the_cell_was_possible() -> None:
    assert impossible_cells({"A": ["t1"], "B": ["t2"]}, {"A": 2000, "t2": 2010}) == {("A", "t2")}
    assert impossible_cells({"A": ["t1"], "B": ["t2"]}, {"t2": 2010}) == set()


@pytest.mark.parametrize(("percent", "expected"), [(0, "slight"), (4.99, "slight"), (5, "moderate"),
                                                   (9.9, "moderate"), (10, "high"), (14.9, "high"), (15, "very high"),
                                                   (100, "very high")])
def test_pieper_bands(percent: float, expected: str) -> None:
    assert band(percent) == expected


def test_pairwise_table_has_one_cca_per_pair() -> None:
    pairs = pairwise({"A": ["t1", "t2"], "B": ["t2", "t3"], "C": ["t4"]})
    assert sorted(pairs) == [("A", "B"), ("A", "C"), ("B", "C")]
    assert pairs[("A", "B")].cca == pytest.approx(1 / 3)  # Jaccard for two reviews
    assert pairs[("A", "C")].cca == 0


# --- kinds of cited works ----------------------------------------------------------------------


def test_kinds_of_the_fixture_works(fixture_checked) -> None:
    from kb.load.kinds import work_kinds

    kinds = {k: (v.kind, v.rule) for k, v in work_kinds(fixture_checked.evidence).items()}
    assert kinds["lloydevans2014systematic"] == ("review", "alone")
    assert kinds["chien2019peer"] == ("review", "alone")
    assert kinds["litt2007changing"] == ("study", "alone")
    assert kinds["urichuk2018enhancing"] == ("other", "alone")


def test_a_work_cited_only_with_others_under_a_review_design_stays_unclassified(overlap_copy: Path) -> None:
    from kb.load.kinds import work_kinds

    edit(overlap_copy, "claims/fixture2024overview.yaml", "    cites: [delta2019peer, alpha2020systematic]",
         "    cites: [delta2019peer, trial2010one]")
    (overlap_copy / "inclusions" / "fixture2024overview.yaml").write_text(
        "source: fixture2024overview\nreviews: []\n", encoding="utf-8")
    kinds = work_kinds(check(load_config(overlap_copy)).evidence)
    assert kinds["delta2019peer"].kind == "unclassified"  # a review design names some cited work, not this one
    assert (kinds["alpha2020systematic"].kind, kinds["alpha2020systematic"].rule) == ("review", "alone")
    assert kinds["trial2010one"].kind == "unclassified"


def test_a_title_says_review_but_a_journal_does_not() -> None:
    from kb.load.kinds import entry_says_review
    from kb.model import Reference

    assert entry_says_review(Reference("k", "article", {"title": "The role of communities: a meta-review"}))
    assert entry_says_review(Reference("k", "article", {"title": "Peer-based interventions: a systematic literature "
                                                                 "review"}))
    assert not entry_says_review(Reference("k", "article", {"title": "A systematic review protocol"}))
    # Cochrane publishes protocols under the reviews' titles: the journal decides nothing.
    assert not entry_says_review(Reference("k", "article", {"title": "Consumer-providers of care",
                                                            "journal": "Cochrane Database Syst Rev"}))


# --- counting studies once ----------------------------------------------------------------------


def test_two_reviews_sharing_trials_count_their_trials_once(overlap_analysis) -> None:
    rows = [r for r in overlap_analysis.rows if r.claim_id in ("alpha-hospital-no-difference",
                                                                 "beta-hospital-no-difference")]
    count = overlap_analysis.studies.count(rows)
    assert count.reviews == ("alpha2020systematic", "beta2021systematic")
    assert count.studies == ("trial2010one", "trial2012two", "trial2014three", "trial2018four")
    assert count.phrase() == "2 reviews (overlap very high, CCA 50 %), 4 unique studies"


def test_two_claims_on_one_review_are_one_review(fixture_analysis) -> None:
    from kb.analyse.analysis import Row

    row = next(r for r in fixture_analysis.rows if r.claim_id == "smi-rct-review-hope-recovery")
    twin = Row(**{**row.__dict__, "claim_id": "another-claim-same-review"})
    count = fixture_analysis.studies.count([row, twin])
    assert count.phrase() == "1 review"


def test_reviews_with_unrecorded_studies_say_overlap_unknown(overlap_analysis) -> None:
    rows = [r for r in overlap_analysis.rows if r.claim_id == "schizophrenia-no-difference"]
    count = overlap_analysis.studies.count(rows)
    assert count.unrecorded == ("delta2019peer",)
    assert count.phrase() == "2 reviews (overlap unknown), 3 unique studies"


def test_claims_citing_nothing_rest_on_the_source(fixture_analysis) -> None:
    count = fixture_analysis.studies.count_works((), ("shalaby2020peer",))
    assert count.phrase() == "no cited work (the source's own summary)"


# --- inclusions: loading, graph, checks ----------------------------------------------------------


def test_the_overlap_fixture_is_clean(overlap_checked) -> None:
    assert not overlap_checked.report.problems, [p.format() for p in overlap_checked.report.problems]


def test_inclusions_are_in_the_graph(overlap_checked) -> None:
    from kb.graph.select import select
    from kb.namespaces import sparql_prologue

    rows = select(overlap_checked.graph.store, sparql_prologue() + """
      SELECT ?review ?study WHERE { ?r psk:includesStudy ?s . ?r psk:citekey ?review . ?s psk:citekey ?study }""")
    pairs = sorted((r["review"].value, r["study"].value) for r in rows)
    assert ("alpha2020systematic", "trial2010one") in pairs and ("beta2021systematic", "trial2018four") in pairs
    assert len(pairs) == 7
    quotes = select(overlap_checked.graph.store, sparql_prologue() + """
      SELECT ?q WHERE { ?i a psk:Inclusion ; psk:review/psk:citekey "gamma2015systematic" ; psk:quote ?q ;
                           prov:wasQuotedFrom/psk:citekey "fixture2024overview" }""")
    assert [q["q"].value for q in quotes] == ["An older review of one trial [5]"]


def test_inclusion_problems_are_reported_with_file_and_line(overlap_copy: Path) -> None:
    path = overlap_copy / "inclusions" / "fixture2024overview.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("includes: [trial2010one]", "includes: [trial2010one, gamma2015systematic, trial2010one, "
                                                    "nosuchtrial, trial2018four]")
    text = text.replace("quote: A second systematic review included three trials [6-8]",
                        "quote: A second review included many trials")
    text = text.replace("  - review: delta2019peer\n    section: Hospital use",
                        "  - review: delta2019peer\n    section: Nowhere")
    path.write_text(text + "  - review: alpha2020systematic\n    section: Hospital use\n"
                           "    quote: A first systematic review included three trials [5-7]\n", encoding="utf-8")
    report = check(load_config(overlap_copy)).report
    found = codes(report.problems)
    for code in ("inclusion-self", "inclusion-duplicate", "inclusion-unknown-reference", "inclusion-later-study",
                 "inclusion-quote-not-found", "inclusion-unknown-section"):
        assert code in found, (code, found)
    self_problem = next(p for p in report.problems if p.code == "inclusion-self")
    assert self_problem.path.endswith("fixture2024overview.yaml") and self_problem.line == 15
    assert "did you mean" not in (self_problem.hint or "")
    unknown = next(p for p in report.problems if p.code == "inclusion-unknown-reference")
    assert "nosuchtrial" in unknown.message and unknown.line == 15
    assert sum(p.code == "inclusion-duplicate" for p in report.problems) == 2  # the study twice; alpha twice


def test_reviews_that_include_each_other_are_a_cycle(overlap_copy: Path) -> None:
    path = overlap_copy / "inclusions" / "fixture2024overview.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "includes: [trial2010one]", "includes: [trial2010one, beta2021systematic]").replace(
        "includes: [trial2012two, trial2014three, trial2018four]",
        "includes: [trial2012two, trial2014three, trial2018four, gamma2015systematic]")
    path.write_text(text, encoding="utf-8")
    report = check(load_config(overlap_copy)).report
    cycles = [p for p in report.errors if p.code == "inclusion-cycle"]
    assert len(cycles) == 1 and "beta2021systematic → gamma2015systematic → beta2021systematic" in cycles[0].message


def test_a_review_entry_contradicted_by_a_claim_design(overlap_copy: Path) -> None:
    edit(overlap_copy, "inclusions/fixture2024overview.yaml", "  - review: delta2019peer",
         "  - review: trial2022five\n    section: Hospital use\n    quote: A later single trial\n"
         "  - review: delta2019peer")
    report = check(load_config(overlap_copy)).report
    wrong = [p for p in report.errors if p.code == "inclusion-not-a-review"]
    assert len(wrong) == 1 and "trial-fewer-admissions" in wrong[0].message and "'rct'" in wrong[0].message


def test_inclusion_outside_the_reference_list_is_a_warning(overlap_copy: Path) -> None:
    edit(overlap_copy, "citations/fixture2024overview.yaml", "  - trial2018four\n", "")
    report = check(load_config(overlap_copy)).report
    assert "inclusion-not-listed" in codes(report.warnings)


def test_an_inclusion_file_of_the_wrong_shape_fails_cleanly(overlap_copy: Path) -> None:
    (overlap_copy / "inclusions" / "fixture2024overview.yaml").write_text(
        "source: fixture2024overview\nreviews:\n  - review: alpha2020systematic\n    includes: trial2010one\n",
        encoding="utf-8")
    report = check(load_config(overlap_copy)).report
    assert {"claim-missing-field", "claim-type"} <= set(codes(report.errors))
    assert all(p.path.endswith("fixture2024overview.yaml") for p in report.errors)


def test_a_source_without_archived_text_leaves_inclusion_quotes_unchecked(overlap_copy: Path) -> None:
    (overlap_copy / "sources" / "fixture2024overview.txt").unlink()
    (overlap_copy / "sources" / "fixture2024overview.yaml").unlink()
    edit(overlap_copy, "inclusions/fixture2024overview.yaml", "quote: An older review of one trial [5]",
         "quote: words that are nowhere")
    report = check(load_config(overlap_copy)).report
    assert "inclusion-quote-not-found" not in codes(report.problems)
    assert "claim-quote-unchecked" in codes(report.warnings)
