"""Reading input under a size cap, and file-system failures said in words.

``Path.read_bytes()`` on ``/dev/zero``, or ``sys.stdin.buffer.read()`` under ``yes |``, grows memory
until the machine gives out. Every input the KB takes from an editor is read here, in chunks, and
refused as soon as it passes the cap, whatever it is: a regular file, a device, a pipe or stdin.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class InputTooLarge(Exception):
    """The input has more than ``cap`` bytes (``size`` when known: a regular file's size)."""

    def __init__(self, cap: int, size: int | None = None) -> None:
        self.cap, self.size = cap, size
        found = f"{size:,} bytes" if size is not None else f"more than {cap:,} bytes (it was still growing)"
        super().__init__(f"input is {found}; the cap is {human_bytes(cap)} ({cap:,} bytes)")


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def read_capped(source: Path | str | BinaryIO, cap: int) -> bytes:
    """All bytes of a path or an open binary stream, or :class:`InputTooLarge` past ``cap`` bytes.

    OSErrors (missing, unreadable, a folder) propagate for the caller to report.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            info = os.fstat(fh.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > cap:
                raise InputTooLarge(cap, info.st_size)
            return _read(fh, cap)
    return _read(source, cap)


def _read(stream: BinaryIO, cap: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise InputTooLarge(cap)


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "it already exists",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "an input/output error (a failing disk?)",
}


def os_error_text(exc: OSError) -> str:
    """What an OSError means, in words: ``permission denied``, ``no space left on the device``, …"""
    reason = _REASONS.get(exc.errno or 0)
    if reason:
        return reason
    return (exc.strerror or str(exc)).lower()


def write_failure(exc: OSError, path: Path | str, size: int | None = None) -> str:
    """``could not write X: no space left on the device (12 KiB were to be written)``: what, where, why.

    The temp or lock file the error names is an implementation detail; the message names ``path`` and,
    where the folder is the cause (missing, not writable), the folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    reason = os_error_text(exc)
    if exc.errno == errno.ENOENT and not folder.is_dir():
        reason = f"the folder {folder} does not exist"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and exc.filename and Path(exc.filename) != path:
        reason += f" (cannot create files in {Path(exc.filename).parent})"
    text = f"could not write {path}: {reason}"
    if size is not None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        text += f" ({human_bytes(size)} were to be written)"
    return text


def decode_position(data: bytes, exc: UnicodeDecodeError) -> tuple[int, int]:
    """1-based (line, column) of the byte a strict UTF-8 decode stopped at."""
    line = data.count(b"\n", 0, exc.start) + 1
    start = data.rfind(b"\n", 0, exc.start) + 1
    return line, len(data[start:exc.start].decode("utf-8", "replace")) + 1
