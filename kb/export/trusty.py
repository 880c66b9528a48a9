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


_LOCAL_LINES: dict[str, str] = {}  # a Local's line by suffix: a handful of them, in every nanopublication


def term_line(term: Term) -> str:
    """The term's line in the normal form (the artifact code already a space)."""
    if type(term) is str:  # most terms: an IRI outside the nanopublication is its own line
        return term + "\n"
    if isinstance(term, Lit):
        value = term.value.replace("\\", "\\\\").replace("\n", "\\n")
        return f"@{term.lang.lower()} {value}\n" if term.lang else f"^{term.datatype or XSD_STRING} {value}\n"
    if isinstance(term, Local):
        found = _LOCAL_LINES.get(term.suffix)
        if found is None:
            found = _LOCAL_LINES[term.suffix] = np_uri(" ", term) + "\n"
        return found
    return term + "\n"  # a str subclass


def normal_lines(quads: Iterable[Quad]) -> list[tuple[str, str]]:
    """Every quad in the RA normal form, sorted and deduplicated: (its graph's line, its four lines).

    One pass serves both the artifact code (every quad) and a digest of some graphs only (the graph's line
    picks them out: the quads of one graph are contiguous in this order). Python compares ``str`` by code point,
    which is the UTF-8 byte order the library uses.
    """
    keyed = []
    for g, s, p, o in quads:
        graph = term_line(g)  # the IRIs outside, most terms, inline: a call per term was half of the time here
        subject = s + "\n" if type(s) is str else term_line(s)
        predicate = p + "\n" if type(p) is str else term_line(p)
        obj = o + "\n" if type(o) is str else term_line(o)
        # objects: IRIs before literals; literals by value, then datatype (a language-tagged literal has none),
        # then language
        key = (1, o.value, ("", "") if o.lang else ("~", o.datatype or XSD_STRING), o.lang or "") \
            if isinstance(o, Lit) else (0, obj)
        keyed.append(((graph, subject, predicate, key), graph, graph + subject + predicate + obj))
    keyed.sort()
    out: list[tuple[str, str]] = []
    previous = ""
    for _key, graph, text in keyed:
        if text != previous:
            out.append((graph, text))
        previous = text
    return out


def normalised(quads: Iterable[Quad]) -> str:
    """The text that is hashed (and signed): every quad in the RA normal form, sorted, deduplicated."""
    return "".join(text for _graph, text in normal_lines(quads))


def code_of(text: str) -> str:
    """``RA`` and the hash of a normal form (:func:`normalised`)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "RA" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def artifact_code(quads: Iterable[Quad]) -> str:
    """``RA`` and the hash: the tail of a trusty URI."""
    return code_of(normalised(quads))
