"""Put a freshly built folder in place of an old one, with no instant at which the folder is missing.

Two renames (old → aside, new → in place) leave a gap: a crash between them leaves no site at all.
On Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the two names in one atomic step, so readers see the
old folder or the new one, never neither; the old one is then deleted from the staging name. Where
the call does not exist (not Linux, glibc < 2.28) or the file system refuses it (``EINVAL``: some
network and FUSE file systems), the fallback is the two renames, and :func:`recover` — run at the
start of the next build — puts the old folder back if a crash fell into the gap.

Leftovers of a crashed build (``.<name>.*.tmp`` staging folders, ``.<name>.old``) are removed by
:func:`recover`; callers hold a lock on the target so that no other build is using them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 1 << 1


def staging_prefix(target: Path) -> str:
    """Staging folders for ``target`` are ``.<name>.<random>.tmp`` beside it."""
    return f".{target.name}."


def aside(target: Path) -> Path:
    """Where the fallback keeps the old folder for the instant between its two renames."""
    return target.with_name(f".{target.name}.old")


def _renameat2() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically; False if this system or file system cannot.

    Other failures (permissions, a missing path) raise :class:`OSError`.
    """
    func = _renameat2()
    if func is None:
        return False
    if func(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:  # type: ignore[operator]
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def replace_dir(new: Path, target: Path, later: list[Callable[[], object]] | None = None) -> str:
    """Put the folder ``new`` at ``target`` (a real folder, or absent) and delete the old one (swapped atomically
    out of the way: with ``later``, its deletion is added to it, for the caller to do once the new folder is in use;
    until then it is a staging folder, which :func:`recover` removes).

    Returns how: ``"created"``, ``"exchanged"`` (atomic) or ``"renamed"`` (the two-rename fallback).
    """
    if not os.path.lexists(target):
        os.rename(new, target)
        return "created"
    if exchange(new, target):  # ``new`` now holds the old site
        if later is not None:
            later.append(functools.partial(shutil.rmtree, new, ignore_errors=True))
        else:
            shutil.rmtree(new, ignore_errors=True)
        return "exchanged"
    old = aside(target)
    shutil.rmtree(old, ignore_errors=True)
    os.rename(target, old)
    os.rename(new, target)  # a crash before this line is undone by recover()
    shutil.rmtree(old, ignore_errors=True)
    return "renamed"


def recover(target: Path) -> list[Path]:
    """Undo what a crashed swap left: restore ``target`` from the fallback's ``.old`` if it is missing,
    then delete staging folders and ``.old``. Returns what was removed or restored."""
    touched: list[Path] = []
    old = aside(target)
    if old.is_dir() and not os.path.lexists(target):
        os.rename(old, target)
        touched.append(target)
    with contextlib.suppress(OSError):
        for leftover in sorted(target.parent.glob(staging_prefix(target) + "*.tmp")):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
                touched.append(leftover)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
        touched.append(old)
    return touched
