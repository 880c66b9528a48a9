"""Crash-safe, single-writer file updates (BAD_INPUTS #37).

Readers must never see a half-written file, a crash must leave the old bytes in place, and an
update computed from stale bytes (another editor, a ``git pull``) must not clobber newer ones.
The recipe is JabRef's AtomicFileOutputStream: temp file in the same folder → fsync → check the
target is unchanged since it was read → ``os.replace`` → fsync the folder; the previous content is
kept as ``<file>.bak``. :func:`locked` serialises writers with ``fcntl.flock`` on a sidecar file.
A new file gets the mode the umask gives any new file, not the temp file's private 0o600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kb.io.writing import open_sliced

ABSENT = ""  # the digest of a file that does not exist


class ChangedOnDiskError(RuntimeError):
    """The target changed between reading it and writing the update: nothing was written."""


class LockTimeoutError(RuntimeError):
    """Another writer held the lock for longer than we were willing to wait."""


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes, or :data:`ABSENT` if there is no such file."""
    try:
        return digest_bytes(Path(path).read_bytes())
    except FileNotFoundError:
        return ABSENT


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # pragma: no cover - some file systems refuse directory fsync
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process's umask: read from ``/proc`` on Linux (no change), else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0o644 under the usual umask 022).

    ``mkstemp`` creates its temp files private (0o600), which is right for a half-written file but
    wrong for the result: an export, a query result or a new references file is meant to be shared.
    """
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder (0o755 under umask 022); ``mkdtemp`` makes it 0o700."""
    return 0o777 & ~current_umask()


def _open_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new temp file for ``name`` in ``folder``, open (its descriptor), named as :func:`temp_name_pattern` finds
    it (mkstemp makes it 0o600) and for this process, so that a cache's leftovers can be told from a live writer's
    (:func:`kb.io.leftovers.remove_orphan_temps`)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}-", suffix=".tmp", dir=folder)
    return fd, Path(tmp)


def _write_temp(folder: Path, name: str, data: bytes, mode: int | None) -> Path:
    fd, tmp = _open_temp(folder, name)
    try:
        with open_sliced(fd) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def temp_name_pattern(path: Path | str) -> str:
    """The glob of the temp files :func:`atomic_write_bytes` makes for ``path`` (its ``.bak`` included)."""
    return f".{Path(path).name}.*.tmp"


def remove_stale_temps(path: Path | str) -> list[Path]:
    """Delete temp files a killed writer of ``path`` left behind; call it only while holding :func:`locked`.

    A writer removes its temp file on any exception, but ``kill -9`` or a power cut skips that. Under
    the lock no other writer of ``path`` is mid-write, so every such file is a leftover. Best effort.
    """
    path = Path(path)
    removed = []
    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(temp_name_pattern(path)):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
    return removed


def new_temp(path: Path) -> Path:
    """An empty temp file beside ``path``, named as :func:`temp_name_pattern` finds it, for a file written as a
    stream and then given its name by :func:`publish_new`."""
    fd, tmp = _open_temp(path.parent, path.name)
    os.close(fd)
    return tmp


def publish_new(tmp: Path, path: Path) -> None:
    """Give the finished temp file ``tmp`` the name ``path``, durably, never over a file that has it already
    (``FileExistsError``; a link, not a rename, cannot replace one). ``tmp`` is left for the caller to remove."""
    os.chmod(tmp, new_file_mode())  # what open() would give a new file, not mkstemp's 0o600
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.link(tmp, path)
    _fsync_dir(path.parent)


def replace_cache_file(path: Path, data: bytes) -> None:
    """Write a cache file: atomically (temp file + rename, so readers never see half of it) but not
    durably (no fsync): a cache lost in a crash is rebuilt, and an fsync per entry costs time."""
    fd, tmp = _open_temp(path.parent, path.name)
    try:
        with open_sliced(fd) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_cache_entry(path: Path, data: bytes, others: str) -> None:
    """:func:`replace_cache_file` for the one entry of its kind: its folder made where missing, then the other files
    beside it that the glob ``others`` matches (entries of older keys) removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_cache_file(path, data)
    for old in path.parent.glob(others):
        if old != path:
            old.unlink(missing_ok=True)


def atomic_write_bytes(
    path: Path | str, data: bytes, expected_digest: str | None = None, *, backup: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``expected_digest`` is the :func:`file_digest` of the bytes the update was computed from
    (:data:`ABSENT` if the file did not exist); if the file on disk no longer matches, raise
    :class:`ChangedOnDiskError` and leave everything as it was. With ``backup``, the previous
    content is kept as ``<file>.bak``. On any failure the temp file is removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o7777  # an existing file keeps its mode
    except FileNotFoundError:
        mode = new_file_mode()  # a new one gets what open() would give it, not mkstemp's 0o600
    tmp = _write_temp(folder, path.name, data, mode)
    try:
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        if expected_digest is not None:
            found = ABSENT if current is None else digest_bytes(current)
            if found != expected_digest:
                raise ChangedOnDiskError(
                    f"{path} changed on disk since it was read; nothing was written. Run the command again."
                )
        if backup and current is not None:
            bak = _write_temp(folder, path.name + ".bak", current, mode)
            try:
                os.replace(bak, path.with_name(path.name + ".bak"))
            except BaseException:
                bak.unlink(missing_ok=True)
                raise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def lock_path(path: Path | str) -> Path:
    """The sidecar lock file of ``path`` (never deleted: deleting a lock file races)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: Path | str, timeout: float = 60.0, poll: float = 0.05) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``path``'s sidecar lock file for the ``with`` block.

    Every writer of ``path`` takes this lock around read → compute → write, so two concurrent
    updates are serialised instead of one silently losing the other's entries.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with _flocked(fd, f"{path} is locked by another writer ({lock})", timeout, poll):
            yield lock
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked_folder(folder: Path | str, timeout: float = 60.0, poll: float = 0.05) -> Iterator[Path]:
    """An exclusive ``flock`` on a folder itself (Linux allows it on a directory), leaving no lock file.

    ``kb build`` holds it on the parent of the site it replaces, so two builds never swap at once
    nor delete each other's staging folders.
    """
    folder = Path(folder)
    fd = os.open(folder, os.O_RDONLY)
    try:
        with _flocked(fd, f"{folder} is being written by another kb build", timeout, poll):
            yield folder
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flocked(fd: int, busy: str, timeout: float, poll: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeoutError(f"{busy}; try again later") from None
            time.sleep(poll)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
