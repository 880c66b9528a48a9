"""Bytes → text for BibTeX files, and the raw scans bibtexparser does not do.

bibtexparser 2 sees only a string: it cannot say where a bad byte is, it keeps a BOM as a comment,
it parses ``%@article{…`` and ``% doi = {…}`` as live data, and it accepts merge-conflict markers,
NUL and bidi overrides (BAD_INPUTS #11, #18–#22). This module decodes strictly, names the likely
encoding, and masks ``%`` comment lines (blanked, so every offset and line number stays valid)
before the text reaches the parser.
"""

from __future__ import annotations

import bisect
import codecs
import re
from dataclasses import dataclass, field

from kb.problems import Problem, bad_characters, error

UTF8_BOM = b"\xef\xbb\xbf"
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with BOM)", "utf-32"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with BOM)", "utf-32"),
    (b"\xff\xfe", "UTF-16 (little-endian, with BOM; e.g. saved by Notepad as 'Unicode')", "utf-16"),
    (b"\xfe\xff", "UTF-16 (big-endian, with BOM)", "utf-16"),
)
_CODING_HINT = re.compile(rb"coding[:=][ \t]*([-\w.]+)")
_CONFLICT = re.compile(r"^(?:<{7}(?: .*)?|={7}|>{7}(?: .*)?|\|{7}(?: .*)?)$", re.MULTILINE)
BLOCK_START = re.compile(r"@([\w]*)[ \t]*([{(])")
_COMMENTED_ENTRY = re.compile(r"%+[ \t]*@([\w]+)[ \t]*[{(][ \t]*([^,\s]*)")
_COMMENTED_FIELD = re.compile(r"%+[ \t]*([A-Za-z][\w+:.-]*)[ \t]*=")
_ALIASES = {"latin-9": "iso-8859-15", "latin9": "iso-8859-15", "latin-0": "iso-8859-15"}
_BLANKS = re.compile(r"[ \t]*")
_MARKS_OUTSIDE = re.compile(r"[@\n]")  # between blocks only a block start or a new line matters
_MARKS_INSIDE = re.compile(r'[{}"()\n]')


class LineIndex:
    """Offset → 1-based (line, column) in a text, by binary search over line starts."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def pos(self, offset: int) -> tuple[int, int]:
        line = self.line(offset)
        return line, offset - self.starts[line - 1] + 1

    def start_of(self, line: int) -> int:
        return self.starts[min(max(line, 1), len(self.starts)) - 1]


@dataclass(frozen=True)
class Decoded:
    """A decoded file: ``\\n``-only text, plus what is needed to write it back as it was."""

    text: str
    bom: bool = False
    newline: str = "\n"


def dominant_newline(data: bytes) -> str:
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    cr = data.count(b"\r") - crlf
    best = max((lf, "\n"), (crlf, "\r\n"), (cr, "\r"), key=lambda t: t[0])
    return best[1] if best[0] else "\n"


def guess_encoding(data: bytes) -> tuple[str, str]:
    """(human description, codec name to suggest for ``--encoding``) of non-UTF-8 bytes."""
    for bom, description, codec in _BOMS:
        if data.startswith(bom):
            return description, codec
    sample = data[:4096]
    if sample and sample.count(b"\x00") > len(sample) // 4:
        return "UTF-16 without BOM", "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    head = b"\n".join(data.splitlines()[:2])
    hint = _CODING_HINT.search(head)
    if hint:
        name = hint.group(1).decode("ascii", "replace")
        for suffix in ("-unix", "-dos", "-mac"):
            name = name.removesuffix(suffix)
        codec = {"latin-9": "iso-8859-15", "latin-1": "iso-8859-1"}.get(name.lower(), name)
        return f"{name} (declared in the file's 'coding:' line)", codec
    try:
        as_gbk = data.decode("gbk")
    except UnicodeDecodeError:
        as_gbk = ""
    non_ascii = [c for c in as_gbk if ord(c) > 127]
    paired = sum(len(run) for run in re.findall(rb"[\x80-\xff]{2,}", data))
    high = sum(b >= 0x80 for b in data)
    if non_ascii and paired >= 0.8 * high and sum("\u4e00" <= c <= "\u9fff" for c in non_ascii) >= 0.8 * len(
            non_ascii):  # GBK's double bytes come in runs; Latin-1 accents sit alone between ASCII letters
        return "GBK (Simplified Chinese)", "gbk"
    if any(0x80 <= b <= 0x9F for b in data):
        return "Windows-1252", "cp1252"
    if any(b in data for b in (b"\xa4", b"\xa6", b"\xa8", b"\xb4", b"\xb8", b"\xbc", b"\xbd", b"\xbe")):
        return "Latin-9 (ISO-8859-15) or Latin-1 (ISO-8859-1); they differ in bytes such as 0xA6 (Š or ¦)", (
            "iso-8859-15"
        )
    return "Latin-1 (ISO-8859-1)", "iso-8859-1"


def _byte_pos(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    return line, len(data[line_start:offset].decode("utf-8", "replace")) + 1


def decode_bib(data: bytes, path: object, encoding: str | None = None) -> tuple[Decoded | None, list[Problem]]:
    """Strict decode (UTF-8 unless ``encoding`` is given); a UTF-8 BOM is accepted and remembered."""
    newline = dominant_newline(data)
    bom = data.startswith(UTF8_BOM)
    if encoding:
        encoding = _ALIASES.get(encoding.lower(), encoding)
        try:
            codecs.lookup(encoding)
        except LookupError:
            return None, [error(path, None, "bib-encoding", f"unknown encoding '{encoding}'",
                                hint="give a codec name such as utf-8, iso-8859-15, cp1252 or gbk")]
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line, col = _byte_pos(data, exc.start)
            return None, [error(path, line, "bib-encoding", f"not valid {encoding}: byte 0x{data[exc.start]:02X}",
                                col=col, hint="check the --encoding option")]
        text = text.removeprefix("\ufeff")
        bom = bom and encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    else:
        for prefix, description, _codec in _BOMS:
            if data.startswith(prefix):
                return None, [_encoding_problem(path, 1, 1, f"a {description} byte-order mark", data)]
        try:
            text = data[len(UTF8_BOM):].decode("utf-8") if bom else data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = start = exc.start + (len(UTF8_BOM) if bom else 0)
            while start > 0 and data[start - 1] >= 0x80:  # point at where the odd text starts
                start -= 1
            line, col = _byte_pos(data, start)
            return None, [_encoding_problem(path, line, col, f"byte 0x{data[bad]:02X}", data)]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Decoded(text=text, bom=bom, newline=newline), []


def _encoding_problem(path: object, line: int, col: int, found: str, data: bytes) -> Problem:
    description, codec = guess_encoding(data)
    return error(
        path, line, "bib-encoding",
        f"not valid UTF-8 ({found}); the file looks like {description}",
        col=col, expected="UTF-8 (with or without BOM)",
        hint=f"convert it (e.g. `iconv -f {codec} -t utf-8`) or pass `--encoding {codec}`",
    )


def count_block_starts(data: bytes, encoding: str | None = None) -> int:
    """How many ``@`` blocks a file that could not be decoded holds (best effort, for the accounting)."""
    codec = encoding or guess_encoding(data)[1]
    try:
        text = data.decode(codec, "replace")
    except LookupError:
        text = data.decode("latin-1")
    return len(BLOCK_START.findall(text))


def find_conflict_markers(text: str, path: object) -> list[Problem]:
    index = LineIndex(text)
    return [
        error(path, index.line(m.start()), "bib-merge-conflict",
              f"unresolved merge conflict at line {index.line(m.start())}: '{m.group(0)[:40]}'", col=1,
              hint="resolve the conflict (keep one side, delete the <<<<<<< ======= >>>>>>> lines); "
                   "every command refuses this file until then")
        for m in _CONFLICT.finditer(text)
    ]


def find_bad_characters(text: str, path: object) -> list[tuple[int, Problem]]:
    """(offset, problem) for C0/C1 controls (except tab and newline) and bidi controls: the rule every
    text the KB takes in follows (:func:`kb.problems.bad_characters`)."""
    return bad_characters(text, path, "bib")


@dataclass
class Masked:
    """The text with ``%`` comment lines blanked, and what those lines looked like."""

    text: str
    commented_entries: list[tuple[int, str, str]] = field(default_factory=list)  # (offset, type, key)
    commented_fields: list[tuple[int, str]] = field(default_factory=list)  # (offset, field name)


def mask_percent_comments(text: str) -> Masked:
    """Blank lines whose first non-blank character is ``%`` between blocks or between fields.

    biber treats such lines as comments; bibtexparser revives ``%@book{…`` as an entry and
    ``% doi = …`` as a field named ``% doi``. Lines inside a braced or quoted value are content
    and stay. The scan mirrors the splitter's rules: braces preceded by a backslash do not count,
    quotes delimit values only at entry level, and an ``@`` at the start of a line inside an
    unclosed block starts a new block.
    """
    spans: list[tuple[int, int]] = []
    masked = Masked(text)
    depth, kind, closing, in_quotes = 0, "", "}", False
    i, n, line_start = 0, len(text), True
    while i < n:
        if line_start:
            line_start = False
            j = _BLANKS.match(text, i).end()  # type: ignore[union-attr]
            if j < n and text[j] == "%" and (depth == 0 or (depth == 1 and kind == "entry" and not in_quotes)):
                end = text.find("\n", j)
                end = n if end < 0 else end
                line = text[j:end]
                if depth == 0 and (m := _COMMENTED_ENTRY.match(line)):
                    masked.commented_entries.append((j, m.group(1), m.group(2)))
                elif depth == 1 and (m := _COMMENTED_FIELD.match(line)):
                    masked.commented_fields.append((j, m.group(1)))
                spans.append((j, end))
                i = end
                continue
            if depth > 0 and BLOCK_START.match(text, j):
                depth = 0  # the splitter abandons the unclosed block here
            i = j
            continue
        mark = (_MARKS_OUTSIDE if depth == 0 else _MARKS_INSIDE).search(text, i)
        if mark is None:
            break
        i, c = mark.start(), mark.group()
        if c == "\n":
            line_start = True
            i += 1
            continue
        if depth == 0:
            m = BLOCK_START.match(text, i)
            if m:
                name = m.group(1).lower()
                kind = name if name in ("comment", "preamble", "string") else "entry"
                closing = "}" if m.group(2) == "{" else ")"
                depth, in_quotes = 1, False
                i = m.end()
                continue
        elif not (i > 0 and text[i - 1] == "\\"):
            tracks_quotes = kind == "entry" or (kind in ("string", "preamble") and closing == ")")
            if in_quotes:
                if c == '"':
                    in_quotes = False
            elif c == "{":
                depth += 1
            elif c == "}" and depth > 1:
                depth -= 1
            elif depth == 1 and c == closing:
                depth = 0
            elif depth == 1 and c == '"' and tracks_quotes:
                in_quotes = True
        i += 1
    if spans:
        pieces, last = [], 0
        for start, end in spans:
            pieces += [text[last:start], " " * (end - start)]
            last = end
        masked.text = "".join([*pieces, text[last:]])
    return masked
