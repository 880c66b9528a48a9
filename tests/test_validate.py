"""Cross-file checks and SHACL: each failure code has a fixture, and points at file:line:field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.config import load_config
from kb.pipeline import check
from tests.conftest import FIXTURE, codes

CLAIMS = "claims/shalaby2020peer.yaml"


def edit(folder: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = folder / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture changed: {old!r} not in {rel}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def run(folder: Path):
    return check(load_config(folder))


def test_fixture_is_clean(fixture_checked):
    assert fixture_checked.report.errors == []
    assert fixture_checked.report.warnings == []


def test_unknown_vocabulary_term_with_suggestion(evidence_copy):
    edit(evidence_copy, CLAIMS, "population: smi", "population: smii")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-unknown-term"]
    problem = errors[0]
    assert problem.path.endswith(CLAIMS) and problem.line == 17 and problem.field == "population"
    assert "did you mean 'smi'" in problem.message


def test_outcome_domain_is_not_an_outcome(evidence_copy):
    edit(evidence_copy, CLAIMS, "{outcome: hope, direction: benefit}", "{outcome: personal_recovery, direction: benefit}")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-unknown-term"] and "outcome domain" in errors[0].message


def test_unknown_citekey_case_typo(evidence_copy):
    edit(evidence_copy, CLAIMS, "cites: [lloydevans2014systematic]", "cites: [LloydEvans2014systematic]")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-unknown-reference"]
    assert errors[0].field == "cites" and "did you mean 'lloydevans2014systematic'" in errors[0].hint


def test_unknown_source_and_citation_list_entries(evidence_copy):
    edit(evidence_copy, "citations/shalaby2020peer.yaml", "  - chien2019peer", "  - chien2019per")
    errors = run(evidence_copy).report.errors
    assert "citation-unknown-reference" in codes(errors)
    problem = next(p for p in errors if p.code == "citation-unknown-reference")
    assert problem.line == 4 and "chien2019peer" in problem.hint


def test_quote_must_be_verbatim(evidence_copy):
    edit(evidence_copy, CLAIMS, "insufficient data to support or refute the", "insufficient evidence to support or refute the")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-quote-not-found"]
    assert errors[0].field == "quote" and "the first" in errors[0].hint


def test_quote_whitespace_is_normalised(evidence_copy):
    edit(evidence_copy, CLAIMS, "a Cochrane systematic review of PSSs", "a   Cochrane\n      systematic review of PSSs")
    assert run(evidence_copy).report.errors == []


def test_section_must_be_a_heading(evidence_copy):
    edit(evidence_copy, CLAIMS, "section: Addiction and Drug Users", "section: Addiction and Drugs")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-unknown-section"] and "Addiction and Drug Users" in errors[0].hint


def test_certainty_arithmetic(evidence_copy):
    edit(evidence_copy, CLAIMS, "downgrades: [risk_of_bias, imprecision]", "downgrades: [risk_of_bias]")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-certainty-level"] and errors[0].expected == "moderate"


def test_certainty_start_follows_design(evidence_copy):
    edit(evidence_copy, CLAIMS, "      start: very_low", "      start: low")
    errors = run(evidence_copy).report.errors
    assert "claim-certainty-start" in codes(errors)


def test_duplicate_claim_ids_across_files(evidence_copy):
    text = (evidence_copy / CLAIMS).read_text()
    (evidence_copy / "claims" / "other.yaml").write_text(text.replace("source: shalaby2020peer", "source: shalaby2020peer"))
    report = run(evidence_copy).report
    assert codes(report.errors).count("claim-duplicate-id") == 4
    assert "claim-file-name" in codes(report.warnings)


def test_claim_without_cites_needs_a_reason(evidence_copy):
    edit(evidence_copy, CLAIMS, "cites: [litt2007changing]", "cites: []")
    # An uncited trial is also a design the rule forbids: uncited summaries take the source's design.
    assert codes(run(evidence_copy).report.errors) == ["claim-no-cites", "claim-uncited-design"]


def test_duplicate_outcome_in_a_claim(evidence_copy):
    edit(evidence_copy, CLAIMS, "{outcome: recovery, direction: benefit}", "{outcome: hope, direction: mixed}")
    assert codes(run(evidence_copy).report.errors) == ["claim-duplicate-outcome"]


def test_all_problems_in_one_run(evidence_copy):
    edit(evidence_copy, CLAIMS, "population: smi", "population: smii")
    edit(evidence_copy, CLAIMS, "insufficient data to support or refute the", "no data to support or refute the")
    edit(evidence_copy, "vocab/schemes.ttl", 'skos:prefLabel "Hope"@en ;', "")
    report = run(evidence_copy).report
    assert {"claim-unknown-term", "claim-quote-not-found", "vocab-label"} <= set(codes(report.errors))


def test_vocab_problems(evidence_copy):
    edit(evidence_copy, "vocab/schemes.ttl", 'skos:notation "hope"', 'skos:notation "Hope"')
    edit(evidence_copy, "vocab/schemes.ttl", "skos:broader domain:clinical ;\n    skos:notation \"abstinence\"",
         'skos:notation "abstinence"')
    report = run(evidence_copy).report
    assert {"vocab-notation", "vocab-domain"} <= set(codes(report.errors))
    notation = next(p for p in report.errors if p.code == "vocab-notation")
    assert notation.path.endswith("schemes.ttl") and notation.line > 1


def test_vocab_syntax_error_has_position(evidence_copy):
    edit(evidence_copy, "vocab/schemes.ttl", "skos:prefLabel \"Hope\"@en ;", "skos:prefLabel \"Hope\"@en ; nope:x 1 ;")
    errors = run(evidence_copy).report.errors
    syntax = next(p for p in errors if p.code == "vocab-syntax")
    assert syntax.line is not None and syntax.col is not None and "nope" in syntax.message


def test_an_unreadable_vocabulary_file_is_the_one_error_not_every_claim_using_its_terms(evidence_copy):
    """Found by fuzzing: one broken line in a vocabulary file gave ~100 errors, one per claim term it held (and, once
    those went, one SHACL violation per claim), listed before the one that said why. Now that error is the report,
    with one warning that the claims' terms and shapes wait for it."""
    edit(evidence_copy, "vocab/schemes.ttl", "skos:prefLabel \"Hope\"@en ;", "skos:prefLabel \"Hope\"@en ; {")
    report = run(evidence_copy).report
    assert set(codes(report.errors)) <= {"vocab-syntax", "vocab-missing-scheme"} and "vocab-syntax" in codes(report.errors)
    [unchecked] = report.warnings
    assert unchecked.code == "vocab-terms-unchecked" and "schemes.ttl cannot be read" in unchecked.message
    edit(evidence_copy, "vocab/schemes.ttl", "skos:prefLabel \"Hope\"@en ; {", "skos:prefLabel \"Hope\"@en ;")
    edit(evidence_copy, "vocab/schemes.ttl", "@prefix scheme: <scheme/>", "@prefix scheme: <sc-heme/>")
    report = run(evidence_copy).report  # read, but no concept is in a known scheme: the same
    assert "vocab-missing-scheme" in codes(report.errors)
    assert not {"claim-unknown-term", "shacl-violation"} & set(codes(report.errors))
    assert "scheme 'population' has no concepts" in report.warnings[0].message
    edit(evidence_copy, "vocab/schemes.ttl", "@prefix scheme: <sc-heme/>", "@prefix scheme: <scheme/>")
    edit(evidence_copy, "claims/shalaby2020peer.yaml", "population: smi", "population: no_such_population")
    report = run(evidence_copy).report  # read again: the claims' terms are checked
    assert "claim-unknown-term" in codes(report.errors) and "vocab-terms-unchecked" not in codes(report.warnings)


def test_shacl_violation_is_mapped_to_the_claim_file(evidence_copy):
    """A graph-level violation (here injected) points at the claim's file, line and field."""
    import pyoxigraph as ox

    from kb.checks.shacl import shacl_problems
    from kb.namespaces import PSK

    checked = run(evidence_copy)
    claim_iri = checked.evidence.config.base_iri + "claim/epss-protocol-under-test"
    checked.graph.store.add(ox.Quad(ox.NamedNode(claim_iri), ox.NamedNode(PSK + "certaintyBasis"), ox.Literal("vibes")))
    problems = shacl_problems(checked.evidence, checked.graph, [])
    assert set(codes(problems)) == {"shacl-violation"}  # sh:in and sh:maxCount both fail
    claim = checked.evidence.claims_by_id["epss-protocol-under-test"]
    for problem in problems:
        assert problem.path.endswith(CLAIMS) and problem.field == "certainty"
        assert problem.line == claim.line_of("certainty")


def test_shacl_closed_shape_catches_unknown_property(evidence_copy):
    import pyoxigraph as ox

    from kb.checks.shacl import shacl_problems

    checked = run(evidence_copy)
    claim_iri = checked.evidence.config.base_iri + "claim/smi-rct-review-hope-recovery"
    checked.graph.store.add(ox.Quad(ox.NamedNode(claim_iri), ox.NamedNode("http://example.org/sumary"), ox.Literal("x")))
    problems = shacl_problems(checked.evidence, checked.graph, [])
    assert codes(problems) == ["shacl-violation"] and "sumary" in problems[0].format()


def test_problem_format_is_grep_friendly(evidence_copy):
    edit(evidence_copy, CLAIMS, "population: smi", "population: smii")
    line = run(evidence_copy).report.errors[0].format()
    assert re.match(r"^.+/claims/shalaby2020peer\.yaml:17: claim-unknown-term \[population\] ", line)


@pytest.mark.parametrize("folder", [FIXTURE])
def test_check_is_deterministic(folder):
    first = [p.format() for p in check(load_config(folder)).report.sorted()]
    second = [p.format() for p in check(load_config(folder)).report.sorted()]
    assert first == second


# --- the evidence model (issue 13): facets, kinds, the certainty rule ------------------------------


def test_not_stated_cannot_stand_beside_other_ids(evidence_copy):
    edit(evidence_copy, CLAIMS, "    population: smi\n", "    population: [smi, not_stated]\n")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-facet-contradiction"] and errors[0].field == "population"


def test_a_comparator_is_not_the_intervention(evidence_copy):
    edit(evidence_copy, CLAIMS, "    intervention: network_support\n", "    intervention: usual_care\n")
    assert codes(run(evidence_copy).report.errors) == ["claim-comparator-as-intervention"]


def test_comparator_must_be_marked_as_one(evidence_copy):
    edit(evidence_copy, CLAIMS, "    intervention: network_support\n",
         "    intervention: network_support\n    comparator: peer_support_services\n")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-not-a-comparator"] and errors[0].field == "comparator"
    edit(evidence_copy, CLAIMS, "    comparator: peer_support_services\n", "    comparator: usual_care\n")
    assert run(evidence_copy).report.errors == []


def test_directions_fit_the_kind_of_finding(evidence_copy):
    edit(evidence_copy, CLAIMS, "{outcome: readmission, direction: not_reported}",
         "{outcome: readmission, direction: benefit}")
    assert codes(run(evidence_copy).report.errors) == ["claim-direction-kind"]


def test_not_applicable_is_only_for_prevalence(evidence_copy):
    edit(evidence_copy, CLAIMS, "{outcome: hope, direction: benefit}", "{outcome: hope, direction: not_applicable}")
    errors = run(evidence_copy).report.errors
    assert codes(errors) == ["claim-direction-kind"] and "prevalence" in errors[0].expected


def test_one_trial_known_from_one_sentence_cannot_stay_high(evidence_copy):
    """Rule 3: a single primary study without an effect estimate is imprecise and indirect."""
    edit(evidence_copy, CLAIMS, "        effect: {text: 27% increase in the probability of reporting abstinence, "
         "value: 27, unit: percent}\n", "")
    edit(evidence_copy, CLAIMS, "      level: low\n      basis: assigned\n      start: high\n"
         "      downgrades: [imprecision, indirectness]", "      level: high\n      basis: assigned\n"
         "      start: high\n      downgrades: []")
    errors = run(evidence_copy).report.errors
    missing = [p for p in errors if p.code == "claim-certainty-missing-downgrade"]
    assert sorted(p.expected for p in missing) == ["downgrades listing imprecision", "downgrades listing indirectness"]
    assert all("one primary study" in p.message and p.field == "certainty" for p in missing)


def test_vocabulary_marks_kinds_and_design_groups(evidence_copy):
    edit(evidence_copy, "vocab/schemes.ttl", '    psk:interventionKind kind:peer_adjacent .', " .")
    edit(evidence_copy, "vocab/schemes.ttl", '; psk:designGroup "other" .', " .")
    assert {"vocab-intervention-kind", "vocab-design-group"} <= set(codes(run(evidence_copy).report.errors))


def test_a_mistyped_prefix_is_one_error_at_its_line_not_one_per_claim(evidence_copy):
    """Found by fuzzing the shipped vocabulary: a typo in certainty.ttl's @prefix moved every level under another IRI,
    and the check gave 135 SHACL violations, one per claim and level, none naming the file. Now the @prefix line is
    the error; its concepts are left out, so the scheme is told empty once and the claims' terms wait for it (no
    design's starting certainty, no claim, is reported for it). Outcome domains moved likewise are two errors: the
    line, and that the outcomes have no domain at all (not one per outcome)."""
    edit(evidence_copy, "vocab/schemes.ttl", "@prefix certainty: <concept/certainty/>",
         "@prefix certainty: <concept/certanty/>")
    report = run(evidence_copy).report
    assert set(codes(report.errors)) == {"vocab-iri", "vocab-missing-scheme"}, codes(report.errors)
    [moved] = [p for p in report.errors if p.code == "vocab-iri"]
    assert moved.path.endswith("schemes.ttl") and moved.line == 10 and moved.col == 1
    assert "4 concept(s) are under <https://w3id.org/peer-support-kb/concept/certanty/>" in moved.message
    assert "concept/certainty/>" in moved.message and "'high' (line" in moved.message
    assert [w.code for w in report.warnings] == ["vocab-terms-unchecked"]
    edit(evidence_copy, "vocab/schemes.ttl", "@prefix certainty: <concept/certanty/>",
         "@prefix certainty: <concept/certainty/>")
    edit(evidence_copy, "vocab/schemes.ttl", "@prefix domain: <concept/outcome-domain/>",
         "@prefix domain: <concept/outcome-domian/>")
    report = run(evidence_copy).report
    [moved] = [p for p in report.errors if p.code == "vocab-iri"]
    assert moved.line == 7 and "outcome-domian" in moved.message
    [none] = [p for p in report.errors if p.code == "vocab-domain"]
    assert "outcome domain: the scheme has no top concepts" in none.message and len(report.errors) == 2
