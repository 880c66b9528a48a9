"""Content hashes of files, remembered by their ``stat`` so unchanged files are not read again.

``kb query`` keys its cached store on the bytes of every evidence file; reading and hashing them all
(17 MB at 10k claims, ~100 MB at 50k) cost more than the query itself. Like git's index, this keeps,
per file, its stat (size, mtime_ns, ctime_ns, inode, device) beside the SHA-256 of its bytes, and
trusts the remembered hash only while the stat is identical. Any write changes ``ctime`` (which,
unlike ``mtime``, cannot be set back), and replacing a file changes its inode, so an edit that keeps
the size and restores the mtime is still seen.

Racily clean files (git's term): a file written in the same clock tick as the moment it was hashed
could be written again without its stat changing. So a stat is only remembered when both its mtime
and ctime are older than :data:`RACY_WINDOW_NS` before the hash was taken; a younger file is hashed
again on every call until it has aged. A missing, corrupt or unwritable index only costs time: every
file is then hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from kb.io.atomic import replace_cache_file

INDEX_FORMAT = "kb-file-index 1"
RACY_WINDOW_NS = 2_000_000_000  # far above any file-system timestamp granularity
_clock = time.time_ns  # the wall clock file timestamps come from (tests move it)


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load(index_path: Path | None) -> dict[str, list]:
    if index_path is None:
        return {}
    try:
        with open(index_path, "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _save(index_path: Path, entries: dict[str, list]) -> None:
    """Write the index atomically; a read-only cache folder is not an error (the hashes were right)."""
    with contextlib.suppress(OSError):
        index_path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"format": INDEX_FORMAT, "files": entries}, separators=(",", ":"))
        replace_cache_file(index_path, body.encode("utf-8"))


def _valid(entry: object) -> bool:
    return (isinstance(entry, list) and len(entry) == 6 and all(type(v) is int for v in entry[:5])
            and isinstance(entry[5], str))


def digests(files: Iterable[Path], index_path: Path | None) -> dict[Path, str]:
    """The SHA-256 (hex) of each file's bytes, from the stat index at ``index_path`` where it is current.

    ``index_path`` None: hash everything, remember nothing. Files that cannot be read raise ``OSError``
    as reading them would.
    """
    old = _load(index_path)
    new: dict[str, list] = {}
    out: dict[Path, str] = {}
    changed = False
    for file in files:
        name = os.path.abspath(file)
        st = os.stat(file)
        stat = _stat_key(st)
        entry = old.get(name)
        if _valid(entry) and entry[:5] == stat:  # type: ignore[index]
            out[file] = entry[5]  # type: ignore[index]
            new[name] = entry  # type: ignore[assignment]
            continue
        started = _clock()
        st = os.stat(file)  # taken before the bytes are read: a later write shows as a different stat
        with open(file, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        out[file] = digest
        changed = True
        if max(st.st_mtime_ns, st.st_ctime_ns) < started - RACY_WINDOW_NS:
            new[name] = [*_stat_key(st), digest]
    if index_path is not None and (changed or new.keys() != old.keys()):
        _save(index_path, new)
    return out
