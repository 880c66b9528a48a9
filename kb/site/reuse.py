"""Incremental builds: write only the files whose inputs changed, hard-link the rest.

Every file of the site gets a fingerprint before it is rendered: for a page, a hash of its
context (the ``*Page`` object, pickled) under a key that covers the templates, the render code
and the site-wide info; for any other file, a hash of its bytes. The manifest of the previous
build maps each site path to its fingerprint and to the size and mtime the file had when it was
written. A file is reused — hard-linked from the previous site into the new staging folder —
only if all three still match, so a hand-edited or vanished file is rendered again. Rendering
stays the only way bytes get into a page; reuse just skips redoing identical work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any

from kb import __version__
from kb.io.atomic import replace_cache_file

MANIFEST_VERSION = 1
KEEP_MANIFESTS = 8  # output folders remembered per evidence folder (tests build into many)
Entry = tuple[str, int, int]  # fingerprint, size, mtime_ns


def render_key(templates: Path, site: object) -> hashlib.blake2b:
    """The hash every page fingerprint starts from: templates, render code, site info, kb version."""
    import jinja2

    key = hashlib.blake2b(f"kb {__version__} jinja2 {jinja2.__version__} manifest {MANIFEST_VERSION}\n".encode(),
                          digest_size=16)
    here = Path(__file__).parent
    for path in [here / "render.py", here / "paths.py", *sorted(p for p in templates.rglob("*") if p.is_file())]:
        key.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes() + b"\0")
    _dump_by_value(site, key)
    return key


def page_fingerprint(key: hashlib.blake2b, page: object) -> str:
    """A hash of the page's context by value.

    The pickler runs without its memo (``fast``): with it, two equal strings pickle differently
    depending on whether they happen to be one object, which varies with what a process built
    before. Contexts are trees, so the memo is not needed to terminate.
    """
    digest = key.copy()
    _dump_by_value(page, digest)
    return digest.hexdigest()


def _dump_by_value(obj: object, digest: hashlib.blake2b) -> None:
    pickler = pickle.Pickler(_HashFile(digest), protocol=5)
    pickler.fast = True
    pickler.dispatch_table = _views()
    pickler.dump(obj)


@functools.cache
def _views() -> dict[type, Callable[[Any], tuple]]:
    """View classes pickled as their field values only (no field names): a fifth less work."""
    from kb.site import pages

    def values(obj: Any) -> tuple:
        return type(obj), tuple(obj.__dict__.values())

    return {cls: values for cls in vars(pages).values()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == pages.__name__}


class _HashFile:
    """A write-only file that feeds a hash (so that no pickle is ever held in memory)."""

    def __init__(self, digest: hashlib.blake2b) -> None:
        self.write = digest.update


def bytes_fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Previous:
    """The last build's site folder and manifest (empty when there is nothing to reuse)."""

    root: Path | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    deps: dict[str, Any] = field(default_factory=dict)  # site path → kb.site.deps.DepEntry (input keys)
    records: dict[str, dict[str, bytes]] = field(default_factory=dict)  # claim file digest → claim → record key

    def link(self, site_path: str, fingerprint: str, target: Path | str) -> bool:
        """Hard-link the previous file to ``target`` if it is provably the same; else ``False``."""
        entry = self.entries.get(site_path)
        if self.root is None or entry is None or entry[0] != fingerprint:
            return False
        old = os.path.join(self.root, site_path)
        try:
            stat = os.stat(old, follow_symlinks=False)
            if (stat.st_size, stat.st_mtime_ns) != (entry[1], entry[2]) or not S_ISREG(stat.st_mode):
                return False
            os.link(old, target)
        except OSError:  # gone, or another file system: render it instead
            return False
        return True


def manifest_path(cache_dir: Path, out_dir: Path) -> Path:
    """Where the manifest of the site built into ``out_dir`` is kept (one per output folder)."""
    name = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"site-{name}.json"


def deps_path(manifest: Path) -> Path:
    """Where the input keys of the pages in a manifest are kept (:mod:`kb.site.deps`)."""
    return manifest.with_suffix(".deps.pickle")


def load_previous(manifest: Path, out_dir: Path) -> Previous:
    """The previous build, or nothing to reuse if its manifest is missing or unreadable."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("version") != MANIFEST_VERSION or not out_dir.is_dir():
            return Previous()
        entries = {path: (fp, size, mtime) for path, (fp, size, mtime) in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Previous()
    return Previous(out_dir, entries, *_load_deps(deps_path(manifest)))


def _load_deps(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, bytes]]]:
    """The input keys of the last build's pages and its claims' record keys; none if unreadable (pickled by
    other code, say): only time is lost. A page's entry is trusted only with the fingerprints the manifest
    gives its files (:meth:`Previous.link`)."""
    try:
        pages, records = pickle.loads(path.read_bytes())
    except Exception:  # any unpickling failure just means no keys
        return {}, {}
    return (pages, records) if isinstance(pages, dict) and isinstance(records, dict) else ({}, {})


def save_manifest(manifest: Path, out_dir: Path, fingerprints: dict[str, str],
                  deps: dict[str, Any] | None = None, records: dict[str, dict[str, bytes]] | None = None) -> None:
    """Record the fingerprints of the site now in ``out_dir`` with each file's size and mtime (and the
    pages' input keys, :mod:`kb.site.deps`)."""
    files = {}
    for path, fp in sorted(fingerprints.items()):
        with contextlib.suppress(OSError):
            stat = os.stat(out_dir / path)
            files[path] = [fp, stat.st_size, stat.st_mtime_ns]
    manifest.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"version": MANIFEST_VERSION, "files": files}, separators=(",", ":"))
    replace_cache_file(deps_path(manifest), pickle.dumps((deps or {}, records or {}), protocol=pickle.HIGHEST_PROTOCOL))
    replace_cache_file(manifest, body.encode("utf-8"))
    others = sorted(manifest.parent.glob("site-*.json"), key=_mtime, reverse=True)
    for old in [m for m in others if m != manifest][KEEP_MANIFESTS - 1:]:
        old.unlink(missing_ok=True)
        deps_path(old).unlink(missing_ok=True)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
