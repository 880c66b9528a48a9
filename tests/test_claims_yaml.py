"""The claim-file loader: every YAML trap and shape problem gets file:line and a stable code."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.load.claims import load_citation_file, load_claim_file
from tests.conftest import FIXTURE

GOOD_CLAIM = """\
source: shalaby2020peer
claims:
  - id: a-claim
    statement: Peer support may improve hope.
    section: Severe or Serious Mental Illness
    quote: some evidence of positive effects on measures of hope
    cites: [lloydevans2014systematic]
    population: smi
    intervention: peer_support_services
    finding_type: effect
    setting: [community]
    delivery: not_stated
    perspective: recipient
    outcomes:
      - {outcome: hope, direction: benefit}
    design: systematic_review_rct
    certainty: {level: moderate, basis: assigned, start: high, downgrades: [imprecision]}
"""


def load(tmp_path: Path, text: str, name: str = "shalaby2020peer.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_claim_file(path)


def test_fixture_claims_load_cleanly():
    source, claims, problems = load_claim_file(FIXTURE / "claims" / "shalaby2020peer.yaml")
    assert problems == []
    assert source == "shalaby2020peer"
    assert [c.id for c in claims] == [
        "smi-rct-review-hope-recovery", "schizophrenia-cochrane-inconclusive",
        "addiction-network-support-abstinence", "epss-protocol-under-test"]
    first = claims[0]
    assert [(o.outcome, o.direction) for o in first.outcomes][:2] == [("hope", "benefit"), ("recovery", "benefit")]
    assert first.certainty.downgrades == ("inconsistency",)
    assert first.line == 4 and first.line_of("quote") == 10
    effect = claims[2].outcomes[0].effect
    assert effect is not None and effect.value == 27 and effect.unit == "percent"


def test_values_that_repeat_are_one_string_object() -> None:
    """Keys and short values are interned as a file is parsed: at 50,000 claims the records held 1.9M strings
    (135 MB) of which 27 MB were distinct; statements and quotes, longer, are left as they are."""
    import pickle

    _, claims, _ = load_claim_file(FIXTURE / "claims" / "shalaby2020peer.yaml")
    directions = [o.direction for c in claims for o in c.outcomes if o.direction == "benefit"]
    assert len(directions) > 1 and all(d is directions[0] for d in directions)
    keys = [next(k for k in c.field_lines if k == "quote") for c in claims]
    assert all(k is keys[0] for k in keys)
    again = pickle.loads(pickle.dumps(claims))  # as the parse cache and the parsing processes hand them over
    assert all(o.direction is again[0].outcomes[0].direction for c in again for o in c.outcomes
               if o.direction == again[0].outcomes[0].direction)


def test_good_claim(tmp_path):
    _, claims, problems = load(tmp_path, GOOD_CLAIM)
    assert problems == [] and len(claims) == 1


def test_duplicate_key_reports_both_lines(tmp_path):
    text = GOOD_CLAIM.replace("    population: smi\n", "    population: smi\n    population: youth\n")
    _, _, problems = load(tmp_path, text)
    assert [p.code for p in problems] == ["yaml-duplicate-key"]
    assert problems[0].line == 9 and "first at line 8" in problems[0].message
    assert problems[0].format().startswith(f"{tmp_path / 'shalaby2020peer.yaml'}:9:5: yaml-duplicate-key")


@pytest.mark.parametrize(("value", "trap"), [
    ("NO", "true/false"), ("yes", "true/false"), ("1.10", "number"), ("2024-02-30", "date"), ("~", "empty"),
])
def test_yaml_type_traps_are_named_with_their_line(tmp_path, value, trap):
    _, claims, problems = load(tmp_path, GOOD_CLAIM + f"    country: {value}\n")
    assert [p.code for p in problems] == ["yaml-type-trap"]
    assert problems[0].line == 18 and problems[0].field == "country"
    assert trap in problems[0].message and f'"{value}"' in problems[0].hint
    assert claims == [], "a claim with a bad field is not half-loaded"


def test_quoted_values_are_fine(tmp_path):
    _, claims, problems = load(tmp_path, GOOD_CLAIM + '    country: "NO"\n')
    assert problems == [] and claims[0].country == "NO"


def test_syntax_error_has_line_and_column(tmp_path):
    _, _, problems = load(tmp_path, "source: x\nclaims:\n  - id: a\n   bad: indent\n")
    assert [p.code for p in problems] == ["yaml-syntax"]
    assert problems[0].line == 4 and problems[0].col is not None


def test_tabs_are_explained(tmp_path):
    _, _, problems = load(tmp_path, "source: x\nclaims:\n\t- id: a\n")
    assert problems[0].code == "yaml-syntax" and problems[0].line == 3


@pytest.mark.parametrize(("text", "code"), [
    ("", "yaml-empty"),
    ("# only a comment\n", "yaml-empty"),
    ("source: a\nclaims: []\n---\nsource: b\nclaims: []\n", "yaml-multiple-documents"),
    ("source: a\nclaims: [&x {id: a}, *x]\n", "yaml-alias"),
    ("source: !!python/object/apply:os.system ['echo hacked']\nclaims: []\n", "yaml-tag"),
])
def test_structural_yaml_problems(tmp_path, text, code):
    _, _, problems = load(tmp_path, text)
    assert code in [p.code for p in problems]


def test_billion_laughs_is_refused_without_expanding(tmp_path):
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    _, _, problems = load(tmp_path, lol)
    assert "yaml-alias" in [p.code for p in problems]


def test_unknown_field_gets_did_you_mean(tmp_path):
    _, _, problems = load(tmp_path, GOOD_CLAIM.replace("    statement:", "    sumary: x\n    statement:"))
    unknown = [p for p in problems if p.code == "claim-unknown-field"]
    assert unknown and unknown[0].field == "sumary" and unknown[0].line == 4


def test_missing_required_fields_are_each_reported(tmp_path):
    text = GOOD_CLAIM.replace("    quote: some evidence of positive effects on measures of hope\n", "").replace(
        "    design: systematic_review_rct\n", "")
    _, claims, problems = load(tmp_path, text)
    missing = sorted(p.field for p in problems if p.code == "claim-missing-field")
    assert missing == ["design", "quote"] and claims == []


def test_bad_id_and_empty_values(tmp_path):
    _, _, problems = load(tmp_path, GOOD_CLAIM.replace("id: a-claim", "id: A Claim").replace(
        "statement: Peer support may improve hope.", "statement: ''"))
    assert sorted(p.code for p in problems) == ["claim-bad-id", "claim-empty"]


def test_certainty_rules_of_shape(tmp_path):
    text = GOOD_CLAIM.replace("{level: moderate, basis: assigned, start: high, downgrades: [imprecision]}",
                              "{level: moderate, basis: guessed, downgrades: [vibes]}")
    _, _, problems = load(tmp_path, text)
    assert sorted(p.code for p in problems) == ["claim-bad-basis", "claim-bad-downgrade"]
    reported = GOOD_CLAIM.replace("{level: moderate, basis: assigned, start: high, downgrades: [imprecision]}",
                                  "{level: low, basis: reported}")
    _, _, problems = load(tmp_path, reported)
    assert [(p.code, p.field) for p in problems] == [("claim-missing-field", "reported_as")]


def test_numbers_must_be_numbers(tmp_path):
    _, _, problems = load(tmp_path, GOOD_CLAIM + "    n_studies: several\n")
    assert [p.code for p in problems] == ["claim-type"] and problems[0].field == "n_studies"


def test_facets_take_one_id_or_a_list(tmp_path):
    _, claims, problems = load(tmp_path, GOOD_CLAIM.replace("population: smi", "population: [older_adults, smi]"))
    assert problems == [] and claims[0].population == ("older_adults", "smi")
    assert claims[0].setting == ("community",) and claims[0].delivery == ("not_stated",)
    assert claims[0].finding_type == "effect" and claims[0].perspective == "recipient"


def test_facet_list_problems_are_named(tmp_path):
    _, claims, problems = load(tmp_path, GOOD_CLAIM.replace("setting: [community]", "setting: []"))
    assert [(p.code, p.field, p.line) for p in problems] == [("claim-empty", "setting", 11)] and claims == []
    _, _, problems = load(tmp_path, GOOD_CLAIM.replace("setting: [community]", "setting: [community, community]"))
    assert [(p.code, p.field) for p in problems] == [("claim-duplicate-value", "setting")]
    _, _, problems = load(tmp_path, GOOD_CLAIM.replace("setting: [community]", "setting: {a: b}"))
    assert [(p.code, p.field) for p in problems] == [("claim-type", "setting")]


def test_non_utf8_claim_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes("source: x\nclaims: []\ncountry: Côte\n".encode("latin-1"))
    _, _, problems = load_claim_file(path)
    assert problems[0].code == "yaml-encoding" and problems[0].line == 3


def test_citation_file(tmp_path):
    clist, problems = load_citation_file(FIXTURE / "citations" / "shalaby2020peer.yaml")
    assert problems == [] and clist.references[0] == "lloydevans2014systematic" and clist.item_lines[0] == 3
    path = tmp_path / "c.yaml"
    path.write_text("source: x\nreferences: [ok2020, 'bad key']\n")
    clist, problems = load_citation_file(path)
    assert [p.code for p in problems] == ["claim-bad-id"] and clist.references == ("ok2020",)
