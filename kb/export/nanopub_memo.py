"""The nanopublications of a build, kept by claim file, so that a rebuild makes only the changed files'.

Making a nanopublication per claim — its triples, its normalised content, its Trusty URI, its TriG —
and first reading the previous export back (parsing 50,000 nanopublications and recomputing every
URI) was ~60 s of a rebuild at 50,000 claims after one edited claim. What a claim's nanopublication
is depends on the claim, the rest of the evidence (``kb.toml``, the releases, which concepts the vocabularies hold but
none of their words: :func:`kb.checks.scope.exports_context`; of references.bib only which of the works
the claim names are in it, :func:`kb.load.evidence.links`), the data's timestamp and the previous export. So each
claim file's nanopublications (:class:`~kb.export.nanopub.Kept`: block of TriG as UTF-8, a
:class:`~kb.export.pieces.Piece` read only where its run of the compressed file changed; artifact code;
content digest) are kept under a digest of the file, its links, the context, the timestamp and the code
(:class:`~kb.export.fragments.Fragments`, in memory for ``kb serve``'s loop, in
``.kb-cache/nanopubs/`` for ``kb build``), together with the digest of the file they were written
to. They are used only when the previous export is that file, byte for byte: then an unchanged
claim file's nanopublications are exactly those the previous export holds for it (kept, since their
content did not change), and a changed file's claims are made against the last build's
nanopublications as the previous export (superseding those that changed). Any other previous file
is read and checked (:func:`~kb.export.nanopub.read_previous`) and every claim made, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import operator
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from kb.checks.scope import Inputs, exports_context
from kb.export.fragments import Fragments
from kb.export.nanopub import Export, Kept, Nanopub, block, claim_nanopubs, read_previous, trig_chunks
from kb.export.pieces import Piece
from kb.export.stamp import data_timestamp
from kb.graph.build import KnowledgeGraph
from kb.io.atomic import replace_cache_file
from kb.load.evidence import Evidence

WRITTEN = "written.txt"  # the digest of the last file the kept nanopublications were written to


@cache
def _code() -> bytes:
    here = Path(__file__).parent
    return b"".join((here / name).read_bytes() for name in ("nanopub.py", "trusty.py", "nanopub_memo.py", "stamp.py"))


def file_digest(data: bytes) -> str:
    return hashlib.sha256(_code() + b"\0" + data).hexdigest()


class Remembered:
    """The nanopublications of the last build, by claim file, and the digest of the file they went to."""

    def __init__(self, folder: Path | None, memory: dict[str, Any] | None = None) -> None:
        self.folder, self.memory = folder, memory
        self.count = 0
        self.fragments = Fragments(folder, memory.setdefault("fragments", {}) if memory is not None else None,
                                   pieces=True)

    def trig(self, evidence: Evidence, kg: KnowledgeGraph, previous: Path | None,
             inputs: Inputs | None) -> Iterator[bytes | Piece]:
        """The nanopublications as TriG (:func:`~kb.export.nanopub.nanopubs_trig`'s bytes, in pieces), from the
        kept fragments where the previous export is the file they were written to."""
        written = self._written()
        current = written is not None and previous is not None and inputs is not None \
            and written[0] == _digest_of(previous)
        keys = self._keys(evidence, inputs) if inputs is not None else {}
        by_file = evidence.claims_by_file
        kept: list[Kept] = []
        todo = []
        for path, claims in by_file.items():
            fragment = self.fragments.get(keys[path]) if current and path in keys else None
            if fragment is None:
                todo.append((path, claims))
            else:
                self.fragments.used[keys[path]] = fragment
                kept += [Kept(*entry) for entry in fragment]
        if todo:
            old: dict[str, Nanopub | Kept] = {}
            if current:  # the previous export is the last build's: its nanopublications are the fragments
                old = {k.claim: k for k in self._not_reused()}
                if written is not None and len(old) + len(kept) != written[1]:  # some fragment is gone: read the file
                    old = dict(read_previous(previous)) if previous is not None else {}
            elif previous is not None:
                old = dict(read_previous(previous))
            for path, claims in todo:
                made = claim_nanopubs(evidence, kg, old=old, claims=claims).nanopubs
                entries = [(n.claim, n.code, n.content_digest(), _piece(n)) for n in made]
                if path in keys:
                    entries = self.fragments.put(keys[path], entries)
                kept += [Kept(*entry) for entry in entries]
        self.count = len(kept)
        # by claim id: a claim's IRI is the base's, then claim/ and its id (Minter.claim), so IRIs sort as the ids do
        # (a map from IRI to id took minting 50,000 IRIs and reading every claim, ~0.3 s of a rebuild at 10k/50k)
        return trig_chunks(Export(sorted(kept, key=_CLAIM)))

    def remember(self, written: bytes) -> None:
        """The nanopublications were written as the file ``written`` (gzipped): keep them for the next build."""
        self.fragments.keep()
        record = f"{file_digest(written)} {self.count}"
        if self.memory is not None:
            self.memory["written"] = record
        if self.folder is not None:
            with contextlib.suppress(OSError):
                self.folder.mkdir(parents=True, exist_ok=True)
                replace_cache_file(self.folder / WRITTEN, record.encode("ascii"))

    def _written(self) -> tuple[str, int] | None:
        """The digest of the file the kept nanopublications went to, and how many there are."""
        try:
            if self.memory is not None and "written" in self.memory:
                record = str(self.memory["written"])
            elif self.folder is not None:
                record = (self.folder / WRITTEN).read_text(encoding="ascii")
            else:
                return None
            digest, count = record.split()
            return digest, int(count)
        except (OSError, ValueError):
            return None

    def _keys(self, evidence: Evidence, inputs: Inputs) -> dict[str, str]:
        # what a claim's nanopublication reads besides its file (not the citation lists or the sources: Inputs)
        base = hashlib.sha256(_code() + f"\0{exports_context(evidence, inputs)}\0{data_timestamp(evidence.config)}\0"
                              .encode())
        linked = evidence.links_by_file
        out = {}
        for path, digest in inputs.claim_files.items():
            key = base.copy()
            key.update(f"{path}\0{digest}\0{linked.get(path, '')}".encode())
            out[path] = key.hexdigest()
        return out

    def _not_reused(self) -> list[Kept]:
        """The last build's nanopublications in the fragments this build has not reused (as :meth:`remember` left
        them): those of the claim files that changed or went. A claim of a changed file that had a nanopublication
        had it there, since an unchanged file still holds its claims and a claim id is in one file only; reading
        every fragment again was ~0.5 s of a rebuild at 50,000 claims."""
        memory = self.fragments.memory
        if memory:
            keys = set(memory)
        else:
            keys = {p.stem for p in self.folder.glob("*.pickle")} if self.folder is not None else set()
        out = []
        for key in sorted(keys - self.fragments.used.keys()):
            fragment = self.fragments.get(key)
            if fragment is not None:
                out += [Kept(*entry) for entry in fragment]
        return out


def _piece(nanopub: Nanopub | Kept) -> Piece:
    """A nanopublication's block: a kept one's own piece, else made (its digest and CRC taken once, here)."""
    return nanopub.data if isinstance(nanopub, Kept) else Piece.of(block(nanopub).encode("utf-8"))


def _digest_of(path: Path) -> str | None:
    try:
        return file_digest(path.read_bytes())
    except OSError:
        return None


_CLAIM = operator.attrgetter("claim")


