"""The SPARQL 1.1 Protocol over the KB's in-memory store: what ``kb serve`` answers at ``/sparql``.

https://www.w3.org/TR/sparql11-protocol/ — a query comes as ``GET ?query=``, as a form ``POST``
(``query=``) or as a ``POST`` of ``application/sparql-query``; the answer's format is chosen from
the ``Accept`` header among the W3C result formats (JSON, XML, CSV, TSV; Turtle, N-Triples and
RDF/XML for CONSTRUCT and DESCRIBE). The endpoint is read-only, like ``kb query``: the same guard
refuses updates (``update=``, ``application/sparql-update``), ``SERVICE`` and ``FROM`` with
``403``; syntax errors are ``400`` with the line, column and a caret; a query past its time or
memory is stopped (``503``) in its own forked process (:mod:`kb.query.isolate`), so the server and
the other requests go on. The KB's prefixes are predeclared, as in ``kb query``.

This module knows nothing of sockets: :class:`Endpoint` turns a request (method, URL query string,
headers, body) into a :class:`Reply`; :mod:`kb.site.serve` puts it on HTTP.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.namespaces import PREFIXES
from kb.query.isolate import Failed, Limits, Pool, Stopped
from kb.query.sparql import (
    MAX_QUERY_BYTES,
    QueryFailed,
    QueryRefused,
    QuerySyntaxError,
    format_results,
    guard,
    run_query,
)

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kb.query.sparql import QueryResults

PATH = "/sparql"
JSON, XML, CSV, TSV = ("application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                       "text/tab-separated-values")
TURTLE, NTRIPLES, RDFXML = "text/turtle", "application/n-triples", "application/rdf+xml"
RESULT_TYPES = (JSON, XML, CSV, TSV)  # in order of preference when the client accepts several
GRAPH_TYPES = (TURTLE, NTRIPLES, RDFXML)
ALIASES = {"application/json": JSON, "application/xml": XML, "text/xml": XML, "application/x-turtle": TURTLE,
           "text/plain": NTRIPLES}
FORMS_WITH_GRAPHS = ("CONSTRUCT", "DESCRIBE")
SD = "http://www.w3.org/ns/sparql-service-description#"
FORMAT_IRIS = {JSON: "SPARQL_Results_JSON", XML: "SPARQL_Results_XML", CSV: "SPARQL_Results_CSV",
               TSV: "SPARQL_Results_TSV", TURTLE: "Turtle", NTRIPLES: "N-Triples", RDFXML: "RDF_XML"}
EVIDENCE_HEADER = "X-KB-Evidence"  # the evidence key of the store answering (kb query checks it)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, **headers: str) -> Reply:
    return Reply(status, (message.rstrip("\n") + "\n").encode("utf-8"), headers=dict(headers))


class Endpoint:
    """Answers SPARQL protocol requests from ``store`` (held in memory; the workers answer from their copy of it,
    :mod:`kb.query.isolate`).

    ``graph`` is the IRI under which ``kb publish`` puts the KB on a server: a client that names it
    as ``default-graph-uri`` gets the KB, any other graph is refused (this endpoint has one graph).
    ``workers`` forked processes answer the queries (:class:`kb.query.isolate.Pool`); a request waits
    for a free one up to its time limit.
    """

    def __init__(self, store: ox.Store, *, graph: str, key: str, limits: Limits | None = None,
                 workers: int = 2) -> None:
        import pyoxigraph as ox

        self.store, self.graph, self.key = store, graph, key
        self.limits = limits or Limits()
        self._empty = ox.Store()
        self._pool = Pool(_answerer(store), workers, self.limits, (QueryFailed,), _warmer(store))

    def replace(self, store: ox.Store, key: str, graph: str | None = None) -> None:
        """Answer from another store from now on (a rebuilt KB); queries running finish on the old one. ``graph``:
        the KB's graph IRI, where the rebuild read another base IRI from kb.toml."""
        self._pool.replace_handler(_answerer(store), _warmer(store))
        self.store, self.key = store, key
        if graph is not None:
            self.graph = graph

    def pause(self) -> None:
        """The store is about to be written (a rebuild): no query workers until :meth:`replace` or :meth:`resume`
        (:meth:`kb.query.isolate.Pool.pause`); requests wait for them."""
        self._pool.pause()

    def resume(self) -> None:
        """Answer from the same store again (a rebuild failed and put it back)."""
        self.replace(self.store, self.key)

    def close(self) -> None:
        """Stop the query workers."""
        self._pool.close()

    def handle(self, method: str, url_query: str, headers: Mapping[str, str], body: bytes,
               base_url: str = "") -> Reply:
        lower = {name.lower(): value for name, value in headers.items()}
        reply = self._handle(method, url_query, lower, body, base_url)
        reply.headers.setdefault("Access-Control-Allow-Origin", "*")  # the site (any origin, file://) may call it
        reply.headers.setdefault("Cache-Control", "no-cache")
        reply.headers.setdefault("Vary", "Accept")
        reply.headers[EVIDENCE_HEADER] = self.key
        return reply

    def _handle(self, method: str, url_query: str, headers: Mapping[str, str], body: bytes,
                base_url: str) -> Reply:
        if method == "OPTIONS":  # a CORS preflight (a POST of application/sparql-query from a page)
            return Reply(204, b"", headers={"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                                            "Access-Control-Allow-Headers": "Content-Type, Accept",
                                            "Access-Control-Max-Age": "600"})
        if method not in ("GET", "POST"):
            return _error(405, f"{method} is not allowed here: send a query with GET or POST (the SPARQL 1.1 "
                          "Protocol); this endpoint is read-only", Allow="GET, POST, OPTIONS")
        try:
            params = _params(url_query)
            query: str | None = None
            if method == "POST":
                kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if kind == "application/x-www-form-urlencoded":
                    params = _merge(params, _params(_text(body)))
                elif kind == "application/sparql-query":
                    if "query" in params:
                        raise BadRequest("a POST of application/sparql-query carries the query in its body, "
                                         "not also in ?query=")
                    query = _text(body)
                elif kind == "application/sparql-update":
                    return _refused_update()
                else:
                    return _error(415, f"a POST must be application/x-www-form-urlencoded (query=…) or "
                                  f"application/sparql-query, not {kind or 'without a Content-Type'}")
        except BadRequest as exc:
            return _error(400, str(exc))
        if "update" in params:
            return _refused_update()
        if query is None:
            values = params.get("query", [])
            if not values:
                if method == "GET" and not params:
                    return self._description(base_url)
                return _error(400, "no query: send ?query=… (GET), a form with query=… or a body of "
                              "application/sparql-query")
            if len(values) > 1:
                return _error(400, "the query parameter is given more than once; send one query per request")
            query = values[0]
        return self._answer(query, params, headers.get("accept", ""))

    def _answer(self, query: str, params: dict[str, list[str]], accept: str) -> Reply:
        if len(query.encode("utf-8")) > MAX_QUERY_BYTES:
            return _error(413, f"the query is longer than {MAX_QUERY_BYTES:,} bytes")
        for graph in params.get("default-graph-uri", []):
            if graph != self.graph:
                return _error(400, f"default-graph-uri <{graph}> is not served here: this endpoint serves one "
                              f"graph, the KB (<{self.graph}>, also its default graph)")
        if params.get("named-graph-uri"):
            return _error(400, "named-graph-uri is not supported: this endpoint serves one graph, the KB, "
                          "as its default graph")
        try:
            form = guard(query)
        except QueryRefused as exc:
            return _error(403, f"refused: {exc}")
        offered = GRAPH_TYPES if form in FORMS_WITH_GRAPHS else RESULT_TYPES
        chosen = negotiate(accept, offered)
        if chosen is None:
            try:  # a query that cannot run is told so first, whatever the client accepts
                run_query(self._empty, query)  # parsed and planned, nothing evaluated
            except (QuerySyntaxError, QueryFailed) as exc:
                return _error(400, _failure(exc))
            return _error(406, f"cannot answer {form} in any type of Accept: {accept}; this endpoint offers "
                          + ", ".join(offered))
        try:
            limits = self._limits(params.get("timeout", []))
        except BadRequest as exc:
            return _error(400, str(exc))
        try:
            body = self._pool.run((query, chosen), limits)
        except Stopped as exc:
            headers = {"Retry-After": "1"} if exc.reason == "busy" else {}
            return _error(500 if exc.reason == "crashed" else 503, f"stopped: {exc}", **headers)
        except Failed as exc:
            return _error(400, str(exc))
        charset = "; charset=utf-8" if chosen in (CSV, TSV, TURTLE) else ""
        return Reply(200, body, chosen + charset)

    def _limits(self, values: list[str]) -> Limits:
        """The server's limits, with a shorter time if the client asks (``timeout=`` in milliseconds, as Virtuoso)."""
        if not values:
            return self.limits
        try:
            ms = float(values[-1])
        except ValueError:
            ms = -1.0
        if not ms > 0:
            raise BadRequest(f"timeout={values[-1]} is not a number of milliseconds above 0")
        return Limits(min(self.limits.timeout, ms / 1000), self.limits.max_memory_mib)

    def _description(self, base_url: str) -> Reply:
        """A SPARQL 1.1 Service Description (a GET with no query), in Turtle."""
        formats = ", ".join(f"<http://www.w3.org/ns/formats/{FORMAT_IRIS[t]}>" for t in (*RESULT_TYPES, *GRAPH_TYPES))
        text = (f"@prefix sd: <{SD}> .\n\n"
                f"[] a sd:Service ;\n  sd:endpoint <{base_url}{PATH}> ;\n"
                "  sd:supportedLanguage sd:SPARQL11Query ;\n"
                f"  sd:resultFormat {formats} ;\n"
                "  sd:defaultDataset [ a sd:Dataset ; sd:defaultGraph [ a sd:Graph ] ] .\n")
        return Reply(200, text.encode("utf-8"), TURTLE + "; charset=utf-8")


class BadRequest(ValueError):
    """The request is not a SPARQL protocol request (400)."""


def _refused_update() -> Reply:
    return _error(403, "refused: read-only: SPARQL Update is not accepted here; the KB changes only through "
                  "its evidence files (edit them, then kb build)")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not UTF-8 (byte {exc.start})") from None


def _params(text: str) -> dict[str, list[str]]:
    try:
        return urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=False, errors="strict",
                                     max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the parameters cannot be read: {exc}") from None


def _merge(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, []).extend(v)
    return out


def negotiate(accept: str, offered: tuple[str, ...]) -> str | None:
    """The offered media type the ``Accept`` header prefers (RFC 9110: q-values, the most specific range
    decides); ties go to the first offered. No header, or ``*/*``, gives the first."""
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((ALIASES.get(parts[0].lower(), parts[0].lower()), q))
    if not ranges:
        return offered[0]
    best, best_q = None, 0.0
    for kind in offered:
        q = _quality(kind, ranges)
        if q > best_q:
            best, best_q = kind, q
    return best


def _quality(kind: str, ranges: list[tuple[str, float]]) -> float:
    main = kind.split("/", 1)[0]
    for pattern in (kind, f"{main}/*", "*/*"):  # the most specific range that matches decides
        qs = [q for r, q in ranges if r == pattern]
        if qs:
            return max(qs)
    return 0.0


def _failure(exc: QuerySyntaxError | QueryFailed) -> str:
    """What a 400 says: the engine's message, and for a syntax error the line with a caret under the place."""
    caret = exc.caret() if isinstance(exc, QuerySyntaxError) else ""
    return f"{exc}\n{caret}" if caret else str(exc)


def _answerer(store: ox.Store) -> Callable[[tuple[str, str]], bytes]:
    """What a worker does with a request: run the query on ``store`` and serialise the answer. The query is
    parsed only here: a syntax error comes back as :class:`QueryFailed` (a 400) with its place."""
    def answer(request: tuple[str, str]) -> bytes:
        try:
            results = run_query(store, request[0])
        except QuerySyntaxError as exc:
            raise QueryFailed(_failure(exc)) from None
        return serialise(results, request[1])

    return answer


def _warmer(store: ox.Store) -> Callable[[], object]:
    """A worker's warm-up: every triple read once (see :mod:`kb.query.isolate`), nothing kept."""
    def warm() -> object:
        import pyoxigraph as ox

        results = store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        assert isinstance(results, ox.QuerySolutions)
        return results.serialize(format=ox.QueryResultsFormat.JSON)

    return warm


def serialise(results: QueryResults, media_type: str) -> bytes:
    """Results in ``media_type``: JSON, XML and TSV by Oxigraph's writers; CSV by the KB's one writer
    (:mod:`kb.io.tables` neutralises formulas); graphs sorted, with the KB's prefixes in Turtle."""
    import pyoxigraph as ox

    if isinstance(results, ox.QueryBoolean | ox.QuerySolutions):
        if media_type == CSV and isinstance(results, ox.QuerySolutions):
            return bytes(format_results(results, "csv"))
        fmt = {JSON: ox.QueryResultsFormat.JSON, XML: ox.QueryResultsFormat.XML, CSV: ox.QueryResultsFormat.CSV,
               TSV: ox.QueryResultsFormat.TSV}[media_type]
        try:
            data = results.serialize(format=fmt)
        except (RuntimeError, OSError) as exc:
            raise QueryFailed(f"the query could not be evaluated: {exc}") from None
        assert data is not None
        return data
    if media_type == RDFXML:
        try:
            triples = sorted(results, key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
        except RuntimeError as exc:
            raise QueryFailed(f"the query could not be evaluated: {exc}") from None
        data = ox.serialize(triples, format=ox.RdfFormat.RDF_XML)
        assert data is not None
        return data
    return bytes(format_results(results, "turtle" if media_type == TURTLE else "ntriples", dict(PREFIXES)))
