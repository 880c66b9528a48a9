"""gzip, deterministically: the same bytes in give the same file out (no name, no time in the header).

The site's data files that grow with the KB are written compressed (``data/kb.nt.gz`` …): at 50,000
claims the five serialisations of the graph are 1.7 GB as text and a tenth of that gzipped. They are
compressed whole, a member at a time, by libdeflate (the ``deflate`` package) at level 7: on those
files at 10k/50k it made 1.3 % smaller files than zlib's default level 6 in 0.58 of its time (5.5
against 9.5 s of CPU in every cold build); zlib's level 9 saves a few per cent more for twice the
time. A stream whose whole is never held (:func:`writer`) is zlib's, at its default level.
"""

from __future__ import annotations

import errno
import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import deflate

from kb.io.writing import open_sliced

LEVEL = 7
STREAM_LEVEL = 6  # zlib's, for :func:`writer`
# what decides the bytes of :func:`compress` besides its input: caches of compressed members are keyed by it
ENGINE = f"libdeflate {deflate.__version__} level {LEVEL}"


def compress(data: bytes) -> bytes:
    """``data`` as one gzip member (a member's bytes depend on ``data`` and :data:`ENGINE` alone)."""
    return bytes(deflate.gzip_compress(data, LEVEL))


@contextmanager
def writer(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that gzips what is written to it into ``path`` (streamed: nothing held whole)."""
    with open_sliced(path) as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=STREAM_LEVEL,
                                                mtime=0) as out:
        yield out  # type: ignore[misc]


def read(path: Path) -> bytes:
    """The file's bytes, decompressed if its name ends in ``.gz``; a damaged one is an ``OSError``."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise OSError(errno.EINVAL, f"not a whole gzip file ({exc})", str(path)) from None


@contextmanager
def reader(path: Path) -> Iterator[IO[bytes]]:
    """The file opened for reading, decompressed on the fly if its name ends in ``.gz``."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
        yield fh  # type: ignore[misc]
