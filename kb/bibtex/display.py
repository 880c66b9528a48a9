"""Display helpers for the site: LaTeX → Unicode text, and a plain-text APA-like citation.

Storage keeps LaTeX as written (BAD_INPUTS #17); only what is shown to readers is decoded, with
pylatexenc. Its default context drops the argument of some text macros (``\\texttt{x}`` → ``""``)
and reads ``%`` as a comment and ``&`` as a table column, which in a bibliography are text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from kb.model import Person, Reference

_TEXT_MACROS = ("texttt", "mbox", "textsc", "textrm", "textsf", "textnormal", "textup", "textmd",
                "textsl", "hbox", "text", "ensuremath", "url", "path", "nolinkurl", "sc", "bf", "it", "em")
_DROP_MACROS = ("noopsort", "sortkey", "hyphenation")
_ACCENT_MACROS = ("ocirc",)  # a ring above (xampl, BBT #732): combined, then NFC-composed
_LOGOS = {"TeX": "TeX", "LaTeX": "LaTeX", "BibTeX": "BibTeX", "LaTeXe": "LaTeX2e", "XeTeX": "XeTeX"}


@functools.lru_cache(maxsize=1)
def _converter() -> tuple[Any, Any]:  # pylatexenc is untyped
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
    from pylatexenc.latexwalker import get_default_latex_context_db as walker_db
    from pylatexenc.macrospec import MacroSpec

    walker = walker_db().filter_context(keep_categories=None)
    walker.add_context_category(
        "kb-bib", prepend=True,
        macros=[MacroSpec(m, "{") for m in _TEXT_MACROS + _DROP_MACROS + _ACCENT_MACROS]
        + [MacroSpec(m, "") for m in _LOGOS])
    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "kb-bib", prepend=True,
        macros=[MacroTextSpec(m, simplify_repl="%s") for m in _TEXT_MACROS]
        + [MacroTextSpec(m, simplify_repl="%s\u030a") for m in _ACCENT_MACROS]
        + [MacroTextSpec(m, simplify_repl="") for m in _DROP_MACROS]
        + [MacroTextSpec(m, simplify_repl=text) for m, text in _LOGOS.items()])
    return LatexNodes2Text(latex_context=text_db, math_mode="text", strict_latex_spaces=False), walker


_UNESCAPED = re.compile(r"(?<!\\)([%&#])")
_WS = re.compile(r"\s+")


def latex_to_text(value: str) -> str:
    """Unicode text for display: ``{\\"u}ber`` → ``über``, ``\\&`` → ``&``, ``--`` → ``–``, ``~`` → space."""
    if not value:
        return ""
    if not any(c in value for c in "\\{}$~%&#"):  # no markup: only TeX's ligatures to resolve
        if any(c in value for c in "-`'"):
            value = _LIGATURES.sub(lambda m: _LIGATURE_TEXT[m.group()], value)
        return unicodedata.normalize("NFC", _WS.sub(" ", value).strip())
    return _latex_to_text(value)


_LIGATURE_TEXT = {"---": "—", "--": "–", "``": "“", "''": "”", "`": "‘"}
_LIGATURES = re.compile("---|--|``|''|`")


@functools.lru_cache(maxsize=65536)  # journal names, authors and publishers repeat across entries
def _latex_to_text(value: str) -> str:
    converter, walker_db = _converter()
    from pylatexenc.latexwalker import LatexWalker

    try:
        nodes = LatexWalker(_UNESCAPED.sub(r"\\\1", value), latex_context=walker_db,
                            tolerant_parsing=True).get_latex_nodes()[0]
        text = converter.nodelist_to_text(nodes)
    except Exception:  # pragma: no cover - pylatexenc is tolerant; never let display crash a build
        text = re.sub(r"[{}\\]", "", value)
    return unicodedata.normalize("NFC", _WS.sub(" ", text.replace("\u00a0", " ")).strip())


def _initials(given: str) -> str:
    parts = [p for p in re.split(r"[\s~]+", given) if p]
    out = []
    for part in parts:
        pieces = [x for x in part.split("-") if x]
        out.append("-".join(f"{x[0]}." if not x.endswith(".") or len(x) > 2 else x for x in pieces))
    return " ".join(out)


def _person(person: Person) -> str:
    family = latex_to_text(person.family)
    if person.literal or not person.given:
        return family
    return f"{family}, {_initials(latex_to_text(person.given))}"


def _names(people: tuple[Person, ...], truncated: bool) -> str:
    shown = [_person(p) for p in people]
    if truncated:
        return ", ".join(shown) + (", et al." if shown else "et al.")
    if len(shown) <= 2:
        return " & ".join(shown) if len(shown) == 2 and "," not in shown[0] else ", & ".join(shown)
    return ", ".join(shown[:-1]) + ", & " + shown[-1]


def format_citation(ref: Reference) -> str:
    """A plain-text APA-like citation: ``Author, A., & Other, B. (2020). Title. Journal, 7(6), e1. https://doi.org/…``."""
    parts: list[str] = []
    if ref.authors or ref.authors_truncated:
        parts.append(_names(ref.authors, ref.authors_truncated))
    elif ref.editors:
        parts.append(_names(ref.editors, False) + (" (Ed.)" if len(ref.editors) == 1 else " (Eds.)"))
    year = ref.year or ref.get("date")[:4] or "n.d."
    head = f"({latex_to_text(year)})."
    parts = [f"{parts[0].rstrip('.')}. {head}"] if parts else [head]
    title = latex_to_text(ref.title)
    if title:
        parts.append(title if title.endswith(("?", "!", ".")) else title + ".")
    venue = latex_to_text(ref.get("journal") or ref.get("journaltitle") or ref.get("booktitle"))
    if venue:
        if ref.get("booktitle") and not ref.get("journal") and not ref.get("journaltitle"):
            venue = "In " + venue
        detail = venue
        volume, number, pages = (latex_to_text(ref.get(n)) for n in ("volume", "number", "pages"))
        if volume:
            detail += f", {volume}" + (f"({number})" if number else "")
        if pages:
            detail += f", {pages}"
        parts.append(detail + ".")
    publisher = latex_to_text(ref.get("publisher") or ref.get("institution") or ref.get("organization"))
    if publisher and not ref.get("journal"):
        parts.append(publisher + ".")
    if ref.doi:
        parts.append(f"https://doi.org/{ref.doi}")
    elif ref.get("url"):
        parts.append(ref.get("url"))
    return " ".join(parts)
