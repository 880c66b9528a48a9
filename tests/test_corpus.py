"""Invariants of the curated corpus in evidence/ (issue: the curated evidence corpus)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter

import pytest

from kb.config import load_config
from kb.load.sources import normalise_ws
from kb.pipeline import check
from tests.conftest import DATA, REAL

SHARED_WORKS = {"lloydevans2014systematic", "pitt2013consumerproviders", "mead2001peer", "repper2011review",
                "davidson2012peer", "mancini2018exploration", "vandewalle2016peer", "sunderland2013guidelines"}


@pytest.fixture(scope="module")
def real():
    return check(load_config(REAL))


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def test_real_corpus_has_no_errors(real):
    assert [p.format() for p in real.report.errors] == []


def test_reference_lists_are_complete_and_in_order(real):
    rows = list(csv.DictReader((DATA / "reference_lists.tsv").open(encoding="utf-8"), delimiter="\t"))
    lists = {c.source: c.references for c in real.evidence.citations}
    assert len(lists["shalaby2020peer"]) == 127 and len(lists["kent2018developing"]) == 31
    assert len(rows) == 158
    refs = real.evidence.references_by_key
    for row in rows:
        position = int(row["position"])
        assert lists[row["document"]][position - 1] == row["citekey"], row
        ref = refs[row["citekey"]]
        assert ref.year == row["year"], (row, ref.year)
        first = ref.authors[0].family if ref.authors else ""
        assert fold(row["first_author"]) in fold(first) or fold(first) in fold(row["first_author"]), (row, first)


def test_every_work_once_by_doi_and_by_title_year(real):
    refs = real.evidence.references
    dois = Counter(r.doi for r in refs if r.doi)
    assert [d for d, n in dois.items() if n > 1] == []
    titles = Counter((fold(r.title.strip("[]")), r.year) for r in refs)
    assert [t for t, n in titles.items() if n > 1] == []
    assert 140 <= len(refs) <= 160


def test_works_cited_by_both_documents_are_one_entry(real):
    cited_by = real.evidence.cited_by
    both = {key for key, citing in cited_by.items() if {doc for doc, _ in citing} >= {"shalaby2020peer", "kent2018developing"}}
    assert both == SHARED_WORKS


def test_the_two_documents_themselves(real):
    refs = real.evidence.references_by_key
    assert refs["shalaby2020peer"].doi == "10.2196/15572"
    assert refs["shalaby2020peer"].get("journal") == "JMIR Mental Health"
    assert "kent2018developing" in refs and not refs["kent2018developing"].doi


def test_no_web_residue_in_references():
    text = (REAL / "references.bib").read_text(encoding="utf-8")
    for residue in ("CrossRef", "Google Scholar", "[Medline]", "FREE Full text", "PubMed"):
        assert residue not in text


def test_every_quote_is_in_the_archived_review(real):
    source = real.evidence.sources["shalaby2020peer"]
    missing = [c.id for c in real.evidence.claims if normalise_ws(c.quote) not in source.text]
    assert missing == []
    assert source.licence == "CC BY 4.0" and "Shalaby" in source.attribution


def test_every_claim_cites_or_says_why(real):
    assert [c.id for c in real.evidence.claims if not c.cites and not c.notes] == []


def test_protocols_have_no_results(real):
    for claim in real.evidence.claims:
        if claim.design == "protocol":
            assert {o.direction for o in claim.outcomes} == {"not_reported"}, claim.id
            assert claim.finding_type == "no_result", claim.id


def test_reported_certainty_keeps_the_source_wording(real):
    reported = [c for c in real.evidence.claims if c.certainty.basis == "reported"]
    assert reported, "the review states 'moderate to limited' for SMI evidence"
    source = real.evidence.sources["shalaby2020peer"]
    for claim in reported:
        assert normalise_ws(claim.certainty.reported_as) in source.text, claim.id


def test_the_review_example_is_split_into_six_outcomes(real):
    claim = real.evidence.claims_by_id["smi-rct-review-hope-recovery"]
    assert sorted((o.outcome, o.direction) for o in claim.outcomes) == sorted([
        ("hope", "benefit"), ("recovery", "benefit"), ("empowerment", "benefit"),
        ("hospitalisation", "no_effect"), ("satisfaction_with_care", "no_effect"), ("symptoms", "no_effect")])
    assert claim.cites == ("lloydevans2014systematic",)


def test_reported_figures_are_verbatim(real):
    source = real.evidence.sources["shalaby2020peer"]
    for claim in real.evidence.claims:
        effects = [claim.effect] + [o.effect for o in claim.outcomes]
        for effect in filter(None, effects):
            for number in re.findall(r"\d[\d,.]*", effect.text):
                assert number.rstrip(".,") in source.text, (claim.id, effect.text)
