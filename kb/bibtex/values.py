"""BibTeX field values: macro expressions, names, DOIs, page ranges and months.

bibtexparser's ResolveStringReferences middleware resolves only a value that is a single macro:
``jun # "-" # aug`` stays a raw string and an undefined ``jprs`` is kept as the literal text
``jprs`` (BAD_INPUTS #8, #9). So the KB evaluates the splitter's raw values itself, with BibTeX's
semantics: parts joined by ``#``, macro names case-insensitive, the standard month macros
predefined (``jun`` → ``June``), outer braces or quotes removed, LaTeX kept as written.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names

from kb.model import Person

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
_BRACE = re.compile(r"[{}]")
_BRACE_OR_QUOTE = re.compile(r'[{}"]')
_NOT_IN_NAME = set(' \t\n#{}",=()%\'')
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi\s*:\s*|doi\s+)", re.IGNORECASE)
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_URL = re.compile(r"^https?://(?:dx\.)?doi\.org/(10\.\S+)$", re.IGNORECASE)
_RANGE = re.compile(r"^([\w.+]+)\s*(?:-{1,3}|\u2013|\u2014|\u2010|\u2011|\u2212)\s*([\w.+]+)$")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Part:
    """One ``#``-joined part of a value: a braced/quoted literal, a number, or a macro name."""

    kind: str  # "literal" | "number" | "macro"
    text: str  # literal content or number as written; macro name as written


@dataclass(frozen=True)
class Value:
    """An evaluated field value."""

    text: str
    parts: tuple[Part, ...] = ()
    undefined: tuple[str, ...] = ()  # macro names without a definition
    error: str | None = None  # the expression itself is malformed

    @property
    def is_single_literal(self) -> bool:
        return len(self.parts) == 1 and self.parts[0].kind != "macro"


def braces_balanced(text: str) -> bool:
    """Whether ``{``/``}`` balance, not counting braces after a backslash (bibtexparser's rule)."""
    depth = 0
    for m in _BRACE.finditer(text):  # visit only the braces: abstracts run to thousands of characters
        i = m.start()
        if i and text[i - 1] == "\\":
            continue
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def _closing_brace(raw: str, start: int) -> int:
    depth = 0
    for m in _BRACE.finditer(raw, start):
        i = m.start()
        if i and raw[i - 1] == "\\":
            continue
        if m.group() == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _closing_quote(raw: str, start: int) -> int:
    depth = 0
    for m in _BRACE_OR_QUOTE.finditer(raw, start + 1):
        i, c = m.start(), m.group()
        if c != '"' and raw[i - 1] == "\\":
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth <= 0:
            return i
    return -1


_FIELD_START = re.compile(r"^[ \t]*([A-Za-z][\w-]*)[ \t]*=[ \t]*", re.M)


def drop_field(entry: str, name: str) -> str:
    """``entry`` (an entry's source text) without its field ``name`` and the line it is on, if its value
    is one braced or quoted string on lines of its own; otherwise ``entry`` unchanged (never a guess)."""
    for m in _FIELD_START.finditer(entry):
        if m.group(1).lower() != name:
            continue
        start = m.end()
        if start >= len(entry) or entry[start] not in '{"':
            return entry
        end = _closing_brace(entry, start) if entry[start] == "{" else _closing_quote(entry, start)
        if end < 0:
            return entry
        rest = re.match(r"[ \t]*,?[ \t]*\n", entry[end + 1:])
        if rest is None:
            return entry
        return entry[:m.start()] + entry[end + 1 + rest.end():]
    return entry


def parse_expression(raw: str) -> tuple[tuple[Part, ...], str | None]:
    """Split a raw value (``{a} # "b" # macro # 12``) into parts, or say what is malformed."""
    parts: list[Part] = []
    i, n = 0, len(raw)
    expect_part = True
    while True:
        while i < n and raw[i].isspace():
            i += 1
        if i >= n:
            break
        if not expect_part:
            if raw[i] != "#":
                return tuple(parts), f"expected '#' between parts of the value, found {raw[i:i + 10]!r}"
            i += 1
            expect_part = True
            continue
        c = raw[i]
        if c == "{":
            end = _closing_brace(raw, i)
            if end < 0:
                return tuple(parts), "unbalanced braces in the value"
            parts.append(Part("literal", raw[i + 1:end]))
            i = end + 1
        elif c == '"':
            end = _closing_quote(raw, i)
            if end < 0:
                return tuple(parts), "unterminated quoted value"
            parts.append(Part("literal", raw[i + 1:end]))
            i = end + 1
        else:
            j = i
            while j < n and raw[j] not in _NOT_IN_NAME:
                j += 1
            if j == i:
                return tuple(parts), f"unexpected {raw[i]!r} in the value"
            word = raw[i:j]
            parts.append(Part("number" if word.isdigit() else "macro", word))
            i = j
        expect_part = False
    if expect_part and parts:
        return tuple(parts), "the value ends with '#'"
    return tuple(parts), None


Lookup = Callable[[str], "str | None"]


def evaluate(raw: str, lookup: Lookup) -> Value:
    """Evaluate a raw value; ``lookup`` resolves a lower-cased macro name (None if undefined)."""
    parts, problem = parse_expression(raw)
    pieces: list[str] = []
    undefined: list[str] = []
    for part in parts:
        if part.kind != "macro":
            pieces.append(part.text)
            continue
        resolved = lookup(part.text.lower())
        if resolved is None:
            undefined.append(part.text)
            pieces.append(part.text)
        else:
            pieces.append(resolved)
    return Value(collapse_ws("".join(pieces)), parts, tuple(undefined), problem)


class MacroTable:
    """``@string`` definitions (case-insensitive, first definition wins) plus the month macros.

    Definitions may use other macros (``@string{pages = baR}``); they are resolved lazily, and a
    cycle resolves to undefined rather than recursing forever.
    """

    def __init__(self, definitions: dict[str, str] | None = None, fallback: MacroTable | None = None) -> None:
        self.raw: dict[str, str] = {}
        self.fallback = fallback  # consulted for names this table does not define (kb add: the target file)
        self._cache: dict[str, str | None] = {}
        self._active: set[str] = set()
        for name, value in (definitions or {}).items():
            self.define(name, value)

    def define(self, name: str, raw_value: str) -> bool:
        """Add a definition; False if the name was already defined (the first one stays)."""
        key = name.lower()
        if key in self.raw:
            return False
        self.raw[key] = raw_value
        self._cache.clear()
        return True

    def lookup(self, name: str) -> str | None:
        key = name.lower()
        if key in self._cache:
            return self._cache[key]
        if key not in self.raw:
            if self.fallback is not None:
                return self.fallback.lookup(key)
            return MONTH_NAMES[MONTHS.index(key)] if key in MONTHS else None
        if key in self._active:
            return None
        self._active.add(key)
        try:
            value = evaluate(self.raw[key], self.lookup)
        finally:
            self._active.discard(key)
        result = None if value.undefined or value.error else value.text
        self._cache[key] = result
        return result

    def is_month_macro(self, name: str) -> bool:
        """Whether ``name`` is one of BibTeX's month macros, not redefined by an @string."""
        key = name.lower()
        if key in self.raw:
            return False
        return self.fallback.is_month_macro(key) if self.fallback is not None else key in MONTHS


def collapse_ws(text: str) -> str:
    """BibTeX treats every run of white space (newlines, tabs) as one space.

    Most values have none to collapse, which two C-speed tests tell (every white space character that ``\\s``
    matches but the space is unprintable): ~10× quicker than the substitution, which replaces every single space
    (~10 % of loading a large references.bib)."""
    if "  " not in text and text.isprintable():
        return text.strip()
    return _WS.sub(" ", text).strip()


def normalise_doi(value: str) -> str | None:
    """A bare lower-case ``10.…`` DOI from a DOI, ``doi:`` or ``https://doi.org/`` value; None if not one."""
    text = urllib.parse.unquote(collapse_ws(value).strip("{} "))
    text = _DOI_PREFIX.sub("", text).strip().lower()
    return text if DOI_RE.match(text) else None


def doi_from_url(url: str) -> str | None:
    m = _DOI_URL.match(collapse_ws(url))
    return normalise_doi(m.group(1)) if m else None


def normalise_pages(value: str) -> str:
    """Page ranges with ``--`` (``12-23``, ``620 - 652``, ``12–23`` → ``12--23``); lists kept."""
    out = []
    for piece in value.split(","):
        m = _RANGE.match(piece.strip())
        out.append(f"{m.group(1)}--{m.group(2)}" if m else piece.strip())
    return ", ".join(out)


def month_number(value: str) -> int | None:
    """1–12 for ``jun``, ``June``, ``Jun.``, ``6``, ``06``; None otherwise."""
    text = value.strip().strip("{}").strip().rstrip(".").lower()
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    for i, (abbr, name) in enumerate(zip(MONTHS, MONTH_NAMES, strict=True)):
        if text in (abbr, name.lower()) or (text == "sept" and abbr == "sep"):
            return i + 1
    return None


def _strip_outer_braces(name: str) -> str:
    while name.startswith("{") and name.endswith("}") and _closing_brace(name, 0) == len(name) - 1:
        name = name[1:-1].strip()
    return name


def _extended_name(name: str) -> Person | None:
    """biblatex's ``family=Adler, given=Alfred, prefix=von`` name format."""
    if not re.match(r"^\s*[a-z-]+\s*=", name) or "family" not in name:
        return None
    parts: dict[str, str] = {}
    for item in re.split(r",(?![^{]*\})", name):
        if "=" in item:
            key, _, val = item.partition("=")
            parts[key.strip().lower()] = _strip_outer_braces(val.strip())
    family = " ".join(p for p in (parts.get("prefix", ""), parts.get("family", "")) if p)
    if parts.get("suffix"):
        family += f", {parts['suffix']}"
    return Person(family=family, given=parts.get("given", "")) if family else None


@functools.lru_cache(maxsize=1 << 16)  # people recur across a bibliography's entries (half of the bench corpus's)
def parse_person(name: str) -> Person:
    """One BibTeX name → :class:`Person` (frozen: one object serves every entry that names them). A name in one
    brace group is a literal (corporate) name.

    ``von`` and ``Last`` parts form ``family``; a ``Jr`` part is kept as ``family, Jr`` (BibTeX's
    ``von Last, Jr, First`` order) rather than dropped.
    """
    name = collapse_ws(name)
    if name.startswith("{") and _closing_brace(name, 0) == len(name) - 1:
        return Person(family=_strip_outer_braces(name), literal=True)
    extended = _extended_name(name)
    if extended:
        return extended
    parts = parse_single_name_into_parts(name, strict=False)
    family = " ".join(parts.von + parts.last)
    if parts.jr:
        family += ", " + " ".join(parts.jr)
    return Person(family=family or name, given=" ".join(parts.first))


def parse_persons(value: str) -> tuple[tuple[Person, ...], bool]:
    """Split an ``author``/``editor`` value; ``and others`` sets the truncation flag."""
    names = [n.strip() for n in split_multiple_persons_names(collapse_ws(value))]
    truncated = bool(names) and names[-1].lower() == "others"
    if truncated:
        names = names[:-1]
    return tuple(parse_person(n) for n in names if n), truncated
