"""How ``kb add`` writes a new entry: normalised values, generated keys, and the corpus's layout.

Normalisation is the same every time: lower-case entry type and field names; white space
collapsed; macros resolved (``@string`` definitions are not carried: the value is written out);
``month`` as a month macro (``jun``, or ``jun # {-} # aug``: an expression stays an expression,
BAD_INPUTS #9); page ranges with ``--``; the DOI bare and lower case, taken from ``doi`` or from a
``https://doi.org/…`` ``url``; empty fields dropped. The layout is the corpus's::

    @article{key,
      field = {value},
    }
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kb.bibtex.check import EntryRecord, evaluate_entry, fold_key
from kb.bibtex.display import latex_to_text
from kb.bibtex.identity import year_of
from kb.bibtex.parse import read_bib
from kb.bibtex.values import (
    MONTHS,
    MacroTable,
    Value,
    doi_from_url,
    evaluate,
    month_number,
    normalise_pages,
    parse_expression,
    parse_persons,
)

STOP_WORDS = frozenset(["a", "an", "the", "of", "on", "in", "and", "for", "to", "with", "from", "at", "by"])


@dataclass(frozen=True)
class NewEntry:
    """An entry as ``kb add`` will write it: field values in BibTeX syntax, in input order."""

    entry_type: str
    key: str
    fields: tuple[tuple[str, str], ...]

    def render(self, key: str | None = None) -> str:
        lines = [f"@{self.entry_type}{{{key or self.key},"]
        lines += [f"  {name} = {value}," for name, value in self.fields]
        return "\n".join(lines) + "\n}\n"

    def with_field(self, name: str, value: str) -> NewEntry:
        fields = tuple((n, value if n == name else v) for n, v in self.fields)
        return NewEntry(self.entry_type, self.key, fields)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: ``Lloyd-Evans`` → ``lloydevans``, ``{\\"O}zge`` → ``ozge``."""
    plain = unicodedata.normalize("NFKD", latex_to_text(text))
    plain = plain.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("ı", "i").replace("ł", "l")
    return re.sub(r"[^a-z0-9]", "", plain.encode("ascii", "ignore").decode("ascii").lower())


def first_author_word(fields: dict[str, str]) -> str:
    """The first author's (or editor's) family name, or a corporate author's first word, folded."""
    for name in ("author", "editor"):
        if fields.get(name):
            people, _ = parse_persons(fields[name])
            if people:
                person = people[0]
                if person.literal:
                    words = [ascii_fold(w) for w in re.split(r"[\s~]+", latex_to_text(person.family))]
                    return next((w for w in words if w), "")
                return ascii_fold(person.family.split(",")[0])
    return ""


def first_title_word(title: str) -> str:
    for word in re.split(r"[\s~/-]+", latex_to_text(title)):
        folded = ascii_fold(word)
        if folded and folded not in STOP_WORDS:
            return folded
    return ""


def generate_key(fields: dict[str, str]) -> str:
    """The editors' rule (evidence/README.md): surname + year + first significant title word."""
    key = (first_author_word(fields) or "anon") + (year_of(fields) or "nd") + first_title_word(
        fields.get("title", ""))
    return key[:90]


def suffixed(key: str, taken: Callable[[str], bool]) -> str:
    """``key`` itself if free, else ``keya``, ``keyb``, …, ``keyz``, ``keyaa``, …"""
    if not taken(key):
        return key
    letters = "abcdefghijklmnopqrstuvwxyz"
    for size in itertools.count(1):
        for combo in itertools.product(letters, repeat=size):
            candidate = key + "".join(combo)
            if not taken(candidate):
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _month_value(value: Value, macros: MacroTable) -> str:
    """``jun``; ``jun # {-} # aug``; a month in braces or as a number becomes its macro."""
    number = month_number(value.text)
    if number:
        return MONTHS[number - 1]
    if any(p.kind == "macro" and macros.is_month_macro(p.text) for p in value.parts) and not value.undefined:
        pieces = []
        for part in value.parts:
            if part.kind == "macro" and macros.is_month_macro(part.text):
                pieces.append(part.text.lower())
            else:
                text = macros.lookup(part.text.lower()) if part.kind == "macro" else part.text
                pieces.append("{" + re.sub(r"\s+", " ", text or "") + "}")
        return " # ".join(pieces)
    return "{" + value.text + "}"


def normalise_entry(record: EntryRecord, macros: MacroTable, key: str) -> NewEntry:
    """The entry as it will be written (see the module docstring for the rules)."""
    fields: list[tuple[str, str]] = []
    names = set(record.values)
    for name, value in record.values.items():
        text = record.fields[name]
        if not text:
            continue
        if name == "month":
            fields.append((name, _month_value(value, macros)))
            continue
        if name == "pages":
            text = normalise_pages(text)
        fields.append((name, "{" + text + "}"))
    if "doi" not in names and record.fields.get("url"):
        doi = doi_from_url(record.fields["url"])
        if doi:
            fields.append(("doi", "{" + doi + "}"))
    return NewEntry(record.entry_type, key, tuple(fields))


def field_texts(entry: NewEntry, macros: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """What the loader will read back from a written entry (for the round-trip self-check)."""
    table = MacroTable(dict(macros))
    return {name: evaluate(value, table.lookup).text for name, value in entry.fields}


def reads_back(entry: NewEntry) -> bool:
    """Whether the rendered entry parses back as one entry with exactly these fields (no surprises)."""
    if any(parse_expression(value)[1] for _, value in entry.fields):
        return False
    parsed = read_bib(entry.render().encode("utf-8"), "<new entry>")
    if len(parsed.blocks) != 1 or parsed.blocks[0].kind != "entry" or parsed.problems:
        return False
    back = evaluate_entry(parsed.blocks[0], MacroTable(), "<new entry>")
    return back.key == entry.key and back.fields == field_texts(entry) and not back.errors


def append_entries(existing: bytes, entries: list[str], newline: str) -> bytes:
    """``existing`` unchanged, then a blank line and the entries, in the file's newline style."""
    text = "\n".join(entries)
    if existing.strip():
        if not existing.endswith((b"\n", b"\r")):
            text = "\n\n" + text
        elif not existing.rstrip(b" \t").endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
            text = "\n" + text
    return existing + text.replace("\n", newline).encode("utf-8")


__all__ = ["NewEntry", "fold_key", "generate_key", "normalise_entry", "suffixed"]
