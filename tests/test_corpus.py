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


# --- the audit's error classes, pinned on the curated corpus (issue 13: a second, independent extraction) ---

CLAIMS_FILE = REAL / "claims" / "shalaby2020peer.yaml"
CURATION_LOG = REAL / "curation" / "log.md"
EXTRACTION_B = REAL / "curation" / "extraction-b.yaml"


def _bracket_numbers(quote: str) -> set[int]:
    """The reference numbers of every bracket in a quote: [84], [48,49], [81-83]."""
    numbers: set[int] = set()
    for bracket in re.findall(r"\[([\d,\s\-–]+)\]", quote):
        for part in re.split(r"\s*,\s*", bracket.strip()):
            low, _, high = part.replace("–", "-").partition("-")
            numbers.update(range(int(low), int(high or low) + 1))
    return numbers


def test_every_quote_is_in_the_archived_text_read_directly():
    """Independent of the loader and the fixture: the YAML and the archived text, read as plain files."""
    import yaml

    text = " ".join((REAL / "sources" / "shalaby2020peer.txt").read_text(encoding="utf-8").split())
    claims = yaml.safe_load(CLAIMS_FILE.read_text(encoding="utf-8"))["claims"]
    assert len(claims) > 60
    assert [c["id"] for c in claims if " ".join(c["quote"].split()) not in text] == []


def test_no_quote_carries_a_neighbouring_findings_citation(real):
    """A bracket inside a quote belongs to the claim: its works are among the claim's cites."""
    positions = {c.source: c.references for c in real.evidence.citations}
    wrong = []
    for claim in real.evidence.claims:
        references = positions[claim.source]
        cited = {references.index(key) + 1 for key in claim.cites}
        if _bracket_numbers(claim.quote) - cited:
            wrong.append((claim.id, sorted(_bracket_numbers(claim.quote) - cited)))
    assert wrong == []


def test_no_uncited_claim_has_a_primary_study_design(real):
    vocab = real.evidence.vocabulary
    assert [c.id for c in real.evidence.claims
            if not c.cites and vocab.get("design", c.design).group == "primary_study"] == []


def test_the_same_study_and_outcomes_are_recorded_once(real):
    """No two cited claims share cites, outcomes, population and intervention (one pilot, one finding).

    Uncited claims rest on the review's own judgement; two different passages of it are two
    statements of the review, not one study counted twice. Two claims from one sentence that name
    different interventions (peer navigators, self-management) are two findings.
    """
    keys = Counter((tuple(sorted(c.cites)), tuple(sorted(o.outcome for o in c.outcomes)),
                    tuple(sorted(c.population)), c.intervention) for c in real.evidence.claims if c.cites)
    assert [key for key, n in keys.items() if n > 1] == []


def test_reclaiming_joy_is_one_finding(real):
    """Regression: the same pilot [60] and outcomes were two claims, so the map counted it twice."""
    joy = [c for c in real.evidence.claims if c.cites == ("chapin2013reclaiming",)
           and {o.outcome for o in c.outcomes} & {"depression", "quality_of_life"}]
    assert [c.id for c in joy] == ["older-reclaiming-joy-depression-qol"]
    assert set(joy[0].population) == {"older_adults", "disadvantaged_groups"}


def test_every_peer_worker_harm_is_an_implementation_finding(real):
    """A problem peer workers face is not an effect of peer support (the direction is read from their side)."""
    assert [c.id for c in real.evidence.claims if c.perspective == "peer_worker"
            and any(o.direction == "harm" for o in c.outcomes) and c.finding_type != "implementation"] == []


def test_no_result_and_not_reported_go_together(real):
    for claim in real.evidence.claims:
        directions = {o.direction for o in claim.outcomes}
        assert (claim.finding_type == "no_result") == (directions == {"not_reported"}), claim.id
        assert "not_reported" not in directions or directions == {"not_reported"}, claim.id


def test_prevalence_findings_have_no_direction(real):
    for claim in real.evidence.claims:
        directions = {o.direction for o in claim.outcomes}
        assert (claim.finding_type == "prevalence") == (directions == {"not_applicable"}), claim.id


def test_feasibility_and_acceptability_are_never_shown_as_effects(real):
    """Implementation outcomes (feasibility, acceptability, access, role integration) only in implementation findings."""
    vocab = real.evidence.vocabulary
    assert [c.id for c in real.evidence.claims if c.finding_type in ("effect", "association")
            and any(vocab.get("outcome", o.outcome).broader == "implementation" for o in c.outcomes)] == []


def test_predictors_and_associations_are_not_coded_as_effects(real):
    """Regression: 'predictors of recovery', 'associated with improvements' were effects of peer support."""
    said = [c for c in real.evidence.claims if re.search(r"predictor|are associated with", c.quote, re.I)]
    assert said and [c.id for c in said if c.finding_type != "association"] == []
    friend = real.evidence.claims_by_id["sud-network-nondrinking-friend-abstinence"]
    assert friend.finding_type == "association" and "27%" in friend.outcomes[0].effect.text


def test_greater_satisfaction_is_coded_one_way(real):
    """Regression: 'greater satisfaction' was life satisfaction in one claim and satisfaction with care in another."""
    claims = [c for c in real.evidence.claims if "greater satisfaction" in c.quote]
    assert len(claims) == 2
    assert all("satisfaction_with_care" in {o.outcome for o in c.outcomes} for c in claims)


def test_workers_stigma_is_not_recipients_stigma(real):
    assert [c.id for c in real.evidence.claims if c.perspective == "peer_worker"
            and "stigma" in {o.outcome for o in c.outcomes}] == []


def test_no_design_is_a_closest_reading(real):
    """Regression: designs named by neither the review nor the cited title ('the closest reading')."""
    said = [c.id for c in real.evidence.claims if re.search(r"is the closest", f"{c.notes} {c.certainty.reason}")]
    assert said == []


def test_facets_from_the_review_words(real):
    """Regression: older adults with SMI were 'disadvantaged'; Ugandan mothers were only 'LMIC'."""
    claims = real.evidence.claims_by_id
    assert set(claims["disadvantaged-peer-tech-older-smi"].population) == {"older_adults", "smi"}
    uganda = claims["lmic-uganda-peer-led-parenting"]
    assert uganda.population == ("parents_perinatal",) and "lmic" in uganda.setting


def test_no_direction_from_a_cited_title(real):
    """Regression: a benefit read from the title of [4] where the review reports no result."""
    claim = real.evidence.claims_by_id["framework-31-peer-providers-wellness"]
    assert claim.finding_type == "no_result" and {o.direction for o in claim.outcomes} == {"not_reported"}


def test_abstract_statements_are_covered(real):
    """Every finding-bearing sentence of the abstract's Background, Results and Conclusions is a claim or is named in one."""
    notes = " ".join(normalise_ws(f"{c.quote} {c.notes or ''}") for c in real.evidence.claims)
    for sentence in ("has been successfully closed through the adoption of peer support services",
                     "many authors have emphasized the utmost importance",
                     "neutral effects from integrating PSSs into health care systems",
                     "The effects of PSSs are extensive",
                     "Satisfaction of and challenges to PSS integration",
                     "large sections of the current literature support the inclusion"):
        assert sentence in notes, sentence


def test_every_claim_says_how_the_second_extraction_was_resolved(real):
    assert [c.id for c in real.evidence.claims if "Curation:" not in (c.notes or "")] == []


def test_the_curation_log_accounts_for_both_extractions(real):
    """Every finding of extraction B and every claim of extraction A has a row in the log."""
    import yaml

    log = CURATION_LOG.read_text(encoding="utf-8")
    b_numbers = {f["n"] for f in yaml.safe_load(EXTRACTION_B.read_text(encoding="utf-8")) if isinstance(f["n"], int)}
    assert len(b_numbers) == 159
    rows = set(int(n) for n in re.findall(r"^\| B(\d+) \|", log, re.M))
    assert rows == b_numbers
    a_rows = re.findall(r"^\| A\d+ \| `([a-z0-9-]+)` \|", log, re.M)
    assert len(a_rows) == len(set(a_rows)) == 69
    current = set(real.evidence.claims_by_id)
    retired = set(a_rows) - current
    for claim_id in retired:
        assert re.search(rf"`{claim_id}` \|[^\n]*merged into `[a-z0-9-]+`", log), claim_id
    assert current <= set(re.findall(r"`([a-z0-9-]+)`", log)), sorted(current - set(re.findall(r"`([a-z0-9-]+)`", log)))
