"""gzip, deterministically: the same bytes in give the same file out (no name, no time in the header).

The site's data files that grow with the KB are written compressed (``data/kb.nt.gz`` …): at 50,000
claims the five serialisations of the graph are 1.7 GB as text and a tenth of that gzipped. Level 6,
zlib's default: level 9 saves a few per cent for twice the time.
"""

from __future__ import annotations

import errno
import gzip
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

LEVEL = 6


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def compress_chunks(chunks: Iterable[bytes]) -> bytes:
    """:func:`compress` of the chunks joined, byte for byte, without ever holding them joined: a
    400 MB export is held as its 40 MB of gzip (deflate's output does not depend on how its input
    is split, and ``gzip.compress`` with ``mtime=0`` is zlib's own gzip wrapper)."""
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
    out = [packer.compress(chunk) for chunk in chunks]
    out.append(packer.flush())
    return b"".join(out)


@contextmanager
def writer(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that gzips what is written to it into ``path`` (streamed: nothing held whole)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=LEVEL,
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
