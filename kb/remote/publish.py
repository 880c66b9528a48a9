"""Publish the built KB to a SPARQL server: replace one named graph all or nothing.

The protocol, and why each step:

1. Parse and check every line first: malformed N-Triples, or a typed literal that a server would
   silently turn into ``0``, never reach the server.
2. Upload into a fresh staging graph, in chunks (Virtuoso hung on single uploads of 0.5–1M triples
   but never on chunks of 100k–200k, and a failed PUT has already wiped the graph it targets).
3. ``COUNT`` the staging graph: a ``MOVE`` from an empty or partial graph would publish exactly that.
4. Swap it in with one SPARQL Update, one transaction: ``MOVE <staging> TO <graph>``. On Virtuoso
   ``COPY`` instead, then ``DROP`` the staging graph: its ``MOVE`` onto a 100k-triple graph ran past
   60 s (248 s without a transaction), while ``COPY`` takes 1–7 s. A crash mid-COPY rolls back, but
   Virtuoso's endpoint reads uncommitted rows, so readers may see part of the swap while it runs.
5. ``COUNT`` the live graph.

Any failure before the swap drops the staging graph and leaves the live graph as it was. A swap sent but not
answered (a timeout, a broken connection) may still be running on the server, reading the staging graph: that
graph is kept, and the error says that the live graph holds either the old or the new triples.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from kb.io import gz
from kb.namespaces import XSD
from kb.problems import Problem, error, warning
from kb.remote.http import (
    TRANSIENT_STATUSES,
    Client,
    Credentials,
    Endpoints,
    RemoteError,
    TransientError,
    credentials_for,
)
from kb.remote.query import count_triples

Progress = Callable[[str], None]
Source = Path | str | bytes | Iterable[str] | Iterable[bytes]

DEFAULT_CHUNK_TRIPLES = 100_000
INT32 = (-(2**31), 2**31 - 1)  # Virtuoso 7.2 stores integers beyond 32 bits as xsd:decimal
_TZ = r"(Z|[+-][0-9]{2}:[0-9]{2})?"
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
LEXICAL: dict[str, re.Pattern[str]] = {
    XSD + name: re.compile(pattern + r"\Z")
    for names, pattern in [
        (("integer", "int", "long", "short", "nonNegativeInteger", "positiveInteger"), r"[+-]?[0-9]+"),
        (("decimal",), _DECIMAL),
        (("double", "float"), rf"({_DECIMAL}([eE][+-]?[0-9]+)?|[+-]?INF|NaN)"),
        (("boolean",), r"(true|false|1|0)"),
        (("date",), r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}" + _TZ),
        (("gYear",), r"-?[0-9]{4,}" + _TZ),
        (("dateTime",), r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?" + _TZ),
    ]
    for name in names
}


def _quiet(_message: str) -> None:
    pass


class PublishError(Exception):
    """Publishing failed. ``server``: the server or network failed (not the input); ``sent``: a request
    reached it; ``staging_left``: a staging graph that could not be dropped."""

    def __init__(self, message: str, *, problems: Iterable[Problem] = (), sent: bool = False,
                 server: bool = False, staging_left: str | None = None) -> None:
        super().__init__(message)
        self.problems, self.sent, self.server, self.staging_left = list(problems), sent, server, staging_left


@dataclass(frozen=True)
class Plan:
    """What a publish would send: printed by ``--dry-run``, followed step by step otherwise."""

    source: str
    endpoints: Endpoints
    graph: str
    staging: str
    chunks: tuple[int, ...]  # triples per chunk
    body_bytes: int
    warnings: tuple[Problem, ...] = ()

    @property
    def triples(self) -> int:
        return sum(self.chunks)

    def describe(self) -> str:
        e = self.endpoints
        return "\n".join([
            f"source:         {self.source}: {self.triples:,} distinct triples, {self.body_bytes:,} bytes of N-Triples",
            f"graph:          <{self.graph}> (replaced as a whole)",
            f"staging graph:  <{self.staging}> (dropped again on failure; kept if the swap goes unanswered)",
            f"query endpoint: {e.query} (COUNT checks)",
            f"graph store:    {e.store} (PUT, then POST: {len(self.chunks)} chunk(s) of "
            f"{', '.join(f'{n:,}' for n in self.chunks)} triples)",
            f"update:         {e.update} (DROP SILENT GRAPH <staging>; then MOVE <staging> TO <graph>, "
            "or on Virtuoso COPY <staging> TO <graph> and DROP <staging>)",
        ])


@dataclass(frozen=True)
class PublishResult:
    plan: Plan
    dry_run: bool
    swap: str = ""  # "move" or "copy"
    seconds: float = 0.0
    chunk_seconds: tuple[float, ...] = ()
    swap_seconds: float = 0.0
    previous_triples: int | None = None
    requests: int = 0
    warnings: list[Problem] = field(default_factory=list)


# --- reading and checking ---------------------------------------------------------------


def load_ntriples(source: Source) -> tuple[str, list, list[Problem]]:
    """Parse N-Triples line by line (every error reported, with its line), then check typed literals.

    Returns ``(label, distinct triples in input order, problems)``.
    """
    import pyoxigraph as ox

    label, lines = _lines(source)
    triples: dict = {}
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        try:
            parsed = [quad.triple for quad in ox.parse(line, format=ox.RdfFormat.N_TRIPLES)]
        except SyntaxError as exc:
            detail = str(exc).split(": ", 1)[-1]
            problems.append(error(label, number, "nt-syntax", f"not an N-Triples statement: {detail}",
                                  col=exc.offset, expected="<s> <p> <o> . with absolute IRIs"))
            continue
        for triple in parsed:
            problems.extend(check_literal(triple.object, label, number))
            triples.setdefault(triple, None)
    return label, list(triples), problems


def check_literal(term: object, path: str, line: int) -> list[Problem]:
    """Typed literals a server would corrupt: malformed values (Virtuoso stores ``"abc"^^xsd:integer`` as 0),
    integers beyond 32 bits (Virtuoso makes them ``xsd:decimal``) and doubles (it returns ~6 digits)."""
    import pyoxigraph as ox

    if not isinstance(term, ox.Literal) or term.language:
        return []
    datatype, value = term.datatype.value, term.value
    pattern = LEXICAL.get(datatype)
    short = datatype.replace(XSD, "xsd:")
    if pattern is not None and (not pattern.match(value) or not _calendar_ok(datatype, value)):
        return [error(path, line, "nt-literal", f"{value!r} is not a valid {short}",
                      expected=f"the lexical form of {short}", hint="fix the value in the evidence, then rebuild")]
    if pattern is not None and short in ("xsd:integer", "xsd:long") and not INT32[0] <= int(value) <= INT32[1]:
        return [warning(path, line, "nt-integer-range", f"{value} does not fit in 32 bits",
                        hint="Virtuoso 7 returns it as xsd:decimal, not xsd:integer")]
    if short in ("xsd:double", "xsd:float"):
        return [warning(path, line, "nt-double", f"{short} {value!r} may lose precision on the server",
                        hint="Virtuoso returns doubles with about 6 significant digits; use xsd:decimal")]
    return []


def _calendar_ok(datatype: str, value: str) -> bool:
    if datatype not in (XSD + "date", XSD + "dateTime"):
        return True
    match = re.match(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})", value)
    if not match:
        return False
    year, month, day = (int(g) for g in match.groups())
    try:
        date(year if 1 <= year <= 9999 else 2000, month, day)  # outside 1–9999: check month and day only
    except ValueError:
        return False
    return True


def _lines(source: Source) -> tuple[str, list[bytes]]:
    if isinstance(source, Path | str):
        path = Path(source)
        try:
            return str(path), gz.read(path).splitlines()
        except OSError as exc:
            raise PublishError(f"cannot read {path}: {exc.strerror or exc}") from None
    if isinstance(source, bytes):
        return "<bytes>", source.splitlines()
    return "<lines>", [line.encode("utf-8") if isinstance(line, str) else line for line in source]


def make_chunks(triples: list, size: int) -> list[list]:
    """Chunks of at most ``size`` triples, keeping every blank node's triples together.

    Each upload is its own document, so a label like ``_:b1`` in two chunks would become two nodes.
    A blank-node component larger than ``size`` makes one larger chunk.
    """
    import pyoxigraph as ox

    if size < 1:
        raise ValueError("chunk size must be at least 1 triple")
    parent: dict = {}

    def root(node: object) -> object:
        while parent.setdefault(node, node) is not node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def blanks(triple: object) -> list:
        return [t for t in (triple.subject, triple.object) if isinstance(t, ox.BlankNode)]  # type: ignore[attr-defined]

    for triple in triples:
        nodes = blanks(triple)
        for other in nodes[1:]:
            parent[root(other)] = root(nodes[0])
    units: dict[object, list] = {}
    for index, triple in enumerate(triples):
        nodes = blanks(triple)
        units.setdefault(root(nodes[0]) if nodes else index, []).append(triple)
    chunks: list[list] = [[]]
    for unit in units.values():
        if chunks[-1] and len(chunks[-1]) + len(unit) > size:
            chunks.append([])
        chunks[-1].extend(unit)
    return [chunk for chunk in chunks if chunk]


def default_graph_iri(base_iri: str) -> str:
    return f"{base_iri}graph"


# --- publishing -------------------------------------------------------------------------


def plan_publish(source: Source, endpoint: str, graph_iri: str, *, chunk_triples: int = DEFAULT_CHUNK_TRIPLES,
                 update_endpoint: str | None = None, store_endpoint: str | None = None,
                 allow_empty: bool = False) -> tuple[Plan, list[bytes]]:
    """Read, check and chunk the input; raise ``PublishError`` (nothing sent) if it is not fit to publish."""
    import pyoxigraph as ox

    for url in (endpoint, update_endpoint, store_endpoint):
        if url is not None and not re.match(r"https?://[^/\s]+", url):
            raise PublishError(f"not an http(s) endpoint URL: {url!r}")
    try:
        ox.NamedNode(graph_iri)
    except ValueError as exc:
        raise PublishError(f"not an absolute IRI for --graph: {graph_iri!r} ({exc})") from None
    if ":" not in graph_iri:
        raise PublishError(f"not an absolute IRI for --graph: {graph_iri!r}")
    label, triples, problems = load_ntriples(source)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PublishError(f"{label}: {len(errors)} error(s) in the N-Triples; nothing was sent", problems=problems)
    if not triples and not allow_empty:
        raise PublishError(f"{label} has no triples: refusing to replace <{graph_iri}> with an empty graph")
    chunks = make_chunks(triples, chunk_triples)
    bodies = [_ntriples(chunk) for chunk in chunks]
    staging = f"{graph_iri}-staging-{uuid.uuid4().hex[:12]}"
    plan = Plan(label, Endpoints.guess(endpoint, update_endpoint, store_endpoint), graph_iri, staging,
                tuple(len(c) for c in chunks), sum(len(b) for b in bodies), tuple(problems))
    return plan, bodies


def publish(nt: Source, endpoint: str, graph_iri: str, *, auth: Credentials | Literal["env"] | None = "env",
            chunk_triples: int = DEFAULT_CHUNK_TRIPLES, dry_run: bool = False, progress: Progress = _quiet,
            update_endpoint: str | None = None, store_endpoint: str | None = None, timeout: float = 60.0,
            swap_timeout: float = 600.0, client: Client | None = None, allow_empty: bool = False,
            swap: Literal["auto", "move", "copy"] = "auto", retries: int = 4) -> PublishResult:
    """Replace the named graph ``graph_iri`` on the server with the triples of ``nt`` (see the module doc).

    ``auth="env"`` reads ``KB_SPARQL_USER``/``KB_SPARQL_PASSWORD`` or netrc; ``None`` sends no credentials.
    ``swap="auto"`` copies on Virtuoso (by its ``Server`` header) and moves elsewhere.
    """
    plan, bodies = plan_publish(nt, endpoint, graph_iri, chunk_triples=chunk_triples, allow_empty=allow_empty,
                                update_endpoint=update_endpoint, store_endpoint=store_endpoint)
    if dry_run:
        return PublishResult(plan, True, warnings=list(plan.warnings))
    if client is None:
        try:
            creds = credentials_for(endpoint) if auth == "env" else auth
        except ValueError as exc:
            raise PublishError(str(exc)) from None
        client = Client(creds, timeout=timeout, retries=retries)
    start = time.monotonic()
    ends, staging = plan.endpoints, plan.staging
    try:
        progress(f"checking {ends.query}")
        previous = count_triples(client, ends.query, plan.graph)
        if swap == "auto":
            swap = "copy" if "virtuoso" in client.server.lower() else "move"
        client.update(ends.update, f"DROP SILENT GRAPH <{staging}>")
    except RemoteError as exc:
        raise PublishError(f"nothing was published: {exc}", sent=exc.status is not None, server=True) from None
    chunk_seconds: list[float] = []
    swapping = False
    try:
        for number, body in enumerate(bodies, 1):
            began = time.monotonic()
            _expect_2xx(client.graph_store("PUT" if number == 1 else "POST", ends.store, staging, body))
            chunk_seconds.append(time.monotonic() - began)
            progress(f"uploaded chunk {number}/{len(bodies)} ({plan.chunks[number - 1]:,} triples, "
                     f"{chunk_seconds[-1]:.2f} s)")
        staged = count_triples(client, ends.query, staging)
        if staged != plan.triples:
            raise RemoteError(f"the staging graph holds {staged:,} triples, expected {plan.triples:,}")
        progress(f"staging graph verified ({staged:,} triples); swapping it in")
        began = time.monotonic()
        verb = "COPY" if swap == "copy" else "MOVE"
        swapping = True
        # A MOVE run twice empties the live graph (the second moves a graph the first removed), so it is not retried
        # after a 503; a COPY run twice copies the same triples.
        _expect_2xx(client.update(ends.update, f"{verb} <{staging}> TO <{plan.graph}>", timeout=swap_timeout,
                                  idempotent=verb == "COPY"))
        swap_seconds = time.monotonic() - began
    except (RemoteError, KeyboardInterrupt) as exc:
        if swapping and _unanswered(exc):
            raise PublishError(_swap_unknown(plan, verb, exc), sent=True, server=True, staging_left=staging) from None
        left = _drop_quietly(client, ends.update, staging)  # harmless after a MOVE that ran: its source is gone
        note = f"; the staging graph <{staging}> could not be dropped: drop it by hand" if left else ""
        if swapping and verb == "MOVE" and isinstance(exc, RemoteError) and exc.status in TRANSIENT_STATUSES:
            outcome = (f"publish failed: {exc}. The MOVE is not sent twice (a second one would empty <{plan.graph}>), "
                       f"so <{plan.graph}> most likely holds its old triples; if a gateway answered for a server that "
                       f"ran the MOVE, it holds the new {plan.triples:,}: count it to be sure")
        else:
            outcome = f"publish failed, <{plan.graph}> was left as it was: {exc}"
        raise PublishError(outcome + note, sent=True, server=True, staging_left=staging if left else None) from None
    warnings = list(plan.warnings)
    if swap == "copy" and _drop_quietly(client, ends.update, staging):
        warnings.append(warning(plan.source, None, "publish-staging-left", f"the staging graph <{staging}> could "
                                "not be dropped after the swap", hint="drop it by hand"))
    try:
        live = count_triples(client, ends.query, plan.graph)
    except RemoteError as exc:
        raise PublishError(f"the graph was swapped in, but counting it failed: {exc}", sent=True,
                           server=True) from None
    if live != plan.triples:
        raise PublishError(f"<{plan.graph}> holds {live:,} triples after the swap, expected {plan.triples:,}: "
                           "another publish may have run at the same time", sent=True, server=True)
    progress(f"published {live:,} triples to <{plan.graph}> in {time.monotonic() - start:.1f} s")
    return PublishResult(plan, False, swap, time.monotonic() - start, tuple(chunk_seconds), swap_seconds, previous,
                         client.requests, warnings)


def _expect_2xx(response: object) -> None:
    status = response.status  # type: ignore[attr-defined]
    if not 200 <= status < 300:
        raise RemoteError(f"unexpected HTTP {status}: {response.text()}", status=status)  # type: ignore[attr-defined]


GATEWAY_UNSURE = (502, 504)  # a gateway's answer when the server behind it failed or was slow: it may still run


def _unanswered(exc: BaseException) -> bool:
    """The request may have reached the server, which did not answer (a timeout, a broken connection, an
    interrupt, or a gateway that gave up on it): what it did is unknown. A refused connection reached nothing."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return isinstance(exc, RemoteError) and not isinstance(exc, TransientError) and (
        exc.status is None or exc.status in GATEWAY_UNSURE)


def _swap_unknown(plan: Plan, verb: str, exc: BaseException) -> str:
    """The error for a swap sent but not answered. The server may still run it, from the staging graph: dropping
    that graph now could make it a swap from an empty graph, so it is kept and the user is told what to check."""
    why = "it was interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
    return (f"the swap ({verb} <{plan.staging}> TO <{plan.graph}>) got no answer ({why}); the server may still "
            f"complete it, so <{plan.graph}> holds either its old triples or the new {plan.triples:,}. The staging "
            f"graph <{plan.staging}> was kept (it is what the swap reads): count <{plan.graph}> once the server is "
            "idle, then drop the staging graph by hand")


def _drop_quietly(client: Client, update_endpoint: str, staging: str) -> bool:
    """Best-effort clean-up after a failure; True if the staging graph may still be there."""
    saved = client.retries
    client.retries = min(saved, 1)
    try:
        client.update(update_endpoint, f"DROP SILENT GRAPH <{staging}>")
        return False
    except RemoteError:
        return True
    finally:
        client.retries = saved


def _ntriples(triples: list) -> bytes:
    """Triples as N-Triples bytes (pyoxigraph returns bytes when no output file is given)."""
    import pyoxigraph as ox

    data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    assert data is not None
    return data
