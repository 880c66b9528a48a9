"""The bibliography as RIS, the tagged format EndNote, Zotero, Mendeley and RefWorks all import.

Tags as the RIS specification and Zotero's importer read them: ``T2`` the journal or book,
``J2`` its abbreviation, ``A2`` the editors, ``Y2`` the access date, ``N1`` notes. Lines end in
CRLF as the specification asks; records in citekey order, one blank line between them.
"""

from __future__ import annotations

from collections.abc import Iterable

from kb.export import works
from kb.model import Reference

RIS_TYPES = {
    "article": "JOUR", "book": "BOOK", "booklet": "PAMP", "inbook": "CHAP", "incollection": "CHAP",
    "inproceedings": "CPAPER", "conference": "CPAPER", "proceedings": "CONF", "manual": "BOOK",
    "mastersthesis": "THES", "phdthesis": "THES", "thesis": "THES", "techreport": "RPRT", "report": "RPRT",
    "online": "ELEC", "unpublished": "UNPB", "misc": "GEN",
}
EOL = "\r\n"


def _date(parts: tuple[int, ...]) -> str:
    """RIS dates: ``YYYY/MM/DD`` with as many parts as are known."""
    return "/".join([f"{parts[0]:04d}", *(f"{p:02d}" for p in parts[1:])])


def ris_record(ref: Reference) -> str:
    """One work as an RIS record (``TY`` … ``ER``), lines ending in CRLF."""
    lines = [("TY", RIS_TYPES.get(ref.entry_type, "GEN")), ("ID", ref.key)]
    lines += [("AU", works.name(p).inverted) for p in ref.authors]
    lines += [("A2", works.name(p).inverted) for p in ref.editors]
    if ref.title:
        lines.append(("TI", works.field(ref, "title")))
    if works.container(ref):
        lines.append(("T2", works.container(ref)))
    if ref.get("shortjournal"):
        lines.append(("J2", works.field(ref, "shortjournal")))
    issued = works.issued(ref)
    if isinstance(issued, tuple):
        lines.append(("PY", f"{issued[0]:04d}"))
        if len(issued) > 1:
            lines.append(("DA", _date(issued)))
    elif issued:
        lines.append(("PY", issued))
    for bib, tag in (("volume", "VL"), ("number", "IS")):
        if ref.get(bib):
            lines.append((tag, works.field(ref, bib)))
    first, last = works.pages(ref)
    if first:
        lines.append(("SP", first))
    if last:
        lines.append(("EP", last))
    if works.publisher(ref):
        lines.append(("PB", works.publisher(ref)))
    for bib, tag in (("address", "CY"), ("edition", "ET"), ("series", "T3"), ("isbn", "SN"), ("issn", "SN"),
                     ("language", "LA"), ("type", "M3")):
        if ref.get(bib):
            lines.append((tag, works.field(ref, bib)))
    if ref.doi:
        lines.append(("DO", ref.doi))
    if ref.get("url"):
        lines.append(("UR", ref.get("url")))
    accessed = works.accessed(ref)
    if accessed:
        lines.append(("Y2", _date(accessed)))
    if ref.get("abstract"):
        lines.append(("AB", works.field(ref, "abstract")))
    lines += [("KW", k) for k in works.keywords(ref)]
    for bib in ("note", "annote"):
        if ref.get(bib):
            lines.append(("N1", works.field(ref, bib)))
    if ref.authors_truncated:
        lines.append(("N1", works.TRUNCATED_NOTE))
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {value}{EOL}" for tag, value in lines)


def join_records(records: Iterable[str]) -> str:
    """Records one blank line apart (the site's download buttons join them the same way)."""
    return EOL.join(records)


def ris_bytes(refs: Iterable[Reference], kept: works.WorkTexts | None = None) -> bytes:
    """The works as RIS, in citekey order; each work's record from ``kept`` where it is unchanged."""
    ordered = sorted(refs, key=lambda r: r.key)
    records = map(ris_record, ordered) if kept is None else (kept.text(r, ris_record) for r in ordered)
    return join_records(records).encode("utf-8")
