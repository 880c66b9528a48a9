"""Trusty URIs, module RA: a nanopublication's URI is the hash of its own normalised quads.

The algorithm is the one of the Trusty URI specification (Kuhn & Dumontier, ESWC 2014) as
trustyuri-java's RA module and the ``nanopub`` Python library implement it, so that nanopub tools
verify what we write (``tests/test_nanopub.py`` checks every artifact code against that library):

1. every IRI inside the nanopublication (the nanopublication itself and ``…#assertion`` etc.) is
   written with a single space where the artifact code goes: ``https://w3id.org/np/ #assertion``;
2. each quad becomes four lines — graph, subject, predicate, object — an IRI as itself, a literal
   as ``@lang value`` or ``^datatype value`` (plain literals take ``xsd:string``), with ``\\`` and
   newlines escaped;
3. the quads are sorted (graph, subject, predicate, then object: IRIs before literals; literals by
   value, then datatype, then language), duplicates dropped, and the lines concatenated;
4. the artifact code is ``RA`` + the URL-safe base64 of the SHA-256 of that text, without padding.

Strings compare by their UTF-8 bytes (code-point order), as the Python library does.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

NP_BASE = "https://w3id.org/np/"  # where nanopublication URIs resolve once published
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


@dataclass(frozen=True)
class Local:
    """An IRI inside the nanopublication: ``this:`` (``suffix`` empty) or ``sub:<suffix>``."""

    suffix: str = ""


@dataclass(frozen=True)
class Lit:
    value: str
    datatype: str = XSD_STRING
    lang: str | None = None


Term = str | Local | Lit  # a plain str is an IRI outside the nanopublication
Quad = tuple[Local, Term, Term, Term]


def np_uri(code: str, local: Local = Local()) -> str:
    """The IRI of ``local`` in the nanopublication with artifact code ``code`` (a space while hashing)."""
    return f"{NP_BASE}{code}#{local.suffix}" if local.suffix else f"{NP_BASE}{code}"


def _line(term: Term) -> str:
    """The term's line in the normal form (the artifact code already a space)."""
    if isinstance(term, Lit):
        value = term.value.replace("\\", "\\\\").replace("\n", "\\n")
        return f"@{term.lang.lower()} {value}\n" if term.lang else f"^{term.datatype or XSD_STRING} {value}\n"
    return (np_uri(" ", term) if isinstance(term, Local) else term) + "\n"


def _object_key(term: Term, line: str) -> tuple:
    if isinstance(term, Lit):  # by value, then datatype (a language-tagged literal has none), then language
        return (1, term.value, ("", "") if term.lang else ("~", term.datatype or XSD_STRING), term.lang or "")
    return (0, line)


def normalised(quads: Iterable[Quad]) -> str:
    """The text that is hashed (and signed): every quad in the RA normal form, sorted, deduplicated.

    Python compares ``str`` by code point, which is the UTF-8 byte order the library uses.
    """
    lines: dict[Term, str] = {}
    keyed = []
    for quad in quads:
        parts = []
        for term in quad:
            line = lines.get(term)
            if line is None:
                line = lines[term] = _line(term)
            parts.append(line)
        keyed.append(((parts[0], parts[1], parts[2], _object_key(quad[3], parts[3])), "".join(parts)))
    keyed.sort()
    out: list[str] = []
    previous = ""
    for _key, text in keyed:
        if text != previous:
            out.append(text)
        previous = text
    return "".join(out)


def artifact_code(quads: Iterable[Quad]) -> str:
    """``RA`` and the hash: the tail of a trusty URI."""
    digest = hashlib.sha256(normalised(quads).encode("utf-8")).digest()
    return "RA" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
