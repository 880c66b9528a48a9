"""Nanopublications: one per claim, content-addressed by a Trusty URI, as one TriG file.

Each nanopublication has the four graphs of the nanopub schema: a head; the assertion — the claim's
own triples as they are in the KB graph (the claim, its outcome findings and reported figures); the
provenance of the assertion (quoted from the source document, in which section, derived from the
cited works, attributed to the curator); and publication info (licence, creator, creation date from
the data, and ``npx:supersedes`` when the claim changed). Its URI is ``https://w3id.org/np/RA…``
with the RA artifact code of :mod:`kb.export.trusty`, so any change to any of its triples changes
the URI: a nanopublication is tamper-evident.

Why one file: one download with a size on the data page; nanopub tools read several nanopubs from
one TriG file; and a file per claim would add 50,000 files to a site whose build is already bound
by file I/O. Each nanopublication is one block of the file (its own ``this:``/``sub:`` prefixes),
written the same way from the same quads, so an unchanged claim keeps byte-identical lines.

Updates: given the previous export (``previous``), a claim whose assertion and provenance did not
change keeps its previous nanopublication as it was (date, signature and URI included); a changed
claim gets a new one whose publication info says ``npx:supersedes <the old one>``. A previous
nanopublication whose content no longer matches its URI is refused.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from kb.export.pieces import Piece, as_bytes
from kb.export.stamp import data_timestamp
from kb.export.trusty import (
    NP_BASE,
    XSD_STRING,
    Lit,
    Local,
    Quad,
    Term,
    code_of,
    normal_lines,
    normalised,
    np_uri,
    term_line,
)
from kb.graph.iris import Minter
from kb.io import gz
from kb.io.leftovers import own_prefix
from kb.namespaces import DCTERMS, PROV, PSK, RDF, RDFS, XSD

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kb.graph.build import KnowledgeGraph
    from kb.load.evidence import Evidence
    from kb.model import Claim

CLAIMS_KIND = "kb-claims-"  # the claims' triples in the temporary folder (claims_table; kb.io.leftovers)
NP = "http://www.nanopub.org/nschema#"
NPX = "http://purl.org/nanopub/x/"
HEAD, ASSERTION, PROVENANCE, PUBINFO, SIG = (Local(s) for s in ("Head", "assertion", "provenance", "pubinfo", "sig"))
GRAPHS = (HEAD, ASSERTION, PROVENANCE, PUBINFO)
_CONTENT_GRAPHS = frozenset({term_line(ASSERTION), term_line(PROVENANCE)})  # Nanopub.content_key's graphs
PREFIXES = {"np": NP, "npx": NPX, "rdf": RDF, "rdfs": RDFS, "xsd": XSD, "dcterms": DCTERMS, "prov": PROV,
            "psk": PSK, "cito": "http://purl.org/spar/cito/", "skos": "http://www.w3.org/2004/02/skos/core#",
            "schema": "https://schema.org/"}


class NanopubError(ValueError):
    """A previous export or a signing key that cannot be used: nothing is written."""


@dataclass
class Nanopub:
    """One nanopublication: its quads (with :class:`Local` IRIs) and its artifact code."""

    claim: str  # the claim's IRI
    quads: list[Quad]
    code: str = ""
    supersedes: str | None = None
    reused: bool = False
    digest: str = ""  # content_digest(), where seal() took it from the same normal form as the code

    @property
    def uri(self) -> str:
        return np_uri(self.code)

    def content_key(self) -> str:
        """What decides whether a claim changed: its assertion and provenance graphs, normalised."""
        return normalised(q for q in self.quads if q[0] in (ASSERTION, PROVENANCE))

    def content_digest(self) -> str:
        return self.digest or hashlib.sha256(self.content_key().encode("utf-8")).hexdigest()

    def seal(self) -> None:
        """Its quads are final: their artifact code, and the content digest from the same normal form (the
        assertion and provenance lines of the sorted whole are :meth:`content_key`; normalising twice was a
        fifth of a cold export)."""
        lines = normal_lines(self.quads)
        self.code = code_of("".join(text for _graph, text in lines))
        content = "".join(text for graph, text in lines if graph in _CONTENT_GRAPHS)
        self.digest = hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass
class Kept:
    """A nanopublication of the last build as it was written (:mod:`kb.export.nanopub_memo`): its block of
    TriG, its artifact code and the digest of its content, all a rebuild needs to keep or supersede it."""

    claim: str
    code: str
    digest: str
    data: Piece  # the block, UTF-8, read where its run changed: the same object in every rebuild of kb serve's loop
    supersedes: str | None = None
    reused: bool = False

    @property
    def uri(self) -> str:
        return np_uri(self.code)

    def content_digest(self) -> str:
        return self.digest


@dataclass
class Export:
    nanopubs: list[Nanopub | Kept] = field(default_factory=list)

    @property
    def superseding(self) -> list[Nanopub | Kept]:
        return [n for n in self.nanopubs if n.supersedes]


def claim_nanopubs(evidence: Evidence, kg: KnowledgeGraph, *, previous: Path | None = None,
                   sign_key: Path | None = None, old: Mapping[str, Nanopub | Kept] | None = None,
                   claims: Iterable[Claim] | None = None) -> Export:
    """A nanopublication per claim (ordered by claim id), reusing or superseding ``previous`` (or ``old``,
    the previous export's nanopublications by claim IRI, when the caller has them already); ``claims``:
    only these claims'."""
    import pyoxigraph as ox

    config = evidence.config
    mint = Minter(config.base_iri)
    created = data_timestamp(config)
    curator = _curator(config.extra.get("curator"), mint.dataset())
    if old is None:
        old = read_previous(previous) if previous is not None else {}
    signer = _signer(sign_key) if sign_key is not None else None
    export = Export()
    # where the build let its store go, the claims' triples it kept
    rows = claim_rows(kg.released.claims) if kg.released is not None else None
    for claim in sorted(evidence.claims if claims is None else claims, key=lambda c: c.id):
        iri = mint.claim(claim.id)
        quads: list[Quad] = [(HEAD, Local(), RDF + "type", NP + "Nanopublication"),
                 (HEAD, Local(), NP + "hasAssertion", ASSERTION),
                 (HEAD, Local(), NP + "hasProvenance", PROVENANCE),
                 (HEAD, Local(), NP + "hasPublicationInfo", PUBINFO)]
        quads += [(ASSERTION, s, p, o) for s, p, o in (rows.triples(iri) if rows is not None
                                                        else _claim_triples(kg.store, ox.NamedNode(iri)))]
        refs = evidence.references_by_key
        if claim.source in refs:
            quads.append((PROVENANCE, ASSERTION, PROV + "wasQuotedFrom", mint.work(claim.source)))
        quads.append((PROVENANCE, ASSERTION, PSK + "section", Lit(claim.section)))
        quads += [(PROVENANCE, ASSERTION, PROV + "wasDerivedFrom", mint.work(k)) for k in claim.cites if k in refs]
        quads.append((PROVENANCE, ASSERTION, PROV + "wasAttributedTo", curator))
        nanopub = Nanopub(iri, quads)
        before = old.get(iri)
        if before is not None and before.content_digest() == nanopub.content_digest():
            before.reused = True
            export.nanopubs.append(before)
            continue
        info: list[Quad] = [(PUBINFO, Local(), RDFS + "label", Lit(f"Claim {claim.id}")),
                            (PUBINFO, Local(), NPX + "hasNanopubType", PSK + "Claim"),
                            (PUBINFO, Local(), DCTERMS + "license", config.data_licence_url),
                            (PUBINFO, Local(), DCTERMS + "creator", curator)]
        if created:
            info.append((PUBINFO, Local(), DCTERMS + "created", Lit(created, XSD + "dateTime")))
        if before is not None:
            nanopub.supersedes = before.uri
            info.append((PUBINFO, Local(), NPX + "supersedes", before.uri))
        nanopub.quads += info
        if signer is not None:
            signer.sign(nanopub)
        nanopub.seal()
        export.nanopubs.append(nanopub)
    return export


def nanopubs_trig(evidence: Evidence, kg: KnowledgeGraph, *, previous: Path | None = None,
                  sign_key: Path | None = None) -> bytes:
    """The export as TriG bytes: shared prefixes, then one block per nanopublication."""
    return trig_bytes(claim_nanopubs(evidence, kg, previous=previous, sign_key=sign_key))


def trig_bytes(export: Export) -> bytes:
    """The export as TriG bytes: shared prefixes, then one block per nanopublication."""
    return b"".join(map(as_bytes, trig_chunks(export)))


def trig_chunks(export: Export) -> Iterator[bytes | Piece]:
    """:func:`trig_bytes` in pieces (a block each), for a writer that never needs the whole file at once."""
    yield "".join(f"@prefix {p}: <{iri}> .\n" for p, iri in PREFIXES.items()).encode("utf-8")
    for nanopub in export.nanopubs:
        yield block_bytes(nanopub)


def _claim_triples(store: ox.Store, claim: ox.NamedNode) -> list[tuple[Term, Term, Term]]:
    """The claim's own triples: the claim, its findings and their reported figures."""
    import pyoxigraph as ox

    triples: list[tuple[Term, Term, Term]] = []
    todo, seen = [claim], {claim.value}
    owned = {PSK + "finding", PSK + "effect", PSK + "figure"}
    while todo:
        subject = todo.pop()
        for q in store.quads_for_pattern(subject, None, None, ox.DefaultGraph()):
            triples.append((subject.value, q.predicate.value, _term(q.object)))
            if q.predicate.value in owned and isinstance(q.object, ox.NamedNode) and q.object.value not in seen:
                seen.add(q.object.value)
                todo.append(q.object)
    return triples


# each claim's own triples (as _claim_triples walks them: the claim, its findings, their figures); unordered: sorting
# 1.6M rows held ~0.3 GB more at 10k/50k, and ClaimRows finds a claim's rows wherever they are
CLAIMS_QUERY = f"""SELECT ?claim ?s ?p ?o WHERE {{
  ?claim a <{PSK}Claim> ; (<{PSK}finding>|<{PSK}effect>|<{PSK}figure>)* ?s .
  ?s ?p ?o
}}"""


def claims_table(store: ox.Store) -> Path:
    """Every claim's own triples in a temporary TSV file, for :class:`ClaimRows`: what the
    nanopublications read of a store that a build lets go before its site's workers fork
    (:meth:`kb.graph.build.KnowledgeGraph.let_go`). pyoxigraph answers and writes it without the GIL (~7 s at
    10k/50k, in a thread beside SHACL)."""
    import os
    import tempfile

    import pyoxigraph as ox

    fd, name = tempfile.mkstemp(prefix=own_prefix(CLAIMS_KIND), suffix=".tsv")
    os.close(fd)
    try:
        solutions = store.query(CLAIMS_QUERY)
        assert isinstance(solutions, ox.QuerySolutions)
        solutions.serialize(name, format=ox.QueryResultsFormat.TSV)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


class ClaimRows:
    """The claims' triples of a :func:`claims_table` file: where each claim's rows lie is read once (a pass over the
    file's first column: runs of rows, which pyoxigraph writes a claim at a time); a claim's triples are then parsed
    from its own runs, in whatever order claims are asked for (the nanopublications are made a claim file at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: dict[str, list[tuple[int, int]]] = {}
        with open(path, "rb") as table:
            self.header = table.readline()
            at, claim, start = len(self.header), b"", 0
            for line in table:
                head = line[:line.find(b"\t")]
                if head != claim:
                    self._run(claim, start, at)
                    claim, start = head, at
                at += len(line)
            self._run(claim, start, at)

    def _run(self, claim: bytes, start: int, end: int) -> None:
        if claim:
            self.runs.setdefault(claim[1:-1].decode("utf-8"), []).append((start, end))

    def triples(self, claim: str) -> list[tuple[Term, Term, Term]]:
        """The claim's own triples (none for a claim the table lacks)."""
        import pyoxigraph as ox

        runs = self.runs.get(claim)
        if runs is None:
            return []
        with open(self.path, "rb") as table:
            rows = []
            for start, end in runs:
                table.seek(start)
                rows.append(table.read(end - start))
        solutions = ox.parse_query_results(self.header + b"".join(rows), format=ox.QueryResultsFormat.TSV)
        assert isinstance(solutions, ox.QuerySolutions)
        # unpacked: a solution's terms by name took twice as long (8.5 against 3.8 s for 1.6M rows)
        return [(s.value, p.value, _term(o)) for _claim, s, p, o in solutions]


_ROWS: dict[tuple[Path, int, int, int], ClaimRows] = {}


def claim_rows(path: Path) -> ClaimRows:
    """One :class:`ClaimRows` per table (the last one asked for): a build asks for its claims in many calls."""
    info = path.stat()
    key = (path, info.st_ino, info.st_mtime_ns, info.st_size)  # a temporary file's name may come again
    if key not in _ROWS:
        _ROWS.clear()
        _ROWS[key] = ClaimRows(path)
    return _ROWS[key]


def _term(node: object) -> Term:
    import pyoxigraph as ox

    if isinstance(node, ox.NamedNode):
        return node.value
    if isinstance(node, ox.Literal):
        return Lit(node.value, node.datatype.value, node.language)
    raise NanopubError(f"unexpected blank node {node} in a claim (the KB mints no blank nodes)")


def _curator(value: object, fallback: str) -> str:
    """kb.toml's ``curator`` (an IRI, e.g. an ORCID), else the KB itself as the agent."""
    if value is None:
        return fallback
    if (not isinstance(value, str) or not value.startswith(("https://", "http://"))
            or any(c in value for c in ' <>"{}|\\^`')):
        raise NanopubError(f"kb.toml: curator = {value!r}; expected the curator's IRI, e.g. \"https://orcid.org/…\"")
    return value


# --- TriG, one block per nanopublication ----------------------------------------------------------

_LOCAL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_ECHAR = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# every character a literal may not hold as itself: the escapes above, other control characters as \uXXXX (one
# str.translate per literal: a generator over its characters was a fifth of the nanopublications' time)
_ESCAPED = {**{code: f"\\u{code:04X}" for code in range(0x20)}, **{ord(c): e for c, e in _ECHAR.items()}}
_IRI_ESCAPED = {code: f"\\u{code:04X}" for code in (*range(0x21), *map(ord, '<>"{}|^`\\'))}  # and in an IRI


def _write(term: Term) -> str:
    if isinstance(term, Local):
        return f"sub:{term.suffix}" if term.suffix else "this:"
    if isinstance(term, Lit):
        text = term.value.translate(_ESCAPED)
        if term.lang:
            return f'"{text}"@{term.lang}'
        return f'"{text}"' if term.datatype in (XSD_STRING, "") else f'"{text}"^^{_write(term.datatype)}'
    return _write_iri(term)


@lru_cache(maxsize=65536)
def _write_iri(term: str) -> str:
    """An IRI, as ``prefix:name`` where that is plain, else in full (cached: IRIs repeat)."""
    for prefix, ns in PREFIXES.items():
        rest = term[len(ns):]
        if term.startswith(ns) and rest and rest[0].isalpha() and set(rest) <= _LOCAL_SAFE:
            return f"{prefix}:{rest}"
    return f"<{term.translate(_IRI_ESCAPED)}>"


def block(nanopub: Nanopub) -> str:
    """One nanopublication as TriG: the same quads always give the same text."""
    uri = nanopub.uri
    lines = [f"\n@prefix this: <{uri}> .\n@prefix sub: <{uri}#> .\n"]
    for graph in GRAPHS:
        triples = sorted(f"  {_write(s)} {_write(p)} {_write(o)} .\n" for g, s, p, o in nanopub.quads if g == graph)
        lines.append(f"{_write(graph)} {{\n{''.join(triples)}}}\n")
    return "".join(lines)


def block_bytes(nanopub: Nanopub | Kept) -> bytes | Piece:
    """:func:`block` as UTF-8; a kept nanopublication's own piece (made by it in an earlier build), not a copy."""
    return nanopub.data if isinstance(nanopub, Kept) else block(nanopub).encode("utf-8")


# --- the previous export ---------------------------------------------------------------------------

def read_previous(path: Path) -> dict[str, Nanopub]:
    """The nanopublications of a previous export by claim IRI, each checked against its Trusty URI.

    ``path`` is the TriG file (``.trig`` or ``.trig.gz``), or a built site (``data/nanopubs.trig.gz``)
    or its ``data`` folder.
    """
    import pyoxigraph as ox

    for candidate in (path, path / "data" / "nanopubs.trig.gz", path / "nanopubs.trig.gz",
                      path / "data" / "nanopubs.trig", path / "nanopubs.trig"):
        if candidate.is_file():
            path = candidate
            break
    else:
        raise NanopubError(f"{path}: no previous nanopublications there (expected a .trig file or a site's data/)")
    # Each quad is made our terms as it is parsed, each nanopublication's as its graphs come (a block at a time, as
    # this module writes them): the whole file as pyoxigraph's quads first was ~1.3 GB more at 50,000 claims.
    by_code: dict[str, list[Quad]] = {}
    current, own = "", ""
    terms: dict[object, Term] = {}
    iris: dict[object, Term] = {}  # the IRIs no nanopublication owns (predicates, concepts, works): made once
    try:
        with gz.reader(path) as source:
            for q in ox.parse(source, format=ox.RdfFormat.TRIG):
                graph = q.graph_name
                name = graph.value if isinstance(graph, ox.NamedNode) else ""
                code = name[len(NP_BASE):].split("#", 1)[0] if name.startswith(NP_BASE) else ""
                if not code:
                    raise NanopubError(f"{path}: a triple outside any nanopublication graph: {q}")
                if code != current:
                    current, own, terms = code, np_uri(code), {}
                local = _local(graph, own, terms, iris)
                assert isinstance(local, Local)  # the graph's name is the nanopublication's own: its code came from it
                by_code.setdefault(code, []).append((local, _local(q.subject, own, terms, iris),
                                                     _local(q.predicate, own, terms, iris),
                                                     _local(q.object, own, terms, iris)))
    except (EOFError, zlib.error) as exc:  # a damaged gzip file, found as it is read
        raise NanopubError(f"{path}: cannot read the previous nanopublications: not a whole gzip file ({exc})") \
            from None
    except OSError as exc:
        raise NanopubError(f"{path}: cannot read the previous nanopublications: {exc.strerror or exc}") from None
    except SyntaxError as exc:
        raise NanopubError(f"{path}:{exc.lineno}:{exc.offset}: not TriG: {exc}") from None
    found: dict[str, Nanopub] = {}
    for code, quads in by_code.items():
        nanopub = Nanopub("", quads)
        # Its artifact code checked and its content digest taken from one normal form: normalised again for the
        # digest, reading the 50,000 of the bench's site took ~2.5 s more.
        nanopub.seal()
        if nanopub.code != code:
            raise NanopubError(f"{path}: nanopublication {np_uri(code)} does not match its Trusty URI: "
                               "it was changed after it was written")
        claims = [s for g, s, p, o in nanopub.quads
                  if g == ASSERTION and p == RDF + "type" and o == PSK + "Claim" and isinstance(s, str)]
        if len(claims) != 1:
            raise NanopubError(f"{path}: nanopublication {np_uri(code)} asserts {len(claims)} claims; expected 1")
        nanopub.claim = claims[0]
        if nanopub.claim in found:
            raise NanopubError(f"{path}: two nanopublications for {nanopub.claim}")
        found[nanopub.claim] = nanopub
    return found


def _local(node: object, own: str, terms: dict[object, Term], iris: dict[object, Term]) -> Term:
    """A parsed term as our own: relative to the nanopublication ``own`` where it is one of its. ``terms``: those of
    this nanopublication made already; ``iris``: the IRIs outside every nanopublication's (they never are one's own),
    made once for the file, which was ~3.4M terms made again at 50,000 claims."""
    term = iris.get(node)
    if term is not None:
        return term
    term = terms.get(node)
    if term is None:
        import pyoxigraph as ox

        if not isinstance(node, ox.NamedNode):
            term = _term(node)
        elif not node.value.startswith(NP_BASE):
            term = iris[node] = node.value
            return term
        elif node.value == own or node.value.startswith(own + "#"):
            term = Local(node.value[len(own) + 1:])
        else:
            term = node.value
        terms[node] = term
    return term


# --- signing (optional; the key is the editor's, never in the repository) --------------------------

class _Signer:
    """RSA with SHA-256 (PKCS#1 v1.5) over the normalised quads, as nanopub tools sign."""

    def __init__(self, key: object, public: str) -> None:
        self.key = key
        self.public = public

    def sign(self, nanopub: Nanopub) -> None:
        from base64 import b64encode

        from Crypto.Hash import SHA256
        from Crypto.Signature import pkcs1_15

        nanopub.quads += [(PUBINFO, SIG, NPX + "hasAlgorithm", Lit("RSA")),
                          (PUBINFO, SIG, NPX + "hasPublicKey", Lit(self.public)),
                          (PUBINFO, SIG, NPX + "hasSignatureTarget", Local())]
        digest = SHA256.new(normalised(nanopub.quads).encode("utf-8"))
        signature = b64encode(pkcs1_15.new(self.key).sign(digest)).decode("ascii")  # type: ignore[arg-type]
        nanopub.quads.append((PUBINFO, SIG, NPX + "hasSignature", Lit(signature)))


def _signer(path: Path) -> _Signer:
    """The editor's RSA private key: PEM, or base64 DER as nanopub tools keep it (``~/.nanopub/id_rsa``)."""
    from base64 import b64decode, b64encode

    try:
        from Crypto.PublicKey import RSA
    except ImportError:
        raise NanopubError("signing needs pycryptodome: pip install 'peer-support-kb[sign]'") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NanopubError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    try:
        key = RSA.import_key(data if data.lstrip().startswith(b"-----") else b64decode(data, validate=False))
    except (ValueError, IndexError, TypeError):
        raise NanopubError(f"{path}: not an RSA private key; expected PEM or base64 PKCS#8 "
                           "(as in ~/.nanopub/id_rsa)") from None
    if not key.has_private():
        raise NanopubError(f"{path}: this is a public key; signing needs the private key")
    return _Signer(key, b64encode(key.publickey().export_key(format="DER")).decode("ascii"))
