"""The one CSV writer: every CSV the KB writes (site tables, exports, query results) goes through it.

Spreadsheets run a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula, so a BibTeX title such as ``=HYPERLINK(…)`` would run when a policymaker opens a download
(OWASP, "CSV Injection"). Such cells are written with a leading apostrophe, which spreadsheets show
as text. Plain numbers (``-0.5``, ``+3``) are left alone: a spreadsheet reads them as numbers, not
formulas. A cell that already begins with an apostrophe gets one more, so the rule is reversible:
**to get the raw value back, remove the first character of every cell that begins with ``'``.**
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
# ASCII digits only, as in the SPARQL page's copy of this rule (site_templates/static/sparql.js).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralise(value: object) -> str:
    """``value`` as a cell that no spreadsheet runs as a formula (``None`` is empty)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]], *, line_end: str = "\n") -> str:
    """A header and rows as CSV with every cell neutralised (``\r\n`` for W3C SPARQL CSV results)."""
    buffer = io.StringIO()
    _write(buffer, itertools.chain([columns], rows), line_end)
    return buffer.getvalue()


def csv_lines(rows: Iterable[Sequence[object]], *, line_end: str = "\n") -> list[str]:
    """Each row as its CSV text (:func:`write_csv`'s, without a header): for a caller that keeps rows' text
    between builds (``data/claims.csv.gz`` in the editors' loop)."""
    buffer = io.StringIO()
    ends: list[int] = []
    _write(buffer, rows, line_end, ends)
    text = buffer.getvalue()
    return [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def _write(buffer: io.StringIO, rows: Iterable[Sequence[object]], line_end: str, ends: list[int] | None = None
           ) -> None:
    """Write ``rows`` to ``buffer``, each cell neutralised; where each row ends, to ``ends``.

    Python's writer quotes a cell holding a carriage return only when ``\r`` is part of the line end;
    a bare CR left unquoted splits the row in every reader, so such rows are quoted here.
    """
    writer = csv.writer(buffer, lineterminator=line_end)
    plain = writer.writerow
    for row in rows:
        if ends is not None and buffer.tell():
            ends.append(buffer.tell())
        if isinstance(row, list | tuple):  # a row of text whose cells need nothing: checked at once, in C (a call
            try:  # per cell was most of the time); a row that is an iterator is read once, cell by cell
                joined = "\0".join(row)
                if joined[:1] not in _TRIGGERS and "\r" not in joined and _CELL_TRIGGER.search(joined) is None:
                    plain(row)
                    continue
            except TypeError:  # a cell that is not text (a number, None)
                pass
        cells = [neutralise(v) for v in row]
        if any("\r" in c for c in cells):
            line = ",".join(f'"{c.replace(chr(34), chr(34) * 2)}"' if _SPECIAL.search(c) else c for c in cells)
            buffer.write(line + line_end)
        else:
            writer.writerow(cells)
    if ends is not None and buffer.tell():
        ends.append(buffer.tell())


_SPECIAL = re.compile(r'[",\r\n]')
# A row's cells joined by NULs: a formula trigger at the start or after a NUL (a cell that begins with one), or a
# carriage return anywhere, and the row is written cell by cell. A NUL inside a cell only sends a row that way without
# need. (One pattern for all three scanned every position in Python's engine, 4× slower than a call per cell.)
_TRIGGERS = frozenset(FORMULA_TRIGGERS)
_CELL_TRIGGER = re.compile("\0[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")


def dicts_to_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> str:
    """Dicts as CSV (keys not in ``columns`` ignored, missing ones empty)."""
    return write_csv(columns, ([row.get(c, "") for c in columns] for row in rows))
