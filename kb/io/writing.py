"""Writing large files in slices.

On the Linux 6.18 VMs this project is built and tested on (ext4), one ``write()`` of 2 MiB or more took ~30×
as long as the same bytes written 1 MiB at a time: 20 MB in 0.10–0.29 s against 5–9 ms, measured in one run
(1.5 MiB slices were as quick as 1 MiB ones, 2 MiB ones as slow as one write). Page-cache folios sized by the
write's length are the likely cause; either way a slice costs one system call per MiB, nothing measurable
elsewhere. A rebuild after one edited claim writes ~70 MB of ``data/`` in its main process, and the caches
write pickles of tens of MB.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

SLICE = 1 << 20  # bytes handed to one write() at most


class SlicedWriter(io.BufferedWriter):
    """A buffered binary file whose every write reaches the system in slices of at most :data:`SLICE` bytes."""

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        if len(view) <= SLICE:
            return super().write(view)
        for start in range(0, len(view), SLICE):
            super().write(view[start:start + SLICE])
        return len(view)


def open_sliced(path: Path | str | int) -> BinaryIO:
    """``open(path, "wb")`` (a path, created or truncated with the umask's mode, or an open descriptor, which
    closing the file closes) whose writes are sliced."""
    return SlicedWriter(io.FileIO(path, "w"))


def write_file(path: Path | str, data: bytes) -> None:
    """``Path(path).write_bytes(data)``, sliced (:data:`SLICE`)."""
    with open_sliced(path) as fh:
        fh.write(data)
