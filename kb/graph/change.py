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
    edited reference changes a few of the ~0.2M lines before the claims."""
    old, new = set(before.split(b"\n")) - {b""}, set(after.split(b"\n")) - {b""}
    return (b"".join(line + b"\n" for line in sorted(old - new)),
            b"".join(line + b"\n" for line in sorted(new - old)))
