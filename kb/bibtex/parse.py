"""Split a BibTeX file into located blocks: bibtexparser's splitter plus exact positions.

Shared by the loader (:mod:`kb.bibtex.load`) and the importer (:mod:`kb.edit.add`). bibtexparser 2 does
the splitting; this module adds what it lacks: 1-based line *and* column of every block and
field, the exact source text of each block, ``%``-commented entries (masked before parsing, see
:mod:`kb.bibtex.scan`), failed blocks with the line where parsing gave up, and stray text between
blocks. Nothing here raises on bad input: problems are returned as data.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import re
from dataclasses import dataclass, field

import bibtexparser
from bibtexparser import model as bpm
from bibtexparser.middlewares.middleware import Middleware

from kb.bibtex.scan import (
    BLOCK_START,
    Decoded,
    LineIndex,
    count_block_starts,
    decode_bib,
    find_bad_characters,
    find_conflict_markers,
    mask_percent_comments,
)
from kb.bibtex.values import MacroTable
from kb.io.alike import common_prefix, common_suffix
from kb.problems import Problem, error, warning

# The parse stack, spelled out (STYLE.md habit 5): none. The KB evaluates the splitter's raw
# values itself (kb.bibtex.values), because ResolveStringReferences leaves `#` expressions and
# undefined macros as literal text, and the LaTeX-decoding middleware is ~35x slower and would
# lose the LaTeX that storage must keep. An empty stack also keeps values byte-exact.
PARSE_STACK: tuple[Middleware, ...] = ()

# bibtexparser logs every failed block; we report them as problems, so keep its lastResort quiet.
logging.getLogger("bibtexparser").addHandler(logging.NullHandler())

_HEAD = re.compile(r"@[ \t]*([\w]*)[ \t]*[{(][ \t\n]*([^,\s})]*)")
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class RawField:
    name: str  # as written
    raw: str  # the value expression as written (outer braces still on)
    line: int
    col: int


@dataclass(frozen=True)
class Unclosed:
    """Where a broken entry lacks its closing delimiter: a value never closed, or the entry itself."""

    field: str  # the field whose value is never closed; "" when every value is closed but the entry is not
    line: int  # the value's opening '{' or '"'; for the entry, just after its last field
    col: int
    delimiter: str  # the character that is missing: '}', '"' or ')'


@dataclass
class RawBlock:
    """One ``@`` block (or ``%``-commented entry) with its place in the file."""

    kind: str  # entry | string | preamble | comment | failed | commented
    start: int  # offsets into ParsedBib.text
    end: int
    line: int
    col: int
    entry_type: str = ""  # as written
    key: str = ""
    fields: list[RawField] = field(default_factory=list)
    failure: str = ""  # bibtexparser's reason, for failed blocks
    failure_line: int = 0  # where parsing gave up
    unclosed: Unclosed | None = None  # failed blocks: where the missing '}' (or '"') belongs, if found
    problems: list[Problem] = field(default_factory=list)  # e.g. control characters inside it

    def text(self, source: str) -> str:
        return source[self.start:self.end]


@dataclass
class ParsedBib:
    """Everything the loader and the importer need to know about one BibTeX file."""

    path: str
    text: str = ""
    decoded: Decoded | None = None
    blocks: list[RawBlock] = field(default_factory=list)
    macros: MacroTable = field(default_factory=MacroTable)
    problems: list[Problem] = field(default_factory=list)  # not tied to one block
    fatal: bool = False  # unusable (encoding, merge conflict, size): blocks is empty
    block_count_estimate: int = 0  # for fatal files: how many blocks the bytes seem to hold

    @property
    def entries(self) -> list[RawBlock]:
        return [b for b in self.blocks if b.kind == "entry"]


def read_bib(
    data: bytes, path: object, encoding: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    last: ParsedBib | None = None,
) -> ParsedBib:
    """Decode, scan and split one BibTeX file; ``last``: a read of the same file before an edit, whose blocks the
    edit left whole are taken from it (:func:`_splice`)."""
    parsed = ParsedBib(path=str(path))
    if len(data) > max_file_bytes:
        parsed.fatal = True
        parsed.block_count_estimate = count_block_starts(data[:max_file_bytes], encoding)
        parsed.problems.append(error(
            path, None, "bib-file-too-large", f"file is {len(data):,} bytes",
            expected=f"at most {max_file_bytes:,} bytes", hint="split it, or raise the limit in the config"))
        return parsed
    decoded, problems = decode_bib(data, path, encoding)
    parsed.problems.extend(problems)
    if decoded is None:
        parsed.fatal = True
        parsed.block_count_estimate = count_block_starts(data, encoding)
        return parsed
    parsed.decoded, parsed.text = decoded, decoded.text
    if last is not None and _splice(parsed, last):  # (conflict markers looked for where the text changed)
        return parsed
    conflicts = find_conflict_markers(decoded.text, path)
    if conflicts:
        parsed.problems.extend(conflicts)
        parsed.fatal = True
        parsed.block_count_estimate = len(BLOCK_START.findall(mask_percent_comments(decoded.text).text))
        return parsed
    split_text(parsed)
    return parsed


def split_text(parsed: ParsedBib) -> None:
    """Fill ``parsed.blocks``, ``macros`` and the block-independent problems from ``parsed.text``."""
    text, path = parsed.text, parsed.path
    index = LineIndex(text)
    masked = mask_percent_comments(text)
    library = bibtexparser.parse_string(masked.text, parse_stack=list(PARSE_STACK))
    cursor = 0
    for bp_block in library.blocks:
        block = _locate(bp_block, masked.text, index, cursor)
        if block is not None:
            parsed.blocks.append(block)
            cursor = block.end
    for offset, entry_type, key in masked.commented_entries:
        line, col = index.pos(offset)
        end = text.find("\n", offset)
        parsed.blocks.append(RawBlock("commented", offset, len(text) if end < 0 else end, line, col,
                                      entry_type=entry_type, key=key))
        parsed.problems.append(warning(
            path, line, "bib-commented-entry", f"commented-out entry '@{entry_type}{{{key}' is ignored",
            col=col, hint="delete it, or remove the '%' to make it a real entry"))
    for offset, name in masked.commented_fields:
        line, col = index.pos(offset)
        parsed.problems.append(warning(
            path, line, "bib-commented-field", f"commented-out field '{name}' is ignored", col=col,
            field=name.lower(), hint="delete the line, or remove the '%' to keep the field"))
    parsed.blocks.sort(key=lambda b: b.start)
    for block, following in zip(parsed.blocks, [*parsed.blocks[1:], None], strict=False):
        if block.kind == "failed":  # the rest of a broken entry is not stray text
            block.end = max(block.end, following.start if following else len(text.rstrip()))
    for block in parsed.blocks:
        if block.kind == "failed":
            block.unclosed = find_unclosed(masked.text, block.start, block.end, index)
    _attach_bad_characters(parsed, find_bad_characters(text, path))
    _check_gaps(parsed, masked.text, index)
    _collect_macros(parsed)


_LOOSE = ("failed", "commented")  # blocks whose place or problems read the text around them


def _splice(parsed: ParsedBib, last: ParsedBib) -> bool:
    """Fill ``parsed`` from ``last``, a split of the same file before an edit: its blocks that lie whole in the text
    the two share at the start are kept, those in the text they share at the end are moved, and only the stretch
    between is split again (the editors' loop after an edited reference; ``kb add``'s file as it would be written: at
    10,000 works a whole split is ~2.5 s). False, ``parsed`` untouched, where the result could differ from a whole
    split's: ``last`` or the stretch has a problem, a broken or commented-out entry, or a boundary inside a line."""
    old, new = last.text, parsed.text
    if last.fatal or last.problems or last.path != parsed.path \
            or any(b.problems or b.kind in _LOOSE for b in last.blocks):
        return False
    head = common_prefix(old, new)
    tail = common_suffix(old, new, min(len(old), len(new)) - head)
    blocks = last.blocks
    first = bisect.bisect_right([b.end for b in blocks], head)  # blocks[:first] lie whole in the shared head
    after = max(first, bisect.bisect_left([b.start for b in blocks], len(old) - tail))  # blocks[after:]: the tail
    delta = len(new) - len(old)
    start = blocks[first - 1].end if first else 0
    stop = blocks[after].start + delta if after < len(blocks) else len(new)
    if (start and new[start:start + 1] != "\n") or (stop < len(new) and new[stop - 1] != "\n"):
        return False  # a kept block shares a line with the stretch
    piece = ParsedBib(parsed.path, text=new[start:stop])
    if find_conflict_markers(piece.text, parsed.path):
        return False
    split_text(piece)
    if piece.problems or any(b.problems or b.kind in _LOOSE for b in piece.blocks):
        return False
    line0 = new.count("\n", 0, start) + 1
    col0 = start - new.rfind("\n", 0, start)  # (0 where the stretch starts the file)

    def moved(line: int, col: int) -> tuple[int, int]:
        return line + line0 - 1, col + col0 - 1 if line == 1 else col

    split = []
    for b in piece.blocks:
        line, col = moved(b.line, b.col)
        split.append(dataclasses.replace(b, start=b.start + start, end=b.end + start, line=line, col=col, problems=[],
                                         fields=[RawField(f.name, f.raw, *moved(f.line, f.col)) for f in b.fields]))
    lines = new.count("\n", start, stop) - old.count("\n", start, stop - delta)
    kept = blocks[after:] if not delta and not lines else [
        dataclasses.replace(b, start=b.start + delta, end=b.end + delta, line=b.line + lines,
                            fields=[RawField(f.name, f.raw, f.line + lines, f.col) for f in b.fields], problems=[])
        for b in blocks[after:]]
    parsed.blocks = [*blocks[:first], *split, *kept]
    _collect_macros(parsed)
    return True


def _locate(bp_block: bpm.Block, masked: str, index: LineIndex, cursor: int) -> RawBlock | None:
    if isinstance(bp_block, bpm.ImplicitComment):
        return None
    if isinstance(bp_block, (bpm.DuplicateBlockKeyBlock, bpm.DuplicateFieldKeyBlock)):
        # bibtexparser's duplicate checks are case-sensitive and drop data; the KB checks itself.
        inner = bp_block.ignore_error_block
        assert inner is not None
        bp_block = inner
    raw = bp_block.raw or ""
    line0 = bp_block.start_line or 0
    start = masked.find(raw, max(cursor, index.start_of(line0 + 1))) if raw else -1
    if start < 0:
        start = masked.find(raw, cursor)
    start = max(start, 0)
    end = start + len(raw)
    line, col = index.pos(start)
    head = _HEAD.match(raw)
    entry_type = head.group(1) if head else ""
    key = head.group(2) if head else ""
    if isinstance(bp_block, bpm.Entry):
        block = RawBlock("entry", start, end, line, col, bp_block.entry_type, bp_block.key)
        block.fields = _locate_fields(bp_block, raw, start, index)
        return block
    if isinstance(bp_block, bpm.String):
        block = RawBlock("string", start, end, line, col, "string", bp_block.key)
        block.fields = [RawField(bp_block.key, bp_block.value, line, col)]
        return block
    if isinstance(bp_block, bpm.Preamble):
        return RawBlock("preamble", start, end, line, col, "preamble")
    if isinstance(bp_block, bpm.ExplicitComment):
        return RawBlock("comment", start, end, line, col, "comment")
    if isinstance(bp_block, bpm.ParsingFailedBlock):
        exc = bp_block.error
        reason = getattr(exc, "abort_reason", str(exc))
        end_index = getattr(exc, "end_index", None)
        eof = len(masked.rstrip())
        gave_up = eof if end_index is None else min(max(end_index - 1, 0), eof)
        if "Unexpected block start" in reason or "found `@" in reason:
            gave_up = min(end_index or len(masked), len(masked))  # the next block's '@'
        block = RawBlock("failed", start, end, line, col, entry_type, key, failure=reason)
        block.failure_line = index.line(gave_up)
        return block
    return None  # pragma: no cover - bibtexparser has no other block types


_ENTRY_OPEN = re.compile(r"@[ \t]*\w+[ \t]*([{(])[^,\n]*,")
_FIELD_NAME = re.compile(r"([A-Za-z][\w.:+-]*)\s*$")
_LINE_OPENS_FIELD_OR_ENTRY = re.compile(r"[ \t]*(?:[A-Za-z][\w.:+-]*[ \t]*=|@)")


def find_unclosed(text: str, start: int, end: int, index: LineIndex) -> Unclosed | None:
    """Where an entry that never closes needs its delimiter, the way an editor would look for it.

    A value still open when a line starts with ``name =`` or ``@`` (or when the text ends) is the
    one missing its ``}`` or ``"``: point at where it opened, not at the end of the entry. If every
    value closed, the entry's own ``}`` is missing: point just after its last field.
    """
    head = _ENTRY_OPEN.match(text, start)
    if not head:
        return None
    closer = "}" if head.group(1) == "{" else ")"
    depth, quoted, name, opened, last, field_start = 0, False, "", -1, head.end(), head.end()
    for i in range(head.end(), end):
        ch = text[i]
        is_open = depth > 0 or quoted
        if ch == "\n" and is_open and _LINE_OPENS_FIELD_OR_ENTRY.match(text, i + 1):
            break
        if ch == "\n" and not is_open and text.startswith("@", i + 1):
            break
        if ch == "{":
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
        elif ch == '"' and depth == 0:
            quoted = not quoted
        elif ch == closer and not is_open:
            return None  # the entry is closed: something else is wrong with it
        elif ch == "," and not is_open:
            field_start = i + 1
        elif ch == "=" and not is_open:
            found = _FIELD_NAME.search(text, field_start, i)
            name = found.group(1) if found else ""
        if not is_open and (depth > 0 or quoted):
            opened = i
        if not (depth > 0 or quoted) and not ch.isspace():
            last = i + 1
    if depth > 0 or quoted:
        line, col = index.pos(opened)
        return Unclosed(name, line, col, "}" if text[opened] == "{" else '"')
    line, col = index.pos(last)
    return Unclosed("", line, col, closer)


_EQUALS = re.compile(r"\s*=")


def _locate_fields(entry: bpm.Entry, raw: str, start: int, index: LineIndex) -> list[RawField]:
    fields = []
    head = raw.find(",")
    cursor = head + 1 if head >= 0 else len(raw)
    for f in entry.fields:
        pos = cursor
        if not f.key:  # no name before its '=' (`  = {…},`): the field stands where the '=' does
            pos = after = raw.find("=", cursor)
        while f.key:  # (an empty key was found everywhere and never moved on: found by fuzzing, a hang)
            pos = raw.find(f.key, pos)
            after = pos + len(f.key)
            if pos < 0 or _EQUALS.match(raw, after):  # (not a slice: entries hold long abstracts)
                break
            pos = after
        if pos < 0:  # pragma: no cover - the splitter took the key from this text
            line, col = index.pos(start)
        else:
            line, col = index.pos(start + pos)
            value_at = raw.find(f.value, raw.find("=", after) + 1)
            cursor = value_at + len(f.value) if value_at >= 0 else after
        fields.append(RawField(f.key, f.value, line, col))
    return fields


def _attach_bad_characters(parsed: ParsedBib, found: list[tuple[int, Problem]]) -> None:
    for offset, problem in found:
        owner = next((b for b in parsed.blocks if b.start <= offset < b.end and b.kind != "commented"), None)
        (owner.problems if owner else parsed.problems).append(problem)


def _check_gaps(parsed: ParsedBib, masked: str, index: LineIndex) -> None:
    """Text between blocks is a comment to BibTeX; warn where it looks like a mistake."""
    edges = [b for b in parsed.blocks if b.kind != "commented"]
    bounds = [0] + [x for b in edges for x in (b.start, b.end)] + [len(masked)]
    for gap_start, gap_end in zip(bounds[::2], bounds[1::2], strict=True):
        text_reported = False
        for m in re.finditer(r"\S[^\n]*", masked[gap_start:gap_end]):
            snippet = m.group(0).rstrip()
            line, col = index.pos(gap_start + m.start())
            if set(snippet) <= set("})"):
                parsed.problems.append(warning(
                    parsed.path, line, "bib-stray-brace", f"stray '{snippet[:40]}' outside any entry", col=col,
                    hint="the entry above has a closing brace too many; delete the extra one"))
            elif not text_reported and not snippet.lower().startswith("@comment"):
                text_reported = True
                parsed.problems.append(warning(
                    parsed.path, line, "bib-stray-text", f"text outside any entry: '{snippet[:60]}'", col=col,
                    hint="start comment lines with '%', or delete the text"))


def _collect_macros(parsed: ParsedBib) -> None:
    for block in parsed.blocks:
        if block.kind != "string":
            continue
        if not parsed.macros.define(block.key, block.fields[0].raw):
            parsed.problems.append(warning(
                parsed.path, block.line, "bib-duplicate-string",
                f"@string '{block.key}' is defined again; the first definition is used", col=block.col,
                hint="delete one of the definitions"))
