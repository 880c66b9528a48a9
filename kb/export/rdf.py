"""The graph as RDF: N-Triples, Turtle and JSON-LD, deterministic.

N-Triples is the store's own dump with its lines sorted (bytes sort in C; sorting Python triple
objects cost ten times more); Turtle and JSON-LD are written from that sorted stream, so subjects
come grouped and in a stable order.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from kb.graph.build import KnowledgeGraph
from kb.io import gz
from kb.namespaces import PREFIXES

GRAPH_FORMATS = {"ttl": "TURTLE", "nt": "N_TRIPLES", "jsonld": "JSON_LD"}


def dump_unsorted(kg: KnowledgeGraph) -> Path:
    """The store's N-Triples dump, unsorted, in a temporary file for :func:`_sorted_lines` (which removes it).

    pyoxigraph writes a file named by its path without holding the GIL (~2 s at 2M triples), so
    another thread can take this while the building thread works on.
    """
    import pyoxigraph as ox

    fd, name = tempfile.mkstemp(prefix="kb-dump-", suffix=".nt")
    os.close(fd)
    try:
        kg.store.dump(name, format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _sorted_lines(kg: KnowledgeGraph, dumped: Path | None = None) -> list[bytes]:
    """The store's N-Triples dump as lines (without their newline), sorted; from ``dumped``
    (:func:`dump_unsorted` of the same store, removed here) where it was taken already."""
    # through a temporary file, read line by line: the dump as one bytes object beside its lines was
    # 300 MB more at 2M triples
    path = dumped if dumped is not None else dump_unsorted(kg)
    try:
        with open(path, "rb") as fh:
            lines = [line.rstrip(b"\n") for line in fh if line != b"\n"]
    finally:
        path.unlink(missing_ok=True)
    lines.sort()
    return lines


def ntriples_bytes(kg: KnowledgeGraph) -> bytes:
    """The graph as N-Triples, one triple per line, lines sorted: diff-friendly and stable."""
    lines = _sorted_lines(kg)
    return b"\n".join(lines) + b"\n" if lines else b""


def graph_bytes(kg: KnowledgeGraph, fmt: str, ntriples: bytes | None = None) -> bytes:
    """One graph format; pass the sorted N-Triples when several formats are written."""
    import pyoxigraph as ox

    ntriples = ntriples if ntriples is not None else ntriples_bytes(kg)
    if fmt == "nt":
        return ntriples
    quads = ox.parse(ntriples, format=ox.RdfFormat.N_TRIPLES)  # all in the default graph: serialised as triples
    data = ox.serialize(quads, format=getattr(ox.RdfFormat, GRAPH_FORMATS[fmt]), prefixes=dict(PREFIXES))
    assert data is not None
    return data


def write_ntriples(kg: KnowledgeGraph, target: Path) -> None:
    """Sorted N-Triples written straight to ``target`` (no joined copy of a dump of hundreds of MB);
    gzipped if its name ends in ``.gz`` (:mod:`kb.io.gz`)."""
    with _output(target) as fh:
        for line in _sorted_lines(kg):
            fh.write(line)
            fh.write(b"\n")


def write_graph(ntriples: Path, fmt: str, target: Path) -> None:
    """Turtle or JSON-LD streamed from the sorted N-Triples file to ``target`` (same bytes as :func:`graph_bytes`);
    either file gzipped if its name ends in ``.gz``."""
    import pyoxigraph as ox

    with gz.reader(ntriples) as source, _output(target) as out:
        quads = ox.parse(source, format=ox.RdfFormat.N_TRIPLES)
        ox.serialize(quads, out, format=getattr(ox.RdfFormat, GRAPH_FORMATS[fmt]), prefixes=dict(PREFIXES))


def _output(target: Path) -> AbstractContextManager[IO[bytes]]:
    return gz.writer(target) if target.suffix == ".gz" else open(target, "wb")
