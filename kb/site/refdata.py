"""What "download these references" needs: each work as RIS, CSL-JSON and BibTeX, in data scripts.

A list page (a claim's cited works, a map cell, search results, the filtered bibliography) does
not get files of its own — at 50,000 claims that would be 150,000 files. Instead every work's
three texts live in a few shared data scripts, ``assets/refs/<n>.js``, and ``refs.js`` joins the
texts of a page's works in the browser exactly as :mod:`kb.export` joins them for the whole
bibliography (the same works give the same bytes). Scripts, not JSON, because Chromium runs no
``fetch()`` from ``file://``; compressed (gzip, base64), because at 10,000 works the texts are
60 MB; several of them, of ~256 works each, so that a download loads only
the ones it needs. A work's script is fixed by a hash of its citekey and the number of scripts,
a power of two: adding works moves none until the number doubles.

A single work's entry on its bucket page uses the same scripts (a list of one), and shows its
BibTeX for readers without JavaScript: no file per work, and no copy of its texts in the page.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import pickle
from pathlib import Path

from kb.export.bibtex import entry_text
from kb.export.csljson import item_text
from kb.export.fragments import Fragments
from kb.export.ris import ris_record
from kb.io import gz
from kb.model import Reference
from kb.site.assets import Script
from kb.site.pages import FileLink, RefList

WORKS_PER_SCRIPT = 256
FOLDER = "assets/refs/"


def script_count(works: int) -> int:
    count = 1
    while count * WORKS_PER_SCRIPT < works:
        count *= 2
    return count


def shard_of(key: str, count: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest(), "big") % count


def script_path(shard: int) -> str:
    return f"{FOLDER}{shard}.js"


class RefData:
    """Where each work's download texts live, and the views that point at them."""

    def __init__(self, refs: list[Reference]) -> None:
        self.refs = {r.key: r for r in refs}
        self.count = script_count(len(refs))

    def shard(self, key: str) -> int:
        return shard_of(key, self.count)

    def ref_list(self, name: str, keys: set[str] | list[str] | tuple[str, ...]) -> RefList | None:
        """The download view of these works (None for no work)."""
        present = sorted(k for k in set(keys) if k in self.refs)
        if not present:
            return None
        return RefList(name=name, keys=tuple(present), shards=tuple(sorted({self.shard(k) for k in present})))

    def chosen_in_browser(self, name: str, rows: str) -> RefList:
        return RefList(name=name, rows=rows, base=FOLDER)

    def scripts(self, cache: Path | None = None, context: str | None = None) -> list[Script]:
        """The data scripts: ``{citekey: {r: RIS, c: CSL-JSON item, b: BibTeX}}`` as JSON, gzipped,
        base64, pushed onto ``KB_REFS_GZ`` (refs.js decodes them; a fifth of the bytes of the JSON).

        With a ``cache`` folder, each script is kept under a digest of its works (the records whole)
        and the code that writes them: an edit of claims, or of one work, makes none or one of them
        again (at 10,000 works all of them take ~4 s, every build). Where the ``context`` is known (the digest of
        the evidence other than the claim files, references.bib among them, and of the code that reads it:
        :attr:`kb.checks.scope.Inputs.context`), it names every work: the script's digest is kept under it too, and
        found there rather than taken from its works' records again (pickling 10,000 records was ~0.3 s of every
        build's worker).
        """
        shards: list[list[Reference]] = [[] for _ in range(self.count)]
        for key, ref in self.refs.items():
            shards[self.shard(key)].append(ref)
        kept = Fragments(cache, None)
        out = []
        for n, refs in enumerate(shards):
            # the works' digest, kept under the context's name for the script: a build after an edit of claims
            # finds it there; after an edit of references.bib, every script is named anew and found by its works
            named = None if cache is None or context is None else \
                hashlib.sha256(_code() + f"\0{n}\0{self.count}\0{context}".encode()).hexdigest()
            digest = kept.get(named) if named is not None else None
            if not isinstance(digest, str):
                digest = _shard_key(n, refs) if cache is not None else None
            if named is not None:
                kept.used[named] = digest
            content = kept.get(digest) if digest is not None else None
            if not isinstance(content, bytes):
                content = _script_text(refs)
            if digest is not None:
                kept.used[digest] = content
            out.append(Script(script_path(n), content))
        if cache is not None:
            kept.keep()
        return out


def _script_text(refs: list[Reference]) -> bytes:
    works = {ref.key: {"r": ris_record(ref), "c": item_text(ref), "b": entry_text(ref)} for ref in refs}
    text = json.dumps(works, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    payload = base64.b64encode(gz.compress(text.encode("utf-8"))).decode("ascii")
    return (f"/* RIS, CSL-JSON and BibTeX of {len(works)} works, for refs.js: JSON, gzip, base64 */\n"
            f"(globalThis.KB_REFS_GZ = globalThis.KB_REFS_GZ || []).push(\"{payload}\");\n").encode("ascii")


def _shard_key(n: int, refs: list[Reference]) -> str:
    digest = hashlib.sha256(_code() + f"\0{n}\0".encode())
    for ref in sorted(refs, key=lambda r: r.key):
        digest.update(pickle.dumps(ref, protocol=5) + b"\0")
    return digest.hexdigest()


@functools.cache
def _code() -> bytes:
    """What a script's text depends on besides its works: the writers of RIS, CSL-JSON and BibTeX (and
    the LaTeX decoding they share), the versions of the libraries they use, and the compressor's."""
    from importlib.metadata import version

    kb = Path(__file__).resolve().parents[1]
    files = [Path(__file__), kb / "model.py", *sorted((kb / "export").glob("*.py")),
             *sorted((kb / "bibtex").glob("*.py"))]
    text = b"".join(path.read_bytes() for path in files)
    return text + f"\0{version('bibtexparser')}\0{version('pylatexenc')}\0{gz.ENGINE}".encode()


def everything(paths: dict[str, str]) -> tuple[FileLink, ...]:
    """The whole bibliography's files (``{"ris": "data/references.ris.gz", …}``), gzipped."""
    labels = {"ris": "RIS", "json": "CSL-JSON", "bib": "BibTeX"}
    return tuple(FileLink(labels[ext], path.rsplit("/", 1)[1], path=path) for ext, path in paths.items())
