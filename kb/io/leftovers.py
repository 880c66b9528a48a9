"""Temporary files and folders named for the process that makes them, so that a later run removes what a killed one
left (the kernel's OOM killer, ``kill -9``, a power cut): a cold build at 10k/50k keeps a 0.4 GB N-Triples dump and
0.4 GB of claims' triples in the temporary folder and writes the query store in a staging folder beside the cached
ones, and a process killed meanwhile cannot remove them. Such a name is ``<kind><pid>-<random>``; it is removed
once no process has that id and it has not changed for an hour (a process in another PID namespace sharing the
folder is not seen here, and its files are young while it writes them). The caches' temp files
(:mod:`kb.io.atomic`, ``.<name>.<pid>-<random>.tmp``) are swept the same way, in every folder of the cache: a build
killed while it kept its caches left each file it was writing for good (up to 86 MB each at 10k/50k, the graph's)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

from kb.io.procs import alive

STALE_AFTER = 3600.0  # seconds unchanged before an orphan is removed
# kb.io.atomic's temp files: tempfile's eight random characters, after the writer's pid (none in an older kb's names)
_TEMP_FILE = re.compile(r"\..+\.(?:([0-9]+)-)?[a-z0-9_]{8}\.tmp")


def own_prefix(kind: str) -> str:
    """The start of a temporary name of ``kind`` made by this process (for ``tempfile.mkstemp``/``mkdtemp``)."""
    return f"{kind}{os.getpid()}-"


def remove_orphans(folder: Path, kind: str, stale_after: float = STALE_AFTER) -> list[Path]:
    """Remove the entries of ``folder`` named by :func:`own_prefix` for ``kind`` whose process is gone and that have not
    changed for ``stale_after`` seconds; what was removed. A folder that cannot be read is left as it is."""
    named = re.compile(re.escape(kind) + r"([0-9]+)-")
    removed: list[Path] = []
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = named.match(entry.name)
            if match is None:
                continue
            with contextlib.suppress(OSError):
                if not _left(entry, int(match.group(1)), now, stale_after):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def remove_orphan_temps(folder: Path, stale_after: float = STALE_AFTER) -> list[Path]:
    """Remove the temp files of :mod:`kb.io.atomic` in ``folder`` and the folders under it (a cache: nothing in it is
    an editor's) whose writer is gone, or is not named (an older kb's), and that have not changed for ``stale_after``
    seconds; what was removed. Links are not followed; a folder that cannot be read is left as it is."""
    removed: list[Path] = []
    now = time.time()
    folders = [str(folder)]
    while folders:
        with contextlib.suppress(OSError), os.scandir(folders.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                        continue
                    match = _TEMP_FILE.fullmatch(entry.name)
                    pid = None if match is None or match.group(1) is None else int(match.group(1))
                    if match is not None and _left(entry, pid, now, stale_after):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return sorted(removed)


def _left(entry: os.DirEntry, pid: int | None, now: float, stale_after: float) -> bool:
    """Whether ``entry`` was left: the process it is named for is gone (or it is named for none), and it has not
    changed for ``stale_after`` seconds."""
    return (pid is None or not alive(pid)) and now - entry.stat(follow_symlinks=False).st_mtime >= stale_after
