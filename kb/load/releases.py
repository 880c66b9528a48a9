"""Releases: ``[[releases]]`` tables of ``kb.toml``, each a name, a date, notes and a kept dump.

A release is a named, dated state of the evidence. Its N-Triples dump is kept, compressed, under
``releases/<name>/kb.nt.gz`` in the evidence folder, so that "data release 2026-11" can be
resolved years later and every later release can say what changed since.
"""

from __future__ import annotations

import re
from pathlib import Path

from kb.config import Config
from kb.model import Release
from kb.problems import Problem, error

RELEASE_NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIELDS = ("name", "date", "notes")


def dump_path(evidence_dir: Path, name: str) -> Path:
    return evidence_dir / "releases" / name / "kb.nt.gz"


def load_releases(config: Config) -> tuple[tuple[Release, ...], list[Problem]]:
    toml = config.evidence_dir / "kb.toml"
    entries = config.extra.get("releases", [])
    problems: list[Problem] = []
    if not entries:
        return (), problems
    text = toml.read_text(encoding="utf-8") if toml.is_file() else ""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return (), [error(toml, _line(text, "releases"), "release-shape", "releases is not a list of tables",
                          field="releases", expected='[[releases]] tables with name, date and notes')]
    out: list[Release] = []
    seen: set[str] = set()
    for entry in entries:
        name = str(entry.get("name", ""))
        line = _line(text, f'name = "{name}"') if name else _line(text, "[[releases]]")

        def fail(field: str, message: str, expected: str, line: int = line) -> None:
            problems.append(error(toml, line, "release-invalid", message, field=field, expected=expected))

        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            fail(unknown[0], f"release '{name}' has an unknown field '{unknown[0]}'", "name, date, notes")
        date = entry.get("date", "")
        date = date.isoformat() if hasattr(date, "isoformat") else str(date)  # TOML reads bare dates as dates
        if not RELEASE_NAME_RE.match(name):
            fail("name", f"release name '{name}' is not a safe name", "letters, digits, '.', '_' or '-' (e.g. 2026-11)")
            continue
        if name in seen:
            fail("name", f"release '{name}' is listed twice", "each release once")
            continue
        seen.add(name)
        if not DATE_RE.match(date):
            fail("date", f"release '{name}' has date '{date}'", '"YYYY-MM-DD"')
            continue
        if out and date < out[-1].date:
            fail("date", f"release '{name}' ({date}) is dated before the release listed above it "
                 f"('{out[-1].name}', {out[-1].date})", "releases in date order, oldest first")
        dump = dump_path(config.evidence_dir, name)
        if not dump.is_file():
            fail("name", f"the dump of release '{name}' is missing ({dump})",
                 "the file kb release wrote; restore it from git")
            continue
        out.append(Release(name, date, " ".join(str(entry.get("notes", "")).split()), str(dump), str(toml), line))
    return tuple(out), problems


def _line(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1
