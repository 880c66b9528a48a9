"""Pieces of the two largest exports (the FHIR Bundle's entry lines, the nanopublications' blocks of TriG), each
known by the digest of its bytes, its CRC-32 and its size, so that a rebuild can tell an unchanged run of them
without reading them.

:func:`kb.export.dumps.compress_runs` cuts an export into runs by its pieces' CRCs and reuses a run's gzip member
by the run's key. For a run of pieces that key is made of their digests (:func:`run_key`), so an unchanged run is
known from what was kept beside each piece. Kept on disk (:class:`kb.export.fragments.Fragments` with ``pieces``), a
fragment's pieces' bytes go to a file of their own (:class:`Blob`), mapped into memory and read only for a run that
changed: after one edit at 10k/50k, a fresh ``kb build`` unpickled ~730 MB of kept pieces (1.4 s) and hashed and
CRC'd them again (1.2 s) to find the two runs that changed.
"""

from __future__ import annotations

import hashlib
import mmap
import zlib
from collections.abc import Iterable
from pathlib import Path

SHORT = 64  # bytes: a piece this short (a separator) never ends a run, and is its own key in a run's (run_key)


def key_of(data: bytes) -> bytes:
    """The key of a chunk, run, member or piece by its bytes (20 bytes of SHA-256). A cold build hashes ~1 GB this
    way: SHA-256 runs on the CPU's SHA extensions where it has them, ~3× the speed of BLAKE2b measured here (1.3
    against 0.44 GB/s), and no slower than BLAKE2b where it does not."""
    return hashlib.sha256(data).digest()[:20]


class Blob:
    """The bytes of a kept fragment's pieces, one file, memory-mapped when the fragment is read: a mapping outlives
    the file's replacement or removal by another build (cache files are replaced by renaming, never truncated), and
    only the pages a changed run reads are ever read. Once a piece is read, the pages mapped are let go
    (``MADV_DONTNEED``; the kernel keeps them cached, and a page read again is mapped again): a mapped page counts in
    the process's memory until the mapping ends, and the Bundle reads its lines by claim id, a little from every claim
    file's fragment at a time, so compressing it held ~0.4 GB mapped at 10k/50k (letting go of only the piece's own
    pages kept half of it: a fault maps a whole folio, ~0.5 MB here). Letting go costs ~8 µs a piece (~1 s of a cold
    build's 120,000)."""

    __slots__ = ("_map",)

    def __init__(self, path: Path) -> None:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def read(self, start: int, size: int) -> bytes:
        if not size:
            return b""  # an empty piece (the only kind an empty file holds, which is not mapped)
        if self._map is None or start + size > len(self._map):
            raise ValueError("a kept piece lies past the end of its file")
        data = self._map[start:start + size]
        if _DONTNEED is not None:
            self._map.madvise(_DONTNEED)  # the whole mapping: a fault maps a whole folio of the page cache, ~0.5 MB
        return data


_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


class Piece:
    """A piece of an export: the digest of its bytes (``key``), their CRC-32 and size, and the bytes themselves
    where they are in memory, else where they are kept (:class:`Blob`)."""

    __slots__ = ("_blob", "_data", "_start", "crc", "key", "size")

    def __init__(self, key: bytes, crc: int, size: int, data: bytes | None = None, blob: Blob | None = None,
                 start: int = 0) -> None:
        self.key, self.crc, self.size = key, crc, size
        self._data, self._blob, self._start = data, blob, start

    @classmethod
    def of(cls, data: bytes) -> Piece:
        """A piece just made: its digest and CRC are taken once, here, and kept with it."""
        return cls(key_of(data), zlib.crc32(data), len(data), data)

    def kept_in(self, blob: Blob, start: int) -> None:
        """Its bytes are now in ``blob`` from ``start``: read from there where asked for, not held."""
        self._data, self._blob, self._start = None, blob, start

    def bytes(self) -> bytes:
        if self._data is not None:
            return self._data
        if self._blob is None:
            raise ValueError("a piece without its bytes")
        return self._blob.read(self._start, self.size)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled whole (bytes included) where no fragment store takes its bytes apart (tests, plain pickles)."""
        return (Piece, (self.key, self.crc, self.size, self.bytes()))


def as_bytes(piece: bytes | Piece) -> bytes:
    return piece if isinstance(piece, bytes) else piece.bytes()


def run_key(run: Iterable[bytes | Piece]) -> bytes:
    """The key of a run holding pieces, from what is known of each without its bytes: a piece's digest, a short
    plain piece's bytes (a separator), a longer plain piece's digest. Each is tagged and a short one's length given,
    so two runs have the same key only if their pieces' bytes are the same, piece by piece. (A run of plain pieces
    only is keyed by its bytes, :func:`kb.export.dumps.compress_runs`.)"""
    parts = [b"pieces\0"]
    for piece in run:
        if isinstance(piece, Piece):
            parts += (b"P", piece.key)
        elif len(piece) < SHORT:
            parts += (b"S", bytes((len(piece),)), piece)
        else:
            parts += (b"L", key_of(piece))
    return key_of(b"".join(parts))
