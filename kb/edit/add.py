"""``kb add``: import BibTeX entries into ``evidence/references.bib`` without losing or changing anything.

Promises (BAD_INPUTS "Promises" 1–4):

* **Every block is accounted for.** A *block* is an entry: every ``@type{…}``/``@type(…)`` other than
  ``@string``, ``@preamble`` and ``@comment``, whether bibtexparser could parse it or not, plus every
  ``%``-commented entry (``%@book{…``). Each has one outcome: *added*, *already present* (the same
  work by :mod:`kb.bibtex.identity`: nothing that identifies a work tells the two apart), or
  *reported* (an error, or a warning for a commented-out entry), so ``added + present + reported ==
  blocks``. Where identity is uncertain the entry is added with a warning, never dropped. ``@string``/``@preamble``/
  ``@comment`` are *declarations*, counted apart: ``@string`` macros are resolved into the new
  entries' values (their definitions are not carried), ``@preamble`` and ``@comment`` are not
  imported (a warning says so for ``@preamble``).
* **Existing bytes stay.** New entries are appended as text we write ourselves; the existing file is
  never re-serialised, its newline style and BOM are kept, an existing key is never renamed.
* **What is written passes ``kb check``**: each entry gets the loader's field checks before it is
  planned, and the file as it would be written gets ``kb check``'s reference checks and SHACL shapes
  (:mod:`kb.edit.verify`); an entry they fault is reported, not written.
* **All or nothing**, atomic and locked (:mod:`kb.io.atomic`): any entry in error → nothing is written,
  unless ``skip_invalid``. A second run of the same import adds nothing. Inputs are read under a size
  cap (:mod:`kb.io.reading`), so ``/dev/zero`` or ``yes |`` is refused, not read forever.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from kb.bibtex.check import EntryRecord, check_links, check_required, evaluate_entry, fold_key, key_problem
from kb.bibtex.display import latex_to_text
from kb.bibtex.identity import Known, Verdict, WorkIndex, identify
from kb.bibtex.load import EntryMemo, check_file, failed_block_problem
from kb.bibtex.normalise import (
    NewEntry,
    append_entries,
    field_texts,
    generate_key,
    normalise_entry,
    reads_back,
    suffixed,
)
from kb.bibtex.parse import ParsedBib, RawBlock, read_bib
from kb.bibtex.values import MacroTable
from kb.edit.result import DEFAULT_MAX_ENTRIES, AddOptions, AddResult, Outcome, Pending
from kb.edit.verify import faults_once_written
from kb.io.atomic import (
    ABSENT,
    ChangedOnDiskError,
    LockTimeoutError,
    atomic_write_bytes,
    digest_bytes,
    locked,
    remove_stale_temps,
)
from kb.io.reading import InputTooLarge, os_error_text, read_capped, write_failure
from kb.problems import Problem, Severity, error, warning

__all__ = ["DEFAULT_MAX_ENTRIES", "AddOptions", "AddResult", "Outcome", "Pending", "plan_import", "run_add"]
DECLARATIONS = ("string", "preamble", "comment")


class _Index(WorkIndex):
    """The known entries (:class:`WorkIndex`) and the keys they hold, case-folded."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[str, Known] = {}

    def add(self, known: Known) -> None:
        self.by_key.setdefault(fold_key(known.key), known)
        super().add(known)

    def taken(self, key: str) -> bool:
        return fold_key(key) in self.by_key


def _known(key: str, where: str, entry_type: str, fields: dict[str, str]) -> Known:
    return Known(key, where, fields, identify(entry_type, fields))


def _read_input(source: str | Path, stdin: BinaryIO | None, cap: int) -> tuple[str, bytes | None, Problem | None]:
    """The bytes of one input (``-`` is standard input), read under the size cap (kb.io.reading)."""
    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        data = read_capped(stdin or sys.stdin.buffer if name == "<stdin>" else Path(source), cap)
    except InputTooLarge as exc:
        return name, None, error(name, None, "bib-file-too-large", str(exc), expected=f"at most {cap:,} bytes",
                                 hint="split the file, or raise max_file_bytes in kb.toml")
    except OSError as exc:
        return name, None, error(name, None, "bib-unreadable", f"cannot read it: {os_error_text(exc)}",
                                 expected="a readable BibTeX file", hint="check the path and its permissions")
    return name, data, None


def _target_index(parsed: ParsedBib, memo: EntryMemo | None = None) -> _Index:
    index = _Index()
    records, _ = check_file(parsed, memo=memo)
    for record in records:
        if record.key:
            index.add(_known(record.key, f"{parsed.path}:{record.line}", record.entry_type, record.fields))
    for block in parsed.blocks:
        if block.kind == "failed" and block.key:
            index.by_key.setdefault(fold_key(block.key), _known(block.key, f"{parsed.path}:{block.line}", "", {}))
    return index


def plan_import(sources: list[tuple[str, bytes]], target: ParsedBib, options: AddOptions,
                memo: EntryMemo | None = None) -> AddResult:
    """Decide every block's outcome and render the new entries; writes nothing. ``memo`` keeps what the target's
    entries became, for the check of the file as it would be written (:func:`_check_as_written`)."""
    result = AddResult(target=options.target, dry_run=options.dry_run)
    index = _target_index(target, memo)
    parsed_inputs = [read_bib(data, name, options.encoding, options.max_file_bytes) for name, data in sources]
    total = sum(len([b for b in p.blocks if _is_block(b)]) for p in parsed_inputs)
    for parsed in parsed_inputs:
        result.problems.extend(parsed.problems)
        if parsed.fatal:
            for n in range(parsed.block_count_estimate):
                result.outcomes.append(Outcome(parsed.path, 0, 0, "reported",
                                               message=f"entry {n + 1} not imported: the file could not be read"))
            continue
        if total > options.max_entries:
            result.problems.append(error(parsed.path, None, "bib-too-many-entries",
                                         f"{total:,} entries in one import", expected=f"at most "
                                         f"{options.max_entries:,}", hint="import the file in parts"))
            result.outcomes += [Outcome(parsed.path, b.line, b.col, "reported", b.key, "not imported: too many")
                                for b in parsed.blocks if _is_block(b)]
            continue
        _plan_file(parsed, target, index, options, result)
    return result


def _plan_file(parsed: ParsedBib, target: ParsedBib, index: _Index, options: AddOptions,
               result: AddResult) -> None:
    macros = MacroTable(parsed.macros.raw, fallback=target.macros)
    records: dict[int, EntryRecord] = {}
    for block in parsed.blocks:
        if block.kind == "entry":
            records[block.start] = evaluate_entry(block, macros, parsed.path, options.max_field_chars)
    by_fold = {fold_key(r.key): r for r in records.values() if r.key}

    def parent_of(key: str) -> EntryRecord | None:
        return by_fold.get(fold_key(key))

    check_links([r for r in records.values() if r.key], lambda k: parent_of(k) or _known_record(index, k),
                [*by_fold, *index.by_key])
    renamed: dict[str, str] = {}
    planned: list[tuple[Outcome, NewEntry, EntryRecord]] = []
    for block in parsed.blocks:
        if block.kind in DECLARATIONS:
            result.declarations[block.kind] += 1
            if block.kind == "preamble":
                result.problems.append(warning(
                    parsed.path, block.line, "bib-preamble-ignored", "@preamble is not imported", col=block.col,
                    hint="the KB shows LaTeX through pylatexenc and does not need it"))
            continue
        if block.kind == "failed":
            result.problems.append(failed_block_problem(block, parsed.path))
            if block.entry_type.lower() in DECLARATIONS:
                result.declarations[block.entry_type.lower()] += 1
                continue
            result.outcomes.append(Outcome(parsed.path, block.line, block.col, "reported", block.key,
                                           "not imported: the entry could not be parsed"))
            continue
        if block.kind == "commented":
            result.outcomes.append(Outcome(parsed.path, block.line, block.col, "reported", block.key,
                                           "not imported: the entry is commented out"))
            continue
        record = records[block.start]
        check_required(record, lambda k: parent_of(k) or _known_record(index, k))
        outcome, entry = _decide(record, macros, index, renamed)
        result.outcomes.append(outcome)
        if entry is not None:
            planned.append((outcome, entry, record))
    for outcome, entry, record in planned:
        entry, problem = _relink(entry, record, renamed, index)
        problem = problem or _self_check(entry, record)
        if problem:
            outcome.kind, outcome.message = "reported", "not imported: " + problem.message
            continue
        result.pending.append(Pending(outcome, record, entry.render()))
    for record in records.values():
        result.problems.extend(p for p in record.problems if p.code != "bib-empty-key")


def _is_block(block: RawBlock) -> bool:
    """Entries (parsed, failed or commented out) are blocks; @string/@preamble/@comment are not."""
    return block.kind not in DECLARATIONS and block.entry_type.lower() not in DECLARATIONS


def _known_record(index: _Index, key: str) -> EntryRecord | None:
    known = index.by_key.get(fold_key(key))
    if known is None:
        return None
    return EntryRecord(RawBlock("entry", 0, 0, 0, 0), known.where, "misc", known.key, fields=known.fields)


def _decide(record: EntryRecord, macros: MacroTable, index: _Index,
            renamed: dict[str, str]) -> tuple[Outcome, NewEntry | None]:
    """Added (under which key), already present (as which entry), or reported (why): see kb.bibtex.identity."""
    where = record.where()
    outcome = Outcome(record.path, record.line, record.block.col, "reported", record.key)
    errors = [p for p in record.errors if p.code != "bib-empty-key"]
    if errors:
        outcome.message = f"not imported: {len(errors)} error(s) ({', '.join(sorted({p.code for p in errors}))})"
        return outcome, None
    probe = normalise_entry(record, macros, record.key or "probe")
    fields = field_texts(probe)
    work = identify(record.entry_type, fields)
    match = index.match(work, fields)
    known = match.known
    if match.verdict is Verdict.SAME and known is not None:
        outcome.kind, outcome.key = "present", known.key
        outcome.message = f"already present as {known.key} ({known.where}; {match.reason})"
        if record.key:
            renamed.setdefault(fold_key(record.key), known.key)
        return outcome, None
    if match.verdict is Verdict.CONFLICT and known is not None:
        if "titles" in match.reason:
            detail = (f"whose title is '{latex_to_text(known.fields.get('title', ''))}'; this entry's is "
                      f"'{latex_to_text(fields.get('title', ''))}'")
        else:
            detail = (f"whose author list differs ({match.reason.removeprefix('same DOI, but ')}): "
                      f"'{known.fields.get('author') or known.fields.get('editor', '')}' there, "
                      f"'{fields.get('author') or fields.get('editor', '')}' here")
        record.problem("bib-doi-conflict", f"DOI {work.doi} is already on '{known.key}' ({known.where}), {detail}",
                       "doi", expected="one DOI per work: the title and authors of the entry that has it",
                       hint=f"check the DOI at https://doi.org/{work.doi}; if this is another work, correct its DOI")
        outcome.message = f"not imported: its DOI is already on {known.key}, with another title or author list"
        return outcome, None
    if not record.key:
        key = suffixed(generate_key(fields), index.taken)
        note = "key generated: the entry had none"
    else:
        key = suffixed(record.key, index.taken)
        note = ""
        if key != record.key:
            clash = index.by_key[fold_key(record.key)]
            note = f"key '{record.key}' is taken by a different work at {clash.where}"
    bad = key_problem(key)
    if bad:  # a generated key can only fail on length or an empty rule; say so rather than write it
        record.problem(bad[0], f"generated {bad[1]}", hint="give the entry a key")
        outcome.message = "not imported: no usable key"
        return outcome, None
    if match.verdict is Verdict.UNCERTAIN and known is not None:
        record.problem("bib-possible-duplicate", f"'{record.key or key}' may be the same work as '{known.key}' "
                       f"({known.where}): same title, year and authors, but {match.reason}; added as '{key}'",
                       warn=True, hint="if they are one work, delete one of the two entries: kb add never drops "
                       "an entry it cannot tell apart")
        note = "; ".join(filter(None, [note, f"may be the same work as {known.key}: {match.reason}"]))
    elif known is not None:
        note = "; ".join(filter(None, [note, f"a different work from {known.key} ({known.where}), which has the "
                                             f"same title, year and first author: {match.reason}"]))
    entry = normalise_entry(record, macros, key)
    if record.key:
        renamed.setdefault(fold_key(record.key), key)  # crossrefs to this key follow the first entry
    index.add(Known(key, f"{where} (added by this import)", fields, work))  # the key aside, the probe's fields
    outcome.kind, outcome.key = "added", key
    outcome.message = f"added as {key}" + (f" ({note})" if note else "")
    return outcome, entry


def _relink(entry: NewEntry, record: EntryRecord, renamed: dict[str, str],
            index: _Index) -> tuple[NewEntry, Problem | None]:
    """Point crossref/xref at the key the target ended up with (renamed, or already present)."""
    for name, value in entry.fields:
        if name in ("crossref", "xref"):
            target = value[1:-1]
            new = renamed.get(fold_key(target))
            if new is None and fold_key(target) in index.by_key:
                new = index.by_key[fold_key(target)].key
            if new is None:
                return entry, record.problem(
                    "bib-crossref-missing", f"{name} target '{target}' is not imported (it has errors)", name,
                    hint="fix the target entry, or import the two together once it is fixed")
            if new != target:
                entry = entry.with_field(name, "{" + new + "}")
    return entry, None


def _self_check(entry: NewEntry, record: EntryRecord) -> Problem | None:
    """Parse what we are about to write; it must read back as exactly these fields."""
    if reads_back(entry):
        return None
    return record.problem("bib-cannot-write", "the normalised entry would not read back unchanged",
                          hint="simplify the values (balanced braces, no trailing backslash)")


def run_add(inputs: list[str | Path], options: AddOptions, stdin: BinaryIO | None = None) -> AddResult:
    """Plan the import of ``inputs`` and, unless a dry run or in error, append the new entries."""
    sources: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    for source in inputs:
        name, data, problem = _read_input(source, stdin, options.max_file_bytes)
        if problem:
            problems.append(problem)
        else:
            sources.append((name, data or b""))
    target = options.target
    try:
        with locked(target, options.lock_timeout) if not options.dry_run else contextlib.nullcontext():
            if not options.dry_run:
                remove_stale_temps(target)  # left by a writer killed mid-write; we hold the lock
            result = _plan_and_write(sources, options)
    except LockTimeoutError as exc:
        result = _plan_and_write(sources, replace(options, dry_run=True))
        result.dry_run = False
        _refuse(result, error(target, None, "bib-locked", str(exc), hint="another kb add is running"))
    except OSError as exc:  # the lock file cannot be created: a read-only folder or file system
        result = _plan_and_write(sources, replace(options, dry_run=True))
        result.dry_run = False
        _refuse(result, error(target.parent, None, "bib-not-writable",
                              f"cannot write in {target.parent}: {os_error_text(exc)} (creating "
                              f"{exc.filename or 'the lock file'}); nothing was changed",
                              expected="a folder kb add may write in", hint="check the folder's permissions, "
                              "or use --dry-run to see what would be added"))
    result.problems[:0] = problems
    if not result.written:
        for outcome in result.outcomes:
            if outcome.kind == "added":
                outcome.message = "would be " + outcome.message
    return result


def _refuse(result: AddResult, problem: Problem) -> None:
    """Nothing can be written: every block that was to be added or matched is reported instead."""
    result.problems.append(problem)
    result.pending = []
    for outcome in result.outcomes:
        if outcome.kind != "reported":
            outcome.kind, outcome.message = "reported", f"not imported: {problem.code}"


def _plan_and_write(sources: list[tuple[str, bytes]], options: AddOptions) -> AddResult:
    target = options.target
    try:
        existing = target.read_bytes() if target.exists() else None
    except OSError as exc:
        result = plan_import(sources, ParsedBib(str(target)), options)
        _refuse(result, error(target, None, "bib-unreadable", f"cannot read the references file: "
                              f"{os_error_text(exc)}", expected="a readable references.bib",
                              hint="check its permissions; nothing was changed"))
        return result
    # The size cap is for inputs; the references file's own size is `kb check`'s business.
    parsed_target = read_bib(existing or b"", target, max_file_bytes=max(options.max_file_bytes, len(existing or b"")))
    broken = [failed_block_problem(b, str(target)) for b in parsed_target.blocks if b.kind == "failed"]
    if parsed_target.fatal or broken:  # appending after an unclosed entry would bury the new ones in it
        result = plan_import(sources, ParsedBib(str(target)), options)
        result.problems += [p for p in parsed_target.problems if p.severity is Severity.ERROR] + broken
        _refuse(result, error(target, None, "bib-target-unusable",
                              "the references file must be fixed before anything is added to it",
                              hint="run `kb check` and fix the errors it lists for this file"))
        return result
    # the file as it would be written is the target's entries, at the same places, and the new ones after them: each
    # target entry is evaluated once for both (~4 s of kb add at 10,000 works)
    memo = EntryMemo()
    result = plan_import(sources, parsed_target, options, memo)
    newline = parsed_target.decoded.newline if parsed_target.decoded and existing else "\n"
    _check_as_written(result, existing or b"", newline, memo)
    if options.dry_run or not result.pending or (result.errors and not options.skip_invalid):
        return result
    data = append_entries(existing or b"", result.new_entries, newline)
    try:
        atomic_write_bytes(target, data, expected_digest=ABSENT if existing is None else digest_bytes(existing))
        result.written = True
    except ChangedOnDiskError as exc:
        _refuse(result, error(target, None, "bib-changed-on-disk", str(exc)))
    except OSError as exc:  # disk full, permissions: the old file is intact (kb.io.atomic)
        _refuse(result, error(target, None, "bib-write-failed", write_failure(exc, target, len(data))
                              + "; nothing was changed", hint="free some space or fix the permissions, then "
                              "run the same kb add again"))
    return result


def _check_as_written(result: AddResult, existing: bytes, newline: str, memo: EntryMemo | None = None) -> None:
    """``kb check`` on the file as it would be written; an entry it faults is reported, not written.

    Repeated until clean: dropping a parent can fault a child that crossrefs it.
    """
    while result.pending:
        faults = faults_once_written(existing, result.new_entries, result.target, newline, memo)
        if not faults:
            return
        for index, problems in sorted(faults.items()):
            pending = result.pending[index]
            for found in problems:
                record = pending.record
                line = record.field_lines.get(found.field or "", record.line)
                result.problems.append(error(
                    record.path, line, found.code, f"{found.message} (kb check would report this once it is "
                    f"in {result.target.name})", col=record.field_cols.get(found.field or "", record.block.col),
                    field=found.field, expected=found.expected, hint=found.hint))
            pending.outcome.kind = "reported"
            pending.outcome.message = f"not imported: kb check would refuse it ({problems[0].code})"
        result.pending = [p for i, p in enumerate(result.pending) if i not in faults]
