"""The bibliography as CSL-JSON: the input format of citeproc processors, Zotero, Pandoc and Mendeley.

The items follow the CSL 1.0.1 data schema (``tests/data/csl-data.json``, against which the tests
validate every export), which is also what citeproc-py, the site's citation formatter, reads.
Keys of each item sorted, items in citekey order: same bibliography, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from kb.export import works
from kb.model import Reference

# BibTeX entry type → CSL type (CSL 1.0.1 has no "document": "article" is its generic work).
CSL_TYPES = {
    "article": "article-journal", "book": "book", "booklet": "pamphlet", "inbook": "chapter",
    "incollection": "chapter", "inproceedings": "paper-conference", "conference": "paper-conference",
    "proceedings": "book", "manual": "book", "mastersthesis": "thesis", "phdthesis": "thesis",
    "thesis": "thesis", "techreport": "report", "report": "report", "online": "webpage",
    "unpublished": "manuscript", "misc": "article",
}
THESIS_GENRES = {"mastersthesis": "Master's thesis", "phdthesis": "PhD thesis"}
# Fields copied as they are (decoded), BibTeX name → CSL variable.
_PLAIN = (("edition", "edition"), ("series", "collection-title"), ("isbn", "ISBN"), ("issn", "ISSN"),
          ("abstract", "abstract"), ("language", "language"), ("annote", "annote"), ("pmid", "PMID"),
          ("pmcid", "PMCID"), ("chapter", "chapter-number"), ("shortjournal", "container-title-short"),
          ("address", "publisher-place"), ("volume", "volume"))


def _names(people: Iterable) -> list[dict[str, str]]:
    out = []
    for person in people:
        n = works.name(person)
        if n.literal:
            out.append({"literal": n.family})
            continue
        entry = {"family": n.family}
        if n.given:
            entry["given"] = n.given
        if n.suffix:
            entry["suffix"] = n.suffix
        out.append(entry)
    return out


def _date(value: tuple[int, ...] | str) -> dict:
    return {"literal": value} if isinstance(value, str) else {"date-parts": [list(value)]}


def csl_item(ref: Reference) -> dict:
    """One work as a CSL-JSON item (a dict of plain values)."""
    item: dict = {"id": ref.key, "type": CSL_TYPES.get(ref.entry_type, "article")}
    if ref.title:
        item["title"] = works.field(ref, "title")
    if ref.authors:
        item["author"] = _names(ref.authors)
    if ref.editors:
        item["editor"] = _names(ref.editors)
    issued = works.issued(ref)
    if issued:
        item["issued"] = _date(issued)
    accessed = works.accessed(ref)
    if accessed:
        item["accessed"] = _date(accessed)
    if works.container(ref):
        item["container-title"] = works.container(ref)
    for bib, csl in _PLAIN:
        if ref.get(bib):
            item[csl] = works.field(ref, bib)
    if ref.get("shortjournal"):
        item["journalAbbreviation"] = works.field(ref, "shortjournal")
    if ref.get("number"):
        item["issue" if item["type"] in ("article-journal", "paper-conference") else "number"] = \
            works.field(ref, "number")
    first, last = works.pages(ref)
    if first:
        item["page"] = f"{first}-{last}" if last else first
        item["page-first"] = first
    if works.publisher(ref):
        item["publisher"] = works.publisher(ref)
    genre = works.field(ref, "type") or THESIS_GENRES.get(ref.entry_type, "")
    if genre:
        item["genre"] = genre
    if ref.doi:
        item["DOI"] = ref.doi
    if ref.get("url"):
        item["URL"] = ref.get("url")
    if works.keywords(ref):
        item["keyword"] = ", ".join(works.keywords(ref))
    notes = [works.field(ref, "note")] if ref.get("note") else []
    if ref.authors_truncated:
        notes.append(works.TRUNCATED_NOTE)
    if notes:
        item["note"] = "\n".join(notes)
    return item


def item_text(ref: Reference) -> str:
    """One item serialised as it appears inside the array (indented one level), for joining."""
    text = json.dumps(csl_item(ref), ensure_ascii=False, indent=2, sort_keys=True)
    return "\n".join("  " + line for line in text.split("\n"))


def join_items(texts: Iterable[str]) -> str:
    """The array of already serialised items: the same bytes as ``json.dumps(items, indent=2)``.

    The site's download buttons join the same item texts in the browser (``refs.js``), so a list
    downloaded there is byte-identical to this export of the same works.
    """
    texts = list(texts)
    return "[\n" + ",\n".join(texts) + "\n]\n" if texts else "[]\n"


def csljson_bytes(refs: Iterable[Reference], kept: works.WorkTexts | None = None) -> bytes:
    """The works as a CSL-JSON array, in citekey order; each work's item from ``kept`` where it is unchanged."""
    ordered = sorted(refs, key=lambda r: r.key)
    texts = map(item_text, ordered) if kept is None else (kept.text(r, item_text) for r in ordered)
    return join_items(texts).encode("utf-8")
