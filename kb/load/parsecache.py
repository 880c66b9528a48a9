"""Per-file parse cache: a file whose bytes have not changed is not parsed again.

Editors rebuild many times a day after touching one claim file; parsing 10,000 BibTeX entries and
50,000 claims again each time costs tens of seconds. Each loaded file's records and problems are
pickled under ``.kb-cache/parsed/``, keyed by the file's path and bytes and by the source of the
loader modules (so a code change never serves stale records). Writes are atomic; a corrupt or
unreadable entry is ignored and rebuilt. One entry is kept per file path.

A long-running process (``kb serve``'s editors' loop) passes ``memory``, a dict it keeps between
builds: the records of a file whose bytes are unchanged are then the very objects of the last build
(records are frozen), without reading their pickle again.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from kb.io.atomic import replace_cache_entry
from kb.io.procs import forked_pool

T = TypeVar("T")
_KB = Path(__file__).resolve().parents[1]
# The code that decides what a parsed file yields: a change to any of it invalidates every entry.
_LOADER_CODE = ("bibtex/load.py", "bibtex/check.py", "bibtex/parse.py", "bibtex/scan.py", "bibtex/values.py",
                "bibtex/display.py", "load/claims.py", "load/sources.py", "load/yamlstrict.py", "model.py",
                "problems.py", "ids.py", "io/reading.py")


@cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _LOADER_CODE:
        digest.update((_KB / name).read_bytes())
    return digest.hexdigest()[:16]


class ParseCache:
    """Cached results of ``load(path)`` for files whose bytes are unchanged."""

    def __init__(self, folder: Path | None, memory: dict[str, tuple[str, object]] | None = None) -> None:
        self.folder = folder
        self.memory = memory  # file path → (key of its bytes, its records), kept by the caller

    def load(self, path: Path, loader: Callable[[Path], T]) -> T:
        """``loader(path)``, from the cache if the bytes are unchanged (one file; bench.stages times it)."""
        return self.load_all([(path, loader)])[0]

    def load_all(self, tasks: list[tuple[Path, Callable[[Path], T]]], jobs: int = 1,
                 beside: Callable[[Path], tuple[Path, ...]] = lambda path: (),
                 before_fork: Callable[[], None] = lambda: None) -> list[T]:
        """``loader(path)`` for each task, from the cache where the bytes are unchanged.

        The files to parse are shared among ``jobs`` forked processes (parsing is CPU-bound
        Python; the records come back pickled, as they are stored here anyway). ``beside`` names the files a
        loader reads besides its path (an archived source's text beside its description): their bytes are keyed too.
        ``before_fork`` runs before the processes fork (no thread may be alive then).
        """
        results: list = [None] * len(tasks)
        misses: list[tuple[int, Path | None, str | None]] = []
        for i, (path, _loader) in enumerate(tasks):
            key = self._key(path, beside(path))
            remembered = self.memory.get(str(path)) if self.memory is not None and key is not None else None
            if remembered is not None and remembered[0] == key:
                results[i] = remembered[1]
                continue
            entry = self._entry(path, key)
            hit = self._read(entry) if entry is not None else _MISSING
            if hit is _MISSING:
                misses.append((i, entry, key))
            else:
                results[i] = hit
                self._remember(path, key, hit)
        values = _parse([tasks[i] for i, _, _ in misses], jobs, before_fork)
        for (i, entry, key), value in zip(misses, values, strict=True):
            results[i] = value
            self._remember(tasks[i][0], key, value)
            if entry is not None:
                self._store(entry, value)
        return results

    def _key(self, path: Path, beside: tuple[Path, ...] = ()) -> str | None:
        """A hash of the file's bytes (and of those ``beside`` it, a missing one as missing) and of the loader code
        (None if the file cannot be read)."""
        if self.folder is None and self.memory is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256(_code_digest().encode() + b"\0" + data)
        for other in beside:
            try:
                found = other.read_bytes()
            except OSError:
                return None  # missing or unreadable: the loader says which, each time
            digest.update(b"\0%d\0" % len(found) + found)
        return digest.hexdigest()[:32]

    def _remember(self, path: Path, key: str | None, value: object) -> None:
        if self.memory is not None and key is not None:
            self.memory[str(path)] = (key, value)

    def _entry(self, path: Path, key: str | None) -> Path | None:
        if self.folder is None or key is None:
            return None
        slot = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        return self.folder / f"{slot}-{key}.pickle"

    @staticmethod
    def _read(entry: Path) -> object:
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError), \
                entry.open("rb") as fh:
            return pickle.load(fh)  # our own cache, written below
        return _MISSING

    def _store(self, entry: Path, value: object) -> None:
        """Keep ``value`` as the one entry of its file path (``<slot>-<key>.pickle``)."""
        with contextlib.suppress(OSError, pickle.PicklingError):
            slot = entry.name.split("-", 1)[0]
            replace_cache_entry(entry, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), f"{slot}-*.pickle")


_MISSING = object()


def _parse(tasks: list[tuple[Path, Callable[[Path], T]]], jobs: int, before_fork: Callable[[], None]) -> list[T]:
    if jobs <= 1 or len(tasks) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [loader(path) for path, loader in tasks]
    before_fork()
    with forked_pool(min(jobs, len(tasks))) as pool:
        return pool.map(_call, tasks, chunksize=1)


def _call(task: tuple[Path, Callable[[Path], T]]) -> T:
    path, loader = task
    gc.disable()  # a worker only allocates records and exits: the collector only costs time
    return loader(path)
