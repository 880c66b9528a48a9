"""What ``kb add`` is asked to do (:class:`AddOptions`) and what it did: one :class:`Outcome` per block,
the problems, and the entries it wrote or would write (:class:`AddResult`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kb.bibtex.check import EntryRecord
from kb.bibtex.parse import DEFAULT_MAX_FILE_BYTES
from kb.problems import Problem, Severity

DEFAULT_MAX_ENTRIES = 10_000


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
class Pending:
    """An entry planned to be written: its outcome, its record (for positions) and its text."""

    outcome: Outcome
    record: EntryRecord
    text: str  # rendered, "\n" line ends


@dataclass
class AddResult:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    declarations: Counter[str] = field(default_factory=Counter)
    pending: list[Pending] = field(default_factory=list)
    target: Path = Path("evidence/references.bib")
    written: bool = False
    dry_run: bool = False

    @property
    def new_entries(self) -> list[str]:
        """The text of each entry to be written (or written), in order."""
        return [p.text for p in self.pending]

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
