"""The CLI: exit codes, stdout for results, stderr for problems, and nothing written on failure."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from tests.conftest import FIXTURE


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_check_ok_and_strict():
    result = run("check", "--evidence", str(FIXTURE))
    assert result.exit_code == 0
    assert "4 claims, 0 error(s), 0 warning(s)" in result.stdout
    assert run("check", "--evidence", str(FIXTURE), "--strict").exit_code == 0


def test_strict_fails_on_warnings(evidence_copy):
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text() + "\n}\n")  # a stray closing brace is a warning
    assert run("check", "--evidence", str(evidence_copy)).exit_code == 0
    result = run("check", "--evidence", str(evidence_copy), "--strict")
    assert result.exit_code == 1 and "bib-stray-brace" in result.stderr


def test_check_json(evidence_copy):
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text().replace("population: smi", "population: smii"))
    result = run("check", "--evidence", str(evidence_copy), "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["errors"] == 1
    problem = next(p for p in payload["problems"] if p["severity"] == "error")
    assert problem["code"] == "claim-unknown-term" and problem["line"] == 17 and problem["field"] == "population"


def test_missing_evidence_folder_is_a_usage_error(tmp_path):
    result = run("check", "--evidence", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_build_writes_dumps_and_refuses_on_errors(evidence_copy, tmp_path):
    out = tmp_path / "site"
    result = run("build", "--evidence", str(evidence_copy), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    for name in ("kb.ttl.gz", "kb.nt.gz", "kb.jsonld.gz", "claims.csv.gz", "network.graphml.gz", "references.bib.gz",
                 "kb.fhir.json.gz", "nanopubs.trig.gz", "ontology.ttl", "shapes.ttl", "void.ttl"):
        assert (out / "data" / name).is_file()
    before = tree_digest(out)
    evidence_before = tree_digest(evidence_copy)
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text().replace("design: rct", "design: rtc"))
    evidence_before = tree_digest(evidence_copy)
    result = run("build", "--evidence", str(evidence_copy), "--out", str(out))
    assert result.exit_code == 1
    assert "claim-unknown-term" in result.stderr and "nothing was written" in result.stderr
    assert tree_digest(out) == before, "a failed build leaves the previous site as it was"
    assert tree_digest(evidence_copy) == evidence_before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")], "no staging folder left"


def test_build_refuses_to_replace_a_foreign_folder(tmp_path):
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = run("build", "--evidence", str(FIXTURE), "--out", str(foreign))
    assert result.exit_code == 2 and (foreign / "precious.txt").read_text() == "keep me"


def test_query_exit_codes_and_streams():
    ok = run("query", "--evidence", str(FIXTURE), "claims-per-direction", "--format", "csv")
    assert ok.exit_code == 0 and ok.stdout.startswith("direction,n")
    empty = run("query", "--evidence", str(FIXTURE), "SELECT ?s WHERE { ?s a <http://nothing> }")
    assert empty.exit_code == 0 and "(0 rows)" in empty.stdout
    syntax = run("query", "--evidence", str(FIXTURE), "SELECT * WHERE { ?s ?p ?o")
    assert syntax.exit_code == 3 and "line 1" in syntax.stderr and syntax.stdout == ""
    refused = run("query", "--evidence", str(FIXTURE), "DROP ALL")
    assert refused.exit_code == 4 and "read-only" in refused.stderr
    service = run("query", "--evidence", str(FIXTURE), "SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }")
    assert service.exit_code == 4 and "SERVICE" in service.stderr
    listed = run("query", "--evidence", str(FIXTURE), "--list")
    assert "no-effect-hospitalisation-smi" in listed.stdout


def test_query_output_file_is_written_atomically(tmp_path):
    target = tmp_path / "out.csv"
    result = run("query", "--evidence", str(FIXTURE), "claims-per-direction", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0 and target.read_text().startswith("direction,n")
    failed = run("query", "--evidence", str(FIXTURE), "SELECT * WHERE {", "-o", str(tmp_path / "bad.csv"))
    assert failed.exit_code == 3 and not (tmp_path / "bad.csv").exists()


def test_query_timeout_leaves_no_output(tmp_path):
    target = tmp_path / "slow.csv"
    cross = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?a ?d ?g"
    proc = subprocess.run([sys.executable, "-m", "kb", "query", "--evidence", str(FIXTURE), cross, "--format",
                           "csv", "--timeout", "0.5", "-o", str(target)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5 and "timed out" in proc.stderr
    assert not target.exists()


@pytest.mark.parametrize("fmt", ["ttl", "nt", "jsonld", "csv", "graphml"])
def test_export_formats(fmt):
    result = CliRunner().invoke(main, ["export", "--evidence", str(FIXTURE), "--format", fmt])
    assert result.exit_code == 0 and result.stdout_bytes


def test_stats_shows_the_matrix():
    result = run("stats", "--evidence", str(FIXTURE))
    assert result.exit_code == 0
    assert "claims: 4" in result.stdout and "claim-outcomes: 9" in result.stdout
    smi = next(line for line in result.stdout.splitlines() if line.startswith("smi "))
    assert smi.split()[1:] == ["=1", "=1", "+3", "=1"]  # clinical, experience of care, personal recovery, service use


def test_python_dash_m_and_help_is_quiet():
    proc = subprocess.run([sys.executable, "-m", "kb", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "check" in proc.stdout and proc.stderr == ""


def test_query_limit_note_goes_to_stderr():
    result = run("query", "--evidence", str(FIXTURE), "SELECT ?s WHERE { ?s ?p ?o }", "--format", "csv", "--limit", "2")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3
    assert "cut at --limit 2" in result.stderr


def test_graphml_reads_back_with_networkx(tmp_path):
    import networkx as nx

    target = tmp_path / "network.graphml"
    assert run("export", "--evidence", str(FIXTURE), "--format", "graphml", "-o", str(target)).exit_code == 0
    graph = nx.read_graphml(target)
    assert graph.is_directed()
    assert graph.nodes["claim:smi-rct-review-hope-recovery"] == {"type": "claim", "label": "smi-rct-review-hope-recovery"}
    kinds = {d["kind"] for _, _, d in graph.edges(data=True)}
    assert kinds == {"states", "rests_on", "population", "intervention", "outcome", "cites"}


def test_graphml_lines_are_its_bytes_cut_as_splitlines_cuts_them(fixture_analysis):
    """``data/network.graphml.gz`` is gzipped a run of lines at a time from a stream of them: the lines must be those
    the whole text cut into lines gave (a label's own line breaks included), so that its members stay the same."""
    from types import SimpleNamespace

    from kb.export.graphml import graphml_bytes, graphml_lines

    network = fixture_analysis.network.copy()
    network.add_node("claim:zz-broken", type="claim", label="two\r\nlines\rand a\nthird")
    analysis = SimpleNamespace(network=network)
    lines = graphml_lines(analysis)
    assert iter(lines) is lines, "a stream, not the whole text"
    assert list(lines) == graphml_bytes(analysis).splitlines(keepends=True)
    assert b"two\r\n" in graphml_bytes(analysis)


def test_claims_csv_columns_and_values():
    import csv
    import io

    result = run("export", "--evidence", str(FIXTURE), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["claim_id", "statement", "source", "cites", "finding_type", "population", "setting",
                             "delivery", "perspective", "intervention", "intervention_kind", "outcome", "direction",
                             "design", "certainty", "quote"]
    assert len(rows) == 9
    hosp = next(r for r in rows if r["outcome"] == "Hospitalisation")
    assert (hosp["claim_id"], hosp["direction"], hosp["certainty"], hosp["population"], hosp["cites"]) == (
        "smi-rct-review-hope-recovery", "no_effect", "moderate", "Serious mental illness", "lloydevans2014systematic")


def test_the_kb_program_leaves_at_once_after_a_build_or_check_with_its_output_and_exit_code(evidence_copy: Path,
                                                                                            tmp_path: Path) -> None:
    """``kb build`` and ``kb check``, as the program, leave without freeing the KB (kb.cli.common.done): what they
    printed is all there (piped, so buffered), the exit code is theirs, and the site is whole."""
    out = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "kb", "build", "--evidence", str(evidence_copy), "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"built {len(list(p for p in out.rglob('*') if p.is_file()))} files")
    assert "preview it with: kb serve" in built.stdout.splitlines()[-1]
    checked = subprocess.run([sys.executable, "-m", "kb", "check", "--evidence", str(evidence_copy)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0 and checked.stdout.endswith("0 error(s), 0 warning(s)\n"), checked.stdout
    (evidence_copy / "references.bib").write_text("@article{broken,\n", encoding="utf-8")
    failed = subprocess.run([sys.executable, "-m", "kb", "check", "--evidence", str(evidence_copy)],
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and "error(s)" in failed.stdout
