"""A work as reference managers read it off a web page: Highwire ``citation_*`` tags and COinS.

Zotero's connector (its "Embedded Metadata" translator), Mendeley and Google Scholar read the
Highwire Press tags of a reference page and save the work in one click. COinS (an OpenURL
ContextObject in a ``span.Z3988``) marks each cited work on a claim page, so that the connector
offers to save several works at once; a reference page carries no COinS, which Zotero would
prefer to its richer Highwire tags.
"""

from __future__ import annotations

from urllib.parse import urlencode

from kb.export import works
from kb.model import Reference

# BibTeX type → the Highwire tag naming the container, and the tag naming the issuing body.
_CONTAINER = {"article": "citation_journal_title", "incollection": "citation_inbook_title",
              "inbook": "citation_inbook_title", "inproceedings": "citation_conference_title",
              "conference": "citation_conference_title"}
_BODY = {"techreport": "citation_technical_report_institution", "report": "citation_technical_report_institution",
         "phdthesis": "citation_dissertation_institution", "mastersthesis": "citation_dissertation_institution",
         "thesis": "citation_dissertation_institution"}


def _date(parts: tuple[int, ...] | str) -> str:
    if isinstance(parts, str):
        return parts
    return "/".join([f"{parts[0]:04d}", *(f"{p:02d}" for p in parts[1:])])


def highwire_tags(ref: Reference) -> tuple[tuple[str, str], ...]:
    """``(name, content)`` pairs, authors one tag each in their order."""
    tags: list[tuple[str, str]] = []
    if ref.title:
        tags.append(("citation_title", works.field(ref, "title")))
    tags += [("citation_author", works.name(p).inverted) for p in ref.authors]
    tags += [("citation_editor", works.name(p).inverted) for p in ref.editors]
    issued = works.issued(ref)
    if issued:
        tags.append(("citation_publication_date", _date(issued)))
    if works.container(ref):
        tags.append((_CONTAINER.get(ref.entry_type, "citation_journal_title"), works.container(ref)))
    if ref.get("shortjournal"):
        tags.append(("citation_journal_abbrev", works.field(ref, "shortjournal")))
    if ref.get("volume"):
        tags.append(("citation_volume", works.field(ref, "volume")))
    if ref.get("number"):
        report = ref.entry_type in ("techreport", "report")
        tags.append(("citation_technical_report_number" if report else "citation_issue", works.field(ref, "number")))
    first, last = works.pages(ref)
    if first:
        tags.append(("citation_firstpage", first))
    if last:
        tags.append(("citation_lastpage", last))
    if ref.get("publisher"):
        tags.append(("citation_publisher", works.field(ref, "publisher")))
    elif works.publisher(ref):
        tags.append((_BODY.get(ref.entry_type, "citation_publisher"), works.publisher(ref)))
    for bib, tag in (("isbn", "citation_isbn"), ("issn", "citation_issn"), ("language", "citation_language")):
        if ref.get(bib):
            tags.append((tag, works.field(ref, bib)))
    if ref.doi:
        tags.append(("citation_doi", ref.doi))
    for keyword in works.keywords(ref):
        tags.append(("citation_keywords", keyword))
    return tuple(tags)


_GENRES = {"article": ("journal", "article"), "book": ("book", "book"), "incollection": ("book", "bookitem"),
           "inbook": ("book", "bookitem"), "techreport": ("book", "report"), "report": ("book", "report"),
           "inproceedings": ("journal", "proceeding")}


def coins(ref: Reference) -> str:
    """The work as an OpenURL 1.0 KEV ContextObject (the ``title`` of a COinS ``span.Z3988``)."""
    fmt, genre = _GENRES.get(ref.entry_type, ("dc", ""))
    pairs: list[tuple[str, str]] = [("ctx_ver", "Z39.88-2004"), ("rft_val_fmt", f"info:ofi/fmt:kev:mtx:{fmt}")]
    if ref.doi:
        pairs.append(("rft_id", f"info:doi/{ref.doi}"))
    if ref.get("url"):
        pairs.append(("rft_id", ref.get("url")))
    title = works.field(ref, "title")
    issued = works.issued(ref)
    date = _date(issued).replace("/", "-") if issued else ""
    if fmt == "dc":
        pairs += [("rft.type", ref.entry_type), ("rft.title", title)]
        pairs += [("rft.creator", works.name(p).inverted) for p in ref.authors]
        pairs += [("rft.date", date)] if date else []
        pairs += [("rft.publisher", works.publisher(ref))] if works.publisher(ref) else []
        return urlencode([(k, v) for k, v in pairs if v])
    pairs.append(("rft.genre", genre))
    if fmt == "journal":
        pairs += [("rft.atitle", title), ("rft.jtitle", works.container(ref)),
                  ("rft.stitle", works.field(ref, "shortjournal")), ("rft.volume", works.field(ref, "volume")),
                  ("rft.issue", works.field(ref, "number"))]
    else:
        pairs += [("rft.atitle", title), ("rft.btitle", works.container(ref))] if genre == "bookitem" else \
            [("rft.btitle", title)]
        pairs += [("rft.pub", works.publisher(ref)), ("rft.place", works.field(ref, "address")),
                  ("rft.isbn", works.field(ref, "isbn"))]
    first, last = works.pages(ref)
    pairs += [("rft.spage", first), ("rft.epage", last), ("rft.date", date)]
    for person in ref.authors:
        n = works.name(person)
        pairs.append(("rft.au", n.inverted))
    return urlencode([(k, v) for k, v in pairs if v])
