"""When are two BibTeX entries the same work? ``kb add``'s answer, kept apart so it can be read and tested.

Title, year and first author are not enough: a journal column ("Editorial comments", by the same
editor, every issue of a year) is many works with one title. So two entries are **the same work**
only when nothing that identifies a work contradicts it: a differing DOI, entry type, volume,
number, issue, pages, chapter or edition, or a differing author anywhere in the list, makes them
**different** works. Where nothing contradicts but the evidence is thin — one entry gives a DOI,
volume or pages the other lacks, or the venues or publishers differ — identity is **uncertain**:
the importer adds the entry and warns, it never drops it. A DOI shared by entries whose titles or
authors differ is a **conflict**, reported as an error (``kb check`` says ``bib-duplicate-doi`` for
the same thing inside one file).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from kb.bibtex.display import latex_to_text
from kb.bibtex.values import normalise_pages, parse_persons

# Fields that tell issues, parts and editions apart; present on both and differing → different works.
LOCATORS = ("volume", "number", "issue", "pages", "eid", "chapter", "edition", "part")
# Spellings of one kind of work (biblatex aliases).
_TYPE_CLASS = {"conference": "inproceedings", "techreport": "report", "electronic": "online", "www": "online",
               "mastersthesis": "thesis", "phdthesis": "thesis"}


class Verdict(StrEnum):
    SAME = "same"
    DIFFERENT = "different"
    UNCERTAIN = "uncertain"
    CONFLICT = "conflict"


def fold_text(text: str) -> str:
    """Letters and digits of any script, case and accents folded: how titles and names are compared."""
    plain = unicodedata.normalize("NFKD", latex_to_text(text))
    return "".join(c for c in plain.casefold() if c.isalnum())


def year_of(fields: dict[str, str]) -> str:
    for name in ("year", "date"):
        m = re.search(r"(?<!\d)(\d{4})(?!\d)", latex_to_text(fields.get(name, "")))
        if m:
            return m.group(1)
    return ""


@dataclass(frozen=True)
class Work:
    """What identifies one entry, folded for comparison."""

    entry_type: str
    title: str
    year: str
    people: tuple[tuple[str, str], ...]  # (family, first initial) of the authors, else the editors
    truncated: bool  # the list ends with "and others"
    doi: str
    locators: dict[str, str] = field(default_factory=dict)
    venue: str = ""
    publisher: str = ""

    @property
    def key(self) -> tuple[str, str, str] | None:
        """(title, year, first author): entries sharing it are compared field by field."""
        if self.title and self.year and self.people:
            return self.title, self.year, self.people[0][0]
        return None


def identify(entry_type: str, fields: dict[str, str]) -> Work:
    role = "author" if fields.get("author") else "editor"
    people, truncated = parse_persons(fields[role]) if fields.get(role) else ((), False)
    folded = tuple((fold_text(p.family), "" if p.literal else fold_text(p.given)[:1]) for p in people)
    locators = {}
    for name in LOCATORS:
        value = fields.get(name, "")
        if value:
            locators[name] = fold_text(normalise_pages(value) if name == "pages" else value)
    venue = fields.get("journal") or fields.get("journaltitle") or fields.get("booktitle") or ""
    doi = fields.get("doi", "")
    publisher = fields.get("publisher") or fields.get("institution") or fields.get("school") or ""
    return Work(_TYPE_CLASS.get(entry_type, entry_type), fold_text(fields.get("title", "")), year_of(fields),
                tuple(p for p in folded if p[0]), truncated, doi if doi.startswith("10.") else "", locators,
                fold_text(venue), fold_text(publisher))


def _people_differ(a: Work, b: Work) -> str | None:
    for n, (x, y) in enumerate(zip(a.people, b.people, strict=False)):
        if x[0] != y[0] or (x[1] and y[1] and x[1] != y[1]):
            return f"the {_ordinal(n + 1)} author differs"
    if len(a.people) != len(b.people):
        shorter = a if len(a.people) < len(b.people) else b
        if not shorter.truncated:
            return f"{len(a.people)} author(s) against {len(b.people)}"
    return None


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def compare(new: Work, old: Work) -> tuple[Verdict, str]:
    """The verdict on two entries, and the reason in words (for the editor)."""
    if new.doi and old.doi:
        if new.doi != old.doi:
            return Verdict.DIFFERENT, "the DOIs differ"
        if new.title != old.title:
            return Verdict.CONFLICT, "same DOI, but the titles differ"
        people = _people_differ(new, old)
        if people:
            return Verdict.CONFLICT, f"same DOI, but {people}"
        return Verdict.SAME, f"same DOI {new.doi}"
    if new.title != old.title or new.year != old.year:
        return Verdict.DIFFERENT, "the titles or years differ"
    if new.entry_type != old.entry_type:
        return Verdict.DIFFERENT, f"the entry types differ (@{new.entry_type}, @{old.entry_type})"
    people = _people_differ(new, old)
    if people:
        return Verdict.DIFFERENT, people
    for name in LOCATORS:
        if name in new.locators and name in old.locators and new.locators[name] != old.locators[name]:
            return Verdict.DIFFERENT, f"the {name} differs"
    one_sided = [name for name in LOCATORS if (name in new.locators) != (name in old.locators)]
    if bool(new.doi) != bool(old.doi):
        one_sided.insert(0, "doi")
    if one_sided:
        return Verdict.UNCERTAIN, f"only one of the two gives the {', '.join(one_sided)}"
    if new.venue and old.venue and new.venue != old.venue:
        return Verdict.UNCERTAIN, "the venues are spelt differently"
    if new.publisher and old.publisher and new.publisher != old.publisher:
        return Verdict.UNCERTAIN, "the publishers differ"
    return Verdict.SAME, "same title, year, authors and nothing that tells them apart"


@dataclass
class Known:
    """An entry the new ones are compared with: in the target, or accepted earlier in this run."""

    key: str
    where: str
    fields: dict[str, str]
    work: Work


@dataclass(frozen=True)
class Match:
    verdict: Verdict
    known: Known | None = None
    reason: str = ""


class WorkIndex:
    """The known entries, looked up by DOI, by (title, year, first author) and by identical fields."""

    def __init__(self) -> None:
        self.by_doi: dict[str, Known] = {}
        self.by_work: dict[tuple[str, str, str], list[Known]] = {}
        self.by_fields: dict[frozenset[tuple[str, str]], Known] = {}

    def add(self, known: Known) -> None:
        if known.work.doi:
            self.by_doi.setdefault(known.work.doi, known)
        if known.work.key:
            self.by_work.setdefault(known.work.key, []).append(known)
        if known.fields:
            self.by_fields.setdefault(frozenset(known.fields.items()), known)

    def candidates(self, work: Work) -> Iterator[Known]:
        if work.doi in self.by_doi:
            yield self.by_doi[work.doi]
        if work.key:
            yield from self.by_work.get(work.key, ())

    def match(self, work: Work, fields: dict[str, str]) -> Match:
        """Same (with whom), conflict, uncertain (with whom), or different (``known`` is None if no candidate)."""
        twin = self.by_fields.get(frozenset(fields.items()))
        if twin is not None:  # e.g. no title to compare, or imported before under a suffixed key
            return Match(Verdict.SAME, twin, "same fields")
        verdicts = [(compare(work, known.work), known) for known in self.candidates(work)]
        for wanted in (Verdict.CONFLICT, Verdict.SAME, Verdict.UNCERTAIN, Verdict.DIFFERENT):
            for (verdict, reason), known in verdicts:
                if verdict is wanted:
                    return Match(verdict, known, reason)
        return Match(Verdict.DIFFERENT)
