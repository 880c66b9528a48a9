"""Fragments of an export kept between builds by a key that covers everything they depend on.

A fragment (the FHIR entries of one claim file, the nanopublications of one claim file, …) is looked
up in memory first (``kb serve``'s loop keeps a dict between rebuilds), then in its cache folder (one
pickle per key); a build records the fragments it used, and :meth:`Fragments.keep` leaves exactly
those for the next build (new ones written, the others removed).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from kb.io import gz
from kb.io.atomic import replace_cache_file


class Fragments:
    """Fragments by key: from memory, else the cache folder; :meth:`keep` records those this build used."""

    def __init__(self, folder: Path | None, memory: dict[str, Any] | None) -> None:
        self.folder, self.memory = folder, memory
        self.used: dict[str, Any] = {}
        self.made = 0

    def get(self, key: str) -> Any:
        if self.memory is not None and key in self.memory:
            return self.memory[key]
        if self.folder is not None:
            with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
                                     ValueError), (self.folder / f"{key}.pickle").open("rb") as fh:
                return pickle.load(fh)  # our own cache, written below
        return None

    def put(self, key: str, value: Any) -> None:
        self.used[key] = value
        self.made += 1

    def keep(self) -> None:
        """Remember the fragments of this build, and only those (a cache: failures only cost time)."""
        if self.memory is not None:
            self.memory.clear()
            self.memory.update(self.used)
        if self.folder is None:
            return
        with contextlib.suppress(OSError, pickle.PicklingError):
            self.folder.mkdir(parents=True, exist_ok=True)
            for key, value in self.used.items():
                target = self.folder / f"{key}.pickle"
                if not target.exists():
                    replace_cache_file(target, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            for old in self.folder.glob("*.pickle"):
                if old.stem not in self.used:
                    old.unlink(missing_ok=True)


@cache
def _export_code() -> bytes:
    """The export modules' source: an output kept by :func:`by_context` depends on it besides its inputs."""
    here = Path(__file__).parent
    return b"".join(path.read_bytes() for path in sorted(here.glob("*.py")))


def by_context(fragments: Fragments, context: str | None, name: str, make: Callable[[], bytes]) -> bytes:
    """``make()`` gzipped, kept under the digest of the evidence other than the claim files (``context``, from
    :func:`kb.checks.scope.inputs`): for exports of the references alone (BibTeX, CSL-JSON, RIS), which an
    edit of claims leaves as they were. Without a context it is simply made."""
    if context is None:
        return gz.compress(make())
    key = hashlib.sha256(_export_code() + f"\0{context}\0{name}".encode()).hexdigest()
    found = fragments.get(key)
    if found is None:
        found = gz.compress(make())
        fragments.put(key, found)
    else:
        fragments.used[key] = found
    return bytes(found)
