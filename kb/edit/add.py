"""``kb add``: import BibTeX entries into ``evidence/references.bib`` without losing or changing anything.

Promises (BAD_INPUTS "Promises" 1–4):

* **Every block is accounted for.** A *block* is an entry: every ``@type{…}``/``@type(…)`` other than
  ``@string``, ``@preamble`` and ``@comment``, whether bibtexparser could parse it or not, plus every
  ``%``-commented entry (``%@book{…``). Each has one outcome: *added*, *already present* (same DOI;
  else same folded title + year + first author), or *reported* (an error, or a warning for a
  commented-out entry), so ``added + present + reported == blocks``. ``@string``/``@preamble``/
  ``@comment`` are *declarations*, counted apart: ``@string`` macros are resolved into the new
  entries' values (their definitions are not carried), ``@preamble`` and ``@comment`` are not
  imported (a warning says so for ``@preamble``).
* **Existing bytes stay.** New entries are appended as text we write ourselves; the existing file is
  never re-serialised, its newline style and BOM are kept, an existing key is never renamed.
* **All or nothing**, atomic and locked (:mod:`kb.io.atomic`): any entry in error → nothing is written,
  unless ``skip_invalid``. A second run of the same import adds nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from kb.bibtex.check import EntryRecord, check_links, check_required, evaluate_entry, fold_key, key_problem
from kb.bibtex.load import check_file, failed_block_problem
from kb.bibtex.normalise import (
    NewEntry,
    append_entries,
    field_texts,
    generate_key,
    normalise_entry,
    reads_back,
    suffixed,
    work_identity,
)
from kb.bibtex.parse import DEFAULT_MAX_FILE_BYTES, ParsedBib, RawBlock, read_bib
from kb.bibtex.values import MacroTable
from kb.io.atomic import ABSENT, ChangedOnDiskError, LockTimeoutError, atomic_write_bytes, digest_bytes, locked
from kb.problems import Problem, Severity, error, warning

DEFAULT_MAX_ENTRIES = 10_000
DECLARATIONS = ("string", "preamble", "comment")


@dataclass(frozen=True)
class AddOptions:
    evidence_dir: Path = Path("evidence")
    dry_run: bool = False
    skip_invalid: bool = False
    encoding: str | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_field_chars: int = 1_000_000
    max_entries: int = DEFAULT_MAX_ENTRIES
    lock_timeout: float = 60.0  # seconds to wait for another kb add to finish

    @property
    def target(self) -> Path:
        return self.evidence_dir / "references.bib"


@dataclass
class Outcome:
    """What happened to one block of the input."""

    path: str
    line: int
    col: int
    kind: str  # added | present | reported
    key: str = ""
    message: str = ""

    def format(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class AddResult:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    declarations: Counter[str] = field(default_factory=Counter)
    new_entries: list[str] = field(default_factory=list)  # rendered text, "\n" line ends
    target: Path = Path("evidence/references.bib")
    written: bool = False
    dry_run: bool = False

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def summary(self) -> str:
        blocks = len(self.outcomes)
        added = "added" if self.written or not self.count("added") else "would be added"  # as the entry lines say
        text = (f"kb add: {blocks} entr{'y' if blocks == 1 else 'ies'}: {self.count('added')} {added}, "
                f"{self.count('present')} already present, {self.count('reported')} reported")
        if self.declarations:
            text += "; declarations: " + ", ".join(
                f"{n} @{kind} ({'resolved into the entries' if kind == 'string' else 'not imported'})"
                for kind, n in sorted(self.declarations.items()))
        if self.dry_run:
            return text + f"; dry run: nothing written to {self.target}"
        if self.written:
            return text + f"; wrote {self.target}"
        if self.errors and not self.new_entries:
            return text + "; nothing written"
        if self.errors:
            return text + f"; nothing written: {len(self.errors)} error(s) (--skip-invalid adds the others)"
        return text + "; nothing to write"


@dataclass
class _Known:
    """An entry the new ones are compared with: existing in the target, or accepted in this run."""

    key: str
    where: str
    fields: dict[str, str]


class _Index:
    def __init__(self) -> None:
        self.by_key: dict[str, _Known] = {}
        self.by_doi: dict[str, _Known] = {}
        self.by_work: dict[tuple[str, str, str], _Known] = {}
        self.by_fields: dict[frozenset[tuple[str, str]], _Known] = {}

    def add(self, known: _Known) -> None:
        self.by_key.setdefault(fold_key(known.key), known)
        doi = known.fields.get("doi", "")
        if doi.startswith("10."):
            self.by_doi.setdefault(doi, known)
        identity = work_identity(known.fields)
        if identity:
            self.by_work.setdefault(identity, known)
        if known.fields:
            self.by_fields.setdefault(frozenset(known.fields.items()), known)

    def same_work(self, fields: dict[str, str]) -> tuple[_Known, str] | None:
        doi = fields.get("doi", "")
        if doi in self.by_doi:
            return self.by_doi[doi], f"same DOI {doi}"
        identity = work_identity(fields)
        if identity and identity in self.by_work:
            return self.by_work[identity], "same title, year and first author"
        twin = self.by_fields.get(frozenset(fields.items()))
        if twin is not None:  # e.g. no title to compare, or imported before under a suffixed key
            return twin, "same fields"
        return None

    def taken(self, key: str) -> bool:
        return fold_key(key) in self.by_key


def _read_input(source: str | Path, stdin: BinaryIO | None) -> tuple[str, bytes | None, Problem | None]:
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return "<stdin>", stream.read(), None
    try:
        return str(source), Path(source).read_bytes(), None
    except OSError as exc:
        return str(source), None, error(source, None, "bib-unreadable", f"cannot read: {exc.strerror or exc}",
                                        hint="check the path")


def _target_index(parsed: ParsedBib) -> _Index:
    index = _Index()
    records, _ = check_file(parsed)
    for record in records:
        if record.key:
            index.add(_Known(record.key, f"{parsed.path}:{record.line}", record.fields))
    for block in parsed.blocks:
        if block.kind == "failed" and block.key:
            index.by_key.setdefault(fold_key(block.key), _Known(block.key, f"{parsed.path}:{block.line}", {}))
    return index


def plan_import(sources: list[tuple[str, bytes]], target: ParsedBib, options: AddOptions) -> AddResult:
    """Decide every block's outcome and render the new entries; writes nothing."""
    result = AddResult(target=options.target, dry_run=options.dry_run)
    index = _target_index(target)
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
        result.new_entries.append(entry.render())
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
    where = record.where()
    outcome = Outcome(record.path, record.line, record.block.col, "reported", record.key)
    errors = [p for p in record.errors if p.code != "bib-empty-key"]
    if errors:
        outcome.message = f"not imported: {len(errors)} error(s) ({', '.join(sorted({p.code for p in errors}))})"
        return outcome, None
    probe = normalise_entry(record, macros, record.key or "probe")
    fields = field_texts(probe)
    same = index.same_work(fields)
    if same:
        known, why = same
        outcome.kind, outcome.key = "present", known.key
        outcome.message = f"already present as {known.key} ({known.where}; {why})"
        if record.key:
            renamed.setdefault(fold_key(record.key), known.key)
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
    entry = normalise_entry(record, macros, key)
    if record.key:
        renamed.setdefault(fold_key(record.key), key)  # crossrefs to this key follow the first entry
    index.add(_Known(key, f"{where} (added by this import)", field_texts(entry)))
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
        name, data, problem = _read_input(source, stdin)
        if problem:
            problems.append(problem)
        else:
            sources.append((name, data or b""))
    target = options.target
    try:
        with locked(target, options.lock_timeout) if not options.dry_run else contextlib.nullcontext():
            result = _plan_and_write(sources, options)
    except LockTimeoutError as exc:
        result = plan_import(sources, ParsedBib(str(target)), options)
        _refuse(result, error(target, None, "bib-locked", str(exc), hint="another kb add is running"))
    result.problems[:0] = problems
    if not result.written:
        for outcome in result.outcomes:
            if outcome.kind == "added":
                outcome.message = "would be " + outcome.message
    return result


def _refuse(result: AddResult, problem: Problem) -> None:
    """Nothing can be written: every block that was to be added or matched is reported instead."""
    result.problems.append(problem)
    result.new_entries = []
    for outcome in result.outcomes:
        if outcome.kind != "reported":
            outcome.kind, outcome.message = "reported", f"not imported: {problem.code}"


def _plan_and_write(sources: list[tuple[str, bytes]], options: AddOptions) -> AddResult:
    target = options.target
    existing = target.read_bytes() if target.exists() else None
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
    result = plan_import(sources, parsed_target, options)
    if options.dry_run or not result.new_entries or (result.errors and not options.skip_invalid):
        return result
    newline = parsed_target.decoded.newline if parsed_target.decoded and existing else "\n"
    data = append_entries(existing or b"", result.new_entries, newline)
    try:
        atomic_write_bytes(target, data, expected_digest=ABSENT if existing is None else digest_bytes(existing))
        result.written = True
    except ChangedOnDiskError as exc:
        _refuse(result, error(target, None, "bib-changed-on-disk", str(exc)))
    except OSError as exc:  # disk full, permissions: the old file is intact (kb.io.atomic)
        _refuse(result, error(target, None, "bib-write-failed", f"could not write: {exc}; nothing was changed"))
    return result
