"""Issue 12, items 1–3 (and 14, 16 as ``kb add`` meets them): which entries are one work, what ``kb add``
writes passes ``kb check``, and input that never ends.

None of the real-world files in tests/data/bib-corpus is a journal bibliography with recurring column
titles, so :func:`journal_bibliography` generates one in the style of a TUGboat bibliography: the same
columns in every issue (same title, author and year; different volume, number and pages), keys in the
``Author:Year:Initials`` style with a, b, … suffixes. Every expected outcome below was written from the
generator's rules, not read back from the code.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_config
from kb.edit.add import AddOptions, AddResult, run_add
from kb.namespaces import PSK
from kb.pipeline import check
from tests.conftest import ROOT, tree_digest

CORPUS = Path(__file__).parent / "data" / "bib-corpus"
COLUMNS = (("Editorial comments", "Editor, Edith", "EC"), ("Hyphenation exception log", "Editor, Edith", "HEL"),
           ("From the President", "Chair, Charles", "FP"))


def article(key: str, title: str, author: str, year: int | str, extra: str = "", kind: str = "article",
            venue: str = "journal = {TUGboat}") -> str:
    return (f"@{kind}{{{key},\n  author = {{{author}}},\n  title = {{{title}}},\n  {venue},\n"
            f"  year = {{{year}}},\n{extra}}}\n")


def located(volume: int, number: int, pages: str) -> str:
    return f"  volume = {{{volume}}},\n  number = {{{number}}},\n  pages = {{{pages}}},\n"


def journal_bibliography() -> tuple[str, list[tuple[int, str, str]]]:
    """The file's text and, per entry, (line, expected outcome, expected key)."""
    entries: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    for year, volume in ((1989, 10), (1990, 11), (1991, 12)):
        for number in (1, 2, 3, 4):
            page = 1
            for title, author, initials in COLUMNS:
                stem = f"{author.split(',')[0]}:{year}:{initials}"
                key = stem + ("" if stem not in seen else "abcdefgh"[seen[stem]])
                seen[stem] = seen.get(stem, -1) + 1
                entries.append((article(key, title, author, year, located(volume, number, f"{page}--{page + 1}")),
                                "added", key))
                page += 2
            key = f"Writer:{year}:TN{number}"
            entries.append((article(key, f"Typesetting notes, part {number}", "Writer, Wanda and Reader, Rob", year,
                                    located(volume, number, f"{page}--{page + 9}")), "added", key))
    first_key = "Editor:1989:EC"
    entries += [
        # the first column again, word for word: the same work
        (article(first_key, "Editorial comments", "Editor, Edith", 1989, located(10, 1, "1--2")), "present", first_key),
        # a 1990 column with no volume, number or pages: which issue? uncertain → added, with a warning
        (article("Editor:1990:ECx", "Editorial comments", "Editor, Edith", 1990), "added", "Editor:1990:ECx"),
        # the same title and author as a conference paper: another entry type, another work
        (article("Editor:1990:ECp", "Editorial comments", "Editor, Edith", 1990, kind="inproceedings",
                 venue="booktitle = {Proceedings of the annual meeting}"), "added", "Editor:1990:ECp"),
        # the 1991 no. 1 column with a second author: another work
        (article("Editor:1991:EC", "Editorial comments", "Editor, Edith and Helper, Hank", 1991,
                 located(12, 1, "1--2")), "added", "Editor:1991:ECd"),
        # a title that decodes to nothing (an unknown macro): kb check would refuse it
        (article("Masthead:1990", "{{\\TUG}}", "Editor, Edith", 1990, located(11, 2, "0--0")), "reported",
         "Masthead:1990"),
        # the DOI of shalaby2020peer on another title: a conflict, not a duplicate
        (article("Other:2020", "A different paper", "Other, Olga", 2020, "  doi = {10.2196/15572},\n"), "reported",
         "Other:2020"),
        # shalaby2020peer itself, abbreviated names, same DOI: already present
        (article("shalaby2020copy", "Peer support in mental health: literature review",
                 "Shalaby, R. A. H. and Agyapong, V. I. O.", 2020, "  doi = {https://doi.org/10.2196/15572},\n",
                 venue="journal = {JMIR Ment Health}"), "present", "shalaby2020peer"),
        # a script where a web address belongs: imported, with a warning
        (article("Writer:1991:JS", "Links in PDF", "Writer, Wanda", 1991,
                 located(12, 4, "40--41") + "  url = {javascript:alert(1)},\n"), "added", "Writer:1991:JS"),
    ]
    text, expected, line = "", [], 1
    for entry, outcome, key in entries:
        expected.append((line, outcome, key))
        text += entry + "\n"
        line += entry.count("\n") + 1
    return text, expected


def add(evidence: Path, *inputs: str | Path, **kw: object) -> AddResult:
    return run_add(list(inputs), AddOptions(evidence_dir=evidence, **kw))  # type: ignore[arg-type]


def cli(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def by_code(result: AddResult, code: str):
    return [p for p in result.problems if p.code == code]


# --- item 1: one work or several ----------------------------------------------------------------------------

def test_item1_journal_columns_are_many_works_per_entry_account(evidence_copy: Path, tmp_path: Path) -> None:
    text, expected = journal_bibliography()
    source = tmp_path / "tugboat-like.bib"
    source.write_text(text)
    before = tree_digest(evidence_copy)
    dry = add(evidence_copy, source)
    assert [(o.line, o.kind, o.key) for o in dry.outcomes] == expected
    assert (dry.count("added"), dry.count("present"), dry.count("reported")) == (52, 2, 2)
    assert dry.exit_code == 1 and not dry.written and tree_digest(evidence_copy) == before  # errors: all or nothing

    result = add(evidence_copy, source, skip_invalid=True)
    assert result.written and [(o.line, o.kind, o.key) for o in result.outcomes] == expected
    [uncertain] = by_code(result, "bib-possible-duplicate")
    assert uncertain.severity == "warning" and uncertain.path == str(source) and uncertain.line == expected[-7][0]
    assert "may be the same work as 'Editor:1990:EC'" in uncertain.message
    assert "only one of the two gives the volume, number, pages" in uncertain.message
    second = next(o for o in result.outcomes if o.key == "Editor:1989:ECa")
    assert "a different work from Editor:1989:EC" in second.message and "the number differs" in second.message
    # Everything written passes kb check, and a second run adds nothing.
    checked = check(load_config(evidence_copy))
    assert not checked.report.errors, [p.format() for p in checked.report.errors][:5]
    again = add(evidence_copy, source, skip_invalid=True)
    assert again.count("added") == 0 and again.count("present") == 54 and not again.written


def test_item1_same_doi_with_another_title_is_a_conflict_not_a_skip(evidence_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "doi.bib"
    source.write_text(article("Other:2020", "A different paper", "Other, Olga", 2020, "  doi = {10.2196/15572},\n"))
    before = tree_digest(evidence_copy)
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 1
    assert (f"{source}:6:3: bib-doi-conflict [doi] DOI 10.2196/15572 is already on 'shalaby2020peer' "
            f"({evidence_copy / 'references.bib'}:2), whose title is 'Peer Support in Mental Health: Literature "
            "Review'; this entry's is 'A different paper'; expected one DOI per work") in result.stderr
    assert f"{source}:1:1: not imported: its DOI is already on shalaby2020peer" in result.stdout
    assert "0 added, 0 already present, 1 reported" in result.stdout
    assert tree_digest(evidence_copy) == before


def test_item1_same_doi_with_other_authors_is_a_conflict(evidence_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "doi.bib"
    source.write_text(article("x", "Peer Support in Mental Health: Literature Review", "Shalaby, R. and Other, O.",
                              2020, "  doi = {10.2196/15572},\n"))
    [problem] = by_code(add(evidence_copy, source), "bib-doi-conflict")
    assert "the second author differs" in problem.message and problem.field == "doi"


@pytest.mark.parametrize(("change", "why"), [
    ("  volume = {8},\n", "the volume differs"),
    ("  pages = {e1},\n", "the pages differs"),
    ("  doi = {10.1000/other},\n", "the DOIs differ"),
])
def test_item1_a_differing_identifier_makes_another_work(evidence_copy: Path, tmp_path: Path, change: str,
                                                         why: str) -> None:
    source = tmp_path / "x.bib"
    source.write_text(article("shalaby2020peer", "Peer Support in Mental Health: Literature Review",
                              "Shalaby, Reham A Hameed and Agyapong, Vincent I O", 2020, change,
                              venue="journal = {JMIR Mental Health}"))
    [outcome] = add(evidence_copy, source).outcomes
    assert (outcome.kind, outcome.key) == ("added", "shalaby2020peera") and why in outcome.message


def test_item1_uncertain_identity_is_added_with_a_warning_never_dropped(evidence_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "x.bib"  # the target's entry with no DOI, volume, number or pages: cannot tell
    source.write_text(article("SHALABY2020PEER", "Peer support in mental health: literature review",
                              "Shalaby, R. and Agyapong, V.", 2020, venue="journal = {JMIR Mental Health}"))
    result = add(evidence_copy, source)
    [outcome] = result.outcomes
    assert (outcome.kind, outcome.key) == ("added", "SHALABY2020PEERa") and result.written and result.exit_code == 0
    [warning] = by_code(result, "bib-possible-duplicate")
    assert (warning.path, warning.line, warning.col) == (str(source), 1, 1)
    assert "only one of the two gives the doi, volume, number, pages" in warning.message


# --- item 2: what kb add writes, kb check accepts ---------------------------------------------------------------

def test_item2_a_title_that_decodes_to_nothing_is_refused_by_add_and_check(evidence_copy: Path,
                                                                          tmp_path: Path) -> None:
    source = tmp_path / "t.bib"
    source.write_text(article("Masthead:1990", "{{\\TUG}}", "Editor, Edith", 1990))
    before = tree_digest(evidence_copy)
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 1 and tree_digest(evidence_copy) == before
    assert (f"{source}:3:3: bib-empty-title [title] title '{{{{\\TUG}}}}' shows as nothing once its LaTeX is "
            "decoded") in result.stderr and "expected a title with visible text" in result.stderr
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text() + "\n" + article("Masthead:1990", "{{\\TUG}}", "Editor, Edith", 1990))
    problems = [p for p in check(load_config(evidence_copy)).report.errors]
    assert [(p.code, p.field) for p in problems] == [("bib-empty-title", "title")]  # SHACL does not repeat it


@pytest.mark.parametrize(("author", "which"), [("\\relax", "name 1 of 1"), ("{}", "name 1 of 1"),
                                               ("Smith, Jo and {\\relax}", "name 2 of 2")])
def test_item2_an_author_that_decodes_to_nothing_is_refused_by_add_and_check(evidence_copy: Path, tmp_path: Path,
                                                                             author: str, which: str) -> None:
    """Sibling of item 2: ``author = {\\relax}`` was accepted and became a person with an empty name."""
    source = tmp_path / "t.bib"
    source.write_text(article("t2020", "Hello", author, 2020))
    before = tree_digest(evidence_copy)
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 1 and tree_digest(evidence_copy) == before
    assert f"bib-empty-name [author] author '{author}': {which} shows as nothing" in result.stderr
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text() + "\n" + article("t2020", "Hello", author, 2020))
    assert [(p.code, p.field) for p in check(load_config(evidence_copy)).report.errors] == [
        ("bib-empty-name", "author")]


@pytest.mark.parametrize(("kind", "hint"), [("mvbook", "use @book"), ("patent", "use @misc"),
                                            ("set", "import the entries it stands for")])
def test_item2_types_the_graph_does_not_model_are_refused_with_the_fit(evidence_copy: Path, tmp_path: Path,
                                                                       kind: str, hint: str) -> None:
    source = tmp_path / "t.bib"
    source.write_text(article("k2020", "A title", "Author, Ann", 2020, kind=kind))
    result = add(evidence_copy, source)
    [problem] = by_code(result, "bib-unsupported-entry-type")
    assert (problem.line, problem.col, problem.field) == (1, 1, "type") and hint in (problem.hint or "")
    assert "@article" in (problem.expected or "") and not result.written


def test_item2_modelled_types_are_the_graph_classes_and_the_shape(tmp_path: Path) -> None:
    import rdflib

    from kb.bibtex.check import MODELLED_TYPES
    from kb.graph.build import BIBO_TYPES
    from kb.graph.shipped import schema_bytes

    shapes = rdflib.Graph().parse(data=schema_bytes("shapes.ttl"), format="turtle")
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    psk = rdflib.Namespace("https://w3id.org/peer-support-kb/ontology#")
    node = next(shapes.subjects(sh.path, psk.bibtexType))
    listed = {str(x) for x in rdflib.collection.Collection(shapes, shapes.value(node, sh["in"]))}
    assert set(MODELLED_TYPES) == set(BIBO_TYPES) == listed


def test_item2_kb_add_runs_kb_checks_shapes_even_where_a_field_check_is_missing(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The field check for empty titles switched off: SHACL, run on the file as it would be written, still refuses."""
    import kb.bibtex.check

    monkeypatch.setattr(kb.bibtex.check, "_check_display", lambda *a: None)
    source = tmp_path / "t.bib"
    source.write_text(article("ok1990", "Fine", "Editor, Edith", 1990) + "\n"
                      + article("Masthead:1990", "{{\\TUG}}", "Editor, Edith", 1990))
    before = tree_digest(evidence_copy)
    result = add(evidence_copy, source)
    assert [(o.kind, o.key) for o in result.outcomes] == [("added", "ok1990"), ("reported", "Masthead:1990")]
    [problem] = [p for p in result.errors]
    assert (problem.code, problem.path, problem.line, problem.field) == ("shacl-violation", str(source), 10, "title")
    assert "kb check would report this once it is in references.bib" in problem.message
    assert not result.written and tree_digest(evidence_copy) == before
    written = add(evidence_copy, source, skip_invalid=True)
    assert written.written and [e.splitlines()[0] for e in written.new_entries] == ["@article{ok1990,"]


@pytest.mark.parametrize("name", sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.bib")))
def test_item2_every_corpus_file_imports_into_a_kb_that_passes_kb_check(evidence_copy: Path, name: str) -> None:
    add(evidence_copy, CORPUS / name, skip_invalid=True, encoding=_ENCODINGS.get(name))
    report = check(load_config(evidence_copy)).report
    assert not report.errors, [p.format() for p in report.errors][:5]


_ENCODINGS = {"nasty/bibtexparser_v2_gbk_test.bib": "gbk", "nasty/biber/encoding1.bib": "iso-8859-15"}


# --- item 3: input that never ends ------------------------------------------------------------------------------

def test_item3_dev_zero_is_refused_at_the_cap(evidence_copy: Path) -> None:
    before = tree_digest(evidence_copy)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "kb", "add", "--evidence", str(evidence_copy), "/dev/zero"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert time.monotonic() - start < 30
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ("/dev/zero: bib-file-too-large input is more than 52,428,800 bytes (it was still growing); the cap is "
            "50 MiB (52,428,800 bytes); expected at most 52,428,800 bytes") in proc.stderr
    assert tree_digest(evidence_copy) == before


def test_item3_endless_standard_input_is_refused_at_the_cap(evidence_copy: Path) -> None:
    before = tree_digest(evidence_copy)
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        proc = subprocess.run([sys.executable, "-m", "kb", "add", "--evidence", str(evidence_copy), "-"],
                              stdin=yes.stdout, capture_output=True, text=True, timeout=60, cwd=ROOT)
    finally:
        yes.kill()
        yes.wait()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "<stdin>: bib-file-too-large input is more than 52,428,800 bytes" in proc.stderr
    assert tree_digest(evidence_copy) == before


class Endless:
    """A stream that never ends and counts what was read from it."""

    def __init__(self) -> None:
        self.given = 0

    def read(self, n: int = -1) -> bytes:
        assert n > 0, "an unbounded read of an endless stream"
        self.given += n
        return b"y" * n


def test_item3_the_cap_bounds_what_is_read(evidence_copy: Path) -> None:
    stream = Endless()
    result = run_add(["-"], AddOptions(evidence_dir=evidence_copy, max_file_bytes=1000), stdin=stream)  # type: ignore[arg-type]
    [problem] = result.problems
    assert problem.code == "bib-file-too-large" and "the cap is 1000 bytes (1,000 bytes)" in problem.message
    assert stream.given == 1001


def test_item3_a_large_regular_file_is_refused_by_its_size_before_reading(evidence_copy: Path,
                                                                         tmp_path: Path) -> None:
    big = tmp_path / "big.bib"
    with big.open("wb") as fh:
        fh.truncate(5000)
    [problem] = add(evidence_copy, big, max_file_bytes=1000).problems
    assert problem.message.startswith("input is 5,000 bytes; the cap is")


# --- items 14 and 16 as kb add meets them -----------------------------------------------------------------------

def test_item14_nbsp_in_a_field_name_is_reported_on_its_own_line(evidence_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "n.bib"
    source.write_text(article("nb2020", "T", "A, B", 2020, "  funding_text\u00a01 = {x},\n"))
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 1
    assert (f"{source}:6:3: bib-bad-field-name [funding_text\\xa01] field name 'funding_text\\xa01' has characters "
            "BibTeX does not allow; expected letters, digits and _ + : . -") in result.stderr


def test_a_url_no_iri_can_hold_is_warned_about_and_left_out_of_the_graph(evidence_copy: Path, tmp_path: Path) -> None:
    """Oxigraph refuses 'a%zz' as an IRI: it once stopped every build with a SyntaxError traceback. Brackets in a
    path are encoded instead (a[1] → a%5B1%5D), as a browser sends them."""
    source = tmp_path / "u.bib"
    source.write_text(article("bad2020", "T", "A, B", 2020, "  url = {https://example.org/a%zz},\n")
                      + article("brackets2020", "U", "A, B", 2020, "  url = {https://example.org/list?a[1]=2},\n"))
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 0, result.stderr
    assert (f"{source}:6:3: bib-unsafe-url (warning) [url] url 'https://example.org/a%zz' is not a valid IRI (Invalid "
            "IRI percent encoding '%zz'): the graph and its dumps leave it out") in result.stderr
    assert "brackets2020" not in result.stderr.split("bib-unsafe-url")[-1].split("\n")[0]
    query = ("PREFIX psk: <" + PSK + "> SELECT ?key ?url WHERE { ?w psk:citekey ?key ; <https://schema.org/url> ?url "
             "FILTER(?key IN ('bad2020', 'brackets2020')) }")
    answered = cli("query", "--evidence", str(evidence_copy), "--format", "csv", query)
    assert answered.exit_code == 0, answered.stderr
    assert answered.stdout.splitlines()[1:] == ["brackets2020,https://example.org/list?a%5B1%5D=2"]


def test_item16_a_javascript_url_is_warned_about_with_field_and_line(evidence_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "j.bib"
    source.write_text(article("js2020", "T", "A, B", 2020, "  url = {javascript:alert(1)},\n"))
    result = cli("add", "--evidence", str(evidence_copy), str(source))
    assert result.exit_code == 0 and "bib-unsafe-url" in result.stderr
    assert (f"{source}:6:3: bib-unsafe-url (warning) [url] url 'javascript:alert(1)' is not a web address: the site "
            "shows it as text and never links it; expected an http:// or https:// address") in result.stderr
    bib = evidence_copy / "references.bib"
    checked = cli("check", "--evidence", str(evidence_copy), "--no-shacl")
    line = bib.read_text().splitlines().index("  url = {javascript:alert(1)},") + 1
    assert f"{bib}:{line}:3: bib-unsafe-url (warning) [url]" in checked.stderr
