"""kb new-claim and kb vocab: stubs that list every choice, and that kb check then guides to completion."""

from __future__ import annotations

import hashlib

from click.testing import CliRunner

from kb.cli import main
from tests.conftest import FIXTURE


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_stub_lists_every_choice():
    result = run("new-claim", "--evidence", str(FIXTURE), "--source", "shalaby2020peer")
    assert result.exit_code == 0
    stub = result.stdout
    for field in ("id:", "statement:", "section:", "quote:", "cites:", "population:", "intervention:",
                  "outcomes:", "outcome:", "direction:", "design:", "certainty:", "level:", "basis:", "start:",
                  "downgrades:", "reason:", "effect:", "figure:", "dose:", "frequency:", "duration:", "n_studies:",
                  "finding_type:", "setting:", "delivery:", "perspective:", "comparator:", "country:", "notes:"):
        assert field in stub, field
    assert "#     Severe or Serious Mental Illness" in stub
    assert "acute_discharge, addiction, not_stated, schizophrenia, smi" in stub
    assert "usual_care" in stub  # the comparators
    assert "Personal recovery: empowerment, hope, recovery" in stub
    assert "protocol (starts very_low)" in stub
    assert "benefit | inconclusive | harm" not in stub and "benefit | harm | inconclusive | mixed | no_effect" in stub


def test_unknown_source_is_refused_with_a_suggestion():
    result = run("new-claim", "--evidence", str(FIXTURE), "--source", "shalaby2020per")
    assert result.exit_code == 1 and "did you mean 'shalaby2020peer'" in result.stderr


def test_write_appends_without_touching_existing_bytes(evidence_copy):
    path = evidence_copy / "claims" / "shalaby2020peer.yaml"
    before = path.read_bytes()
    result = run("new-claim", "--evidence", str(evidence_copy), "--source", "shalaby2020peer", "--write")
    assert result.exit_code == 0
    after = path.read_bytes()
    assert after.startswith(before)
    checked = run("check", "--evidence", str(evidence_copy), "--format", "json")
    assert checked.exit_code == 1, "a stub must be filled in before the KB builds"
    import json

    problems = json.loads(checked.stdout)["problems"]
    assert {p["code"] for p in problems if p["severity"] == "error"} <= {"claim-bad-id", "claim-empty"}
    assert all(p["path"].endswith("shalaby2020peer.yaml") for p in problems if p["severity"] == "error")


def test_write_creates_a_new_claim_file(evidence_copy):
    result = run("new-claim", "--evidence", str(evidence_copy), "--source", "litt2007changing", "--write")
    assert result.exit_code == 0
    text = (evidence_copy / "claims" / "litt2007changing.yaml").read_text()
    assert text.startswith("source: litt2007changing\nclaims:\n  - id: TODO-unique-id")
    assert "no archived text for litt2007changing" in text


def test_vocab_lists_concepts_with_definitions():
    result = run("vocab", "--evidence", str(FIXTURE), "outcome")
    assert result.exit_code == 0
    assert "[personal_recovery] Personal recovery" in result.stdout
    assert "hope: Hope" in result.stdout and "Believing that recovery" in result.stdout
    everything = run("vocab", "--evidence", str(FIXTURE))
    assert all(f"{s}:" in everything.stdout for s in ("population", "design", "certainty"))
    bad = run("vocab", "--evidence", str(FIXTURE), "outcomes")
    assert bad.exit_code == 2 and "did you mean 'outcome'" in bad.stderr


def test_reading_commands_change_nothing(evidence_copy):
    def digest() -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(evidence_copy.rglob("*")) if p.is_file())).hexdigest()

    before = digest()
    for args in (["check"], ["stats"], ["vocab"], ["new-claim", "--source", "shalaby2020peer"],
                 ["query", "claims-per-direction"], ["export", "--format", "csv"]):
        run(*args[:1], "--evidence", str(evidence_copy), *args[1:])
    assert digest() == before
