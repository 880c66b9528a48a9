"""The persisted, content-addressed store that ``kb query`` opens instead of rebuilding the graph.

The key is a hash of every evidence file that feeds the graph (and of the kb version), so any edit
invalidates it and nothing stale is ever queried. ``kb build`` and the first ``kb query`` after an
edit write it; later queries open it read-only in milliseconds. Stores are written to a temporary
folder and renamed into place, so a crash never leaves a half-written store behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from kb import __version__
from kb.config import Config

GRAPH_INPUTS = ("references.bib", "kb.toml", "citations", "claims", "vocab", "sources")
INDEX_NAME = "evidence-index.json"  # kb.fingerprint's stat index of the graph inputs


def graph_files(config: Config) -> list[tuple[str, Path]]:
    """The files the graph is built from (not queries/, which only the site reads), by relative name.

    Folders are walked as ``Path.rglob`` would (symlinked folders are not entered), with
    ``os.walk``: this runs on every ``kb query``, and pathlib's globbing costs ~20 ms at scale.
    """
    out = []
    for name in GRAPH_INPUTS:
        path = config.evidence_dir / name
        if not path.is_dir():
            if path.is_file():
                out.append((name, path))
            continue
        found = []
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for file in files:
                full = os.path.join(folder, file)
                if not file.startswith(".") and not file.endswith(".bak") and os.path.isfile(full):
                    found.append(Path(full))
        found.sort(key=lambda p: p.parts)
        out += [(str(file.relative_to(config.evidence_dir)), file) for file in found]
    return out


def evidence_key(config: Config) -> str:
    """A hash of the graph's input files' names and bytes, the ontology and the kb version.

    The bytes' hashes come from the stat index in the cache folder (:mod:`kb.fingerprint`): a file
    is read again only when its stat changed, so an unchanged KB costs a few ``stat`` calls.
    """
    from kb.fingerprint import digests

    schema = Path(__file__).parent / "schema" / "ontology.ttl"
    files = graph_files(config)
    hashes = digests([schema, *(file for _, file in files)], config.store_cache_dir / INDEX_NAME)
    digest = hashlib.sha256(f"kb {__version__}\n{config.base_iri}\n{hashes[schema]}\n".encode())
    for name, file in files:
        digest.update(f"{name}\0{hashes[file]}\0".encode())
    return digest.hexdigest()[:32]


def store_path(config: Config, key: str) -> Path:
    return config.store_cache_dir / f"store-{key}"


def persist(config: Config, store: object, key: str | None = None, examples: bool = True) -> Path:
    """Write ``store`` (the built graph) as the cached store for the current evidence.

    ``examples``: also keep the results of the example queries, run on ``store`` now
    (:func:`kb.resultcache.precompute`), so that ``kb query NAME`` need not run them on disk.
    """
    import pyoxigraph as ox

    key = key or evidence_key(config)
    target = store_path(config, key)
    if target.is_dir():
        if examples:
            _precompute(config, target, store)
        return target
    config.store_cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".store-", dir=config.store_cache_dir))
    try:
        disk = ox.Store(str(staging / "db"))
        disk.bulk_extend(store.quads_for_pattern(None, None, None, None))  # type: ignore[attr-defined]
        disk.flush()
        del disk
        if examples:
            _precompute(config, staging, store)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in config.store_cache_dir.glob("store-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _precompute(config: Config, store_dir: Path, store: object) -> None:
    from kb.query import load_examples
    from kb.resultcache import precompute, precomputed

    if not precomputed(store_dir):
        precompute(store_dir, store, load_examples(config.queries_dir))


def open_store(config: Config, key: str | None = None) -> object:
    """The KB as a pyoxigraph store: the cached one if current, else built (and cached) now.

    ``key``: :func:`evidence_key`, if the caller has it already. Raises
    :class:`kb.pipeline.EvidenceError` if the evidence has errors: nothing is cached then.
    """
    import pyoxigraph as ox

    key = key or evidence_key(config)
    cached = store_path(config, key)
    if (cached / "db").is_dir():
        return ox.Store.read_only(str(cached / "db"))
    from kb.pipeline import EvidenceError, check

    checked = check(config, shacl=False)
    if checked.report.errors or checked.graph is None:
        raise EvidenceError(checked.report)
    with contextlib.suppress(OSError):  # a read-only checkout still answers queries, just uncached
        persist(config, checked.graph.store, key, examples=False)  # type: ignore[attr-defined]
    return checked.graph.store  # type: ignore[attr-defined]
