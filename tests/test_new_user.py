"""Rough edges found when the KB was tried as a new user would (issue 11), each with its regression test."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kb.cli import QUERY_HELP, STATS_FORMATS, main
from kb.namespaces import PREFIXES
from tests.conftest import FIXTURE, REAL


def run(*args: str, **kw: object):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)  # type: ignore[arg-type]


# --- kb query NAME ----------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "suggestion"), [
    ("evidence_map", "evidence-map"),
    ("no-effect-hospitalization-smi", "no-effect-hospitalisation-smi"),
])
def test_mistyped_example_name_is_not_a_sparql_syntax_error(word, suggestion):
    result = run("query", "--evidence", str(REAL), word)
    assert result.exit_code == 2, result.output
    assert f"no such example query '{word}'" in result.stderr
    assert f"did you mean '{suggestion}'" in result.stderr
    assert "syntax error" not in result.stderr and "CONSTRUCT" not in result.stderr and result.stdout == ""


def test_unknown_example_name_without_near_miss_lists_the_examples():
    result = run("query", "--evidence", str(FIXTURE), "zzzz")
    assert result.exit_code == 2
    assert "the examples are: claims-per-direction, no-effect-hospitalisation-smi" in result.stderr


def test_example_name_may_carry_its_rq_suffix_and_a_file_is_pointed_to_dash_f(tmp_path):
    named = run("query", "--evidence", str(FIXTURE), "claims-per-direction.rq", "--format", "csv")
    assert named.exit_code == 0 and named.stdout.startswith("direction,n")
    (tmp_path / "mine.rq").write_text("SELECT * WHERE { ?s ?p ?o } LIMIT 1")
    os.chdir(tmp_path)
    try:
        result = run("query", "--evidence", str(FIXTURE), "mine.rq")
    finally:
        os.chdir(Path(__file__).parent.parent)
    assert result.exit_code == 2 and "use -f mine.rq" in result.stderr


def test_a_lone_sparql_keyword_is_still_a_syntax_error():
    assert run("query", "--evidence", str(FIXTURE), "SELECT").exit_code == 3


# --- one prefix list --------------------------------------------------------------------------


def test_query_help_lists_every_predeclared_prefix_from_the_one_list():
    listed = re.search(r"Predeclared prefixes: (.*)\.", QUERY_HELP).group(1).split(", ")
    assert listed == list(PREFIXES)
    shown = run("query", "--help").stdout
    assert all(f"{name}," in shown or f"{name}." in shown for name in PREFIXES)


def test_the_site_and_kb_query_predeclare_the_same_prefixes(tmp_path):
    from kb.config import load_config
    from kb.pipeline import build

    build(load_config(FIXTURE, out_dir=tmp_path / "site", cache_dir=tmp_path / "cache"))
    page = (tmp_path / "site" / "sparql.html").read_text(encoding="utf-8")
    declared = re.findall(r'<code title="[^"]+">(\w+):</code>', page.split("already declared", 1)[1].split("</p>")[0])
    assert sorted(declared) == sorted(PREFIXES)
    for name in PREFIXES:  # each one really works in kb query
        result = run("query", "--evidence", str(FIXTURE), f"ASK {{ ?s ?p {name}:x }}")
        assert result.exit_code == 0, (name, result.output)


# --- output file modes ------------------------------------------------------------------------


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_export_and_query_outputs_get_the_usual_mode_not_0600(tmp_path, umask_022):
    exported, answered = tmp_path / "kb.nt", tmp_path / "answer.csv"
    assert run("export", "--evidence", str(FIXTURE), "--format", "nt", "-o", str(exported)).exit_code == 0
    assert run("query", "--evidence", str(FIXTURE), "claims-per-direction", "--format", "csv",
               "-o", str(answered)).exit_code == 0
    for path in (exported, answered):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_output_modes_follow_the_umask_and_an_existing_file_keeps_its_mode(tmp_path):
    from kb.io.atomic import atomic_write_bytes

    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "new.txt", b"x", backup=False)
        kept = tmp_path / "kept.txt"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        atomic_write_bytes(kept, b"new", backup=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_bytes() == b"new"


def test_site_folders_and_files_follow_the_umask(tmp_path, umask_022):
    out = tmp_path / "site"
    assert run("build", "--evidence", str(FIXTURE), "--out", str(out)).exit_code == 0
    modes = {stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")] if p.is_dir()}
    assert modes == {0o755}
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()} == {0o644}


# --- kb stats ---------------------------------------------------------------------------------


def test_stats_formats_in_the_cli_match_the_library():
    from kb.analyse.stats import STATS_FORMATS as LIBRARY

    assert STATS_FORMATS == LIBRARY


@pytest.mark.parametrize("evidence", [FIXTURE, REAL], ids=["fixture", "real"])
def test_stats_table_fits_100_columns_and_shows_every_domain(evidence):
    result = run("stats", "--evidence", str(evidence))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    data = json.loads(run("stats", "--evidence", str(evidence), "--format", "json").stdout)
    columns = []
    for j, rule in enumerate(lines):  # each block: header lines above a rule of dashes, one run per column
        if not rule.startswith("---"):
            continue
        spans = [m.span() for m in re.finditer(r"-+", rule)]
        above = []
        for line in reversed(lines[:j]):
            if not line.strip() or line.startswith("("):
                break
            above.insert(0, line)
        columns += ["".join(line[a:b].strip() for line in above) for a, b in spans[1:]]
    assert sorted(columns) == sorted({cell["domain"] for cell in data["evidence_map"]})
    assert "kb stats --format csv" in result.stdout


def test_stats_csv_is_every_population_by_outcome_and_agrees_with_json():
    table = run("stats", "--evidence", str(FIXTURE), "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    data = json.loads(run("stats", "--evidence", str(FIXTURE), "--format", "json").stdout)
    from kb.analyse.analysis import DIRECTIONS
    from kb.config import load_config
    from kb.load.evidence import load_evidence

    assert list(rows[0]) == ["population", "outcome", "domain", *DIRECTIONS, "total"]
    vocab = load_evidence(load_config(FIXTURE))[0].vocabulary
    assert len(rows) == len(vocab.ids("population")) * len(vocab.ids("outcome"))  # the whole map, gaps included
    nonzero = [r for r in rows if r["total"] != "0"]
    assert len(nonzero) == len(data["evidence_map"])
    assert sum(int(r["total"]) for r in rows) == sum(cell["total"] for cell in data["evidence_map"])
    assert data["claim_outcomes"] == 9
    smi_hope = next(r for r in rows if (r["population"], r["outcome"]) == ("smi", "hope"))
    assert (smi_hope["benefit"], smi_hope["domain"]) == ("1", "personal_recovery")
    assert len([r for r in rows if r["total"] == "0"]) == len(data["gaps"]["empty"])


# --- kb build says how to open the site -------------------------------------------------------


def test_build_ends_by_saying_how_to_open_the_site(tmp_path):
    out = tmp_path / "my site"
    result = run("build", "--evidence", str(FIXTURE), "--out", str(out))
    assert result.exit_code == 0
    last = result.stdout.splitlines()[-1]
    assert f"open '{out / 'index.html'}' in a browser" in last
    assert f"kb serve --evidence {FIXTURE} --out '{out}'" in last


# --- messages ---------------------------------------------------------------------------------


def _break_claims(evidence: Path, old: str, new: str) -> None:
    path = evidence / "claims" / "shalaby2020peer.yaml"
    path.write_text(path.read_text().replace(old, new, 1))


def test_unknown_outcome_message_uses_an_not_a(evidence_copy):
    _break_claims(evidence_copy, "{outcome: hope, direction: benefit}", "{outcome: hopee, direction: benefit}")
    result = run("check", "--evidence", str(evidence_copy), "--no-shacl")
    assert "'hopee' is not an outcome id; did you mean 'hope'?" in result.stderr
    assert "a outcome" not in result.stderr


def test_unknown_direction_lists_the_allowed_codes(evidence_copy):
    _break_claims(evidence_copy, "{outcome: hope, direction: benefit}", "{outcome: hope, direction: good}")
    result = run("check", "--evidence", str(evidence_copy), "--no-shacl")
    assert result.exit_code == 1
    assert ("'good' is not a direction id; expected one of benefit, harm, inconclusive, mixed, no_effect"
            in result.stderr)


def test_vocabulary_errors_have_a_column(evidence_copy):
    path = evidence_copy / "vocab" / "schemes.ttl"
    text = path.read_text()
    path.write_text(text.replace('skos:notation "smi" ;', 'skos:notation "smi2" ;', 1))
    result = run("check", "--evidence", str(evidence_copy), "--no-shacl", "--format", "json")
    [problem] = [p for p in json.loads(result.stdout)["problems"] if p["code"] == "vocab-notation"]
    line = path.read_text().splitlines()[problem["line"] - 1]
    assert problem["col"] is not None and line[problem["col"] - 1:].startswith('skos:notation "smi2"')


def test_vocabulary_syntax_error_says_its_place_once(evidence_copy):
    path = evidence_copy / "vocab" / "schemes.ttl"
    path.write_text(path.read_text().replace('skos:notation "smi" ;', 'skos:notation "smi" ;; foo bar ;', 1))
    result = run("check", "--evidence", str(evidence_copy), "--no-shacl")
    [line] = [x for x in result.stderr.splitlines() if "vocab-syntax" in x]
    assert re.match(r".*schemes\.ttl:\d+:\d+: vocab-syntax foo is not a valid predicate$", line), line


def test_missing_brace_in_an_author_field_points_at_the_field_not_the_end_of_the_entry(evidence_copy, tmp_path):
    bib = tmp_path / "new.bib"
    bib.write_text("@article{doe2020peer,\n  author = {Doe, Jane and Roe, Richard,\n  title = {Peer support},\n"
                   "  journal = {Journal of Peers},\n  year = {2020},\n}\n")
    result = run("add", "--evidence", str(evidence_copy), str(bib))
    assert result.exit_code == 1
    [problem] = [x for x in result.stderr.splitlines() if "bib-unclosed-entry" in x]
    assert problem.startswith(f"{bib}:2:12: bib-unclosed-entry")
    assert "the value of 'author' starting here never ends" in problem and "at the end of the entry" not in problem


def test_an_entry_missing_its_own_brace_points_after_its_last_field(tmp_path):
    from kb.bibtex.load import load_references

    bib = tmp_path / "references.bib"
    bib.write_text('@article{a2020,\n  title = "A",\n  year = {2020},\n\n@article{b2020, title = {B}, year = 2020}\n')
    _, problems = load_references(bib)
    [problem] = [p for p in problems if p.code == "bib-unclosed-entry"]
    assert (problem.line, problem.col) == (3, 17) and "add its closing '}' here, after its last field" in problem.hint


def test_a_blocked_kb_add_says_would_be_added_in_its_summary_too(evidence_copy, tmp_path):
    bib = tmp_path / "two.bib"
    bib.write_text("@article{doe2020peer,\n  author = {Doe, Jane},\n  title = {Peer support for all},\n"
                   "  journal = {J},\n  year = {2020},\n}\n@article{bad key,\n  title = {x},\n}\n")
    for extra in ([], ["--dry-run"]):
        result = run("add", "--evidence", str(evidence_copy), *extra, str(bib))
        assert "would be added as doe2020peer" in result.stdout
        assert "1 would be added" in result.stdout and " 1 added" not in result.stdout


def test_new_claim_stub_has_n_participants_and_aligned_outcome_comments():
    stub = run("new-claim", "--evidence", str(REAL), "--source", "shalaby2020peer").stdout
    assert "    # n_participants: 0            # optional, only where the source says" in stub
    lines = stub.splitlines()
    start = lines.index("      - outcome: ''")
    block = lines[start + 1:lines.index("    design: ''                     # the design of the cited evidence")]
    assert block[-1].startswith("        direction: ''")
    for line in block[:-1]:  # every comment sits under the outcome entry's keys
        assert line.startswith("        #   "), line
    domains = [line for line in block if re.match(r" {8}# {5}\S", line)]
    hanging = [line for line in block if re.match(r" {8}# {7}\S", line)]
    from kb.config import load_config
    from kb.load.evidence import load_evidence

    vocab = load_evidence(load_config(REAL))[0].vocabulary
    assert len(domains) == len(vocab.ids("outcome", domains=True))
    assert hanging and len(domains) + len(hanging) + 2 == len(block)
    trailing = {line.index("# ") for line in lines if re.match(r"\s*-?\s*\w+: [^#]*\s#", line)}
    assert trailing == {35}, "every field's comment starts in the same column"
    parsed = yaml.safe_load("claims:\n" + stub)
    assert set(parsed["claims"][0]["outcomes"][0]) == {"outcome", "direction"}


# --- kb build --out ---------------------------------------------------------------------------


@pytest.mark.parametrize(("out", "says"), [
    ("HOME", "your home folder"),
    ("/", "the root folder /"),
    ("EVIDENCE", "the evidence folder"),
    ("PARENT", "which holds the evidence folder"),
])
def test_dangerous_out_refusal_says_what_it_would_replace(out, says, tmp_path, monkeypatch):
    home = tmp_path / "home"
    evidence = home / "project" / "evidence"
    evidence.parent.mkdir(parents=True)
    import shutil

    shutil.copytree(FIXTURE, evidence)
    monkeypatch.setenv("HOME", str(home))
    target = {"HOME": str(home), "/": "/", "EVIDENCE": str(evidence), "PARENT": str(evidence.parent)}[out]
    before = sorted(p.name for p in home.rglob("*"))
    result = run("build", "--evidence", str(evidence), "--out", target)
    assert result.exit_code == 2
    assert says in result.stderr and "it would replace" in result.stderr
    if out != "EVIDENCE":
        assert "would replace the evidence folder" not in result.stderr
    assert sorted(p.name for p in home.rglob("*")) == before


def test_cache_of_evidence_dot_lives_beside_the_evidence_folder(evidence_copy, monkeypatch):
    monkeypatch.chdir(evidence_copy)
    assert run("check", "--evidence", ".", "--no-shacl").exit_code == 0
    assert not (evidence_copy / ".kb-cache").exists()
    assert (evidence_copy.parent / ".kb-cache" / "parsed").is_dir()
