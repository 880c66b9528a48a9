"""The persisted, content-addressed store that ``kb query`` opens instead of rebuilding the graph.

The key is a hash of every evidence file that feeds the graph (and of the kb version), so any edit
invalidates it and nothing stale is ever queried. ``kb build`` and the first ``kb query`` after an
edit write it; later queries open it read-only in milliseconds. Stores are written to a temporary
folder and renamed into place, so a crash never leaves a half-written store behind.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb import __version__
from kb.config import Config
from kb.graph.shipped import ONTOLOGY
from kb.io.leftovers import own_prefix

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kb.graph.change import GraphChange

PERSIST_BATCH = 250_000  # quads per bulk load when the built store is written to disk (see persist)
STAGING_KIND = ".store-"  # a store being written, renamed into place once whole (kb.io.leftovers)
DUMP_BATCH = 100_000  # N-Triples lines per bulk load when the store is persisted from its dump (see _write_dump)
GRAPH_INPUTS = ("references.bib", "kb.toml", "citations", "claims", "inclusions", "vocab", "sources", "releases")
INDEX_NAME = "evidence-index.json"  # kb.io.fingerprint's stat index of the graph inputs


def graph_files(config: Config) -> list[tuple[str, Path]]:
    """The files the graph is built from (not queries/, which only the site reads), by relative name."""
    out = []
    for name in GRAPH_INPUTS:
        path = config.evidence_dir / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and not file.name.startswith(".") and not file.name.endswith(".bak"):
                out.append((str(file.relative_to(config.evidence_dir)), file))
    return out


def evidence_key(config: Config) -> str:
    """A hash of the graph's input files' names and bytes, the ontology and the kb version.

    The bytes' hashes come from the stat index in the cache folder (:mod:`kb.io.fingerprint`): a file
    is read again only when its stat changed, so an unchanged KB costs a few ``stat`` calls.
    """
    from kb.io.fingerprint import digests

    schema = ONTOLOGY
    files = graph_files(config)
    hashes = digests([schema, *(file for _, file in files)], config.store_cache_dir / INDEX_NAME)
    digest = hashlib.sha256(f"kb {__version__}\n{config.base_iri}\n{hashes[schema]}\n".encode())
    for name, file in files:
        digest.update(f"{name}\0{hashes[file]}\0".encode())
    return digest.hexdigest()[:32]


def store_path(config: Config, key: str) -> Path:
    return config.store_cache_dir / f"store-{key}"


@dataclass(frozen=True)
class Persisted:
    """Where a store was persisted, and whether it was a patched copy of the last build's (what was done)."""

    path: Path
    patched: str = ""  # e.g. "612 triples removed, 612 added": empty when written whole (or already there)


MARK = "graph"  # beside a persisted store's db: the name of the graph in it (kb.graph.change.graph_mark)
COUNT = "quads"  # beside a persisted store's db: how many quads it holds (counting RocksDB's took ~6 s at 2M)


def persist(config: Config, store: ox.Store | None, key: str | None = None, change: GraphChange | None = None,
            quads: int | None = None, dump: Path | None = None, begun: Begun | None = None) -> Persisted:
    """Write ``store`` (the built graph) as the cached store for the current evidence.

    With ``change`` (how the graph differs from the last build's), a cached store of the last build's graph
    is copied (hard links: a RocksDB checkpoint) and patched instead: after one edit that is ~1 s against
    ~15 s of CPU to write 2M quads again. The patched copy must then hold as many quads as ``store``,
    else it is written whole. How many it holds is kept beside it (``COUNT``), so that a patch is checked by
    arithmetic rather than by counting the copy. ``quads`` is ``store``'s size where the caller knows it
    (:class:`kb.graph.build.KnowledgeGraph` counts once). Where the build let its store go (``store`` None), it
    is written from ``dump``, the store's N-Triples, and ``quads`` must be given; or it was written from there
    already, while the build went on (``begun``, :func:`begin_from_dump`), and is only named here.
    """
    if begun is not None:
        key = begun.key
    key = key or evidence_key(config)
    target = store_path(config, key)
    if target.is_dir():
        if begun is not None:
            begun.drop()
        return Persisted(target)
    staging = begun.take() if begun is not None else _staging(config)
    try:
        if quads is None:
            assert store is not None, "a store let go is persisted with its size"
            quads = len(store)
        patched = _patched(config, quads, change, staging / "db") if begun is None and change and change.before else ""
        if not patched and begun is None:
            shutil.rmtree(staging / "db", ignore_errors=True)
            if store is not None:
                _write_whole(store, staging / "db")
            else:
                assert dump is not None, "a store let go is persisted from its dump"
                _write_dump(dump, staging / "db")
        (staging / COUNT).write_text(f"{quads}\n", encoding="ascii")
        if change is not None and change.after:
            (staging / MARK).write_text(change.after, encoding="ascii")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in config.store_cache_dir.glob("store-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return Persisted(target, patched)


def _staging(config: Config) -> Path:
    """A fresh folder beside the cached stores, renamed into place once its store is written."""
    config.store_cache_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=own_prefix(STAGING_KIND), dir=config.store_cache_dir))


class Begun:
    """A store let go (:meth:`kb.graph.build.KnowledgeGraph.let_go`), being written from its dump in a thread while
    the build goes on; :func:`persist` takes it once the build knows the graph's change. Made by
    :func:`begin_from_dump`."""

    def __init__(self, config: Config, key: str, dump: Path) -> None:
        self.key = key
        self.staging = _staging(config)
        self.error: BaseException | None = None
        self.dropped = threading.Event()  # the writing stops at its next batch (drop)
        self.thread = threading.Thread(target=self._run, args=(dump,), name="kb-persist", daemon=True)
        self.thread.start()

    def _run(self, dump: Path) -> None:
        try:
            _write_dump(dump, self.staging / "db", self.dropped)
        except BaseException as exc:  # raised by take(), in the building thread
            self.error = exc

    def take(self) -> Path:
        """The staging folder, its ``db`` written; what the writing raised is raised here (the folder removed)."""
        self.thread.join()
        if self.error is not None:
            self.drop()
            raise self.error
        return self.staging

    def drop(self) -> None:
        """Stop the writing at its next batch, and remove what it wrote (the build failed or was interrupted, or the
        store was there already): a Ctrl-C waited for the whole store, ~7 s at 10k/50k."""
        self.dropped.set()
        self.thread.join()
        shutil.rmtree(self.staging, ignore_errors=True)


def begin_from_dump(config: Config, dump: Path) -> Begun | None:
    """Begin writing a store let go from its ``dump`` now, rather than once the build knows how its graph changed
    (:func:`persist`): where no store is cached (a cold build), so none could be patched instead. At 10k/50k it was
    ~5 s at the end of ``kb build`` that only this did. None where a store is cached."""
    if any(config.store_cache_dir.glob("store-*")):
        return None
    return Begun(config, evidence_key(config), dump)


def _write_whole(store: ox.Store, db: Path) -> None:
    import pyoxigraph as ox

    disk = ox.Store(str(db))
    # in batches: bulk-loading 2.16M quads in one call took 1.4 GB more memory; batches of
    # 250,000 take 0.24 GB, and less time (15.8 s against 21.6 s, measured at 10k/50k)
    quads = iter(store.quads_for_pattern(None, None, None, None))
    while batch := list(itertools.islice(quads, PERSIST_BATCH)):
        disk.bulk_extend(batch)
    disk.flush()
    del disk


def _write_dump(dump: Path, db: Path, dropped: threading.Event | None = None) -> None:
    """The store written from its N-Triples ``dump``, :data:`DUMP_BATCH` lines at a time: pyoxigraph parses and
    loads each batch without the GIL (at 10k/50k ~10 s beside the site's workers, ~0.2 GB; the whole file in one
    bulk load took 1.4 GB). Once ``dropped`` is set, the next batch is not loaded: the store will be removed."""
    import pyoxigraph as ox

    disk = ox.Store(str(db))
    with open(dump, "rb") as lines:
        while not (dropped is not None and dropped.is_set()) and (
                batch := b"".join(itertools.islice(lines, DUMP_BATCH))):
            disk.bulk_load(batch, format=ox.RdfFormat.N_TRIPLES, lenient=True)
    disk.flush()
    del disk


def _patched(config: Config, quads: int, change: GraphChange, db: Path) -> str:
    """Copy the cached store of the graph ``change`` starts from into ``db`` and apply ``change``;
    what was done, or "" if there is no such store (or the copy would not hold ``quads`` quads, as the built
    store does).

    The copy's size is its count before (kept beside it, else counted) less the removed quads it held, plus the
    added ones it lacked: a point lookup per changed quad instead of a count of every quad."""
    import pyoxigraph as ox

    from kb.graph.build import default_graph_quads

    for old in sorted(config.store_cache_dir.glob("store-*")):
        try:
            if (old / MARK).read_text(encoding="ascii") != change.before:
                continue
            ox.Store.read_only(str(old / "db")).backup(str(db))
            disk = ox.Store(str(db))
            size = _kept_count(old) if (old / COUNT).is_file() else len(disk)
            removed = set(default_graph_quads(b"\n".join(change.removed), lenient=False))
            added = set(default_graph_quads(b"\n".join(change.added), lenient=False))
            gone = [quad for quad in removed - added if quad in disk]
            new = [quad for quad in added if quad not in disk]
            for quad in gone:
                disk.remove(quad)
            disk.extend(new)
            disk.flush()
            same = size - len(gone) + len(new) == quads
            del disk
        except (OSError, ValueError, SyntaxError, RuntimeError):
            shutil.rmtree(db, ignore_errors=True)
            continue
        if same:
            return f"{len(change.removed)} triples removed, {len(change.added)} added"
        shutil.rmtree(db, ignore_errors=True)
    return ""


def _kept_count(stored: Path) -> int:
    """The quads a persisted store holds, as written beside it (ValueError if that is not a count)."""
    text = (stored / COUNT).read_text(encoding="ascii")
    if not text.strip().isdigit():
        raise ValueError(f"{stored / COUNT}: not a count")
    return int(text)


def open_cached(config: Config, key: str | None = None) -> ox.Store | None:
    """The cached store for the current evidence, opened read-only, or ``None`` if there is none (or it is damaged)."""
    import pyoxigraph as ox

    cached = store_path(config, key or evidence_key(config))
    if not (cached / "db").is_dir():
        return None
    try:
        return ox.Store.read_only(str(cached / "db"))
    except (OSError, RuntimeError):  # a damaged cache (a crash, a full disk): drop it, the caller rebuilds it
        shutil.rmtree(cached, ignore_errors=True)
        return None


def cached_mark(config: Config, key: str | None = None) -> str | None:
    """The name of the graph the cached store for the current evidence holds (:func:`kb.graph.change.graph_mark`,
    written beside it by ``kb build``), or None if there is no such store or it was written without one."""
    try:
        return (store_path(config, key or evidence_key(config)) / MARK).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def in_memory(store: ox.Store) -> ox.Store:
    """A copy of ``store`` held in memory (``kb serve --no-build`` answers from memory: RocksDB reads are
    what made ``kb query`` slow at scale). It comes in RocksDB's order; where the site's dump is the same graph,
    :func:`kb.pipeline.serving_store` loads that instead (quicker to read, and to query)."""
    import pyoxigraph as ox

    memory = ox.Store()
    memory.bulk_extend(store.quads_for_pattern(None, None, None, None))
    return memory
