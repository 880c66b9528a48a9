"""Answers of ``kb query`` kept beside the cached store they came from, so a repeated query is not run again.

The store under ``.kb-cache/store-<key>/`` is content-addressed and never changes once written, so
an answer computed from it stays right for as long as the store is current; it lives in the
store's own folder (``results/``) and goes when the store goes. Queries on the on-disk (RocksDB)
store run 3–8x slower than on the in-memory store, and the example queries are the ones asked
again and again, so:

* ``kb build`` runs the example queries (SELECT and ASK) on the in-memory graph it has anyway and
  keeps their results as SPARQL JSON (:func:`precompute`), within a time budget;
* ``kb query`` serves a formatted answer it has written before (same query text, format, limit,
  prefixes, kb query code and engine version) without opening the store, formats a precomputed
  result without running the query, and otherwise runs the query and keeps the formatted answer.

Entries are written atomically; a missing, unreadable or corrupt entry is just a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from functools import cache
from pathlib import Path

CACHE_FORMAT = "kb-results 1"
MAX_ENTRY_BYTES = 32 * 1024 * 1024  # bigger answers are cheaper to compute again than to keep
PRECOMPUTE_BUDGET_S = 60.0  # kb build stops precomputing (and waiting) after this long
EXAMPLES_MARK = ".examples"  # in results/: precompute ran for this store (a rebuild need not run it again)


@cache
def _code_digest() -> str:
    """What the answer depends on besides the store and the query: kb's query code and the engine."""
    import pyoxigraph

    from kb import __version__
    from kb.namespaces import PREFIXES

    digest = hashlib.sha256(f"{CACHE_FORMAT}\n{__version__}\n{pyoxigraph.__version__}\n".encode())
    digest.update(repr(sorted(PREFIXES.items())).encode())
    digest.update((Path(__file__).parent / "query.py").read_bytes())
    return digest.hexdigest()


def _name(*parts: object) -> str:
    digest = hashlib.sha256(_code_digest().encode())
    for part in parts:
        digest.update(b"\0" + str(part).encode())
    return digest.hexdigest()[:40]


class ResultCache:
    """The answers kept for the store in ``store_dir`` (``.kb-cache/store-<key>``)."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.folder = store_dir / "results"

    def _answer(self, text: str, fmt: str, limit: int | None) -> Path:
        return self.folder / f"answer-{_name('answer', fmt, limit, text)}"

    def _solutions(self, text: str) -> Path:
        return self.folder / f"solutions-{_name('solutions', text)}.srj"

    def get(self, text: str, fmt: str, limit: int | None) -> tuple[bytes, bool] | None:
        """A formatted answer written before: (payload, truncated), or None."""
        try:
            data = self._answer(text, fmt, limit).read_bytes()
        except OSError:
            return None
        flag, sep, payload = data.partition(b"\n")
        if not sep or flag not in (b"0", b"1"):
            return None
        return payload, flag == b"1"

    def put(self, text: str, fmt: str, limit: int | None, payload: bytes, truncated: bool) -> None:
        """Keep a formatted answer, if the store it came from is in place (never creates a store folder)."""
        if len(payload) <= MAX_ENTRY_BYTES:
            _write(self.folder, self._answer(text, fmt, limit), (b"1\n" if truncated else b"0\n") + payload)

    def solutions(self, text: str) -> bytes | None:
        """Precomputed SELECT/ASK results of this query text (SPARQL JSON), or None; see :func:`parse`."""
        try:
            return self._solutions(text).read_bytes()
        except OSError:
            return None


def parse(data: bytes) -> object:
    """Precomputed results as pyoxigraph results, in the thread that will read them (pyoxigraph's
    results must not cross threads). A damaged entry raises ``SyntaxError`` or ``ValueError``."""
    import pyoxigraph as ox

    return ox.parse_query_results(data, format=ox.QueryResultsFormat.JSON)


def _write(folder: Path, target: Path, data: bytes) -> None:
    with contextlib.suppress(OSError):
        if not folder.is_dir():
            folder.mkdir()  # not parents: no store folder, no answers (kb.store would take it for a store)
        fd, tmp = tempfile.mkstemp(prefix=".answer-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def precompute(store_dir: Path, store: object, examples: list, budget_s: float = PRECOMPUTE_BUDGET_S) -> list[str]:
    """Run the example queries on ``store`` and keep their SELECT/ASK results; returns the names kept.

    Runs in a worker thread (pyoxigraph releases the GIL while it evaluates) and gives up after
    ``budget_s``: a slow example query never holds a build up for longer. Examples that fail or
    are not SELECT/ASK are skipped; ``kb query`` reports their errors when they are asked.
    """
    import pyoxigraph as ox

    from kb.query import run_query

    results = ResultCache(store_dir)
    done: list[str] = []
    stop = threading.Event()

    def work() -> None:
        for example in examples:
            if stop.is_set():
                return
            try:
                answer = run_query(store, example.text)
                if not isinstance(answer, ox.QuerySolutions | ox.QueryBoolean):
                    continue
                data = answer.serialize(format=ox.QueryResultsFormat.JSON)
            except Exception:  # the query's own error is shown by kb query, not by kb build
                continue
            if stop.is_set():
                return
            _write(results.folder, results._solutions(example.text), data)
            done.append(example.name)

    worker = threading.Thread(target=work, daemon=True, name="kb-precompute")
    deadline = time.monotonic() + budget_s
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0))
    stop.set()
    kept = list(done)
    _write(results.folder, results.folder / EXAMPLES_MARK, "\n".join(kept).encode())
    return kept


def precomputed(store_dir: Path) -> bool:
    """Whether :func:`precompute` ran for the store in ``store_dir``."""
    return (store_dir / "results" / EXAMPLES_MARK).is_file()
