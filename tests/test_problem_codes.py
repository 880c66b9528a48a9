"""Every problem code the package can emit has a fixture that triggers it (a test names it)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from kb.config import load_config
from kb.load.yamlstrict import read_yaml
from kb.pipeline import check
from tests.conftest import ROOT, codes
from tests.test_validate import edit

CODE = re.compile(r'"((?:bib|yaml|claim|vocab|source|citation|reference|inclusion|shacl|nt|publish)-[a-z0-9-]+)"')


def emitted_codes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "kb").rglob("*.py"):
        found |= set(CODE.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_code_is_exercised_by_a_test():
    tests = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    untested = sorted(code for code in emitted_codes() if f'"{code}"' not in tests)
    assert untested == [], f"problem codes without a test: {untested}"


def run(folder: Path):
    return check(load_config(folder))


def test_yaml_unreadable_and_too_large(tmp_path):
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert [p.code for p in read_yaml(folder)[1]] == ["yaml-unreadable"]
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 100)
    assert [p.code for p in read_yaml(big, max_bytes=50)[1]] == ["yaml-too-large"]


def test_yaml_complex_key(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text("? [a, b]\n: 1\n")
    assert "yaml-key" in [p.code for p in read_yaml(path)[1]]


def test_negative_count(evidence_copy):
    edit(evidence_copy, "claims/shalaby2020peer.yaml", "    country: Canada\n", "    country: Canada\n    n_studies: -1\n")
    assert "claim-value" in codes(run(evidence_copy).report.errors)


def test_vocabulary_missing_entirely(evidence_copy):
    shutil.rmtree(evidence_copy / "vocab")
    assert "vocab-missing" in codes(run(evidence_copy).report.errors)


def test_vocabulary_scheme_problems(evidence_copy):
    ttl = "vocab/schemes.ttl"
    edit(evidence_copy, ttl, "design:protocol a skos:Concept ; skos:inScheme scheme:design ;",
         "design:protocol a skos:Concept ; skos:inScheme scheme:designs ;")
    edit(evidence_copy, ttl, 'skos:prefLabel "Abstinence"@en ;\n    skos:definition "Not drinking or not using drugs."@en .',
         'skos:prefLabel "Abstinence"@en .')
    edit(evidence_copy, ttl, 'skos:prefLabel "Randomised controlled trial"@en ; psk:startingCertainty certainty:high ;',
         'skos:prefLabel "Randomised controlled trial"@en ; psk:startingCertainty certainty:highest ;')
    text = (evidence_copy / ttl).read_text()
    (evidence_copy / "vocab" / "extra.ttl").write_text(
        text[:text.index("scheme:population a")] +
        'population:smi a skos:Concept ; skos:inScheme scheme:population ; skos:notation "smi" ;\n'
        '    skos:prefLabel "Again"@en ; skos:definition "Twice."@en .\n')
    found = set(codes(run(evidence_copy).report.errors))
    assert {"vocab-scheme", "vocab-definition", "vocab-starting-certainty", "vocab-duplicate"} <= found


def test_a_scheme_with_no_concepts(evidence_copy):
    ttl = evidence_copy / "vocab" / "schemes.ttl"
    text = ttl.read_text()
    kept = [block for block in text.split("\n\n") if not block.startswith("direction:")]
    ttl.write_text("\n\n".join(kept))
    assert "vocab-missing-scheme" in codes(run(evidence_copy).report.errors)


def test_source_description_problems(evidence_copy):
    edit(evidence_copy, "sources/shalaby2020peer.yaml", "line: 98", "line: 97")
    [moved] = [p for p in run(evidence_copy).report.errors if p.code == "source-section-line"]
    assert moved.hint.endswith("; the heading is on line 98")  # where it is, for a text that gained or lost a line
    (evidence_copy / "sources" / "shalaby2020peer.txt").unlink()
    report = run(evidence_copy).report
    assert "source-text-missing" in codes(report.errors)


def test_unarchived_source_is_a_warning(evidence_copy):
    shutil.rmtree(evidence_copy / "sources")
    report = run(evidence_copy).report
    assert report.errors == [] and codes(report.warnings) == ["claim-quote-unchecked"]


def test_uncited_reference_and_cite_outside_the_reference_list(evidence_copy):
    edit(evidence_copy, "citations/shalaby2020peer.yaml", "  - litt2007changing\n", "")
    warnings = codes(run(evidence_copy).report.warnings)
    assert "claim-cite-not-listed" in warnings
    edit(evidence_copy, "claims/shalaby2020peer.yaml", "cites: [litt2007changing]", "cites: []\n    notes: x")
    assert "reference-uncited" in codes(run(evidence_copy).report.warnings)
