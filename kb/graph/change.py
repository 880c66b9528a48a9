"""How the graph changed between two builds, as the graph dumps' chunks tell it (:mod:`kb.export.dumps`).

The dumps cut the sorted N-Triples into chunks chosen by content and keep each chunk's member by its
digest, so the chunks a build did not reuse, and the last build's it no longer has, hold every triple
that changed. The persisted store (:mod:`kb.query.store`) is brought from the last build's graph to
this one with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from kb.io.alike import common_prefix, common_suffix


@dataclass(frozen=True)
class GraphChange:
    """How the graph differs from the last build's, as the dumps' chunks tell it: the triples (N-Triples
    lines) of the chunks that changed, without those in both. ``before`` and ``after`` name the two
    graphs (:func:`graph_mark`), so that a copy of the last graph can be brought to this one
    (:func:`kb.query.store.persist`) only if it is that graph."""

    before: str | None  # None: the last build's graph is unknown (a first build), or not comparable by lines
    after: str  # "": the store holds more than the dumps (named graphs)
    removed: tuple[bytes, ...] = ()
    added: tuple[bytes, ...] = ()


def graph_mark(keys: Iterable[bytes]) -> str:
    """A graph's name: the digest of its chunks' digests (its sorted N-Triples, cut into chunks)."""
    return hashlib.blake2b(b"".join(sorted(keys)), digest_size=20).hexdigest()


def differing_lines(before: bytes, after: bytes) -> tuple[bytes, bytes]:
    """The N-Triples lines only ``before`` holds and those only ``after`` holds, each sorted, as text. The graph's
    builder writes a triple as one line, the same line for the same triple (:func:`kb.graph.build.text`, one code: the
    memo is keyed by it), so the triples two texts share are on lines they share, and only the rest need parsing: an
    edited reference changes a few of the ~0.6M lines before and after the claims.

    The two texts are mostly the same lines in the same order, so the lines they begin and end with alike are
    found by comparing bytes (C's speed), and only the lines between are set against each other: 0.82 → 0.15 s
    for a reference's edit at 10k/50k (91 MB a side), against sets of every line. A line that differs between
    is looked for among the shared ones, which may hold it too (a text can hold a line twice)."""
    start = common_prefix(before, after)
    start = before.rfind(b"\n", 0, start) + 1  # back to the beginning of the line the first difference is on
    end_before, end_after = len(before), len(after)
    shared_end = common_suffix(before, after, min(end_before, end_after) - start)
    if shared_end:  # forward to the beginning of a line, in both texts
        cut = end_before - shared_end
        if not (before[cut - 1:cut] == after[end_after - shared_end - 1:end_after - shared_end] == b"\n"):
            skip = before.find(b"\n", cut)
            shared_end = end_before - skip - 1 if skip != -1 else 0
    middle_before = set(before[start:end_before - shared_end].split(b"\n")) - {b""}
    middle_after = set(after[start:end_after - shared_end].split(b"\n")) - {b""}
    gone, came = middle_before - middle_after, middle_after - middle_before
    if gone or came:
        shared = _SharedLines(before, start, end_before - shared_end)
        gone = {line for line in gone if not shared.holds(line)}
        came = {line for line in came if not shared.holds(line)}
    return (b"".join(line + b"\n" for line in sorted(gone)),
            b"".join(line + b"\n" for line in sorted(came)))


_FEW = 32  # lines to look for one by one in the shared text; more, and its lines are made a set once


class _SharedLines:
    """The lines of ``text`` outside ``[start:end)``: ``text[:start]`` ends a line, ``text[end:]`` begins one."""

    def __init__(self, text: bytes, start: int, end: int) -> None:
        self.text, self.start, self.end = text, start, end
        self.asked = 0
        self.lines: set[bytes] | None = None

    def holds(self, line: bytes) -> bool:
        self.asked += 1
        if self.lines is None and self.asked > _FEW:
            self.lines = set(self.text[:self.start].split(b"\n")) | set(self.text[self.end:].split(b"\n"))
        if self.lines is not None:
            return line in self.lines
        text = self.text
        return _found(text, line, 0, self.start) or _found(text, line, self.end, len(text))


def _found(text: bytes, line: bytes, start: int, end: int) -> bool:
    """Whether ``line`` is a whole line of ``text[start:end]`` (``start`` begins a line; ``end`` ends one, or
    the text)."""
    if start >= end:
        return False
    if text.startswith(line, start) and start + len(line) in (end, _newline_at(text, start + len(line), end)):
        return True
    at = text.find(b"\n" + line + b"\n", start, end)
    if at != -1 or end != len(text) or text.endswith(b"\n"):
        return at != -1
    return text.endswith(b"\n" + line) and len(text) - len(line) - 1 >= start  # the last line, with no newline


def _newline_at(text: bytes, at: int, end: int) -> int:
    """``at`` where ``text[at]`` is a newline before ``end``, else -1."""
    return at if at < end and text[at] == 10 else -1
