"""Issue 12, item 4: spreadsheet formula injection. Every CSV the KB writes — data/claims.csv, every page's
CSV, ``kb export --format csv``, ``kb query --format csv`` (and the SPARQL page's download, in
tests/test_browser.py) — writes a cell that would run as a formula with a leading apostrophe
(:mod:`kb.io.tables`), and the rule is reversible: drop the first character of a cell that begins with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_config
from kb.io import gz
from kb.io.tables import neutralise, write_csv
from kb.pipeline import build
from tests.conftest import FIXTURE

EVIL_TITLE = '=HYPERLINK("http://evil.example/","click me")'
EVIL_AUTHOR = "@SUM(1+1)"
EVIL_STATEMENT = '=HYPERLINK("http://evil.example/","Cochrane")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def evil_evidence(target: Path) -> Path:
    """The fixture evidence with a formula in a BibTeX title, a corporate author and a claim statement."""
    shutil.copytree(FIXTURE, target)
    bib = target / "references.bib"
    bib.write_text(bib.read_text() + "\n@misc{evil2020,\n  author = {{" + EVIL_AUTHOR + "}},\n  title = {"
                   + EVIL_TITLE + "},\n  year = {2020},\n}\n")
    claims = target / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text()
    claims.write_text(text.replace("      A Cochrane review of peer support for people with schizophrenia",
                                   f"      {EVIL_STATEMENT} review of peer support for people with schizophrenia", 1))
    return target


def cells(data: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data)) for cell in row]


def assert_neutralised(data: str, where: str) -> list[str]:
    """No cell of ``data`` would run as a formula; returns the cells."""
    found = cells(data)
    for cell in found:
        if cell.startswith(TRIGGERS):
            assert neutralise(cell) == cell, f"{where}: a formula cell {cell!r}"  # only plain numbers remain
    return found


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evil_evidence(tmp_path_factory.mktemp("csv") / "evidence")


@pytest.fixture(scope="module")
def evil_site(evil: Path) -> Path:
    result = build(load_config(evil, out_dir=evil.parent / "site"), jobs=1)
    assert not result.report.errors
    return result.out_dir


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_item4_data_claims_csv_neutralises_a_claim_statement(evil_site: Path) -> None:
    found = assert_neutralised(gz.read(evil_site / "data" / "claims.csv.gz").decode("utf-8"), "data/claims.csv.gz")
    assert any(c.startswith("'" + EVIL_STATEMENT) for c in found)


def test_item4_every_page_csv_is_neutralised(evil_site: Path) -> None:
    pages = sorted(evil_site.rglob("*.csv"))
    assert len(pages) > 10
    seen_statement = seen_author = False
    for path in pages:
        found = assert_neutralised(path.read_text(encoding="utf-8"), str(path.relative_to(evil_site)))
        seen_statement |= any(c.startswith("'" + EVIL_STATEMENT) for c in found)
        seen_author |= any(c.startswith("'" + EVIL_AUTHOR) for c in found)
    assert seen_statement and seen_author  # claims/index.csv, concept pages; references/index.csv


def test_item4_kb_export_csv_is_neutralised(evil: Path) -> None:
    found = assert_neutralised(run("export", "--evidence", str(evil), "--format", "csv"), "kb export")
    assert any(c.startswith("'" + EVIL_STATEMENT) for c in found)


def test_item4_kb_query_csv_neutralises_a_bibtex_title_and_reverses(evil: Path) -> None:
    query = "SELECT ?title WHERE { ?w psk:citekey ?k ; dcterms:title ?title } ORDER BY ?title"
    data = run("query", "--evidence", str(evil), "--format", "csv", query)
    found = assert_neutralised(data, "kb query")
    assert "'" + EVIL_TITLE in found
    raw = json.loads(run("query", "--evidence", str(evil), "--format", "json", query))
    values = [b["title"]["value"] for b in raw["results"]["bindings"]]
    restored = [c[1:] if c.startswith("'") else c for c in found[1:]]  # the documented way back
    assert restored == values


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-A1", "'-A1"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("'quoted", "''quoted"), ("-0.5", "-0.5"), ("+3", "+3"), ("1e-3", "1e-3"), ("plain", "plain"),
    ("-\u0663", "'-\u0663"),  # not an ASCII number: neutralised, as on the SPARQL page
])
def test_item4_the_rule(value: str, written: str) -> None:
    assert neutralise(value) == written
    assert cells(write_csv(["v"], [[value]]))[1] == written


def test_item4_the_sparql_page_carries_the_same_rule() -> None:
    """The page's JavaScript names the same triggers and number pattern as kb/io/tables.py (the rule
    lives in site.js since issue 14, shared by the SPARQL page and the map's CSV; sparql.js uses it)."""
    from kb.io import tables

    static = Path(__file__).parent.parent / "site_templates" / "static"
    assert "window.kbCsv.table(" in (static / "sparql.js").read_text(encoding="utf-8")
    js = (static / "site.js").read_text(encoding="utf-8")
    assert "var FORMULA_FIRST = /^[=+\\-@\\t\\r']/;" in js
    assert set(tables.FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r", "'"}
    assert f"var PLAIN_NUMBER = /^{tables._NUMBER.pattern}$/;" in js


def test_item4_documented_for_researchers(evil_site: Path) -> None:
    root = Path(__file__).parent.parent
    for doc in ("README.md", "docs/graph.md"):
        assert "remove the first character of every cell that begins with `'`" in (root / doc).read_text("utf-8")
    page = (evil_site / "data.html").read_text(encoding="utf-8")
    assert "remove the first character of every cell that begins with" in page


def _cell_by_cell(columns, rows, line_end: str = "\n") -> str:
    """write_csv as it was before its fast path: every cell neutralised on its own (the reference)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    for row in [columns, *rows]:
        cells = [neutralise(v) for v in row]
        if any("\r" in c for c in cells):
            buffer.write(",".join(f'"{c.replace(chr(34), chr(34) * 2)}"' if any(x in c for x in '",\r\n') else c
                                  for c in cells) + line_end)
        else:
            writer.writerow(cells)
    return buffer.getvalue()


def test_item4_a_row_checked_at_once_is_written_as_cell_by_cell() -> None:
    """write_csv checks a row of text at once (kb.io.tables._CELL_TRIGGER) and neutralises cell by cell only a row
    that needs it: the bytes are those of neutralising every cell, for text, triggers, NULs, CRs and non-text."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(["a", "1", ".", " ", ",", '"', "\n", "\r", "\t", "\0", "=", "+", "-", "@", "'", "é"])
    cell = st.one_of(st.text(alphabet, max_size=6), st.none(), st.integers(-5, 5), st.floats(allow_nan=False))

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.lists(cell, min_size=3, max_size=3), max_size=6), st.sampled_from(["\n", "\r\n"]))
    def check(rows, line_end):
        expected = _cell_by_cell(["a", "b", "c"], rows, line_end)
        assert write_csv(["a", "b", "c"], rows, line_end=line_end) == expected
        assert write_csv(["a", "b", "c"], (iter(row) for row in rows), line_end=line_end) == expected  # read once

    check()


def test_csv_lines_are_the_rows_of_write_csv_one_by_one() -> None:
    """The claims table keeps each row's text between the loop's builds (kb.export.table.claims_csv_lines): the same
    writer, cut where each row ends, so formulas, quotes, line breaks and carriage returns read as in write_csv."""
    from kb.io.tables import csv_lines

    rows = [("é—x", "=1+1", "a\nb"), ("plain", "c\rd", "-3"), ("ü", None, "@x"), ("'quoted", 'say "hi"', "+x")]
    lines = csv_lines(rows)
    assert len(lines) == len(rows)
    assert "".join(lines) == write_csv(["a", "b", "c"], rows).split("\n", 1)[1]
    assert list(csv.reader(io.StringIO(lines[0]))) == [["é—x", "'=1+1", "a\nb"]]
    assert csv_lines([]) == []


def test_the_claims_tables_rows_kept_by_row_are_the_bytes_written_whole(fixture_analysis) -> None:
    import dataclasses

    from kb.export.table import claims_csv, claims_csv_lines
    from kb.load.byrecord import ByRecord

    kept: ByRecord[bytes] = ByRecord()
    first = claims_csv_lines(fixture_analysis, kept)
    assert b"".join(first) == claims_csv(fixture_analysis)
    row = fixture_analysis.rows[0]
    edited = dataclasses.replace(fixture_analysis, rows=[dataclasses.replace(row, statement="=reworded"),
                                                         *fixture_analysis.rows[1:]])
    second = claims_csv_lines(edited, kept)
    assert b"".join(second) == claims_csv(edited) and b"'=reworded" in second[1]
    assert all(a is b for a, b in zip(first[2:], second[2:], strict=True))  # the unchanged rows' text, kept
