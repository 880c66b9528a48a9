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
import gzip
import hashlib
import json

from kb.export.bibtex import entry_text
from kb.export.csljson import item_text
from kb.export.ris import ris_record
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

    def scripts(self) -> list[Script]:
        """The data scripts: ``{citekey: {r: RIS, c: CSL-JSON item, b: BibTeX}}`` as JSON, gzipped,
        base64, pushed onto ``KB_REFS_GZ`` (refs.js decodes them; a fifth of the bytes of the JSON)."""
        shards: list[dict[str, dict[str, str]]] = [{} for _ in range(self.count)]
        for key, ref in self.refs.items():
            shards[self.shard(key)][key] = {"r": ris_record(ref), "c": item_text(ref), "b": entry_text(ref)}
        out = []
        for n, works in enumerate(shards):
            text = json.dumps(works, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            payload = base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
            out.append(Script(script_path(n), (f"/* RIS, CSL-JSON and BibTeX of {len(works)} works, for refs.js: "
                                               f"JSON, gzip, base64 */\n(globalThis.KB_REFS_GZ = "
                                               f"globalThis.KB_REFS_GZ || []).push(\"{payload}\");\n").encode("ascii")))
        return out


def everything(paths: dict[str, str]) -> tuple[FileLink, ...]:
    """The whole bibliography's files (``{"ris": "data/references.ris.gz", …}``), gzipped."""
    labels = {"ris": "RIS", "json": "CSL-JSON", "bib": "BibTeX"}
    return tuple(FileLink(labels[ext], path.rsplit("/", 1)[1], path=path) for ext, path in paths.items())
