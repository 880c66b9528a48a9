"""Page paths, relative links and safe external URLs.

Every link the site writes is relative (the site works from ``file://`` and from any sub-path),
every page path is checked to stay inside the output folder (:mod:`kb.site.addresses` mints
them), and only http(s) URLs ever become links (BAD_INPUTS #36: ``javascript:``, ``data:`` and ``file:`` never do).
"""

from __future__ import annotations

import functools
import posixpath
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


def relative_url(from_page: str, target: str) -> str:
    """The link from one site path to another (``claims/a.html`` → ``../outcomes/b.html#x``).

    Site paths are normalised (no ``.`` or ``..``; checked when written), so the common folders
    are simply dropped; cached, because a big site asks the same question a million times.
    """
    path, _, fragment = target.partition("#")
    if not path or (path == from_page and fragment):  # a record on the same bucket page: just its anchor
        return "#" + fragment if fragment else posixpath.basename(from_page)
    return _relative(posixpath.dirname(from_page), path) + (f"#{fragment}" if fragment else "")


@functools.lru_cache(maxsize=65536)
def _relative(start: str, path: str) -> str:
    here = start.split("/") if start else []
    there = path.split("/")
    common = 0
    while common < len(here) and common < len(there) - 1 and here[common] == there[common]:
        common += 1
    rel = "/".join([".."] * (len(here) - common) + there[common:])
    return quote(rel, safe="/._-~") or "./"


def check_site_path(site_path: str) -> str:
    """The path if it is relative, normalised and uses ``/`` (so it cannot leave the site); else ``ValueError``."""
    if (not site_path or site_path.startswith(("/", "\\")) or "\\" in site_path
            or posixpath.normpath(site_path) != site_path):
        raise ValueError(f"unsafe page path {site_path!r}")
    return site_path


def safe_target(root: Path, site_path: str) -> Path:
    """The file for a site path, refusing anything that would land outside the output folder
    (symbolic links included: the path is resolved)."""
    target = (root / check_site_path(site_path)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"page path {site_path!r} leaves the output folder")
    return target


def safe_external_url(value: str) -> str | None:
    """The URL if it is a plain http(s) URL a reader may follow, else ``None``."""
    value = (value or "").strip()
    if not value or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def doi_url(doi: str) -> str | None:
    """``https://doi.org/…`` for a bare DOI (as the editors' guide requires), else ``None``."""
    doi = (doi or "").strip()
    if not _DOI.match(doi):
        return None
    return "https://doi.org/" + quote(doi, safe="/:;()._-")
