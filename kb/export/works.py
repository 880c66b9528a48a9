"""What the bibliography exporters share: a BibTeX entry read as a citable work.

CSL-JSON (:mod:`kb.export.csljson`), RIS (:mod:`kb.export.ris`) and the site's Highwire tags all
need the same decisions — which field is the container, the publisher, the date, the page range —
so they are made once here. Every value is LaTeX decoded to Unicode for readers
(:func:`~kb.bibtex.load.latex_to_text`); DOIs and URLs are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kb.bibtex.load import latex_to_text
from kb.bibtex.values import month_number
from kb.model import Person, Reference

# The note an export carries when the BibTeX author list ends in "and others": neither CSL-JSON nor
# RIS nor Highwire can mark a list as incomplete, and inventing an author called "others" is worse.
TRUNCATED_NOTE = "The author list is incomplete: the source ends it with “et al.” (BibTeX “and others”)."

_FULL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_YEAR = re.compile(r"^\d{4}$")
_RANGE = re.compile(r"^\s*([^-\s–]+)\s*(?:-+|–|—)\s*([^-\s–]+)\s*$")
PUBLISHER_FIELDS = ("publisher", "institution", "organization", "school")


@dataclass(frozen=True)
class Name:
    """A person's name as exports want it: family and given (suffix split off), or one literal name."""

    family: str
    given: str = ""
    suffix: str = ""
    literal: bool = False

    @property
    def inverted(self) -> str:
        """``Family, Given`` (RIS, Highwire), or the literal name."""
        if self.literal or not self.given:
            return self.family
        return f"{self.family}, {self.given}" + (f", {self.suffix}" if self.suffix else "")


def name(person: Person) -> Name:
    family = latex_to_text(person.family)
    if person.literal:
        return Name(family, literal=True)
    suffix = ""
    if ", " in family:  # BibTeX's "von Last, Jr, First" kept as family "von Last, Jr"
        family, suffix = family.split(", ", 1)
    return Name(family, latex_to_text(person.given), suffix)


def entry_said(ref: Reference) -> tuple[str, str, str]:
    """What a work's entry says, as a key: its citekey, type, fields and the people read from them (all that the
    exporters read of it; not where it was read)."""
    return ref.key, ref.entry_type, repr((ref.fields, ref.authors, ref.editors, ref.authors_truncated))


class SaidMemo:
    """:func:`entry_said` of each work, kept by the work's object for the next build of the process. The editors'
    loop hands every rebuild the same :class:`Reference` while its entry is unchanged
    (:class:`kb.bibtex.load.EntryMemo`), and a reference is frozen: saying it again for all ~10,000 works, in each
    export that keys by it, was ~0.8 s of the loop's rebuild after an edited reference. One memo serves the exports
    that key by it (CSL-JSON, RIS, the FHIR Bundle's Citations: :class:`kb.export.data_folder.ExportCaches`), so a
    new or edited work is said once per build, not once per export."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[Reference, tuple[str, str, str]]] = {}
        self.now: dict[int, tuple[Reference, tuple[str, str, str]]] = {}

    def of(self, ref: Reference) -> tuple[str, str, str]:
        held = self.now.get(id(ref)) or self.last.get(id(ref))  # held with its object: an id is not reused meanwhile
        said = held[1] if held is not None and held[0] is ref else entry_said(ref)
        self.now[id(ref)] = (ref, said)
        return said

    def end(self) -> None:
        """This build's works are the next one's to know, the rest dropped (a build that asked of none keeps the
        last)."""
        if self.now:
            self.last, self.now = self.now, {}


class WorkTexts:
    """Each work's text in one export format, kept by what its entry says (its citekey, type, fields and the people
    read from them: all that the exporters read of it) for the next build of the process (the editors' loop,
    :class:`kb.pipeline.Warm`). An edited work made the CSL-JSON and RIS of all ~10,000 works again (~3 s of the
    loop's rebuild); now of one."""

    def __init__(self, said: SaidMemo) -> None:
        self.last: dict[tuple[str, str, str], str] = {}
        self.now: dict[tuple[str, str, str], str] = {}
        self.said = said  # shared by the exports of one process, and ended by its owner

    def text(self, ref: Reference, make: Callable[[Reference], str]) -> str:
        said = self.said.of(ref)
        text = self.now.get(said)
        if text is None:
            text = self.last.get(said)
            if text is None:
                text = make(ref)
            self.now[said] = text
        return text

    def end(self) -> None:
        """This build's texts are the next one's to keep, the rest dropped; a build that made none (its export was
        kept whole) keeps the last. (Its :class:`SaidMemo` is ended by whoever shares it.)"""
        if self.now:
            self.last, self.now = self.now, {}


def field(ref: Reference, name_: str) -> str:
    """A field's value decoded for readers ("" when absent)."""
    value = ref.get(name_)
    return latex_to_text(value) if value else ""


def issued(ref: Reference) -> tuple[int, ...] | str | None:
    """The date of publication: ``(year, month, day)`` as far as known, a literal, or None.

    ``date`` (``YYYY[-MM[-DD]]``) wins over ``year``/``month``; a year that is not four digits
    (``in press``) is returned as text.
    """
    match = _FULL_DATE.match(ref.get("date").strip())
    if match:
        return tuple(int(g) for g in match.groups() if g)
    year = latex_to_text(ref.year)
    if not year:
        return None
    if not _YEAR.match(year):
        return year
    month = month_number(ref.get("month")) if ref.get("month") else None
    return (int(year), month) if month else (int(year),)


def accessed(ref: Reference) -> tuple[int, ...] | None:
    match = _FULL_DATE.match(ref.get("urldate").strip())
    return tuple(int(g) for g in match.groups() if g) if match else None


def pages(ref: Reference) -> tuple[str, str]:
    """(first page, last page) of a range, or (the pages value, "") when it is not a range."""
    value = field(ref, "pages")
    match = _RANGE.match(value)
    return (match.group(1), match.group(2)) if match else (value, "")


def container(ref: Reference) -> str:
    """The journal or the book a work appears in."""
    return field(ref, "journal") or field(ref, "journaltitle") or field(ref, "booktitle")


def publisher(ref: Reference) -> str:
    for name_ in PUBLISHER_FIELDS:
        if ref.get(name_):
            return field(ref, name_)
    return ""


def keywords(ref: Reference) -> list[str]:
    return [k.strip() for k in re.split(r"[,;]", field(ref, "keywords")) if k.strip()]
