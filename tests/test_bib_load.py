"""The references loader (``kb.bibtex.load.load_references``): every problem code, positions, values, display.

Fixtures: tests/data/bib/ (written for these tests) and tests/data/bib-corpus/ (real files, see its
SOURCES.md). Variants in other encodings are generated here, never stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.bibtex.load import latex_to_text, load_references
from kb.bibtex.values import MacroTable, evaluate, normalise_doi, normalise_pages, parse_persons
from kb.model import Person, Reference
from kb.problems import Problem, Severity

DATA = Path(__file__).parent / "data"
BIB = DATA / "bib"
CORPUS = DATA / "bib-corpus"


def load(path: Path, **kw: object) -> tuple[list[Reference], list[Problem]]:
    return load_references(path, **kw)  # type: ignore[arg-type]


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[Problem], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


def write(tmp_path: Path, data: bytes | str, name: str = "in.bib") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


ENTRY = "@article{key2020,\n  author = {Smith, Jane},\n  title = {Peer support},\n  year = {2020},\n}\n"


# --- a clean file ------------------------------------------------------------------------------

def test_valid_file_has_no_problems_and_exact_lines() -> None:
    refs, problems = load(BIB / "valid.bib")
    assert problems == []
    by_key = {r.key: r for r in refs}
    shalaby = by_key["shalaby2020peer"]
    assert shalaby.line == 4
    assert shalaby.field_lines["title"] == 6
    assert shalaby.line_of("doi") == 13
    assert shalaby.entry_type == "article"
    assert shalaby.raw.startswith("@article{shalaby2020peer,") and shalaby.raw.endswith("}")
    assert shalaby.fields["journal"] == "JMIR Mental Health"  # @string resolved
    assert shalaby.fields["month"] == "June"  # month macro resolved
    assert shalaby.doi == "10.2196/15572"  # https://doi.org/ stripped
    assert shalaby.authors == (Person("Shalaby", "Reham A Hameed"), Person("Agyapong", "Vincent I O"))


def test_values_macros_months_corporate_and_others() -> None:
    refs, _ = load(BIB / "valid.bib")
    by_key = {r.key: r for r in refs}
    who = by_key["world2014fact"]
    assert who.fields["month"] == "June-August"  # jun # "-" # aug, BibTeX's own semantics
    assert who.fields["year"] == "2014"
    assert who.title == 'Fact {Sheet} on \\"{U}ber-{Peer} Work'  # LaTeX kept as written
    assert who.authors == (Person("World Health Organization", literal=True),)
    chinman = by_key["chinman2014peer"]
    assert chinman.authors_truncated and len(chinman.authors) == 2
    assert chinman.doi == "10.1176/appi.ps.201300244"  # lower case


# --- syntax (BAD_INPUTS A) -----------------------------------------------------------------------

def test_unbalanced_braces_point_to_the_value_left_open_and_say_start_and_give_up_lines() -> None:
    refs, problems = load(BIB / "unbalanced.bib")
    [p] = only(problems, "bib-unbalanced-braces")
    assert (p.line, p.col) == (3, 11)  # title = {Open {brace, …: the value whose '{' is never matched
    assert "the value of 'title' starting here never ends" in (p.hint or "")
    assert "entry starts at line 1" in p.message and "gave up at line 7" in p.message
    assert [r.key for r in refs] == ["fine2020"]  # the next entry is recovered


def test_missing_closing_brace_before_next_entry_and_at_end_of_file() -> None:
    refs, problems = load(BIB / "unclosed.bib")
    found = only(problems, "bib-unclosed-entry")
    assert [(p.line, p.col) for p in found] == [(4, 17), (15, 17)]  # just after each entry's last field
    assert all("entry is not: add its closing '}' here" in (p.hint or "") for p in found)
    assert "entry starts at line 1" in found[0].message and "entry starts at line 12" in found[1].message
    assert "gave up at line 6" in found[0].message
    assert "the file ends first" in found[1].message and "gave up at line 15" in found[1].message
    assert [r.key for r in refs] == ["second2020"]


def test_other_syntax_errors_and_no_stray_noise_from_the_broken_entry() -> None:
    refs, problems = load(BIB / "syntax.bib")
    assert codes(problems) == ["bib-syntax"]
    assert "citekey missing" in (problems[0].hint or "")
    assert [r.key for r in refs] == ["ok2020"]


def test_stray_brace_and_text_are_warnings_with_lines() -> None:
    refs, problems = load(BIB / "stray.bib")
    assert [(p.code, p.line, p.severity) for p in problems] == [
        ("bib-stray-brace", 5, Severity.WARNING), ("bib-stray-text", 6, Severity.WARNING)]
    assert len(refs) == 2


def test_percent_comments_are_comments_not_entries_or_fields() -> None:
    refs, problems = load(BIB / "commented.bib")
    assert [(p.code, p.line) for p in problems] == [("bib-commented-field", 5), ("bib-commented-entry", 8)]
    assert all(p.severity is Severity.WARNING for p in problems)
    [ref] = refs
    assert ref.authors == (Person("Live", "L"),)  # the commented "duplicate" did not win or vanish
    assert "doi" not in ref.fields and "% doi" not in ref.fields


def test_names_bib_commented_entries_are_not_revived() -> None:
    refs, problems = load(CORPUS / "nasty/biber/names.bib")
    assert len(refs) == 38  # bibtexparser alone sees 40
    assert [p.line for p in only(problems, "bib-commented-entry")] == [118, 123]


def test_duplicate_and_lookalike_keys_name_both_lines() -> None:
    refs, problems = load(BIB / "duplicate_key.bib")
    [dup] = only(problems, "bib-duplicate-key")
    assert dup.line == 7 and "lines 1 and 7" in dup.message
    [look] = only(problems, "bib-lookalike-key")
    assert look.line == 19 and "line 13" in look.message
    assert [r.key for r in refs] == ["same2020", "Smith2020"]
    assert refs[0].title == "First of two"


def test_duplicate_doi_across_spellings() -> None:
    _, problems = load(BIB / "duplicate_doi.bib")
    [p] = problems
    assert (p.code, p.line, p.field) == ("bib-duplicate-doi", 12, "doi")
    assert "line 1" in p.message


def test_duplicate_field_is_an_error_with_both_lines_even_across_case() -> None:
    refs, problems = load(BIB / "duplicate_field.bib")
    [p] = problems
    assert (p.code, p.line, p.field) == ("bib-duplicate-field", 5, "year")
    assert "lines 4 and 5" in p.message
    assert len(refs) == 1  # kept for later stages; the error blocks the build


def test_unsafe_keys_are_rejected() -> None:
    refs, problems = load(BIB / "unsafe_keys.bib")
    assert refs == []
    assert codes(problems) == ["bib-unsafe-key"] * 5
    assert "reserved device name" in problems[2].message


def test_empty_keys_are_errors_in_the_loader() -> None:
    refs, problems = load(BIB / "empty_key.bib")
    assert refs == [] and codes(problems) == ["bib-empty-key", "bib-empty-key"]


def test_undefined_macros_duplicate_strings_and_malformed_values() -> None:
    refs, problems = load(BIB / "macros.bib")
    assert [(p.code, p.line, p.field) for p in problems] == [
        ("bib-duplicate-string", 2, None),
        ("bib-undefined-macro", 7, "journal"),
        ("bib-undefined-macro", 8, "booktitle"),
        ("bib-bad-value", 11, "note"),
    ]
    assert "'jprsx'" in problems[1].message and "'CONF-91'" in problems[2].message
    assert refs[0].fields["month"] == "10~January"


def test_unknown_types_get_a_mapping_and_required_fields_are_checked() -> None:
    _, problems = load(BIB / "types_and_fields.bib")
    found = [(p.code, p.line, p.field) for p in problems]
    assert ("bib-unknown-entry-type", 1, None) in found
    assert ("bib-unknown-entry-type", 7, None) in found
    hints = [p.hint for p in only(problems, "bib-unknown-entry-type")]
    assert hints == ["use @online", "use @article"]
    assert ("bib-empty-field", 15, "title") in found
    assert ("bib-bad-doi", 17, "doi") in found
    missing = [p.field for p in only(problems, "bib-missing-field")]
    assert missing == ["title", "year", "author"]


def test_unknown_type_from_the_corpus() -> None:
    _, problems = load(CORPUS / "nasty/bibtexparser_v1/wrong.bib")
    assert ("bib-unknown-entry-type", 3) in [(p.code, p.line) for p in problems]


def test_undated_web_page_is_only_a_warning(tmp_path: Path) -> None:
    text = "@online{site,\n  author = {{Org}},\n  title = {Site},\n  url = {https://x.org},\n  urldate = {2020-01-01},\n}\n"
    _, problems = load(write(tmp_path, text))
    assert [(p.code, p.severity) for p in problems] == [("bib-missing-field", Severity.WARNING)]


def test_undated_web_page_with_an_annote_is_fine(tmp_path: Path) -> None:
    text = ("@online{site,\n  author = {{Org}},\n  title = {Site},\n  url = {https://x.org},\n"
            "  urldate = {2020-01-01},\n  annote = {The source gives no date.},\n}\n")
    _, problems = load(write(tmp_path, text))
    assert problems == []


def test_crossref_cycle_lists_the_chain() -> None:
    _, problems = load(CORPUS / "nasty/bibtexparser_v1/crossref_cascading_cycle.bib")
    cycles = only(problems, "bib-crossref-cycle")
    assert [p.message for p in cycles] == ["crossref cycle: circ1 → circ2 → circ1",
                                           "crossref cycle: circ2 → circ1 → circ2"]
    assert cycles[0].line == 8  # the crossref field's line


def test_crossref_and_xref_missing_targets() -> None:
    _, problems = load(CORPUS / "nasty/bibtexparser_v1/xref_missing_entries.bib")
    [p] = only(problems, "bib-crossref-missing")
    assert (p.line, p.field) == (9, "xref") and "missing1" in p.message
    _, problems = load(CORPUS / "nasty/biber/crossrefs.bib")
    assert {p.field for p in only(problems, "bib-crossref-missing")} == {"crossref", "xref"}


def test_crossref_keys_match_ignoring_case_like_bibtex() -> None:
    _, problems = load(CORPUS / "xampl.bib")
    assert not only(problems, "bib-crossref-missing")  # crossref = {WHOLE-JOURNAL} → whole-journal


# --- bytes and encodings (BAD_INPUTS B) ----------------------------------------------------------

def test_merge_conflict_markers_refuse_the_file() -> None:
    refs, problems = load(BIB / "merge_conflict.bib")
    assert refs == []
    assert [(p.code, p.line) for p in problems] == [("bib-merge-conflict", 4), ("bib-merge-conflict", 6),
                                                    ("bib-merge-conflict", 8)]
    assert "unresolved merge conflict at line 4" in problems[0].message


def test_merge_markers_between_entries(tmp_path: Path) -> None:
    text = f"<<<<<<< HEAD\n{ENTRY}=======\n{ENTRY}>>>>>>> branch\n"
    refs, problems = load(write(tmp_path, text))
    assert refs == [] and set(codes(problems)) == {"bib-merge-conflict"}


@pytest.mark.parametrize(
    ("data", "line", "col", "named", "codec"),
    [
        (ENTRY.encode("utf-16"), 1, 1, "UTF-16", "utf-16"),
        (ENTRY.replace("Smith", "Müller").encode("latin-1"), 2, 14, "Latin-1", "iso-8859-1"),
        (ENTRY.replace("Smith", "Šmith").encode("iso-8859-15"), 2, 13, "Latin-9", "iso-8859-15"),
        (ENTRY.replace("Peer support", "同伴支持").encode("gbk"), 3, 12, "GBK", "gbk"),
    ],
)
def test_non_utf8_is_an_error_naming_the_encoding(tmp_path: Path, data: bytes, line: int, col: int,
                                                  named: str, codec: str) -> None:
    refs, problems = load(write(tmp_path, data))
    assert refs == []
    [p] = problems
    assert (p.code, p.line, p.col) == ("bib-encoding", line, col)
    assert named in p.message and f"--encoding {codec}" in (p.hint or "")


def test_corpus_gbk_and_latin9_files(tmp_path: Path) -> None:
    _, problems = load(CORPUS / "nasty/bibtexparser_v2_gbk_test.bib")
    assert "GBK" in problems[0].message and (problems[0].line, problems[0].col) == (1, 10)
    _, problems = load(CORPUS / "nasty/biber/encoding1.bib")
    assert "latin-9" in problems[0].message and (problems[0].line, problems[0].col) == (4, 11)
    _, problems = load(CORPUS / "nasty/biber/encoding1.bib", encoding="latin-9")
    assert [p.message.split("'")[1] for p in only(problems, "bib-unsafe-key")] == ["testŠ"]


def test_explicit_encoding_decodes_and_unknown_encoding_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, ENTRY.replace("Smith", "Müller").encode("latin-1"))
    refs, problems = load(path, encoding="latin-1")
    assert problems == [] and refs[0].authors[0].family == "Müller"
    _, problems = load(path, encoding="klingon")
    assert codes(problems) == ["bib-encoding"] and "unknown encoding" in problems[0].message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    refs, problems = load(write(tmp_path, b"\xef\xbb\xbf" + ENTRY.encode()))
    assert problems == [] and refs[0].line == 1
    refs, problems = load(CORPUS / "nasty/bibtexparser_v1/book_bom.bib")
    assert problems == [] and [r.key for r in refs] == ["Bird1987"]


def test_crlf_has_no_carriage_returns_in_values(tmp_path: Path) -> None:
    text = ENTRY.replace("title = {Peer support}", "title = {Peer\n   support}").replace("\n", "\r\n")
    refs, problems = load(write(tmp_path, text))
    assert problems == []
    assert refs[0].title == "Peer support" and refs[0].field_lines["year"] == 5
    assert not any("\r" in v for v in refs[0].fields.values())


@pytest.mark.parametrize(("char", "code", "shown"), [("\x00", "bib-control-char", "\\x00"),
                                                     ("\x1b", "bib-control-char", "\\x1b"),
                                                     ("\u202e", "bib-bidi-control", "\\u202e")])
def test_control_and_bidi_characters_are_shown_escaped(tmp_path: Path, char: str, code: str, shown: str) -> None:
    _, problems = load(write(tmp_path, ENTRY.replace("Peer support", f"Peer{char} support")))
    [p] = problems
    assert (p.code, p.line, p.col) == (code, 3, 16)
    assert shown in p.message and char not in p.format()


def test_nbsp_in_a_field_name(tmp_path: Path) -> None:
    _, problems = load(write(tmp_path, ENTRY.replace("  year", "  funding_text\u00a01 = {x},\n  year")))
    [p] = problems
    assert p.code == "bib-bad-field-name" and "\\xa0" in p.message


def test_a_field_without_a_name_is_located_not_a_hang(tmp_path: Path) -> None:
    """Found by fuzzing: a field whose name was deleted (`  = {…},`) came from the splitter with an empty key, and
    looking for where the empty key stands found it everywhere without moving on: kb check never returned."""
    import threading

    result: list = []
    worker = threading.Thread(target=lambda: result.append(load(write(tmp_path, ENTRY.replace("  year", "   = {x},\n  year")))),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert result, "reading the file did not return"
    [(_, problems)] = result
    [p] = problems
    assert (p.code, p.message, p.line, p.col) == ("bib-bad-field-name", "a field has no name before its '='", 4, 4)


# --- limits and I/O ------------------------------------------------------------------------------

def test_file_and_field_size_caps(tmp_path: Path) -> None:
    path = write(tmp_path, ENTRY)
    refs, problems = load(path, max_file_bytes=10)
    assert refs == [] and codes(problems) == ["bib-file-too-large"]
    refs, problems = load(path, max_field_chars=5)
    assert [(p.code, p.field) for p in problems] == [("bib-field-too-long", "author"),
                                                     ("bib-field-too-long", "title")]


def test_unreadable_file(tmp_path: Path) -> None:
    refs, problems = load(tmp_path / "missing.bib")
    assert refs == [] and codes(problems) == ["bib-unreadable"]


@pytest.mark.parametrize("name", sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.bib")))
def test_every_corpus_file_loads_without_crashing(name: str) -> None:
    refs, problems = load(CORPUS / name)
    assert all(p.line is None or p.line >= 1 for p in problems)
    assert all(r.line >= 1 and all(v >= r.line for v in r.field_lines.values()) for r in refs)


def test_corpus_counts() -> None:
    refs, problems = load(CORPUS / "xampl.bib")
    assert len(refs) == 36
    refs, problems = load(CORPUS / "biblatex-examples.bib")
    assert len(refs) == 92 - 5  # five keys contain '/'
    assert len(only(problems, "bib-unsafe-key")) == 5


# --- values and display --------------------------------------------------------------------------

def test_chained_and_cyclic_macros() -> None:
    table = MacroTable({"foo": '"1--10"', "BaR": "FOO", "pages": "baR", "loop": "loop"})
    assert evaluate("pages", table.lookup).text == "1--10"
    assert evaluate("loop", table.lookup).undefined == ("loop",)
    assert evaluate('"John " # mynamE', MacroTable({"myname": '"Doe"'}).lookup).text == "John Doe"


@pytest.mark.parametrize(("raw", "doi"), [
    ("10.1186/1471-244X-14-39", "10.1186/1471-244x-14-39"),
    ("https://doi.org/10.2196/15572", "10.2196/15572"),
    ("http://dx.doi.org/10.1016/J.JCE.2003.09.003", "10.1016/j.jce.2003.09.003"),
    ("doi:10.1000/x%2Fy", "10.1000/x/y"),
    ("not a doi", None),
])
def test_doi_normalisation(raw: str, doi: str | None) -> None:
    assert normalise_doi(raw) == doi


@pytest.mark.parametrize(("raw", "pages"), [("12-23", "12--23"), ("620 - 652", "620--652"), ("12–23", "12--23"),
                                            ("123--", "123--"), ("73+", "73+"), ("e15572", "e15572"),
                                            ("1-2, 5-7", "1--2, 5--7")])
def test_page_ranges(raw: str, pages: str) -> None:
    assert normalise_pages(raw) == pages


def test_names() -> None:
    people, truncated = parse_persons(
        "Jolly, III, James and van Kluster, Jr., Kevin and {{American Psychological Association, Task Force}}"
        " and id=testid, given=Alfred, family=Adler and others")
    assert truncated
    assert people == (Person("Jolly, III", "James"), Person("van Kluster, Jr.", "Kevin"),
                      Person("American Psychological Association, Task Force", literal=True),
                      Person("Adler", "Alfred"))


@pytest.mark.parametrize(("latex", "text"), [
    ('{\\"u}ber', "über"), ("\\&", "&"), ("12--23", "12–23"), ("10~January", "10 January"),
    ("{\\noopsort{1973b}}1973", "1973"), ("\\texttt{foo}", "foo"), ("\\mbox{G-Animal's} Journal",
                                                                     "G-Animal's Journal"),
    ("$\\alpha$-test", "α-test"), ("50% off", "50% off"), ("A & B", "A & B"), ("{An} amazing {title}",
                                                                              "An amazing title"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaping is the templates' job
])
def test_latex_to_text(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


def test_converting_latex_leaves_no_cycle_holding_its_callers() -> None:
    """pylatexenc keeps the exception that ends its stream in a frame of its traceback, a cycle that held every
    frame above it once they returned. The build pauses the collector, so with it paused here, what the caller held
    must be freed as the caller returns."""
    import gc
    import weakref

    from kb.bibtex import display

    class Held:
        pass

    def caller() -> tuple[str, weakref.ref[Held]]:
        held = Held()
        return latex_to_text(r"{\"U}ber \emph{Kr{\'a}l} \& co"), weakref.ref(held)

    display._latex_to_text.cache_clear()  # converted now, not remembered
    enabled = gc.isenabled()
    gc.disable()
    try:
        text, held = caller()
    finally:
        if enabled:
            gc.enable()
    assert text == "Über Král & co"
    assert held() is None


# --- properties of the normalisers ---------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_page = st.from_regex(r"[A-Za-z]?[0-9]{1,5}", fullmatch=True)


@given(first=_page, last=_page, dash=st.sampled_from(["-", "--", "---", "–", "—", " - ", " -- "]))
def test_page_ranges_always_use_double_hyphen_and_are_idempotent(first: str, last: str, dash: str) -> None:
    once = normalise_pages(f"{first}{dash}{last}")
    assert once == f"{first}--{last}"
    assert normalise_pages(once) == once


@given(suffix=st.from_regex(r"[A-Za-z0-9._;()/-]{1,30}", fullmatch=True),
       prefix=st.sampled_from(["", "https://doi.org/", "http://dx.doi.org/", "doi:", "DOI: ", "https://DOI.org/"]),
       registrant=st.integers(1000, 99999))
def test_doi_normalisation_is_bare_lower_case_and_idempotent(suffix: str, prefix: str, registrant: int) -> None:
    doi = normalise_doi(f"{prefix}10.{registrant}/{suffix}")
    assert doi == f"10.{registrant}/{suffix}".lower()
    assert normalise_doi(doi) == doi


_WHITE = "".join(c for c in map(chr, range(0x110000)) if c.isspace() or c in "\x1c\x1d\x1e\x1f\x85")


def test_collapse_ws_shortcut_rests_on_every_white_space_but_the_space_being_unprintable() -> None:
    import re
    import sys

    assert [c for c in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(r"\s", c) and c.isprintable()] == [" "]


@given(st.text(alphabet=st.sampled_from("ab{}\\" + _WHITE), max_size=30))
def test_collapse_ws_is_the_substitution_of_every_white_space_run(value: str) -> None:
    import re

    from kb.bibtex.values import collapse_ws

    assert collapse_ws(value) == re.sub(r"\s+", " ", value).strip()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_latex_to_text_never_raises(value: str) -> None:
    assert isinstance(latex_to_text(value), str)


@given(st.text(alphabet=st.sampled_from("aZ09 .,:;()-'`\\{}$~%&#\t\n\r\x0b\x0c\x1c\x1fü–\u00a0"), max_size=30))
def test_latex_to_text_returns_plain_values_as_the_whole_conversion_would(value: str) -> None:
    """Its shortcut for values with nothing to convert gives what the conversion gives."""
    from kb.bibtex.display import converted

    assert latex_to_text(value) == converted(value)


@settings(max_examples=600)
@given(st.text(alphabet=st.sampled_from("aZ09 .,:;()!?-'`{}\t\nü–\u00a0"), max_size=24))
def test_text_with_no_markup_converts_as_pylatexenc_does(value: str) -> None:
    """:func:`converted` answers values without macros, math or specials itself, with groups or without: what
    pylatexenc makes of them, ligatures next to braces and lone backquotes included."""
    from kb.bibtex.display import _latex_to_text, converted

    assert converted(value) == _latex_to_text(value)


@pytest.mark.parametrize("value", ["!`Hola!", "?`Qué?", "a --- b", "a -- b", "``a''", "it`s", "`q'", "{it}`s"])
def test_texs_ligatures_without_markup_convert_as_pylatexenc_does(value: str) -> None:
    from kb.bibtex.display import _latex_to_text, converted

    assert converted(value) == _latex_to_text(value)


def test_drop_field_removes_exactly_one_braced_or_quoted_field_or_nothing() -> None:
    """Issue 17: a large KB shows works' BibTeX without the abstract; the rest stays as written."""
    from kb.bibtex.values import drop_field

    entry = "@article{k,\n  title = {A {B} c},\n  Abstract = {x {y} \\} z\n  more},\n  year = 2000\n}"
    assert drop_field(entry, "abstract") == "@article{k,\n  title = {A {B} c},\n  year = 2000\n}"
    quoted = '@misc{k,\n  abstract = "a {"} b",\n  note = {n},\n}'
    assert drop_field(quoted, "abstract") == "@misc{k,\n  note = {n},\n}"
    for kept in ("@misc{k,\n  abstract = macro # {x},\n}", "@misc{k,\n  abstract = {x}, note = {n},\n}",
                 "@misc{k,\n  abstract = {never closed,\n}", "@misc{k,\n  title = {no abstract},\n}"):
        assert drop_field(kept, "abstract") == kept


# --- the entry memo of a long-running process (issue 17: an edited reference in the editors' loop) ---------------

_MEMO_SOURCES = [CORPUS / "xampl.bib", BIB / "macros.bib", BIB / "duplicate_key.bib", BIB / "unbalanced.bib",
                 BIB / "duplicate_doi.bib", BIB / "valid.bib"]


def _memo_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in _MEMO_SOURCES)


def test_an_entry_memo_reads_what_a_fresh_read_does_and_keeps_the_unchanged_entries(tmp_path: Path) -> None:
    """Each read with the memo gives exactly a fresh read's references and problems, after an edit in place, lines
    added, a key made a duplicate, a macro redefined and an entry removed; the references of entries whose text and
    place are unchanged are the very objects of the last read, and nothing else is."""
    import pickle

    from kb.bibtex.load import EntryMemo

    path = write(tmp_path, _memo_text())
    memo = EntryMemo()
    assert not memo.holds(str(path))
    last, _ = load(path, memo=memo)
    assert memo.holds(str(path)) and last
    assert not pickle.loads(pickle.dumps(memo)).holds(str(path))  # a memo does not travel to another process
    text = path.read_text(encoding="utf-8")
    edits = [
        ("title", lambda t: t.replace("title = {The Gnats and Gnus Document Preparation System}",
                                      "title = {The Gnats and Gnus Document Preparing System}", 1)),
        ("lines added", lambda t: t.replace("@ARTICLE{article-full,", "\n\n@ARTICLE{article-full,", 1)),
        ("duplicate key", lambda t: t + "\n@misc{article-minimal,\n  title = {Again},\n  year = {2001},\n}\n"),
        ("macro", lambda t: t.replace("@string", "@string{zzz = {unused}}\n@string", 1)),
        ("removed", lambda t: t.replace("@ARTICLE{article-minimal,", "@comment{article-minimal,", 1)),
        # the first of two entries with one key broken on its first line: the second, at the same line but at other
        # offsets into the text, becomes a reference, whose raw BibTeX is cut from this text
        ("broken first twin", lambda t: t.replace("@article{same2020,", "@article{same2020,{", 1)),
    ]
    for name, edit in edits:
        edited = edit(text)
        assert edited != text, name
        text = edited
        path.write_text(text, encoding="utf-8")
        refs, problems = load(path, memo=memo)
        assert (refs, problems) == load(path), name
        old = {(r.key, r.line, r.raw): r for r in last}
        for ref in refs:
            same = old.get((ref.key, ref.line, ref.raw))
            assert (ref is same) == (same is not None and name not in ("macro",)), (name, ref.key)
        last = refs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["drop", "repeat", "swap", "brace"]), st.integers(0, 10_000)),
                min_size=1, max_size=6))
def test_an_entry_memo_reads_any_sequence_of_edits_as_fresh_reads_do(edits: list[tuple[str, int]]) -> None:
    """Random line edits (a line dropped, repeated, two swapped, a brace added), broken files included, read one after
    another with one memo: each read is a fresh read's references and problems."""
    import tempfile

    from kb.bibtex.load import EntryMemo

    memo = EntryMemo()
    lines = _memo_text().split("\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "references.bib"
        path.write_text("\n".join(lines), encoding="utf-8")
        load(path, memo=memo)
        for kind, at in edits:
            i = at % len(lines)
            if kind == "drop" and len(lines) > 1:
                del lines[i]
            elif kind == "repeat":
                lines.insert(i, lines[i])
            elif kind == "swap":
                j = (i + 7) % len(lines)
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] += "{"
            path.write_text("\n".join(lines), encoding="utf-8")
            assert load(path, memo=memo) == load(path), kind


# --- a read after an edit splits again only what changed (kb.bibtex.parse._splice) -----------------------------------

_CLEAN = [CORPUS / "biblatex-examples.bib", CORPUS / "nasty" / "biber" / "crossrefs.bib",
          CORPUS / "nasty" / "bibtexparser_v1" / "features2.bib", BIB / "valid.bib"]


def _split(parsed: object) -> tuple[object, ...]:
    """All a split says: what the loader and ``kb add`` read of it."""
    return (parsed.text, parsed.decoded, parsed.fatal, parsed.blocks,  # type: ignore[attr-defined]
            sorted(parsed.macros.raw.items()), parsed.problems)  # type: ignore[attr-defined]


def test_a_read_after_an_edited_entry_keeps_the_blocks_before_it_and_moves_those_after_it() -> None:
    """An edited title (one line longer) splits only its entry again: the blocks before it are the last read's objects,
    those after it at their new lines; the whole is a fresh split's. A read whose last split had a problem splits
    the whole file."""
    from kb.bibtex.parse import read_bib

    text = (CORPUS / "biblatex-examples.bib").read_text(encoding="utf-8")
    last = read_bib(text.encode("utf-8"), "x.bib")
    at = text.index("title        = {A carbocyclic carbene as an efficient")
    edited = text[:at] + "title        = {A carbocyclic\n  carbene as an efficient" + text[at + 52:]
    now = read_bib(edited.encode("utf-8"), "x.bib", last=last)
    assert _split(now) == _split(read_bib(edited.encode("utf-8"), "x.bib"))
    entry = next(i for i, b in enumerate(now.blocks) if b.start <= at < b.end)
    assert 0 < entry < len(now.blocks) - 1
    assert all(a is b for a, b in zip(now.blocks[:entry], last.blocks, strict=False))
    assert [b.line for b in now.blocks[entry + 1:]] == [b.line + 1 for b in last.blocks[entry + 1:]]
    broken = read_bib((text + "\nstray text\n").encode("utf-8"), "x.bib")
    assert broken.problems
    again = read_bib(text.encode("utf-8"), "x.bib", last=broken)
    assert not any(a is b for a, b in zip(again.blocks, broken.blocks, strict=True))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_CLEAN), st.lists(st.tuples(
    st.floats(0, 1), st.integers(0, 40),
    st.one_of(st.text(alphabet="ab1 \n-", max_size=12), st.text(alphabet='@{}(),="%#\\ \nab1-', max_size=12),
              st.sampled_from(["\n@misc{new1,\n  title = {T},\n}\n", "@misc{new2, title = {T}}",
                               "\n@string{jan = {Janvier}}\n", "\n% @misc{gone,\n", "\n@comment{c}\n"]))),
    min_size=1, max_size=4))
def test_a_read_after_any_edit_is_a_whole_split(path: Path, edits: list[tuple[float, int, str]]) -> None:
    """Any edits (text cut and put anywhere: braces, quotes, ``@``, ``%``, new lines), each read after the last one:
    every read is a fresh split of its text, problems and places included."""
    from kb.bibtex.parse import read_bib

    text = path.read_text(encoding="utf-8-sig")
    last = read_bib(text.encode("utf-8"), path)
    for where, cut, put in edits:
        at = int(where * len(text))
        text = text[:at] + put + text[at + cut:]
        now = read_bib(text.encode("utf-8"), path, last=last)
        assert _split(now) == _split(read_bib(text.encode("utf-8"), path))
        last = now
