"""The graph as RDF: N-Triples, Turtle and JSON-LD, deterministic.

N-Triples is the store's own dump with its lines sorted (bytes sort in C; sorting Python triple
objects cost ten times more); Turtle and JSON-LD are written from that sorted stream, so subjects
come grouped and in a stable order.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from kb.graph.build import KnowledgeGraph
from kb.io import gz
from kb.io.leftovers import own_prefix
from kb.io.writing import open_sliced
from kb.namespaces import PREFIXES

DUMP_KIND = "kb-dump-"  # the unsorted dumps in the temporary folder (kb.io.leftovers)
GRAPH_FORMATS = {"ttl": "TURTLE", "nt": "N_TRIPLES", "jsonld": "JSON_LD"}


def dump_unsorted(kg: KnowledgeGraph) -> Path:
    """The store's N-Triples dump, unsorted, in a temporary file for :func:`_sorted_lines` (which removes it).

    pyoxigraph writes a file named by its path without holding the GIL (~2 s at 2M triples), so
    another thread can take this while the building thread works on.
    """
    import pyoxigraph as ox

    fd, name = tempfile.mkstemp(prefix=own_prefix(DUMP_KIND), suffix=".nt")
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


SORT_BUFFER = "64M"  # GNU sort's memory: the 400 MB dump at 10k/50k sorts in ~1.8 s, as fast as in Python


@contextlib.contextmanager
def sorted_lines_streamed(kg: KnowledgeGraph, dumped: Path | None = None) -> Iterator[Iterator[bytes]]:
    """:func:`_sorted_lines` as a stream, holding none of them: the dump is sorted by GNU ``sort`` in the C locale
    (byte order, as Python sorts bytes) with a bounded buffer, where it is installed. The lines held to be sorted
    were ~0.5 GB at 10k/50k (2.2M triples) in the process writing the graph dumps, at the build's all-process peak.
    Elsewhere the lines are sorted here, as before. Raises ``OSError`` if ``sort`` fails."""
    sort = _gnu_sort()
    if sort is None:
        yield iter(_sorted_lines(kg, dumped))
        return
    path = dumped if dumped is not None else dump_unsorted(kg)
    try:
        with subprocess.Popen([sort, "-S", SORT_BUFFER, "--parallel=1", "-T", str(path.parent), "--", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              env={**os.environ, "LC_ALL": "C"}) as process:
            assert process.stdout is not None and process.stderr is not None
            yield (line.rstrip(b"\n") for line in process.stdout if line != b"\n")
            process.stdout.read()  # what a caller that stopped early left: sort finishes
            said = process.stderr.read()
        if process.returncode:
            raise OSError(f"sort failed on the graph's dump ({process.returncode}): "
                          f"{said.decode('utf-8', 'replace').strip()}")
    finally:
        path.unlink(missing_ok=True)


@functools.cache
def _gnu_sort() -> str | None:
    """GNU ``sort``'s path (its ``-S``, ``--parallel`` and C-locale byte order are relied on), or None."""
    found = shutil.which("sort")
    if found is None:
        return None
    try:
        version = subprocess.run([found, "--version"], capture_output=True, check=False, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return found if b"GNU coreutils" in version else None


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


def write_ntriples(kg: KnowledgeGraph, target: Path, gzipped: bool | None = None) -> None:
    """Sorted N-Triples written straight to ``target`` (no joined copy of a dump of hundreds of MB, and the lines
    streamed from their sort, :func:`sorted_lines_streamed`); gzipped (:mod:`kb.io.gz`) if ``gzipped``, or by
    default if its name ends in ``.gz``."""
    with _output(target, gzipped) as fh, sorted_lines_streamed(kg) as lines:
        for line in lines:
            fh.write(line)
            fh.write(b"\n")


def write_graph(ntriples: Path, fmt: str, target: Path) -> None:
    """Turtle or JSON-LD streamed from the sorted N-Triples file to ``target`` (same bytes as :func:`graph_bytes`);
    either file gzipped if its name ends in ``.gz``."""
    import pyoxigraph as ox

    with gz.reader(ntriples) as source, _output(target) as out:
        quads = ox.parse(source, format=ox.RdfFormat.N_TRIPLES)
        ox.serialize(quads, out, format=getattr(ox.RdfFormat, GRAPH_FORMATS[fmt]), prefixes=dict(PREFIXES))


def _output(target: Path, gzipped: bool | None = None) -> AbstractContextManager[IO[bytes]]:
    return gz.writer(target) if (target.suffix == ".gz" if gzipped is None else gzipped) else open_sliced(target)
