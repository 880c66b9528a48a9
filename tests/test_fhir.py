"""The FHIR R5 export: read back with fhir.resources, counts and values round-trip, references
resolve, and every code is in its value set (which fhir.resources does not check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_config
from kb.export.fhir import DESIGN_SEVCO, fhir_bundle_bytes
from kb.export.fhir_citation import fhir_id
from kb.export.fhir_terms import CODE_SYSTEMS, STUDY_DESIGN, STUDY_DESIGN_CODES, check_codes
from kb.pipeline import check
from tests.conftest import FIXTURE, REAL

ROLE = "http://terminology.hl7.org/CodeSystem/variable-role"


def _checked(evidence: Path):
    checked = check(load_config(evidence), shacl=False)
    assert not checked.report.errors, [p.format() for p in checked.report.errors]
    return checked


@pytest.fixture(scope="module", params=["fixture", "real"])
def exported(request):
    checked = _checked(FIXTURE if request.param == "fixture" else REAL)
    return checked, fhir_bundle_bytes(checked.evidence)


def _resources(data: bytes, kind: str) -> dict[str, dict]:
    return {e["resource"]["id"]: e["resource"] for e in json.loads(data)["entry"]
            if e["resource"]["resourceType"] == kind}


def test_the_bundle_reads_back_with_fhir_resources_and_counts_round_trip(exported) -> None:
    from fhir.resources.bundle import Bundle

    checked, data = exported
    bundle = Bundle.model_validate_json(data)  # R5 models: structure, cardinality, datatypes
    ev = checked.evidence
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert bundle.type == "collection" and kinds.count("Citation") == len(ev.references)
    assert kinds.count("Evidence") == sum(len(c.outcomes) for c in ev.claims)
    used = ({("population", p) for c in ev.claims for p in c.population if p != "not_stated"}
            | {("intervention", c.intervention) for c in ev.claims}
            | {("intervention", c.comparator) for c in ev.claims if c.comparator}
            | {("outcome", f.outcome) for c in ev.claims for f in c.outcomes})
    assert kinds.count("EvidenceVariable") == len(used)
    assert str(bundle.timestamp).startswith("2026-11-22")  # the data's date, not the clock
    assert len({e.fullUrl for e in bundle.entry}) == len(bundle.entry)
    for entry in bundle.entry:
        assert entry.fullUrl.endswith(f"/{entry.resource.get_resource_type()}/{entry.resource.id}")


def test_each_entry_line_is_the_standard_librarys_compact_json(exported) -> None:
    """The entries are written by orjson for speed: each line is what ``json.dumps`` (compact, not ASCII-escaped)
    writes, because a resource holds only strings, integers and booleans (where a float would differ in form)."""
    _, data = exported
    lines = data.split(b"\n")[1:-2]  # the head's line and the closing "]}" apart
    assert lines
    for line in lines:
        line = line.removesuffix(b",")
        item = json.loads(line)
        assert json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() == line

        def kinds(value: object) -> set[type]:
            if isinstance(value, dict):
                return set().union(*map(kinds, value.values())) if value else set()
            if isinstance(value, list):
                return set().union(*map(kinds, value)) if value else set()
            return {type(value)}

        assert kinds(item) <= {str, int, bool}, item["fullUrl"]


def test_every_reference_resolves_to_an_entry(exported) -> None:
    data = exported[1]
    bundle = json.loads(data)
    targets = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}

    def refs(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node["reference"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(bundle))
    assert found and set(found) <= targets


def test_every_code_is_in_its_value_set(exported) -> None:
    checked, data = exported
    systems = {f"{checked.evidence.config.base_iri}scheme/{s}": set(ids)
               for s, ids in checked.evidence.vocabulary.concepts.items()}
    assert check_codes(json.loads(data), systems) == []


def test_fhir_resources_accepts_a_made_up_role_code_and_our_check_does_not() -> None:
    """Regression for the gap the issue names: structure validation accepts any code."""
    from fhir.resources.bundle import Bundle

    checked = _checked(FIXTURE)
    bundle = json.loads(fhir_bundle_bytes(checked.evidence))
    evidence = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Evidence")
    evidence["variableDefinition"][0]["variableRole"]["coding"][0]["code"] = "population-ish"
    evidence["certainty"][0]["rating"]["coding"][0]["code"] = "excellent"
    evidence["status"] = "published"
    Bundle.model_validate(bundle)  # accepted: fhir.resources checks structure, not terminology
    systems = {f"{checked.evidence.config.base_iri}scheme/{s}": set(ids)
               for s, ids in checked.evidence.vocabulary.concepts.items()}
    problems = check_codes(bundle, systems)
    assert any("'population-ish' is not a code of " + ROLE in p for p in problems)
    assert any("'excellent'" in p for p in problems) and any("'published'" in p for p in problems)


def test_the_quick_check_and_the_messages_agree_on_every_wrong_value() -> None:
    """Entries are checked by a walk that only says yes or no; the messages come from the walk with paths. Each coded
    value, status and relation type of the real corpus's Bundle, changed one at a time, is refused by both or by
    neither."""
    import copy

    from kb.export.fhir_terms import _codes_ok, _entry_problems

    checked = _checked(REAL)
    bundle = json.loads(fhir_bundle_bytes(checked.evidence))
    systems = {f"{checked.evidence.config.base_iri}scheme/{s}": set(ids)
               for s, ids in checked.evidence.vocabulary.concepts.items()}

    def objects(node: object, key: str = "") -> list[tuple[dict, str]]:
        if isinstance(node, list):
            return [found for item in node for found in objects(item, key)]
        if not isinstance(node, dict):
            return []
        return [(node, key), *(found for name, value in node.items() for found in objects(value, name))]

    tried = refused = 0
    for entry in bundle["entry"]:
        assert _codes_ok(entry["resource"], systems) and not _entry_problems(entry, systems)
        for index, (node, key) in enumerate(objects(entry["resource"])):
            for field, wrong in (("code", "not-a-code"), ("display", "Not its display"), ("system", "urn:x:nowhere"),
                                 ("type", "not-a-type"), ("status", "published")):
                if field not in node:
                    continue
                changed = copy.deepcopy(entry)
                objects(changed["resource"])[index][0][field] = wrong
                ok, problems = _codes_ok(changed["resource"], systems), _entry_problems(changed, systems)
                assert ok == (not problems), (key, field, problems)
                tried += 1
                refused += not ok
    assert tried > 1000 and 0 < refused < tried  # identifiers' systems and free-text types are not coded values


def test_an_id_ending_like_a_key_is_not_read_as_one() -> None:
    """A resource id may hold dots (``claim.outcome``): one ending in ``.relatesTo`` does not make the resource a
    relation, for either walk."""
    from kb.export.fhir_terms import _codes_ok, _entry_problems

    entry = {"resource": {"resourceType": "Evidence", "id": "a-claim.relatesTo", "status": "active"}}
    assert _codes_ok(entry["resource"], {}) and _entry_problems(entry, {}) == []


def test_values_round_trip_for_a_claim_of_the_fixture() -> None:
    from fhir.resources.bundle import Bundle

    checked = _checked(FIXTURE)
    bundle = Bundle.model_validate_json(fhir_bundle_bytes(checked.evidence))
    by_id = {e.resource.id: e.resource for e in bundle.entry}
    ev = by_id["schizophrenia-cochrane-inconclusive.symptoms"]
    claim = checked.evidence.claims_by_id["schizophrenia-cochrane-inconclusive"]
    roles = [(d.variableRole.coding[0].code, d.observed.reference if d.observed else None) for d in ev.variableDefinition]
    assert roles == [("population", "EvidenceVariable/population.schizophrenia"),
                     ("exposure", "EvidenceVariable/intervention.peer-support-services"),
                     ("measuredVariable", "EvidenceVariable/outcome.symptoms")]
    certainty = ev.certainty[0]
    assert certainty.type.coding[0].code == "Overall" and certainty.rating.coding[0].code == "low"
    assert [(s.type.coding[0].code, s.rating.coding[0].code) for s in certainty.subcomponent] == [
        ("RiskOfBias", "downcode1"), ("Imprecision", "downcode1")]
    assert certainty.subcomponent[0].note[0].text == " ".join(claim.certainty.reason.split())
    assert [c.code for c in ev.studyDesign[0].coding] == ["SEVCO:01003", "cochrane_review"]
    assert ev.citeAsReference.reference == "Citation/shalaby2020peer"
    assert [(r.type, r.resourceReference.reference) for r in ev.relatedArtifact] == [
        ("derived-from", "Citation/shalaby2020peer"), ("cites", "Citation/chien2019peer")]
    assert ev.note[0].text.startswith("Quote (Severe or Serious Mental Illness): “a Cochrane systematic review")
    direction = next(x for x in ev.extension if x.url.endswith("/direction-of-effect"))
    assert direction.valueCodeableConcept.coding[0].code == "inconclusive"
    # a reported effect size, with its unit
    abstinence = by_id["addiction-network-support-abstinence.abstinence"]
    assert abstinence.statistic[0].quantity.value == 27 and abstinence.statistic[0].quantity.unit == "percent"
    # the Citation of the review: authors in order, DOI, citekey, the works it cites in order
    review = by_id["shalaby2020peer"]
    ref = checked.evidence.references_by_key["shalaby2020peer"]
    art = review.citedArtifact
    assert [e.contributor.display for e in art.contributorship.entry] == [
        f"{a.family}, {a.given}" for a in ref.authors]
    assert [e.rankingOrder for e in art.contributorship.entry] == list(range(1, len(ref.authors) + 1))
    assert {(i.system, i.value) for i in art.identifier} >= {("https://doi.org", ref.doi),
                                                              ("https://w3id.org/peer-support-kb/citekey", ref.key)}
    assert art.publicationForm[0].publicationDateText == "2020"
    cites = checked.evidence.citations[0].references
    assert [r.resourceReference.reference for r in art.relatesTo] == [f"Citation/{fhir_id(k)}" for k in cites]


def _add_claim(evidence: Path) -> None:
    """A claim with what the fixture lacks: several populations, settings, a comparator, a figure range,
    a dose, sample sizes and a reported certainty."""
    path = evidence / "claims" / "shalaby2020peer.yaml"
    path.write_text(path.read_text() + """
  - id: synthetic-comparator-claim
    statement: A test claim with a comparator.
    section: Severe or Serious Mental Illness
    quote: >-
      a Cochrane systematic review of PSSs for people with schizophrenia found inconclusive results
    cites: [chien2019peer]
    finding_type: effect
    population: [schizophrenia, smi]
    setting: [community]
    delivery: [text_messaging]
    perspective: recipient
    intervention: peer_support_services
    comparator: usual_care
    outcomes:
      - {outcome: symptoms, direction: inconclusive}
    design: cochrane_review
    certainty:
      level: low
      basis: reported
      reported_as: limited
      reason: The source calls the evidence limited.
    figure: {text: 29% to 60% of carers, value: 29, value_max: 60, unit: percent}
    dose: 12 sessions
    n_studies: 2
    n_participants: 31
""")


def test_comparator_settings_figures_and_reported_certainty(evidence_copy: Path) -> None:
    from fhir.resources.bundle import Bundle

    _add_claim(evidence_copy)
    checked = check(load_config(evidence_copy), shacl=False)
    problems = [p for p in checked.report.errors]
    if problems:  # the fixture's vocabulary lacks a term the synthetic claim needs
        pytest.fail("\n".join(p.format() for p in problems))
    bundle = Bundle.model_validate_json(fhir_bundle_bytes(checked.evidence))
    ev = next(e.resource for e in bundle.entry if e.resource.id == "synthetic-comparator-claim.symptoms")
    roles = [(d.variableRole.coding[0].code, d.observed.reference) for d in ev.variableDefinition]
    assert roles == [("population", "EvidenceVariable/population.schizophrenia"),
                     ("population", "EvidenceVariable/population.smi"),
                     ("exposure", "EvidenceVariable/intervention.peer-support-services"),
                     ("referenceExposure", "EvidenceVariable/intervention.usual-care"),
                     ("measuredVariable", "EvidenceVariable/outcome.symptoms")]
    assert [(u.code.code, u.valueCodeableConcept.coding[0].code) for u in ev.useContext] == [("venue", "community")]
    assert ev.statistic[0].sampleSize.numberOfStudies == 2 and ev.statistic[0].sampleSize.numberOfParticipants == 31
    figure = ev.statistic[1].attributeEstimate[0].range
    assert (figure.low.value, figure.high.value, figure.low.unit) == (29, 60, "percent")
    assert ev.certainty[0].rater == "the source document" and "“limited”" in ev.certainty[0].description
    assert not ev.certainty[0].subcomponent
    assert "Dose: 12 sessions" in [n.text for n in ev.note]
    usual = next(e.resource for e in bundle.entry if e.resource.id == "intervention.usual-care")
    kinds = [c.definitionCodeableConcept.coding[0].code for c in usual.characteristic]
    assert kinds == ["usual_care", "comparator"]


def test_same_evidence_same_bytes_and_no_clock(monkeypatch: pytest.MonkeyPatch, evidence_copy: Path) -> None:
    first = fhir_bundle_bytes(_checked(FIXTURE).evidence)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert fhir_bundle_bytes(_checked(FIXTURE).evidence) == first
    toml = evidence_copy / "kb.toml"
    toml.write_text(toml.read_text().replace('updated = "2026-11-22"', ""))
    assert json.loads(fhir_bundle_bytes(_checked(evidence_copy).evidence))["timestamp"] == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert "timestamp" not in json.loads(fhir_bundle_bytes(_checked(evidence_copy).evidence))


def test_every_design_is_mapped_to_real_sevco_codes_or_listed_as_unmapped() -> None:
    vocab = _checked(REAL).evidence.vocabulary
    assert all(code in STUDY_DESIGN_CODES for codes in DESIGN_SEVCO.values() for code in codes)
    assert set(DESIGN_SEVCO) <= set(vocab.ids("design"))
    assert STUDY_DESIGN in CODE_SYSTEMS
    unmapped = sorted(set(vocab.ids("design")) - set(DESIGN_SEVCO))
    doc = (REAL.parent / "docs" / "interop.md").read_text()
    for design in unmapped:  # the docs say which designs have no code
        assert f"`{design}`" in doc


def test_ids_are_valid_fhir_ids_and_distinct() -> None:
    keys = ["lloydevans2014systematic", "a_b", "a-b", "x:y+z", "k" * 100, "k" * 99 + "j"]
    ids = [fhir_id(k) for k in keys]
    assert len(set(ids)) == len(ids)
    assert all(len(i) <= 64 and all(c.isalnum() or c in "-." for c in i) for i in ids)
    assert ids[0] == "lloydevans2014systematic"


def test_kb_export_fhir_writes_the_bundle(tmp_path: Path) -> None:
    out = tmp_path / "kb.fhir.json"
    result = CliRunner().invoke(main, ["export", "--evidence", str(FIXTURE), "--format", "fhir", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == fhir_bundle_bytes(_checked(FIXTURE).evidence)
    help_text = CliRunner().invoke(main, ["export", "--help"]).output
    assert "fhir" in help_text and "nanopub" in help_text


def test_the_export_refuses_a_code_outside_its_value_set_as_each_resource_is_made() -> None:
    """The export checks each resource as it turns it into a line (kb.export.fhir.CodeCheck): a claim whose
    perspective is not a concept of its scheme stops it, naming the resource and the code."""
    import dataclasses

    evidence = _checked(REAL).evidence
    evidence.claims[0] = dataclasses.replace(evidence.claims[0], perspective="sideways")
    with pytest.raises(ValueError, match=r"codes outside their value sets:\nEvidence/.*'sideways' is not a concept"):
        fhir_bundle_bytes(evidence)
