"""Temporary files and folders named for the process that makes them, so that a later run removes what a killed one
left (the kernel's OOM killer, ``kill -9``, a power cut): a cold build at 10k/50k keeps a 0.4 GB N-Triples dump and
0.4 GB of claims' triples in the temporary folder and writes the query store in a staging folder beside the cached
ones, and a process killed meanwhile cannot remove them. Such a name is ``<kind><pid>-<random>``; it is removed
once no process has that id and it has not changed for an hour (a process in another PID namespace sharing the
folder is not seen here, and its files are young while it writes them)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

from kb.io.procs import alive

STALE_AFTER = 3600.0  # seconds unchanged before an orphan is removed


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
            if match is None or alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime < stale_after:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed

