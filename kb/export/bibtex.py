"""BibTeX of a list of works: each entry exactly as the editors wrote it, in citekey order.

The whole bibliography is ``references.bib`` itself (with any ``@string`` definitions); a list of
works (a claim's, a map cell's) is the entries' own text, joined one blank line apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from kb.model import Reference


def entry_text(ref: Reference) -> str:
    return ref.raw.rstrip("\n") + "\n"


def join_entries(texts: Iterable[str]) -> str:
    """Entries one blank line apart (the site's download buttons join them the same way)."""
    return "\n".join(texts)


def bibtex_bytes(refs: Iterable[Reference]) -> bytes:
    return join_entries(entry_text(r) for r in sorted(refs, key=lambda r: r.key)).encode("utf-8")
