"""A deterministic KB-like graph of any size, with every literal type the KB publishes.

Works with titles (quotes, backslashes, newlines, non-ASCII, astral characters), language-tagged
labels, gYear, date, integer, decimal and boolean values, percent-encoded IRIs, citations between
works, and a few blank nodes (creators), so chunking and round trips meet them all.
"""

from __future__ import annotations

from kb.namespaces import BIBO, CITO, DCTERMS, FOAF, PSK, RDF, RDFS, SCHEMA, XSD

BASE = "https://w3id.org/peer-support-kb/"
TRIPLES_PER_WORK = 14


def _lit(value: str, datatype: str | None = None, lang: str | None = None) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    if lang:
        return f'"{escaped}"@{lang}'
    return f'"{escaped}"' + (f"^^<{XSD}{datatype}>" if datatype else "")


def work_triples(i: int, variant: int = 0) -> list[str]:
    work = f"<{BASE}work/w{i:06d}>"
    year = 1990 + (i * 7 + variant) % 35
    decimal = f"{((i * 37 + variant * 11) % 400 - 200) / 100:.2f}".rstrip("0").rstrip(".")
    if "." not in decimal:
        decimal += ".0"
    title = f'Peer support study {i} ("variant {variant}"): café \\ naïve — 😀\nsecond line'
    creator = f"_:c{i}" if i % 50 == 0 else f"<{BASE}work/w{i:06d}/author/1>"
    return [
        f"{work} <{RDF}type> <{BIBO}AcademicArticle> .",
        f"{work} <{DCTERMS}title> {_lit(title)} .",
        f"{work} <{RDFS}label> {_lit(f'Peer support {i}', lang='en')} .",
        f"{work} <{RDFS}label> {_lit(f'Peer support (colour) {i}', lang='en-GB')} .",
        f"{work} <{RDFS}label> {_lit(f'Peer-Unterstützung {i}', lang='de')} .",
        f"{work} <{DCTERMS}issued> {_lit(str(year), 'gYear')} .",
        f"{work} <{DCTERMS}date> {_lit(f'{year}-{1 + i % 12:02d}-{1 + i % 28:02d}', 'date')} .",
        f"{work} <{PSK}sampleSize> {_lit(str(20 + (i * 13 + variant) % 5000), 'integer')} .",
        f"{work} <{PSK}effectSize> {_lit(decimal, 'decimal')} .",
        f"{work} <{PSK}peerLed> {_lit('true' if (i + variant) % 3 else 'false', 'boolean')} .",
        f"{work} <{SCHEMA}url> <https://example.org/paper%20{i}/caf%C3%A9?q=a%26b&v={variant}> .",
        f"{work} <{CITO}cites> <{BASE}work/w{(i * 31 + 7) % max(i, 1):06d}> .",
        f"{work} <{DCTERMS}creator> {creator} .",
        f"{creator} <{FOAF}name> {_lit(f'Author {i} Ø', 'string')} .",
    ]


def kb_like_ntriples(triples: int, variant: int = 0) -> bytes:
    """Exactly ``triples`` distinct statements, sorted, as N-Triples bytes."""
    lines: list[str] = []
    i = 0
    while len(lines) < triples:
        lines.extend(work_triples(i, variant))
        i += 1
    return ("\n".join(sorted(set(lines[:triples]))) + "\n").encode("utf-8")
