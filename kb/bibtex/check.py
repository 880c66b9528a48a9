"""Evaluate and check BibTeX entries: one entry at a time, then across the whole file.

Used by the loader (``kb check``/``kb build``) and by the importer (``kb add``), so that an entry
``kb add`` accepts is one ``kb check`` accepts. Every check returns problems; none raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from kb.bibtex.display import latex_to_text
from kb.bibtex.parse import RawBlock
from kb.bibtex.values import MacroTable, Value, evaluate, normalise_doi, parse_persons
from kb.ids import CITEKEY_RE, URL_SAFE, iri_error, web_iri
from kb.problems import Problem, Severity, did_you_mean, error, warning

BIBTEX_TYPES = frozenset({
    "article", "book", "booklet", "conference", "inbook", "incollection", "inproceedings", "manual",
    "mastersthesis", "misc", "phdthesis", "proceedings", "techreport", "unpublished",
})
BIBLATEX_TYPES = frozenset({
    "mvbook", "bookinbook", "suppbook", "periodical", "suppperiodical", "collection", "mvcollection",
    "suppcollection", "reference", "mvreference", "inreference", "mvproceedings", "report", "patent",
    "thesis", "online", "software", "dataset", "set", "xdata", "artwork", "audio", "bibnote", "commentary",
    "image", "jurisdiction", "legislation", "legal", "letter", "movie", "music", "performance", "review",
    "standard", "video", "electronic", "www",
})
KNOWN_TYPES = BIBTEX_TYPES | BIBLATEX_TYPES
# The types the graph models: a BIBO class each (kb/graph/build.py) and the sh:in of pskshape:Work
# (kb/graph/schema/shapes.ttl); tests/test_add_identity_and_faults.py keeps the three in step.
MODELLED_TYPES = BIBTEX_TYPES | frozenset({"thesis", "report", "online"})
# biblatex types the KB does not model, and the modelled type that fits each best.
MODELLED_EQUIVALENT = {
    "mvbook": "book", "bookinbook": "inbook", "suppbook": "inbook", "collection": "book", "mvcollection": "book",
    "suppcollection": "incollection", "reference": "book", "mvreference": "book", "inreference": "incollection",
    "mvproceedings": "proceedings", "suppperiodical": "article", "electronic": "online", "www": "online",
}
# Types people (and tools) invent, and what the KB calls them.
TYPE_SUGGESTIONS = {
    "web_page": "online", "webpage": "online", "website": "online", "web": "online", "url": "online",
    "internet": "online", "blog": "online", "blogpost": "online", "artcile": "article",
    "aritcle": "article", "articel": "article", "journal": "article", "journalarticle": "article",
    "journal_article": "article", "journal-article": "article", "paper": "article",
    "chapter": "incollection", "bookchapter": "incollection", "book_chapter": "incollection",
    "book-chapter": "incollection", "booksection": "incollection", "book_section": "incollection",
    "preprint": "misc", "data": "dataset", "presentation": "misc", "tech_report": "techreport",
    "report_": "techreport", "dissertation": "phdthesis", "newspaper": "article", "magazine": "article",
}
NO_AUTHOR_NEEDED = frozenset({"misc", "online", "electronic", "www", "set", "xdata"})
NOTHING_REQUIRED = frozenset({"set", "xdata"})
LINK_FIELDS = ("crossref", "xref")
FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+:.-]*$")
RESERVED_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
DEFAULT_MAX_FIELD_CHARS = 1_000_000


@dataclass
class EntryRecord:
    """An entry with evaluated values, positions, and its own problems."""

    block: RawBlock
    path: str
    entry_type: str  # lower case
    key: str
    values: dict[str, Value] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # resolved text; doi normalised
    field_lines: dict[str, int] = field(default_factory=dict)
    field_cols: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.block.line

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def problem(self, code: str, message: str, name: str | None = None, **kw: object) -> Problem:
        line = self.field_lines.get(name, self.line) if name else self.line
        col = self.field_cols.get(name, self.block.col) if name else self.block.col
        make = warning if kw.pop("warn", False) else error
        field_name = kw.pop("field", name)
        found = make(self.path, line, code, message, col=col, field=field_name, **kw)
        self.problems.append(found)
        return found


def fold_key(key: str) -> str:
    """What two keys must not share: NFKC + case folding (case-insensitive file systems, look-alikes)."""
    return unicodedata.normalize("NFKC", key).casefold()


def key_problem(key: str) -> tuple[str, str] | None:
    """(code, message) if ``key`` cannot be used as a citekey, else None."""
    if not key:
        return "bib-empty-key", "the entry has no citekey"
    if not CITEKEY_RE.match(key):
        shown = key.encode("unicode_escape").decode("ascii") if not key.isprintable() else key
        return "bib-unsafe-key", f"citekey '{shown[:120]}' is not safe in IRIs and file names"
    if RESERVED_NAMES.match(key):
        return "bib-unsafe-key", f"citekey '{key}' is a reserved device name on Windows"
    return None


def suggest_type(entry_type: str) -> str | None:
    mapped = TYPE_SUGGESTIONS.get(entry_type)
    if mapped:
        return f"use @{mapped}"
    close = did_you_mean(entry_type, sorted(KNOWN_TYPES))
    return close.replace("'", "@", 1).replace("'", "", 1) if close else None


def evaluate_entry(
    block: RawBlock, macros: MacroTable, path: str, max_field_chars: int = DEFAULT_MAX_FIELD_CHARS
) -> EntryRecord:
    """Evaluate every field of an entry block and run the checks that need only this entry."""
    record = EntryRecord(block, path, block.entry_type.lower(), block.key.strip())
    record.problems.extend(block.problems)
    found = key_problem(record.key)
    if found:
        record.problem(found[0], found[1], expected="letters, digits and _ . : + - (at most 100, ASCII)",
                       hint="give the entry a key such as smith2020peer (`kb add` generates one for an empty key)"
                       if found[0] == "bib-empty-key" else "rename the key, e.g. smith2020peer")
    if record.entry_type not in KNOWN_TYPES:
        record.problem("bib-unknown-entry-type", f"unknown entry type '@{block.entry_type}'",
                       expected="a BibTeX or biblatex type such as @article, @book, @incollection, @online",
                       hint=suggest_type(record.entry_type))
    elif record.entry_type not in MODELLED_TYPES:
        _unmodelled_type(record)
    for raw_field in block.fields:
        name = raw_field.name.lower()
        if not raw_field.name:
            record.problems.append(error(
                path, raw_field.line, "bib-bad-field-name", "a field has no name before its '='", col=raw_field.col,
                expected="a field name such as doi or title", hint="retype the field's name"))
            continue
        if not FIELD_NAME_RE.match(raw_field.name):
            shown = raw_field.name.encode("unicode_escape").decode("ascii")
            record.problems.append(error(
                path, raw_field.line, "bib-bad-field-name", f"field name '{shown}' has characters BibTeX does "
                "not allow", col=raw_field.col, field=shown, expected="letters, digits and _ + : . -",
                hint="retype the field name (a no-break space or a space inside it is invisible in most editors)"))
            continue
        if name in record.values:
            record.field_lines.setdefault(name, raw_field.line)
            record.problems.append(error(
                path, raw_field.line, "bib-duplicate-field",
                f"field '{name}' appears twice in '{record.key}' (lines {record.field_lines[name]} and "
                f"{raw_field.line})", col=raw_field.col, field=name,
                hint="keep one of them: the KB never picks one silently"))
            continue
        record.field_lines[name] = raw_field.line
        record.field_cols[name] = raw_field.col
        value = evaluate(raw_field.raw, macros.lookup)
        record.values[name] = value
        record.fields[name] = value.text
        _check_value(record, name, value, max_field_chars)
        _check_display(record, name, value)
    return record


def _unmodelled_type(record: EntryRecord) -> None:
    """A biblatex type the graph has no class for: SHACL would refuse it later, so say so here, with the fit."""
    kind = record.entry_type
    if kind in ("set", "xdata"):
        message = f"@{kind} is not a work: biblatex uses it to group entries or lend them fields"
        hint = "leave it out and import the entries it stands for"
    else:
        message = f"@{kind} is a biblatex type the KB does not model"
        hint = f"use @{MODELLED_EQUIVALENT.get(kind, 'misc')}"
    record.problem("bib-unsupported-entry-type", message, field="type",
                   expected="one of " + ", ".join(f"@{t}" for t in sorted(MODELLED_TYPES)), hint=hint)


def _check_display(record: EntryRecord, name: str, value: Value) -> None:
    """What the site and the graph show: a title must show something, a url must be a web address."""
    if name == "title" and value.text and not value.error and not latex_to_text(value.text):
        record.problem("bib-empty-title", f"title '{value.text[:80]}' shows as nothing once its LaTeX is decoded "
                       "(a macro the KB does not know, such as \\TUG, is dropped)", name,
                       expected="a title with visible text", hint="write out the text the macro stands for")
    if name in ("author", "editor") and value.text.strip() and not value.error:
        people, truncated = parse_persons(value.text)
        blank = [n for n, p in enumerate(people, 1) if not latex_to_text(f"{p.given} {p.family}").strip()]
        if blank or not (people or truncated):
            which = f"name {blank[0]} of {len(people)}" if blank else "no name"
            record.problem("bib-empty-name", f"{name} '{value.text[:80]}': {which} shows as nothing once its LaTeX "
                           "is decoded", name, expected="names with visible text, separated by ' and '",
                           hint="write out the name (a macro the KB does not know, such as \\relax, is dropped)")
    if name == "url" and value.text and not value.error:
        url = value.text.strip()
        if not re.match(r"^https?://", url, re.IGNORECASE) or re.search(r"\s", url):
            shown = url.encode("unicode_escape").decode("ascii")[:80]
            record.problem("bib-unsafe-url", f"url '{shown}' is not a web address: the site shows it as text "
                           "and never links it", name, warn=True,
                           expected="an http:// or https:// address without spaces",
                           hint="correct it, or delete the field (a DOI goes in the doi field)")
        elif web_iri(url) is None:
            shown = url.encode("unicode_escape").decode("ascii")[:80]
            reason = iri_error(quote(url, safe=URL_SAFE)) or "not a valid IRI"
            record.problem("bib-unsafe-url", f"url '{shown}' is not a valid IRI ({reason}): the graph and its "
                           "dumps leave it out", name, warn=True,
                           expected="an address as RFC 3987 allows it (a '%' followed by two hex digits, one '#')",
                           hint="correct it, or delete the field")


def _check_value(record: EntryRecord, name: str, value: Value, max_field_chars: int) -> None:
    if value.error:
        record.problem("bib-bad-value", f"malformed value: {value.error}", name,
                       hint="enclose the value in braces: {…}")
    for macro in value.undefined:
        record.problem("bib-undefined-macro", f"undefined @string macro '{macro}'", name,
                       expected="a macro defined by @string, a month (jan…dec), or a braced value",
                       hint=f"define it with @string{{{macro} = {{…}}}} or write the value in braces")
    if len(value.text) > max_field_chars:
        record.problem("bib-field-too-long", f"value has {len(value.text):,} characters", name,
                       expected=f"at most {max_field_chars:,}", hint="shorten it (abstracts are not needed)")
    if name == "doi" and value.text:
        doi = normalise_doi(value.text)
        if doi is None:
            record.problem("bib-bad-doi", f"'{value.text[:80]}' is not a DOI", name,
                           expected="a DOI such as 10.1186/1471-244X-14-39",
                           hint="remove the field if the source gives no DOI")
        else:
            record.fields[name] = doi
    if not value.text and not value.error:
        required = name in ("title", "year", "author", "editor")
        record.problem("bib-empty-field", f"field '{name}' is empty", name, warn=not required,
                       expected="a value" if required else None,
                       hint="fill it in, or delete the field if the source does not give it")


ParentLookup = Callable[[str], "EntryRecord | None"]


def inherited(record: EntryRecord, name: str, parent_of: ParentLookup) -> str:
    """A field's value, following ``crossref`` to parents as BibTeX does (cycles stop)."""
    seen: set[str] = set()
    current: EntryRecord | None = record
    while current is not None and current.key not in seen:
        if current.fields.get(name):
            return current.fields[name]
        seen.add(current.key)
        target = current.fields.get("crossref", "")
        current = parent_of(target) if target else None
    return ""


def check_required(record: EntryRecord, parent_of: ParentLookup) -> None:
    """title, year (or a dated ``date``), and an author, editor or corporate author."""
    if record.entry_type in NOTHING_REQUIRED:
        return
    missing = []
    if not inherited(record, "title", parent_of) and "title" not in record.fields:
        missing.append("title")
    if "year" not in record.fields and not inherited(record, "year", parent_of) and not re.match(
            r"^\d{4}", inherited(record, "date", parent_of)):
        missing.append("year")
    if record.entry_type not in NO_AUTHOR_NEEDED and not any(
            inherited(record, n, parent_of) or n in record.fields for n in ("author", "editor", "organization")):
        missing.append("author (or editor)")
    for name in missing:
        undated_web = name == "year" and record.entry_type in NO_AUTHOR_NEEDED and record.fields.get("urldate")
        if undated_web and record.fields.get("annote"):
            continue  # an undated web page whose annote records why: nothing for the editor to do
        record.problem("bib-missing-field", f"'{record.key}' has no {name}", None, field=name.split()[0],
                       expected="the field" if not undated_web else None, warn=bool(undated_web),
                       hint="an undated web page: the urldate stands in" if undated_web
                       else "add it as the source gives it; never guess")


def check_links(records: Iterable[EntryRecord], lookup: ParentLookup, all_keys: Iterable[str]) -> None:
    """Missing ``crossref``/``xref`` targets and crossref cycles, reported with the chain."""
    keys = list(all_keys)
    for record in records:
        for name in LINK_FIELDS:
            target = record.fields.get(name, "")
            if target and lookup(target) is None:
                near = [k for k in keys if k[:2].casefold() == target[:2].casefold()][:500]  # difflib is O(n)
                record.problem("bib-crossref-missing", f"{name} target '{target}' does not exist", name,
                               expected="the key of an entry in the same file", hint=did_you_mean(target, near))
        chain = [record.key]
        current = record
        while (target := current.fields.get("crossref", "")) and (parent := lookup(target)) is not None:
            if parent.key in chain:
                cycle = [*chain[chain.index(parent.key):], parent.key]
                if parent.key == record.key:
                    record.problem("bib-crossref-cycle", "crossref cycle: " + " → ".join(cycle), "crossref",
                                   hint="a crossref must point to a parent that does not point back")
                break
            chain.append(parent.key)
            current = parent
