"""Fragments of an export kept between builds by a key that covers everything they depend on.

A fragment (the FHIR entries of one claim file, the nanopublications of one claim file, …) is looked
up in memory first (``kb serve``'s loop keeps a dict between rebuilds), then in its cache folder (one
pickle per key); a build records the fragments it used, and :meth:`Fragments.keep` leaves exactly
those for the next build (new ones written, the others removed).

A store of fragments made of :class:`~kb.export.pieces.Piece` objects (``pieces``: the FHIR Bundle's lines, the
nanopublications' blocks) keeps their bytes apart from the rest, in a file beside each fragment's pickle
(:func:`_dump_pieces`), so that reading a fragment reads what is known of its pieces and maps their bytes. A build
that keeps nothing in memory writes such a fragment as soon as it is made and holds it as read back
(:meth:`Fragments.put`): the bytes wait on disk until the export is compressed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kb.export.pieces import Blob, Piece, key_of
from kb.io import gz
from kb.io.atomic import replace_cache_file


class Fragments:
    """Fragments by key: from memory, else the cache folder; :meth:`keep` records those this build used."""

    def __init__(self, folder: Path | None, memory: dict[str, Any] | None, *, pieces: bool = False) -> None:
        self.folder, self.memory, self.pieces = folder, memory, pieces
        self.used: dict[str, Any] = {}
        self.made = 0

    def get(self, key: str) -> Any:
        if self.memory is not None and key in self.memory:
            return self.memory[key]
        if self.folder is not None:
            with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
                                     ValueError, TypeError), (self.folder / f"{key}.pickle").open("rb") as fh:
                if self.pieces:
                    return _load_pieces(self.folder, fh.read())
                return pickle.load(fh)  # our own cache, written below
        return None

    def put(self, key: str, value: Any) -> Any:
        """Record ``value`` as this build's fragment ``key``; return what to hold of it. A one-shot build (no memory
        kept between builds) writes a fragment of pieces to the cache folder at once and holds it as read back, its
        pieces' bytes left on disk until the export is compressed: held, the FHIR Bundle's lines and the
        nanopublications' blocks were ~0.6 GB of ``kb build``'s largest process at 50,000 claims."""
        self.made += 1
        if self.pieces and self.memory is None and self.folder is not None:
            with contextlib.suppress(OSError, pickle.PicklingError):
                self.folder.mkdir(parents=True, exist_ok=True)
                pickled, _placed = _dump_pieces(self.folder, key, value)
                replace_cache_file(self.folder / f"{key}.pickle", pickled)
                value = _load_pieces(self.folder, pickled)
        self.used[key] = value
        return value

    def keep(self) -> None:
        """Remember the fragments of this build, and only those (a cache: failures only cost time). A fragment of
        pieces that a loop keeps in memory and this build made is written now, and its pieces' bytes are then let go:
        each piece (the same object, so that :class:`kb.export.dumps.Seen` still knows it) reads them from the file
        where asked for, as one read back from the cache does. Held, they were ~1.1 GB of ``kb serve``'s process for
        its whole session after a start without caches at 10k/50k: it held 3.4 GB, 2.4 GB after a start with them."""
        if self.memory is not None:
            self.memory.clear()
            self.memory.update(self.used)
        if self.folder is None:
            return
        with contextlib.suppress(OSError, pickle.PicklingError):
            self.folder.mkdir(parents=True, exist_ok=True)
            for key, value in self.used.items():
                target = self.folder / f"{key}.pickle"
                if target.exists():
                    continue
                if not self.pieces:
                    replace_cache_file(target, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
                    continue
                pickled, placed = _dump_pieces(self.folder, key, value)
                replace_cache_file(target, pickled)
                if placed.pieces:
                    blob = Blob(placed.path)
                    for piece, start in placed.pieces:
                        piece.kept_in(blob, start)
            for old in self.folder.iterdir():
                # a fragment's pickle, or its pieces' bytes (named after it: _dump_pieces)
                if old.suffix in (".pickle", ".bin") and old.name.split(".")[0] not in self.used:
                    old.unlink(missing_ok=True)


@dataclass
class Placed:
    """Where :func:`_dump_pieces` wrote a fragment's pieces' bytes: the file, and each piece with its place in it."""

    path: Path
    pieces: list[tuple[Piece, int]]


def _dump_pieces(folder: Path, key: str, value: Any) -> tuple[bytes, Placed]:
    """``value`` pickled with its pieces' bytes apart: they are written, one after the other, to a file of their own
    (named by the fragment and the digest of those bytes, so a pickle names the very bytes it was written with), and
    the pickle holds each piece's digest, CRC, size and place. The pickle is what to write at the fragment's name,
    once the bytes are in place; beside it, where they were placed."""
    inner = io.BytesIO()
    pickler = _PiecePickler(inner)
    pickler.dump(value)
    blob = b"".join(pickler.held)
    name = f"{key}.{key_of(blob).hex()}.bin"
    replace_cache_file(folder / name, blob)
    return (pickle.dumps((name, inner.getvalue()), protocol=pickle.HIGHEST_PROTOCOL),
            Placed(folder / name, pickler.placed))


def _load_pieces(folder: Path, data: bytes) -> Any:
    """What :func:`_dump_pieces` pickled, its pieces' bytes mapped from their file (read only where asked for)."""
    name, inner = pickle.loads(data)  # our own cache
    if not isinstance(name, str) or "/" in name or not isinstance(inner, bytes):
        raise ValueError("not a fragment of pieces")
    return _PieceUnpickler(io.BytesIO(inner), Blob(folder / name)).load()


# The two (un)picklers are classes of their own, not made in each call: a class refers to itself, so one made in a
# call, and what its methods' closures held (the pieces' bytes; the mapped file), lived until the cyclic collector
# ran, which a build pauses. At 10k/50k the FHIR Bundle's Citations (~50 MB) and 33 mapped files stayed in the main
# process through the site's rendering.

class _PiecePickler(pickle.Pickler):
    """Pickles each :class:`Piece` as its digest, CRC, size and place in :attr:`held`, its bytes one after the other."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.held: list[bytes] = []
        self.placed: list[tuple[Piece, int]] = []
        self.at = 0

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is not Piece:
            return None
        data = obj.bytes()
        self.held.append(data)
        self.placed.append((obj, self.at))
        self.at += len(data)
        return (obj.key, obj.crc, obj.size, self.at - len(data))


class _PieceUnpickler(pickle.Unpickler):
    """Unpickles each piece :class:`_PiecePickler` left as mapped from ``blob``."""

    def __init__(self, file: io.BytesIO, blob: Blob) -> None:
        super().__init__(file)
        self.blob = blob

    def persistent_load(self, pid: Any) -> Piece:
        key, crc, size, start = pid
        return Piece(key, crc, size, None, self.blob, start)


@cache
def _export_code() -> bytes:
    """The export modules' source and the compressor: an output kept by :func:`by_context` depends on them besides
    its inputs."""
    here = Path(__file__).parent
    return b"".join(path.read_bytes() for path in sorted(here.glob("*.py"))) + gz.ENGINE.encode()


def by_context(fragments: Fragments, context: str | None, name: str, make: Callable[[], bytes]) -> bytes:
    """``make()`` gzipped, kept under ``context``: for exports of the references alone (BibTeX, CSL-JSON, RIS), the
    digest of references.bib (:meth:`kb.checks.scope.Inputs.of`), which an edit of anything else leaves as they were
    (the vocabularies, a reference list: ~3 s of the editors' loop at 10,000 works). Without a context it is simply
    made."""
    if context is None:
        return gz.compress(make())
    key = hashlib.sha256(_export_code() + f"\0{context}\0{name}".encode()).hexdigest()
    found = fragments.get(key)
    if found is None:
        found = gz.compress(make())
        fragments.put(key, found)
    else:
        fragments.used[key] = found
    return bytes(found)
