"""Load ``evidence/references.bib`` for ``kb check`` and ``kb build``: references plus every problem.

The pipeline: bytes → strict decode (:mod:`kb.bibtex.scan`) → bibtexparser's splitter with an explicit,
empty parse stack and exact positions (:mod:`kb.bibtex.parse`) → values evaluated with BibTeX's macro
semantics (:mod:`kb.bibtex.values`) → per-entry and whole-file checks (:mod:`kb.bibtex.check`) →
:class:`kb.model.Reference`. Values in ``Reference.fields``: macros and month macros resolved with
BibTeX's own semantics (``jun # "-" # aug`` → ``June-August``, ``month = jun`` → ``June``), outer
braces/quotes removed, runs of white space collapsed to one space, LaTeX kept as written; ``doi``
bare and lower case. Display text comes from :func:`latex_to_text`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from kb.bibtex.check import EntryRecord, check_links, check_required, evaluate_entry, fold_key
from kb.bibtex.display import latex_to_text
from kb.bibtex.parse import DEFAULT_MAX_FILE_BYTES, ParsedBib, RawBlock, read_bib
from kb.bibtex.values import parse_persons
from kb.io.reading import InputTooLarge, os_error_text, read_capped
from kb.model import Reference
from kb.problems import Problem, error

__all__ = ["FILE_FATAL", "EntryMemo", "failed_block_problem", "latex_to_text", "load_references",
           "references_from_bytes", "to_reference"]


def failed_block_problem(block: RawBlock, path: str) -> Problem:
    """What went wrong with a block bibtexparser could not parse, with both lines.

    For an entry that never closes, the problem points where the missing delimiter belongs
    (:func:`kb.bibtex.parse.find_unclosed`): the value left open, or the end of the last field.
    """
    what = f"@{block.entry_type}{{{block.key}" if block.entry_type else "block"
    reason = block.failure
    line, col = block.line, block.col
    if "end of file" in reason:
        code, message = "bib-unclosed-entry", f"{what} is never closed: the file ends first"
        hint = "add the missing closing brace '}' at the end of the entry"
    elif "found `@" in reason or "Unexpected block start" in reason:
        if "closing `}`" in reason or "closing bracket" in reason or "`,` or `}`" in reason:
            code, message = "bib-unbalanced-braces", f"{what} has unbalanced braces"
        else:
            code, message = "bib-unclosed-entry", f"{what} is not closed before the next entry starts"
        hint = ("count the braces of the entry's values (every '{' needs its '}'); a line inside a value "
                "must not start with '@', which reads as the start of a new entry")
    else:
        code, message = "bib-syntax", f"{what} could not be parsed: {reason.strip()}"
        hint = "check the syntax: @type{key, field = {value}, …}" + (
            "; is the citekey missing?" if "comma after entry key" in reason else "")
    unclosed = block.unclosed if code != "bib-syntax" else None
    if unclosed is not None:
        line, col = unclosed.line, unclosed.col
        if unclosed.field:
            missing = "one of its '{' has no matching '}'" if unclosed.delimiter == "}" else "its '\"' is not closed"
            hint = (f"the value of '{unclosed.field}' starting here never ends: {missing}; add the "
                    f"'{unclosed.delimiter}' where the value should end")
        else:
            hint = (f"every value is closed, but the entry is not: add its closing '{unclosed.delimiter}' here, "
                    "after its last field")
    return error(path, line, code, f"{message} (entry starts at line {block.line}; parsing gave up at "
                 f"line {block.failure_line})", col=col, expected="a complete @type{key, …} entry",
                 hint=hint)


def to_reference(record: EntryRecord, text: str = "") -> Reference:
    fields = dict(record.fields)
    authors, truncated = parse_persons(fields["author"]) if fields.get("author") else ((), False)
    editors, _ = parse_persons(fields["editor"]) if fields.get("editor") else ((), False)
    return Reference(
        key=record.key, entry_type=record.entry_type, fields=fields, authors=authors, editors=editors,
        authors_truncated=truncated, path=record.path, line=record.line, field_lines=dict(record.field_lines),
        raw=record.block.text(text) if text else "",
    )


class EntryMemo:
    """What each entry of a BibTeX file became when the file was last read: the record :func:`evaluate_entry` made
    and its :class:`Reference`, by everything they are made of (the file's path, the entry's text and the line and
    column it begins at, the file's ``@string`` definitions, the field limit).

    A long-running process (the editors' loop) keeps one, so that an edited references.bib evaluates only the entries
    whose text or place changed: evaluating and converting all 10,000 was ~3 s of every rebuild after an edited
    reference. ``kb add`` reads the file, then the file as it would be written (the same entries at the same places,
    the new ones after them), with one. An entry after an edit that adds or removes lines begins at another line, and
    is evaluated again (its problems and its reference say where it is). Records are handed out as copies with their
    own list of problems, which the checks across entries add to. It keeps the file's last split too, so that the next
    read splits again only the text an edit changed (:func:`kb.bibtex.parse.read_bib`'s ``last``: ~2.5 of ~2.7 s at
    10,000 works). A memo does not travel to another process: it pickles empty.
    """

    def __init__(self) -> None:
        self._by_path: dict[str, dict[tuple[object, ...], list]] = {}  # key → [record, its problems, its reference]
        self._read: dict[int, list] = {}  # a record handed out (by id, while it lives) → its memo entry
        self._parsed: dict[str, ParsedBib] = {}  # the last split of each path (read_bib's last)

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return EntryMemo, ()

    def records(self, parsed: ParsedBib, max_field_chars: int | None) -> list[EntryRecord]:
        """:func:`evaluate_entry` of each of ``parsed``'s entries, from the memo where the entry is unchanged."""
        kwargs = {"max_field_chars": max_field_chars} if max_field_chars else {}
        if parsed.macros.fallback is not None:  # definitions from another file (kb add's): not in the key
            return [evaluate_entry(b, parsed.macros, parsed.path, **kwargs) for b in parsed.entries]
        self._read.clear()  # a read that failed before done()
        self._parsed[parsed.path] = parsed
        last = self._by_path.get(parsed.path, {})
        now: dict[tuple[object, ...], list] = {}
        macros = tuple(sorted(parsed.macros.raw.items()))
        out = []
        for block in parsed.entries:
            key = (block.line, block.col, block.text(parsed.text), macros, max_field_chars)
            entry = now.get(key) or last.get(key)
            if entry is None:
                record = evaluate_entry(block, parsed.macros, parsed.path, **kwargs)
                entry = [record, tuple(record.problems), None]
            now[key] = entry
            # the block as read now: the same text and place, but where an edit before it on its first line moved it,
            # at other offsets into the text (a reference's raw BibTeX is cut from the text by them)
            copy = dataclasses.replace(entry[0], block=block, problems=list(entry[1]))
            self._read[id(copy)] = entry
            out.append(copy)
        self._by_path[parsed.path] = now  # this read's entries, and no others, are the ones kept
        return out

    def reference(self, record: EntryRecord, text: str) -> Reference:
        """:func:`to_reference` of a record :meth:`records` handed out: the same object while its entry is."""
        entry = self._read.get(id(record))
        if entry is None or entry[0].fields is not record.fields:  # not one of this read's (an id used again)
            return to_reference(record, text)
        if entry[2] is None:
            entry[2] = to_reference(record, text)
        return entry[2]

    def adopt(self, path: str, references: Iterable[Reference]) -> None:
        """Hand out ``references`` (another read's of ``path``) for the memo's entries whose reference equals one of
        them: the objects that later stages keep what they made of by identity. The loop's first build read the file
        in another process or from the parse cache; without this its first edited reference made everything of
        every work again (~1.7 s at 10,000 works)."""
        by_key = {ref.key: ref for ref in references}
        for entry in self._by_path.get(path, {}).values():
            given = by_key.get(entry[0].key)
            if entry[2] is not None and given is not None and given == entry[2]:
                entry[2] = given

    def last_read(self, path: str) -> ParsedBib | None:
        """The split of ``path`` the memo's entries came from: the next read splits again only what changed."""
        return self._parsed.get(path)

    def holds(self, path: str) -> bool:
        """Whether the memo keeps the entries of a read of ``path``."""
        return path in self._by_path

    def done(self) -> None:
        """The read is over: the records it handed out are no longer known by their ids."""
        self._read.clear()


def check_file(parsed: ParsedBib, max_field_chars: int | None = None,
               memo: EntryMemo | None = None) -> tuple[list[EntryRecord], list[Problem]]:
    """Evaluate every entry and run all checks; returns the records and the file-level problems."""
    problems = list(parsed.problems)
    kwargs = {"max_field_chars": max_field_chars} if max_field_chars else {}
    records = (memo.records(parsed, max_field_chars) if memo is not None
               else [evaluate_entry(b, parsed.macros, parsed.path, **kwargs) for b in parsed.entries])
    problems += [failed_block_problem(b, parsed.path) for b in parsed.blocks if b.kind == "failed"]
    first_by_key: dict[str, EntryRecord] = {}
    by_fold: dict[str, EntryRecord] = {}
    for record in records:
        if not record.key:
            continue
        first = first_by_key.get(record.key)
        if first is not None:
            record.problem("bib-duplicate-key", f"citekey '{record.key}' is used twice (lines {first.line} "
                           f"and {record.line})", hint="keep one entry, or give the other work its own key")
            continue
        first_by_key[record.key] = record
        twin = by_fold.setdefault(fold_key(record.key), record)
        if twin is not record:
            record.problem("bib-lookalike-key", f"citekey '{record.key}' differs from '{twin.key}' (line "
                           f"{twin.line}) only in case or look-alike characters",
                           hint="keys must differ in more than case: file names are case-insensitive on "
                                "some systems")
    by_doi: dict[str, list[EntryRecord]] = defaultdict(list)
    for record in first_by_key.values():
        if record.fields.get("doi", "").startswith("10."):
            by_doi[record.fields["doi"]].append(record)
    for doi, holders in by_doi.items():
        for later in holders[1:]:
            later.problem("bib-duplicate-doi", f"DOI {doi} is also on '{holders[0].key}' (line "
                          f"{holders[0].line})", "doi", hint="one work, one entry: merge the two entries")
    def parent_of(key: str) -> EntryRecord | None:  # BibTeX matches crossref keys ignoring case
        return by_fold.get(fold_key(key))

    check_links(first_by_key.values(), parent_of, first_by_key)
    for record in first_by_key.values():
        check_required(record, parent_of)
    return records, problems


def load_references(
    path: Path, *, encoding: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_field_chars: int | None = None, memo: EntryMemo | None = None,
) -> tuple[list[Reference], list[Problem]]:
    """Every usable entry of a ``.bib`` file as a :class:`Reference`, and every problem found.

    Entries with errors are still returned (so that later stages can report their own problems
    against them) unless their key is empty, unsafe or a duplicate: those could not become IRIs.
    A file that cannot be read or decoded, or that holds merge-conflict markers, yields no references.
    ``memo``: what the entries became when the file was last read (:class:`EntryMemo`).
    """
    path = Path(path)
    try:
        data = read_capped(path, max_file_bytes)
    except InputTooLarge as exc:
        return [], [error(path, None, "bib-file-too-large", str(exc), expected=f"at most {max_file_bytes:,} bytes",
                          hint="split it, or raise max_file_bytes in kb.toml")]
    except OSError as exc:
        return [], [error(path, None, "bib-unreadable", f"cannot read the file: {os_error_text(exc)}",
                          expected="a readable BibTeX file", hint="check the path and permissions")]
    return references_from_bytes(data, path, encoding=encoding, max_file_bytes=max_file_bytes,
                                 max_field_chars=max_field_chars, memo=memo)


def references_from_bytes(
    data: bytes, path: Path | str, *, encoding: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_field_chars: int | None = None, memo: EntryMemo | None = None,
) -> tuple[list[Reference], list[Problem]]:
    """:func:`load_references` on bytes already read (``kb add`` checks a file before it is written)."""
    parsed = read_bib(data, path, encoding=encoding, max_file_bytes=max_file_bytes,
                      last=memo.last_read(str(path)) if memo is not None else None)
    if parsed.fatal:
        return [], sorted(parsed.problems, key=_order)
    records, problems = check_file(parsed, max_field_chars, memo)
    refs = []
    for record in records:
        problems.extend(record.problems)
        if not any(p.code in _UNUSABLE for p in record.problems):
            refs.append(memo.reference(record, parsed.text) if memo is not None else to_reference(record, parsed.text))
    if memo is not None:
        memo.done()
    return refs, sorted(problems, key=_order)


# Problems that make a whole BibTeX file unusable: no entry of it is read until they are fixed.
FILE_FATAL = frozenset({"bib-unreadable", "bib-file-too-large", "bib-encoding", "bib-merge-conflict"})
_UNUSABLE = frozenset({"bib-empty-key", "bib-unsafe-key", "bib-duplicate-key", "bib-lookalike-key"})


def _order(problem: Problem) -> tuple[int, int, str]:
    return (problem.line or 0, problem.col or 0, problem.code)
