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
than the claim files alone: it is kept under the digest of that evidence (:attr:`kb.checks.scope.Inputs.context`,
which also names the code and the base IRI), so that editing claims never writes it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from kb.io.atomic import replace_cache_file
from kb.load.evidence import Evidence
from kb.model import Claim


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
                 others: str = "") -> None:
        self.folder = folder
        self.others = others  # the digest of the evidence other than the claim files (Inputs.context)
        self.digests = digests
        self.known = evidence.references_by_key
        concepts = sorted((scheme, c.id, c.iri, c.is_domain) for scheme, by_id in evidence.vocabulary.concepts.items()
                          for c in by_id.values())
        self.context = hashlib.sha256(f"{context}\n{concepts!r}".encode()).hexdigest()
        self.used: set[str] = set()

    def key(self, path: str, claims: list[Claim]) -> str | None:
        """The entry's name, or None for a file whose digest is unknown (read after the digests were taken)."""
        digest = self.digests.get(path)
        if digest is None:
            return None
        known = self.known
        links = "".join("1" if key in known else "0" for claim in claims for key in (claim.source, *claim.cites))
        name = hashlib.sha256(f"{self.context}\n{digest}\n{links}".encode()).hexdigest()[:32]
        self.used.add(name)
        return name

    def head_key(self) -> str | None:
        """The name of the text before the claims (references, citation lists, inclusions), or None where the
        other evidence's digest is unknown."""
        if not self.others:
            return None
        name = hashlib.sha256(f"{self.context}\nhead\n{self.others}".encode()).hexdigest()[:32]
        self.used.add(name)
        return name

    def get(self, name: str) -> Written | None:
        try:
            value = pickle.loads((self.folder / f"{name}.pickle").read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None
        return value if isinstance(value, Written) else None

    def put(self, name: str, written: Written) -> None:
        with contextlib.suppress(OSError):  # a cache: failing to keep an entry only costs time next build
            self.folder.mkdir(parents=True, exist_ok=True)
            replace_cache_file(self.folder / f"{name}.pickle", pickle.dumps(written, protocol=pickle.HIGHEST_PROTOCOL))

    def prune(self) -> None:
        """Remove the entries this build did not use: one per claim file stays, not one per edit."""
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".pickle") and entry.name[:-7] not in self.used:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
