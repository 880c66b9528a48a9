"""The N-Triples each claim file's claims became, kept between builds (``.kb-cache/graph/``), and the
text of the references, citation lists and inclusions before them (:meth:`GraphMemo.head_key`).

Writing the claims' triples as text is the graph stage's longest part in Python (~5 s of 2M lines at
10k/50k), and after an edit all but one claim file write the same text again. A claim file's text is a
function of its bytes (its digest, :mod:`kb.checks.scope`), of which works it names are in
references.bib (a link to an unknown work is left out), of the vocabulary's concepts, of the base IRI and
of the code; the key holds all of them, so an entry is only ever the text the builder would write. With
the text comes what :class:`kb.graph.counts.Tallies` gathered from it. The parser is handed the kept
bytes as they are: the store is the same set of triples whichever way each line came.

The text before the claims (~1–2 s of the main thread at 10,000 references) is made from the evidence other
than the claim files and the vocabularies alone: it is kept under the digest of that evidence
(:attr:`kb.checks.scope.Inputs.head_context`, which also names the code and the base IRI), so that editing claims or
the vocabularies never writes it again.

What a graph was made of, part by part, is its :class:`GraphParts`: the graph dumps compare two builds' parts to
find the triples that changed without sorting the whole graph again (:mod:`kb.export.dumps`), so the entries of
the graph the last dumps were made from stay until the next dumps (:func:`pin`), whatever else builds a graph
meanwhile (``kb check``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.io.atomic import replace_cache_file
from kb.load.evidence import Evidence, links
from kb.model import Claim

if TYPE_CHECKING:
    from kb.load.byrecord import ByRecord

FOLDER = "graph"  # the memo's folder in the cache (.kb-cache/graph/), read by the graph and the graph dumps
PINNED = "pinned.txt"  # the entries the last graph dumps were made from, one name per line (pin)


@dataclass(frozen=True)
class GraphParts:
    """What a store was made of: the kept entries in the order they were loaded (the text before the claims, then
    each claim file's), and the text of what came after them (the dataset, the concepts' PICO types, the tallies;
    the release history, :attr:`prov`). The vocabularies and the ontology, loaded last, are named by :attr:`fixed`
    (and by the first entry's name, which names all the evidence other than the claim files, and the code). Two stores
    with the same parts hold the same triples; where some differ, only those parts' triples can differ."""

    names: tuple[str, ...]
    tail: bytes
    prov: bytes = b""
    # the code and the base IRI (and the ontology, shipped with the code): where two graphs' are the same, every other
    # triple is in a part, the first one (the references…) included, or in the vocabularies' (vocab); "" (parts kept
    # before it was) compares with nothing
    fixed: str = ""
    # the vocabularies' triples as N-Triples lines, sorted: compared line by line like the text after the claims (an
    # edited definition patched nothing, and the store was parsed and the dumps sorted whole: ~10 s of the editors'
    # loop at 10k/50k)
    vocab: bytes = b""


@dataclass(frozen=True)
class Written:
    """One claim file's triples as N-Triples, and the tallies' pairs from them."""

    text: bytes
    triples: int
    cites: frozenset[tuple[str, str]]
    directions: frozenset[tuple[str, str]]
    grades: tuple[tuple[str, str | None, str | None, str], ...]


class GraphMemo:
    """Kept text by claim file; ``context`` names the code and base IRI, ``digests`` each claim file's bytes."""

    def __init__(self, folder: Path, context: str, digests: dict[str, str], evidence: Evidence,
                 others: str = "", tallies: dict[str, Written] | None = None,
                 works: ByRecord[tuple[str, int]] | None = None) -> None:
        self.folder = folder
        self.code = context  # the code and the base IRI: with ``others``, all the text before the claims is made of
        # the entries' tallies without their text, kept in memory between the builds of one process (the editors'
        # loop): a store patched in place needs the text of the changed files only (:meth:`tallies`)
        self.memory = tallies
        self.others = others  # the digest of the evidence other than the claim files and vocabularies (head_context)
        # each reference's lines and their count, by the record's identity, kept by one process (the editors' loop):
        # :meth:`kb.graph.build._Builder.head_text`
        self.works = works
        self.digests = digests
        self.known = evidence.references_by_key
        self.links = evidence.links_by_file
        concepts = sorted((scheme, c.id, c.iri, c.is_domain) for scheme, by_id in evidence.vocabulary.concepts.items()
                          for c in by_id.values())
        self.context = hashlib.sha256(f"{context}\n{concepts!r}".encode()).hexdigest()
        self.used: set[str] = set()
        self.order: list[str | None] = []  # the entries in the order they were loaded (None: a file not kept)
        self._vocabulary = evidence.vocabulary

    @functools.cached_property
    def fixed(self) -> str:
        """:attr:`GraphParts.fixed` of the graph built with this memo: the code and base IRI (the ontology is shipped
        with the code)."""
        return hashlib.sha256(f"{self.code}\nfixed\nvocabularies apart".encode()).hexdigest()[:32]

    @functools.cached_property
    def vocab(self) -> bytes:
        """:attr:`GraphParts.vocab` of the graph built with this memo."""
        return "".join(sorted({f"{q.subject} {q.predicate} {q.object} .\n" for q in self._vocabulary.quads})
                       ).encode("utf-8")

    def key(self, path: str, claims: list[Claim]) -> str | None:
        """The entry's name, or None for a file whose digest is unknown (read after the digests were taken)."""
        digest = self.digests.get(path)
        if digest is None:
            self.order.append(None)  # its text is not kept: the parts cannot name the store
            return None
        linked = self.links.get(path)
        if linked is None:  # claims the evidence does not hold by this file
            linked = links(claims, self.known)
        name = hashlib.sha256(f"{self.context}\n{digest}\n{linked}".encode()).hexdigest()[:32]
        self.used.add(name)
        self.order.append(name)
        return name

    def head_name(self) -> str | None:
        """:meth:`head_key`'s name, nothing recorded."""
        return head_name(self.code, self.others) if self.others else None

    def head_key(self) -> str | None:
        """The name of the text before the claims (references, citation lists, inclusions), or None where the
        other evidence's digest is unknown."""
        name = self.head_name()
        if name is not None:
            self.used.add(name)
        self.order.append(name)
        return name

    def parts(self, tail: bytes) -> GraphParts | None:
        """The parts of the store built with this memo (``tail``: the text after the claims), or None where a part
        was not kept (its text could not be compared)."""
        if not self.order or None in self.order:
            return None
        return GraphParts(tuple(name for name in self.order if name is not None), tail, fixed=self.fixed,
                          vocab=self.vocab)

    def get(self, name: str) -> Written | None:
        written = read_entry(self.folder, name)
        if written is not None and self.memory is not None:
            self.memory[name] = _without_text(written)
        return written

    def tallies(self, name: str) -> Written | None:
        """The entry with its tallies but without its text (``b""``): from memory where this process kept it (reading
        the 250 entries of 10k/50k from disk was ~0.3 s of every rebuild of the loop), else as :meth:`get`."""
        found = self.memory.get(name) if self.memory is not None else None
        return found if found is not None else self.get(name)

    def put(self, name: str, written: Written) -> None:
        if self.memory is not None:
            self.memory[name] = _without_text(written)
        with contextlib.suppress(OSError):  # a cache: failing to keep an entry only costs time next build
            self.folder.mkdir(parents=True, exist_ok=True)
            replace_cache_file(self.folder / f"{name}.pickle", pickle.dumps(written, protocol=pickle.HIGHEST_PROTOCOL))

    def prune(self) -> None:
        """Remove the entries neither this build nor the last graph dumps used (:func:`pin`): one per claim file
        stays, and one more per file edited since the dumps, not one per edit."""
        if self.memory is not None:
            for name in self.memory.keys() - self.used:
                del self.memory[name]
        keep = self.used | set(pinned(self.folder))
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".pickle") and entry.name[:-7] not in keep:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def head_name(code: str, others: str) -> str:
    """The name of the text before the claims, from the code and base IRI (``code``) and the digest of the evidence
    other than the claim files and the vocabularies (``others``, :attr:`kb.checks.scope.Inputs.head_context`): that
    text is made of nothing else (no concept: the vocabularies name only the claims' links), so its name is known
    before the records are read (:class:`kb.graph.build.HeadStart`)."""
    return hashlib.sha256(f"{code}\nhead\n{others}".encode()).hexdigest()[:32]


def _without_text(written: Written) -> Written:
    return Written(b"", written.triples, written.cites, written.directions, written.grades)


def pinned(folder: Path) -> list[str]:
    """The entries the last graph dumps were made from (none where unknown)."""
    try:
        return (folder / PINNED).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def pin(folder: Path, names: tuple[str, ...]) -> None:
    """Keep ``names`` (the parts of the graph just dumped) until the next dumps pin theirs."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        replace_cache_file(folder / PINNED, "".join(f"{name}\n" for name in names).encode("ascii"))


def read_entry(folder: Path, name: str) -> Written | None:
    """An entry, or None where it is gone (or unreadable: a cache)."""
    try:
        value = pickle.loads((folder / f"{name}.pickle").read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return value if isinstance(value, Written) else None
