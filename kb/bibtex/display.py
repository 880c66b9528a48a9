"""Display text: LaTeX → Unicode (formatted citations are citeproc-py's, in :mod:`kb.site.cite`).

Storage keeps LaTeX as written (BAD_INPUTS #17); only what is shown to readers is decoded, with
pylatexenc. Its default context drops the argument of some text macros (``\\texttt{x}`` → ``""``)
and reads ``%`` as a comment and ``&`` as a table column, which in a bibliography are text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

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


# In an ASCII value, what :func:`converted` may change besides "--", "''" and runs of spaces (looked for as
# substrings: one class is ~8x quicker to search than alternatives): markup, a ligature, white space other than a
# space (what ``\s`` matches in ASCII)
_NOT_PLAIN = re.compile(r"[\\{}$~%&#`\t\n\r\x0b\x0c\x1c-\x1f]")


def latex_to_text(value: str) -> str:
    """Unicode text for display: ``{\\"u}ber`` → ``über``, ``\\&`` → ``&``, ``--`` → ``–``, ``~`` → space.

    Most values (names, most titles) are plain ASCII that the conversion leaves as it is: a few searches tell so,
    and the value is returned as it came (a build asks ~0.2M times in each process that exports the works; 0.4 µs
    each against 2 µs)."""
    if not value:
        return ""
    if (value.isascii() and not _NOT_PLAIN.search(value) and "--" not in value and "''" not in value
            and "  " not in value and value[0] != " " and value[-1] != " "):
        return value
    return converted(value)


def converted(value: str) -> str:
    """:func:`latex_to_text` without its shortcut for plain values.

    A value with no markup but groups (``{Peer} support``, which keeps a capital from a style's lower-casing: a
    tenth of the bench corpus's titles) is its text without the braces, unless taking them away would join a
    ligature that the group kept apart (``-{}-``): pylatexenc took ~40 µs for each."""
    if not value:
        return ""
    if not any(c in value for c in "\\$~%&#"):  # no markup: only TeX's ligatures to resolve
        if "{" in value or "}" in value:
            text = value.replace("{", "").replace("}", "")
            if "`" in text or "--" in text or "''" in text:
                return _latex_to_text(value)
            value = text
        if any(c in value for c in "-`'"):
            value = _LIGATURES.sub(lambda m: _LIGATURE_TEXT[m.group()], value)
        return unicodedata.normalize("NFC", _WS.sub(" ", value).strip())
    return _latex_to_text(value)


# pylatexenc's: a lone ` stays as it is (it was ‘ here, so a value read differently with markup and without)
_LIGATURE_TEXT = {"---": "—", "--": "–", "``": "“", "''": "”", "!`": "¡", "?`": "¿"}
_LIGATURES = re.compile(r"---|--|``|''|!`|\?`")


@functools.lru_cache(maxsize=65536)  # journal names, authors and publishers repeat across entries
def _latex_to_text(value: str) -> str:
    converter, walker_db = _converter()
    walker = _walker_class()(_UNESCAPED.sub(r"\\\1", value), latex_context=walker_db, tolerant_parsing=True)
    try:
        nodes = walker.get_latex_nodes()[0]
        text = converter.nodelist_to_text(nodes)
    except Exception:  # pragma: no cover - pylatexenc is tolerant; never let display crash a build
        text = re.sub(r"[{}\\]", "", value)
    finally:
        walker.let_go_ends()
    return unicodedata.normalize("NFC", _WS.sub(" ", text.replace("\u00a0", " ")).strip())


@functools.cache
def _walker_class() -> type:
    """pylatexenc's ``LatexWalker``, whose end-of-stream exceptions are let go of once a value is parsed.

    Its parser keeps the exception that ends the stream in a local of the frame that caught it, and that frame is in
    the exception's traceback: a cycle. Each frame it holds, once returned, holds the frame that called it, and so on
    up to the build's top: their locals (a whole load's records and parsed text) then waited for a full collection,
    which the build pauses (after an edited reference in the editors' loop: ~190,000 objects until the loop's idle
    collection). Clearing the traceback breaks the cycle, and the frames are freed as they return."""
    from pylatexenc.latexwalker import LatexWalker, LatexWalkerEndOfStream

    class Walker(LatexWalker):
        def get_token(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().get_token(*args, **kwargs)
            except LatexWalkerEndOfStream as end:
                self.__dict__.setdefault("_ends", []).append(end)
                raise

        def let_go_ends(self) -> None:
            for end in self.__dict__.pop("_ends", ()):
                end.__traceback__ = None

    return Walker
