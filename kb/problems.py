"""Problems are data: every loader returns ``(items, problems)`` and ``kb check`` reports them all.

A problem says where (file, line, column, field), what (a stable code and what was found),
what was expected, and how to fix it. Codes are stable: tests, docs and users rely on them.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from kb.ids import BIDI_CONTROLS, CONTROL_CHARS


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, precise enough to fix without reading code."""

    path: str
    line: int | None
    col: int | None
    code: str
    message: str
    field: str | None = None
    expected: str | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        """``path:line:col: CODE [field] message (expected …) hint`` — one line, grep-able."""
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        text = f"{where}: {self.code}"
        if self.severity is Severity.WARNING:
            text += " (warning)"
        if self.field:
            text += f" [{self.field}]"
        text += f" {self.message}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


def error(path: object, line: int | None, code: str, message: str, **kw: object) -> Problem:
    return Problem(str(path), line, kw.pop("col", None), code, message, **kw)  # type: ignore[arg-type]


def warning(path: object, line: int | None, code: str, message: str, **kw: object) -> Problem:
    return Problem(str(path), line, kw.pop("col", None), code, message, severity=Severity.WARNING, **kw)  # type: ignore[arg-type]


@dataclass
class Report:
    """All problems of one run, in a stable order."""

    problems: list[Problem] = field(default_factory=list)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def sorted(self) -> list[Problem]:
        return sorted(set(self.problems), key=lambda p: (p.path, p.line or 0, p.col or 0, p.code, p.message))

    def to_json(self) -> str:
        return json.dumps(
            {
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "problems": [p.to_json() for p in self.sorted()],
            },
            indent=2,
            ensure_ascii=False,
        )


_CONTROL = CONTROL_CHARS
_BIDI = BIDI_CONTROLS
MAX_REPORTED = 20  # per kind and file: a file full of NULs should not flood the terminal


def escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def bad_characters(text: str, path: object, kind: str) -> list[tuple[int, Problem]]:
    """(offset, problem) for each C0/C1 control (tab and newlines aside) and bidi control in ``text``.

    One rule for every text the KB takes in (BibTeX, claim YAML, vocabularies, example queries):
    these characters are invisible in most editors, and a right-to-left override can make a claim
    read differently from what the file says ("Trojan source"). Codes: ``{kind}-control-char`` and
    ``{kind}-bidi-control``; the character is shown escaped.
    """
    if not _CONTROL.search(text) and not _BIDI.search(text):
        return []
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    found: list[tuple[int, Problem]] = []
    for pattern, code, what in ((_CONTROL, f"{kind}-control-char", "control character"),
                                (_BIDI, f"{kind}-bidi-control", "bidirectional control character")):
        for n, m in enumerate(pattern.finditer(text)):
            if n >= MAX_REPORTED:
                break
            line = bisect.bisect_right(starts, m.start())
            found.append((m.start(), error(
                path, line, code, f"{what} {escape_char(m.group(0))} (invisible in most editors)",
                col=m.start() - starts[line - 1] + 1, expected="printable text",
                hint="delete it; if the text came from a PDF, retype the passage")))
    return found


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str | None:
    """A "did you mean …" hint for near misses (case-insensitive first, then edit distance)."""
    import difflib

    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean '{lowered[word.lower()]}'? (ids are case-sensitive)"
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not close:
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)]
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def a_or_an(word: str) -> str:
    """``word`` with its indefinite article: "an outcome id", "a population id", "an ASK query".

    By the first letter, which is right for every word the KB puts after it (scheme names, value kinds,
    query forms); "a unit" or "an hour" would need the sound instead.
    """
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
