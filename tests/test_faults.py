"""Issue 12, items 7–13 and 15, and their siblings: every fault is a clean error — the file, line and column,
the field, what is wrong and what is expected, a non-zero exit code, never a traceback — and no byte of any
existing file changes. Permissions are simulated (the tests may run as root, which ignores them); a full
disk is an ``OSError(ENOSPC)`` raised where the bytes would be written.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import kb.io.atomic
from kb.cli import main
from tests.conftest import FIXTURE, tree_digest

CLAIMS = "claims/shalaby2020peer.yaml"


def cli(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def edit(evidence: Path, name: str, old: str, new: str) -> Path:
    path = evidence / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every durable write fails as on a full disk (kb.io.atomic fsyncs each temp file before the rename)."""
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kb.io.atomic.os, "fsync", fsync)


def deny(monkeypatch: pytest.MonkeyPatch, predicate) -> None:
    """Opening any path for which ``predicate`` holds fails with EACCES, as without permission."""
    real_open, real_os_open = builtins.open, os.open

    def check(path: object) -> None:
        if predicate(str(path)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    def fake_open(file, *args, **kwargs):
        check(file)
        return real_open(file, *args, **kwargs)

    def fake_os_open(path, *args, **kwargs):
        check(path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)  # pathlib's read_bytes opens through io.open
    monkeypatch.setattr(os, "open", fake_os_open)


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


# --- item 7: a full disk ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["export", "--format", "ttl"], ["query", "claims-per-direction", "--format", "csv"]])
def test_item7_a_full_disk_for_export_and_query_output_is_a_clean_error(tmp_path: Path, full_disk: None,
                                                                        command: list[str]) -> None:
    target = tmp_path / "out.file"
    result = cli(*command[:1], "--evidence", str(FIXTURE), *command[1:], "-o", str(target))
    assert result.exit_code == 1
    assert f"kb {command[0]}: could not write {target}: no space left on the device (" in result.stderr
    assert "were to be written); nothing was written" in result.stderr
    assert not target.exists() and leftovers(tmp_path) == []


def test_item7_a_full_disk_for_kb_add_and_new_claim(evidence_copy: Path, tmp_path: Path, full_disk: None) -> None:
    before = tree_digest(evidence_copy)
    source = tmp_path / "n.bib"
    source.write_text("@article{doe2020,\n  author = {Doe, Jane},\n  title = {T},\n  journal = {J},\n  year = {2020},\n}\n")
    added = cli("add", "--evidence", str(evidence_copy), str(source))
    assert added.exit_code == 1
    assert (f"{evidence_copy / 'references.bib'}: bib-write-failed could not write {evidence_copy / 'references.bib'}: "
            "no space left on the device (") in added.stderr and "; nothing was changed" in added.stderr
    stub = cli("new-claim", "--evidence", str(evidence_copy), "--source", "shalaby2020peer", "--write")
    assert stub.exit_code == 1
    assert (f"kb new-claim: could not write {evidence_copy / CLAIMS}: no space left on the device (") in stub.stderr
    assert tree_digest(evidence_copy) == before and leftovers(evidence_copy) == []


# --- item 8: read-only folders and files without permission -------------------------------------------------------

def test_item8_kb_add_in_a_read_only_evidence_folder(evidence_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "n.bib"
    source.write_text("@article{doe2020,\n  author = {Doe, Jane},\n  title = {T},\n  journal = {J},\n  year = {2020},\n}\n")
    before = tree_digest(evidence_copy)
    deny(monkeypatch, lambda p: p.endswith(".references.bib.lock"))
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 1
    assert (f"{evidence_copy}: bib-not-writable cannot write in {evidence_copy}: permission denied (creating "
            f"{evidence_copy / '.references.bib.lock'}); nothing was changed; expected a folder kb add may write in"
            ) in result.stderr
    assert f"{source}:1:1: not imported: bib-not-writable" in result.stdout and "bib-not-writable" in result.stderr
    assert tree_digest(evidence_copy) == before


def test_item8_kb_add_with_an_unreadable_references_file(evidence_copy: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "n.bib"
    source.write_text("@article{doe2020,\n  author = {Doe, Jane},\n  title = {T},\n  journal = {J},\n  year = {2020},\n}\n")
    before = tree_digest(evidence_copy)
    target = evidence_copy / "references.bib"
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied", str(self))) if self == target else real(self))
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    monkeypatch.undo()
    assert result.exit_code == 1
    assert (f"{target}: bib-unreadable cannot read the references file: permission denied; expected a readable "
            "references.bib") in result.stderr
    assert tree_digest(evidence_copy) == before


def test_item8_kb_new_claim_in_a_read_only_claims_folder(evidence_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_digest(evidence_copy)
    deny(monkeypatch, lambda p: p.endswith(".shalaby2020peer.yaml.lock"))
    result = cli("new-claim", "--evidence", str(evidence_copy), "--source", "shalaby2020peer", "--write")
    assert result.exit_code == 1
    assert (f"kb new-claim: cannot write a claim stub to {evidence_copy / CLAIMS}: permission denied "
            f"({evidence_copy / 'claims' / '.shalaby2020peer.yaml.lock'}); nothing was changed") in result.stderr
    assert tree_digest(evidence_copy) == before


@pytest.mark.parametrize("command", [["query", "SELECT * { ?s ?p ?o } LIMIT 1"], ["check"], ["stats"],
                                     ["export", "--format", "csv"]])
def test_item8_an_unreadable_references_file_is_one_clear_error(evidence_copy: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                command: list[str]) -> None:
    bib = evidence_copy / "references.bib"
    deny(monkeypatch, lambda p: p == str(bib))
    result = cli(command[0], "--evidence", str(evidence_copy), *command[1:])
    assert result.exit_code == 1
    assert (f"{bib}: bib-unreadable cannot read the file: permission denied; expected a readable BibTeX file"
            ) in result.stderr
    assert "not in references.bib" not in result.stderr  # no cascade of follow-on errors


def test_item8_query_and_export_into_a_missing_or_read_only_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nofolder" / "x.csv"
    result = cli("query", "--evidence", str(FIXTURE), "claims-per-direction", "--format", "csv", "-o", str(missing))
    assert result.exit_code == 1
    assert f"kb query: could not write {missing}: the folder {missing.parent} does not exist; nothing was written" \
        in result.stderr
    readonly = tmp_path / "ro"
    readonly.mkdir()
    deny(monkeypatch, lambda p: p.startswith(str(readonly)))
    result = cli("export", "--evidence", str(FIXTURE), "--format", "csv", "-o", str(readonly / "x.csv"))
    assert result.exit_code == 1
    assert (f"kb export: could not write {readonly / 'x.csv'}: permission denied (cannot create files in {readonly}); "
            "nothing was written") in result.stderr
    assert list(readonly.iterdir()) == []


# --- item 9: kb query options and functions ---------------------------------------------------------------------

def test_item9_an_unknown_function_is_a_clean_error() -> None:
    query = 'PREFIX f: <http://jena.apache.org/ARQ/function#>\nSELECT (f:readFile("x") AS ?x) {}'
    result = cli("query", "--evidence", str(FIXTURE), query)
    assert result.exit_code == 3 and result.stdout == ""
    assert ("kb query: line 2, column 9: the function <http://jena.apache.org/ARQ/function#readFile> is not "
            "supported; expected a SPARQL 1.1 function") in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "1e9", "soon"])
def test_item9_timeouts_that_are_not_durations_are_usage_errors(value: str) -> None:
    for command in (["query", "SELECT * {}"], ["publish", "--endpoint", "http://127.0.0.1:9/sparql", "--dry-run"]):
        result = cli(command[0], "--evidence", str(FIXTURE), "--timeout", value, *command[1:])
        assert result.exit_code == 2
        assert f"Invalid value for '--timeout': '{value}' is not a" in result.stderr


def test_item9_memory_is_bounded_as_well_as_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    target = tmp_path / "big.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "kb", "query", "--evidence", str(FIXTURE), "--max-memory", "100", "--format", "csv",
         "-o", str(target), "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 5
    assert "kb query: stopped: the query held more than 100 MiB of memory; nothing was written" in proc.stderr
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["notaurl", "ftp://x/sparql", "http:///sparql"])
def test_item9_an_endpoint_that_is_not_an_http_url_is_a_usage_error(url: str) -> None:
    result = cli("query", "--evidence", str(FIXTURE), "--endpoint", url, "SELECT * {}")
    assert result.exit_code == 2
    assert f"Invalid value for '--endpoint': '{url}' is not an http:// or https:// URL with a host" in result.stderr


# --- item 10: a merge conflict is named by every command ----------------------------------------------------------

def test_item10_new_claim_on_a_references_file_with_merge_conflict_markers(evidence_copy: Path) -> None:
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text() + "\n<<<<<<< HEAD\n@misc{a, title={A}}\n=======\n@misc{b, title={B}}\n>>>>>>> x\n")
    before = tree_digest(evidence_copy)
    line = line_of(bib, "<<<<<<< HEAD")
    result = cli("new-claim", "--evidence", str(evidence_copy), "--source", "shalaby2020peer", "--write")
    assert result.exit_code == 1
    assert f"{bib}:{line}:1: bib-merge-conflict unresolved merge conflict at line {line}: '<<<<<<< HEAD'" in result.stderr
    assert "is not in references.bib" not in result.stderr
    assert tree_digest(evidence_copy) == before


# --- item 11: one rule for control and bidi characters in every text --------------------------------------------

@pytest.mark.parametrize(("char", "code", "shown"), [("\x00", "yaml-control-char", "\\x00"),
                                                     ("\x07", "yaml-control-char", "\\x07"),
                                                     ("\u202e", "yaml-bidi-control", "\\u202e")])
def test_item11_claim_text_with_control_or_bidi_characters(evidence_copy: Path, char: str, code: str,
                                                           shown: str) -> None:
    path = edit(evidence_copy, CLAIMS, "found inconclusive results", f"found {char}inconclusive results")
    line = line_of(path, "inconclusive results")
    col = path.read_text().splitlines()[line - 1].index(char) + 1
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{path}:{line}:{col}: {code} {'control' if 'control-char' in code else 'bidirectional control'} character " \
           f"{shown} (invisible in most editors); expected printable text" in result.stderr
    assert cli("build", "--evidence", str(evidence_copy), "--out", str(evidence_copy.parent / "site")).exit_code == 1
    assert not (evidence_copy.parent / "site").exists()


def test_item11_the_same_rule_for_vocabularies_and_example_queries(evidence_copy: Path) -> None:
    ttl = edit(evidence_copy, "vocab/schemes.ttl", "skos:prefLabel", "skos:prefLabel", )
    text = ttl.read_text()
    label = text.index('"', text.index("skos:prefLabel")) + 1
    ttl.write_text(text[:label] + "\u202e" + text[label:])
    line = text.count("\n", 0, label) + 1
    (evidence_copy / "queries" / "bidi.rq").write_text("# title: t\nSELECT * WHERE { ?s ?p \"\u202e\" }\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{ttl}:{line}:" in result.stderr and "vocab-bidi-control bidirectional control character \\u202e" \
        in result.stderr
    assert f"{evidence_copy / 'queries' / 'bidi.rq'}:2:25: query-bidi-control" in result.stderr


def test_item11_escapes_that_stand_for_control_or_bidi_characters(evidence_copy: Path) -> None:
    """Regression: ``"\\u202e"``, ``"\\a"`` and ``"\\0"`` written as escapes in a double-quoted YAML value
    passed the check of the raw file and reached the graph and the HTML."""
    path = evidence_copy / CLAIMS
    text = path.read_text()
    path.write_text(text.replace("  - id: ", '  - notes: "x \\u202e y \\a z"\n    id: ', 1))
    line = line_of(path, 'notes: "x')
    before = tree_digest(evidence_copy)
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{path}:{line}:12: yaml-bidi-control an escape in this quoted value stands for the bidirectional " \
           "control character \\u202e" in result.stderr
    assert f"{path}:{line}:12: yaml-control-char an escape in this quoted value stands for the control character " \
           "\\x07" in result.stderr
    assert tree_digest(evidence_copy) == before


@pytest.mark.parametrize("written", ["\u202e", "\\u202e", "\\u0007"])
def test_item11_kb_toml_text_follows_the_same_rule(evidence_copy: Path, written: str) -> None:
    """Regression: a bidi control in kb.toml's title (raw, or as a TOML escape) passed kb check and reached
    87 files of the site; tomllib itself refuses only raw C0 controls."""
    toml = evidence_copy / "kb.toml"
    text = toml.read_text()
    key = next(line.split("=")[0].strip() for line in text.splitlines() if line.startswith("title"))
    toml.write_text(text.replace('title = "', f'title = "{written}', 1))
    line = line_of(toml, 'title = "')
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1 and key == "title"
    code = "config-control-char" if "0007" in written else "config-bidi-control"
    assert f"{toml}:{line}:9: {code} [title] title holds the " in result.stderr
    assert "expected printable text" in result.stderr
    assert cli("build", "--evidence", str(evidence_copy), "--out", str(evidence_copy.parent / "site")).exit_code == 1
    assert not (evidence_copy.parent / "site").exists()


# --- item 12: YAML 1.1 numbers -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "read_as", "why"), [("010", "8", "octal (a leading 0)"),
                                                         ("0x1F", "31", "hexadecimal or binary"),
                                                         ("1:30", "90", "base 60 (1:30 is 90)"),
                                                         ("1_000", "1000", "a number with '_' separators")])
def test_item12_yaml_number_traps_in_counts(evidence_copy: Path, written: str, read_as: str, why: str) -> None:
    path = edit(evidence_copy, CLAIMS, "    design: systematic_review_rct\n",
                f"    design: systematic_review_rct\n    n_studies: {written}\n")
    before = tree_digest(evidence_copy)
    line = line_of(path, f"n_studies: {written}")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert (f"{path}:{line}:16: yaml-type-trap [n_studies] 'n_studies: {written}' is read by YAML as {read_as}: {why}; "
            "expected a plain decimal number (a whole number). write the number in decimal digits as the source "
            "gives it") in result.stderr
    assert tree_digest(evidence_copy) == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("n_studies", "9" * 5000, "'n_studies: 99999999999999999999…' has 5,000 digits: not a count; expected a plain "
                              "decimal number (a whole number). write the number in decimal digits as the source gives "
                              "it, e.g. n_studies: 12; or quote it if it is text"),
    ("n_participants", ".inf", "'n_participants' is '.inf', not a number; expected a whole number"),
])
def test_item12_numbers_that_are_no_counts(evidence_copy: Path, field: str, value: str, message: str) -> None:
    path = edit(evidence_copy, CLAIMS, "    design: systematic_review_rct\n",
                f"    design: systematic_review_rct\n    {field}: {value}\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, field + ':')}:" in result.stderr and message in result.stderr


def test_item12_an_infinite_effect_value(evidence_copy: Path) -> None:
    path = edit(evidence_copy, CLAIMS, "    design: systematic_review_rct\n",
                "    design: systematic_review_rct\n    effect: {text: x, value: .inf}\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'value: .inf')}:30: yaml-type-trap [value] 'value: .inf' is not a finite number" \
        in result.stderr


# --- item 13: tabs and unclosed quotes ---------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new"), [("    section: Severe", "\tsection: Severe"),
                                          ("      - {outcome: hope, direction: benefit}",
                                           "      -\t{outcome: hope, direction: benefit}")])
def test_item13_a_tab_used_for_indentation_is_named(evidence_copy: Path, old: str, new: str) -> None:
    path = edit(evidence_copy, CLAIMS, old, new)
    line = line_of(path, new.strip("\t -{")[:12])
    col = path.read_text().splitlines()[line - 1].index("\t") + 1
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert (f"{path}:{line}:{col}: yaml-syntax a tab character is used for indentation: YAML allows only spaces "
            "there; expected valid YAML. replace the tab with spaces") in result.stderr


@pytest.mark.parametrize("later_quote", [True, False])
def test_item13_an_unclosed_quote_is_reported_where_it_opens(evidence_copy: Path, later_quote: bool) -> None:
    path = evidence_copy / CLAIMS
    text = path.read_text()
    if not later_quote:  # no other quote after it: YAML reads to the end of the file
        text = text.replace('"', "")
    path.write_text(text.replace("    section: Severe or Serious Mental Illness\n",
                                 '    section: "Severe or Serious Mental Illness\n', 1))
    line = line_of(path, 'section: "Severe')
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert f"{path}:{line}:14: yaml-syntax a quoted value opens here and " in result.stderr
    assert "add the closing quote on this line" in result.stderr


# --- item 15: SPARQL syntax errors where they are -----------------------------------------------------------------

@pytest.mark.parametrize(("query", "where", "what"), [
    ("SELECT ?s\nWHERE {\n  ?s a psk:Claim .\n  ?s psk:statement ?t ) .\n  FILTER(?t)\n}\n", "line 4, column 23",
     "')' closes nothing; the last open bracket is '{'"),
    ("SELECT ?s WHERE {\n  ?s a nope:Thing .\n}", "line 2, column 8",
     "prefix 'nope:' is not declared; declare it with PREFIX nope: <…>"),
    ("SELECT ?s WHERE {\n  ?s a psk:Claim .\n  FILTER(CONTAINS(?s, \"x\")\n}\n", "line 3, column 9",
     "'(' is never closed (expected ')')"),
])
def test_item15_syntax_errors_are_reported_where_they_are(query: str, where: str, what: str) -> None:
    result = cli("query", "--evidence", str(FIXTURE), query)
    assert result.exit_code == 3 and result.stdout == ""
    assert f"kb query: syntax error at {where}: {what}" in result.stderr


def test_item15_other_syntax_errors_list_tokens_not_character_classes() -> None:
    result = cli("query", "--evidence", str(FIXTURE), "SELECT * WHERE {\n ?s ?p ?o .\n FILTER(?o >= 1 && )\n}")
    assert result.exit_code == 3
    assert "syntax error at line 3, column 20: an expression is missing after '&&'" in result.stderr
    result = cli("query", "--evidence", str(FIXTURE), "SELECT * WHERE {\n ?s ?p ?o .\n FILTER(?o ??)\n}")
    assert result.exit_code == 3 and "unexpected input; expected one of" in result.stderr
    assert "\\u{" not in result.stderr and "..=" not in result.stderr


# --- siblings ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    ("base_iri = \n", "kb.toml:1:12: config-syntax Invalid value; expected TOML"),
    ("base_iri = 5\n", "kb.toml:1:12: config-type [base_iri] base_iri = 5; expected a quoted string"),
    ("title = [1]\n", "kb.toml:1:9: config-type [title] title = [1]; expected a quoted string"),
    ('base_iri = "not an iri"\n', "kb.toml:1:12: config-type [base_iri] base_iri 'not an iri/' is not an http(s) IRI"),
    ('base_iri = "https://example.org/a[1]/"\n',
     "kb.toml:1:12: config-type [base_iri] base_iri 'https://example.org/a[1]/' is not an http(s) IRI"),
    ('data_licence_url = "https://example.org/a%zz"\n', "kb.toml:1:20: config-type [data_licence_url] data_licence_url "
                                                         "'https://example.org/a%zz' is not an http(s) IRI (Invalid IRI "
                                                         "percent encoding '%zz')"),
    ("max_file_bytes = -1\n", "kb.toml:1:18: config-type [max_file_bytes] max_file_bytes = -1; expected a whole "
                              "number above 0"),
    # found by fuzzing: the site's render refused it mid-build, after kb check had said the folder was clean
    ('updated = "2026-1]1-22"\n', "kb.toml:1:11: config-type [updated] updated = '2026-1]1-22'; expected a date such "
                                 "as 2026-11-22"),
    ('updated = "2026-02-30"\n', "kb.toml:1:11: config-type [updated] updated = '2026-02-30'; expected a date"),
    ("updated = 2026\n", "kb.toml:1:11: config-type [updated] updated = 2026; expected a date"),
])
def test_sibling_a_bad_kb_toml_is_a_clean_error(evidence_copy: Path, content: str, message: str) -> None:
    (evidence_copy / "kb.toml").write_text(content)
    for command in ("check", "build", "query", "add"):
        result = cli(command, "--evidence", str(evidence_copy), *(["SELECT * {}"] if command == "query" else []),
                    *(["-"] if command == "add" else []), stdin="")
        assert result.exit_code == 1 and f"{evidence_copy / 'kb.toml'}" in result.stderr
        assert message in result.stderr


def test_sibling_an_empty_or_bare_updated_date_is_accepted(evidence_copy: Path) -> None:
    """updated = "" (the pages show no date) and a bare TOML date stay valid now that kb.toml's date is checked."""
    toml = evidence_copy / "kb.toml"
    text = toml.read_text(encoding="utf-8")
    for value in ('""', "2026-11-22"):
        toml.write_text(re.sub(r"updated = .*", f"updated = {value}", text), encoding="utf-8")
        result = cli("check", "--evidence", str(evidence_copy))
        assert result.exit_code == 0 and "config-type" not in result.stderr, (value, result.stderr)


def test_sibling_limits_in_kb_toml_are_used_and_said(evidence_copy: Path) -> None:
    (evidence_copy / "kb.toml").write_text("max_file_bytes = 100\n")
    result = cli("add", "--evidence", str(evidence_copy), "-", stdin="@misc{x, title={" + "y" * 200 + "}}\n")
    assert result.exit_code == 1
    assert "<stdin>: bib-file-too-large input is more than 100 bytes" in result.stderr


def test_sibling_a_claims_folder_that_is_a_file(evidence_copy: Path) -> None:
    import shutil

    shutil.rmtree(evidence_copy / "claims")
    (evidence_copy / "claims").write_text("x")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert (f"{evidence_copy / 'claims'}: evidence-not-a-folder claims is a file; expected a folder claims/ of files"
            in result.stderr)


def test_sibling_archived_sources_unreadable_or_not_utf8(evidence_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = evidence_copy / "sources" / "shalaby2020peer.txt"
    text.write_bytes(b"Peer support\n\xff\xfe bad\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert "source-encoding" in result.stderr
    assert f"{text}:2:1: source-encoding byte 0xFF is not valid UTF-8; expected a UTF-8 text" in result.stderr
    deny(monkeypatch, lambda p: p == str(text))
    result = cli("check", "--evidence", str(evidence_copy))
    assert "source-unreadable" in result.stderr
    assert f"{text}: source-unreadable cannot read the archived text: permission denied" in result.stderr


def test_sibling_vocabularies_unreadable_or_not_utf8(evidence_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ttl = evidence_copy / "vocab" / "schemes.ttl"
    ttl.write_bytes(ttl.read_bytes() + b"\n# caf\xe9\n")
    line = ttl.read_bytes().count(b"\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert "vocab-encoding" in result.stderr
    assert f"{ttl}:{line}:6: vocab-encoding byte 0xE9 is not valid UTF-8; expected a UTF-8 Turtle file" in result.stderr
    deny(monkeypatch, lambda p: p == str(ttl))
    for command in ("check", "vocab"):
        result = cli(command, "--evidence", str(evidence_copy))
        assert result.exit_code == 1
        assert "vocab-unreadable" in result.stderr
        assert f"{ttl}: vocab-unreadable cannot read the file: permission denied" in result.stderr


def test_sibling_vocabulary_too_large(evidence_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.load.vocab

    monkeypatch.setattr(kb.load.vocab, "MAX_VOCAB_BYTES", 100)
    result = cli("check", "--evidence", str(evidence_copy))
    assert "vocab-too-large" in result.stderr
    assert "vocab-too-large input is" in result.stderr and "the cap is 100 bytes" in result.stderr


def test_sibling_kb_vocab_with_broken_vocabularies_exits_non_zero(evidence_copy: Path) -> None:
    (evidence_copy / "vocab" / "schemes.ttl").write_text("@prefix : <x> .\n this is not turtle .\n")
    result = cli("vocab", "--evidence", str(evidence_copy))
    assert result.exit_code == 1 and "vocab-syntax" in result.stderr
    assert "the list above is incomplete" in result.stderr


def test_sibling_example_queries_are_checked(evidence_copy: Path) -> None:
    queries = evidence_copy / "queries"
    (queries / "latin1.rq").write_bytes(b"# title: caf\xe9\nSELECT * {}\n")
    (queries / "broken.rq").write_text("# title: broken\nSELECT * WHERE { ?s ?p\n")
    (queries / "update.rq").write_text("# title: update\nDELETE WHERE { ?s ?p ?o }\n")
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1
    assert (f"{queries / 'latin1.rq'}:1:13: query-example not valid UTF-8 (byte 0xE9); save the file as UTF-8"
            in result.stderr)
    assert f"{queries / 'broken.rq'}:2:16: query-example syntax error at line 2, column 16: '{{' is never closed" \
        in result.stderr
    assert f"{queries / 'update.rq'}: query-example line 2:1: read-only: SPARQL Update (DELETE)" in result.stderr
    listed = cli("query", "--evidence", str(evidence_copy), "--list")
    assert listed.exit_code == 1 and "claims-per-direction" in listed.stdout and "broken" not in listed.stdout


def test_sibling_query_files_not_utf8_or_endless(tmp_path: Path) -> None:
    query = tmp_path / "q.rq"
    query.write_bytes(b"SELECT * {\n ?s ?p \xe9 }")
    result = cli("query", "--evidence", str(FIXTURE), "-f", str(query))
    assert result.exit_code == 1
    assert f"kb query: {query}:2:8: not valid UTF-8 (byte 0xE9); save the file as UTF-8" in result.stderr
    result = cli("query", "--evidence", str(FIXTURE), "-f", "/dev/zero")
    assert result.exit_code == 1
    assert "kb query: /dev/zero: input is more than 1,048,576 bytes (it was still growing)" in result.stderr


def test_sibling_an_empty_query_is_a_usage_error() -> None:
    result = cli("query", "--evidence", str(FIXTURE), "  ")
    assert result.exit_code == 2 and "give a query: SPARQL text, -f FILE.rq, or an example name" in result.stderr


def test_sibling_evidence_dot_keeps_the_cache_outside_the_evidence_folder(evidence_copy: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(evidence_copy)
    result = cli("query", "--evidence", ".", "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")
    assert result.exit_code == 0
    assert not (evidence_copy / ".kb-cache").exists() and (evidence_copy.parent / ".kb-cache").is_dir()


def test_sibling_temp_files_of_a_killed_writer_are_removed_by_the_next_add(evidence_copy: Path,
                                                                            tmp_path: Path) -> None:
    stale = evidence_copy / ".references.bib.abc123.tmp"
    stale.write_text("half an entry")
    source = tmp_path / "n.bib"
    source.write_text("@article{doe2020,\n  author = {Doe, Jane},\n  title = {T},\n  journal = {J},\n  year = {2020},\n}\n")
    assert cli("add", "--evidence", str(evidence_copy), str(source)).exit_code == 0
    assert not stale.exists() and leftovers(evidence_copy) == []
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text().splitlines()
    assert ".*.tmp" in ignored


# --- siblings in kb release (a command that writes kb.toml) ----------------------------------------------------

@pytest.mark.parametrize("date", ["2024-02-30", "2023-13-01"])
def test_sibling_release_with_an_impossible_date_leaves_kb_toml_readable(evidence_copy: Path, date: str) -> None:
    before = tree_digest(evidence_copy)
    result = cli("release", "--evidence", str(evidence_copy), "r1", "--date", date)
    assert result.exit_code == 2
    assert f"release date '{date}' is not YYYY-MM-DD (a real calendar date, e.g. 2024-02-29)" in result.stderr
    assert tree_digest(evidence_copy) == before
    assert cli("check", "--evidence", str(evidence_copy)).exit_code == 0


def test_sibling_release_notes_with_a_newline_keep_kb_toml_valid(evidence_copy: Path) -> None:
    import tomllib

    notes = 'Line one\nline "two"\ttabbed \\ end'
    result = cli("release", "--evidence", str(evidence_copy), "r1", "--date", "2024-02-29", "--notes", notes)
    assert result.exit_code == 0, result.stderr
    assert tomllib.loads((evidence_copy / "kb.toml").read_text())["releases"][0]["notes"] == notes
    assert cli("check", "--evidence", str(evidence_copy)).exit_code == 0
    before = tree_digest(evidence_copy)
    result = cli("release", "--evidence", str(evidence_copy), "r2", "--date", "2024-03-01", "--notes", "a\x01b")
    assert result.exit_code == 2
    assert "the notes hold a control character \\x01 (invisible in most editors); expected printable text" \
        in result.stderr
    assert tree_digest(evidence_copy) == before


def test_sibling_release_on_a_full_disk_or_a_read_only_folder(evidence_copy: Path, full_disk: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_digest(evidence_copy)
    result = cli("release", "--evidence", str(evidence_copy), "r1", "--date", "2024-02-29")
    assert result.exit_code == 1
    dump = evidence_copy / "releases" / "r1" / "kb.nt.gz"
    assert f"kb release: could not write {dump}: no space left on the device (" in result.stderr
    assert "; nothing was written" in result.stderr
    assert tree_digest(evidence_copy) == before and not (evidence_copy / "releases").exists()
    monkeypatch.undo()
    deny(monkeypatch, lambda p: p.endswith(".kb.toml.lock"))
    result = cli("release", "--evidence", str(evidence_copy), "r1", "--date", "2024-02-29")
    assert result.exit_code == 1
    assert f"kb release: could not write {dump}: permission denied (cannot create files in {evidence_copy})" \
        in result.stderr
    assert tree_digest(evidence_copy) == before


def test_sibling_ctrl_c_ends_a_command_with_one_line(evidence_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.pipeline
    from kb.io.procs import quiet_worker

    site = tmp_path / "site"
    assert cli("build", "--evidence", str(evidence_copy), "--out", str(site)).exit_code == 0
    before = tree_digest(site)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kb.pipeline, "write_outputs", interrupted)
    result = cli("build", "--evidence", str(evidence_copy), "--out", str(site))
    assert result.exit_code == 130
    assert "kb build: interrupted; files are replaced atomically, so none was left half-written" in result.stderr
    assert tree_digest(site) == before and sorted(p.name for p in tmp_path.iterdir()) == [".kb-cache", "evidence", "site"]
    import signal

    previous = signal.getsignal(signal.SIGINT)
    try:
        quiet_worker()  # what each pool worker runs first: Ctrl-C is its parent's to handle
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sibling_a_damaged_query_cache_is_rebuilt(evidence_copy: Path) -> None:
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    first = cli("query", "--evidence", str(evidence_copy), query)
    cache = evidence_copy.parent / ".kb-cache"
    [current] = list(cache.glob("store-*/db/CURRENT"))
    current.write_text("garbage")
    again = cli("query", "--evidence", str(evidence_copy), query)
    assert again.exit_code == 0 and again.stdout == first.stdout


def test_sibling_kb_diff_with_a_broken_kb_toml_in_one_state(evidence_copy: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(evidence_copy, other)
    (other / "kb.toml").write_text("base_iri = \n")
    result = cli("diff", str(evidence_copy), str(other))
    assert result.exit_code == 2
    assert f"kb diff: {other / 'kb.toml'}:1:12: config-syntax Invalid value; expected TOML" in result.stderr


def test_sibling_publish_input_that_is_not_a_file() -> None:
    result = cli("publish", "--evidence", str(FIXTURE), "--endpoint", "http://127.0.0.1:9/sparql", "--input",
                 "/dev/zero", "--dry-run")
    assert result.exit_code == 2 and "/dev/zero is not a regular file: run kb build" in result.stderr


def test_item14_nbsp_in_a_field_name_in_references_bib_is_reported_on_its_line(evidence_copy: Path) -> None:
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text() + "\n@misc{nb2020,\n  title = {T},\n  year = {2020},\n  funding_text\u00a01 = {x},\n}\n")
    line = line_of(bib, "funding_text")
    result = cli("check", "--evidence", str(evidence_copy), "--no-shacl")
    assert result.exit_code == 1
    assert (f"{bib}:{line}:3: bib-bad-field-name [funding_text\\xa01] field name 'funding_text\\xa01' has characters "
            "BibTeX does not allow; expected letters, digits and _ + : . -") in result.stderr


def test_sibling_the_editors_rules_not_utf8_or_unreadable(evidence_copy: Path, tmp_path: Path) -> None:
    """evidence/README.md, whose certainty rule the method page quotes, is read with the records: a damaged one is a
    problem with its line and column before anything is written, not a failed site worker (found by fuzzing)."""
    from tests.conftest import ROOT

    readme = evidence_copy / "README.md"
    lines = (ROOT / "evidence" / "README.md").read_bytes().split(b"\n")
    lines[2] = b"ab\xbd" + lines[2]
    readme.write_bytes(b"\n".join(lines))
    out = tmp_path / "site"
    result = cli("build", "--evidence", str(evidence_copy), "--out", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert (f"{readme}:3:3: evidence-readme-encoding byte 0xBD is not valid UTF-8; expected a UTF-8 text"
            in result.stderr)
    assert not out.exists()
    readme.unlink()
    readme.mkdir()
    result = cli("check", "--evidence", str(evidence_copy))
    assert result.exit_code == 1 and "evidence-readme-unreadable" in result.stderr
    readme.rmdir()
    result = cli("build", "--evidence", str(evidence_copy), "--out", str(out))  # none at all: a method page without it
    assert result.exit_code == 0, result.stderr
    method = (out / "method.html").read_text(encoding="utf-8")
    assert "Every claim gets one GRADE level" not in method and "Start from the design of the evidence" in method
