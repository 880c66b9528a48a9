"""The last build's nanopublications, remembered by the digest of the file they were written to.

Reading the previous export back — parsing 50,000 nanopublications of TriG and recomputing every
Trusty URI — was 30 s of a rebuild after one edited claim. The build that writes
``data/nanopubs.trig.gz`` knows what it wrote, so it keeps those nanopublications under a digest of
the file's bytes (and of the code that reads and writes them): in memory, for ``kb serve``'s loop,
and pickled in the cache folder (``.kb-cache/nanopubs/``, one entry) for the next ``kb build``. When
the previous file has exactly those bytes, its nanopublications come from there, as
:func:`~kb.export.nanopub.read_previous` would return them (fresh objects, nothing flagged); any other
file — edited, another export, no entry — is read and checked as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from functools import cache
from pathlib import Path

from kb.export.nanopub import Export, Nanopub, read_previous
from kb.io.atomic import replace_cache_file

_Entry = tuple[str, list[tuple[str, list, str]]]  # (digest, [(claim IRI, quads, artifact code)])


@cache
def _code() -> bytes:
    here = Path(__file__).parent
    return b"".join((here / name).read_bytes() for name in ("nanopub.py", "trusty.py", "nanopub_memo.py"))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(_code() + b"\0" + data, digest_size=20).hexdigest()


class Remembered:
    """Previous nanopublications, from memory or the cache folder when the file is the one last written."""

    def __init__(self, folder: Path | None, memory: dict[str, _Entry] | None = None) -> None:
        self.folder, self.memory = folder, memory

    def previous(self, path: Path) -> dict[str, Nanopub]:
        """The nanopublications of the export at ``path`` (:func:`read_previous`'s answer)."""
        try:
            key = _digest(path.read_bytes())
        except OSError:
            return read_previous(path)  # it says what is wrong with the file
        entry = self.memory.get("last") if self.memory is not None else None
        if entry is None or entry[0] != key:
            entry = self._load(key)
        if entry is None or entry[0] != key:
            return read_previous(path)
        return {claim: Nanopub(claim, quads, code) for claim, quads, code in entry[1]}

    def remember(self, written: bytes, export: Export) -> None:
        """``export`` was written as the file ``written``: keep it for the next build."""
        entry: _Entry = (_digest(written), [(n.claim, n.quads, n.code) for n in export.nanopubs])
        if self.memory is not None:
            self.memory["last"] = entry
        if self.folder is None:
            return
        with contextlib.suppress(OSError, pickle.PicklingError):
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{entry[0]}.pickle"
            replace_cache_file(target, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
            for old in self.folder.glob("*.pickle"):
                if old != target:
                    old.unlink(missing_ok=True)

    def _load(self, key: str) -> _Entry | None:
        if self.folder is None:
            return None
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError), \
                (self.folder / f"{key}.pickle").open("rb") as fh:
            entry = pickle.load(fh)  # our own cache, written above
            if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == key:
                return entry
        return None
