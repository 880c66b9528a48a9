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
from pathlib import Path
from typing import TYPE_CHECKING

from kb import __version__
from kb.config import Config
from kb.graph.shipped import ONTOLOGY

if TYPE_CHECKING:
    import pyoxigraph as ox

PERSIST_BATCH = 250_000  # quads per bulk load when the built store is written to disk (see persist)
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


def persist(config: Config, store: ox.Store, key: str | None = None) -> Path:
    """Write ``store`` (the built graph) as the cached store for the current evidence."""
    import pyoxigraph as ox

    key = key or evidence_key(config)
    target = store_path(config, key)
    if target.is_dir():
        return target
    config.store_cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".store-", dir=config.store_cache_dir))
    try:
        disk = ox.Store(str(staging / "db"))
        # in batches: bulk-loading 2.16M quads in one call took 1.4 GB more memory; batches of
        # 250,000 take 0.24 GB, and less time (15.8 s against 21.6 s, measured at 10k/50k)
        quads = iter(store.quads_for_pattern(None, None, None, None))
        while batch := list(itertools.islice(quads, PERSIST_BATCH)):
            disk.bulk_extend(batch)
        disk.flush()
        del disk
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in config.store_cache_dir.glob("store-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


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


def in_memory(store: ox.Store) -> ox.Store:
    """A copy of ``store`` held in memory (``kb serve --no-build`` answers from memory: RocksDB reads are
    what made ``kb query`` slow at scale)."""
    import pyoxigraph as ox

    memory = ox.Store()
    memory.bulk_extend(store.quads_for_pattern(None, None, None, None))
    return memory
