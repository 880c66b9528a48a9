"""``kb check`` on ``references.bib`` as ``kb add`` would write it, before anything is written.

The importer runs the loader's field checks on every entry as it plans (:mod:`kb.bibtex.check`), but
``kb check`` also runs whole-file checks and the SHACL shapes on the graph. Rather than keep a second
copy of those rules, the file as it would be written is loaded and shaped here exactly as
``kb check`` does it; whatever faults a new entry is returned against that entry.
"""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path

from kb.bibtex.load import EntryMemo, references_from_bytes
from kb.bibtex.normalise import append_entries
from kb.config import Config
from kb.problems import Problem, Severity


def faults_once_written(existing: bytes, entries: list[str], target: Path, newline: str,
                        memo: EntryMemo | None = None) -> dict[int, list[Problem]]:
    """Errors ``kb check`` would report for each new entry (by index) once ``entries`` are appended; ``memo``: what
    the existing entries became when the target was read (:class:`kb.bibtex.load.EntryMemo`)."""
    from kb.checks.shacl import shacl_problems
    from kb.graph.build import build_graph
    from kb.load.evidence import Evidence

    if not entries:
        return {}
    data = append_entries(existing, entries, newline)
    refs, problems = references_from_bytes(data, target, max_file_bytes=max(len(data), 1), memo=memo)
    first_line = _first_new_line(existing, entries, newline)
    new_refs = [r for r in refs if r.line >= first_line]
    evidence = Evidence(Config(evidence_dir=target.parent), references=new_refs)
    problems += shacl_problems(evidence, build_graph(evidence), problems)
    starts = list(itertools.accumulate((e.count("\n") + 1 for e in entries[:-1]), initial=first_line))
    faults: dict[int, list[Problem]] = {}
    for problem in problems:
        if problem.severity is Severity.ERROR and problem.line is not None and problem.line >= first_line:
            faults.setdefault(bisect.bisect_right(starts, problem.line) - 1, []).append(problem)
    return faults


def _first_new_line(existing: bytes, entries: list[str], newline: str) -> int:
    """The line of references.bib (as the loader numbers lines) where the first new entry starts."""
    data = append_entries(existing, entries, newline)
    head = data[: len(data) - len(entries[0].replace("\n", newline).encode("utf-8"))
                - sum(len(("\n" + e).replace("\n", newline).encode("utf-8")) for e in entries[1:])]
    text = head.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return text.count("\n") + 1
