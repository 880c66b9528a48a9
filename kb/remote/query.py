"""Queries on a SPARQL server, answered with the same pyoxigraph objects as the local store.

``kb query --endpoint`` runs the same read-only guard and syntax check as a local query, then sends
it as GET (form POST when long) and parses SPARQL JSON results or N-Triples with pyoxigraph. The
server's row cap is never silent: Virtuoso announces it with ``X-SPARQL-MaxRows``, and we refuse
such a cut answer rather than print part of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.remote.http import Client, RemoteError, Response, redact

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kb.query.sparql import QueryResults

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"


class TruncatedError(RemoteError):
    """The server cut the answer at its row cap (Virtuoso ``ResultSetMaxRows``, header ``X-SPARQL-MaxRows``)."""

    def __init__(self, message: str, max_rows: int, url: str = "") -> None:
        super().__init__(message, url=url)
        self.max_rows = max_rows


def run_query_remote(client: Client, endpoint: str, query: str, *, graph: str | None = None,
                     prefixes: dict[str, str] | None = None, timeout: float | None = None) -> QueryResults:
    """``kb.query.sparql.run_query`` against a server: the same guard, syntax errors and predeclared prefixes.

    The syntax check parses the query on an empty local store (lazy, nothing is evaluated), so a typo
    is reported with line and column before anything is sent.
    """
    import pyoxigraph as ox

    import kb.query.sparql as q
    from kb.namespaces import sparql_prologue

    form = q.guard(query)
    q.run_query(ox.Store(), query, prefixes)
    return run_remote(client, endpoint, sparql_prologue(prefixes) + query, form, default_graph=graph,
                      timeout=timeout)


def run_remote(client: Client, endpoint: str, sparql: str, form: str, *, default_graph: str | None = None,
               timeout: float | None = None) -> QueryResults:
    """A read-only query on the server, parsed into ``QuerySolutions``, ``QueryBoolean`` or a list of ``Triple``.

    ``default_graph`` is sent as ``default-graph-uri``: a Virtuoso default graph is the union of every
    graph (staging graphs of a running publish included), so readers name the published one.
    """
    import pyoxigraph as ox

    graph_form = form in ("CONSTRUCT", "DESCRIBE")
    accept = N_TRIPLES if graph_form else RESULTS_JSON
    response = client.query(endpoint, sparql, accept, default_graph=default_graph, timeout=timeout)
    _refuse_truncated(response, endpoint)
    try:
        if graph_form:
            return [quad.triple for quad in ox.parse(response.body, format=ox.RdfFormat.N_TRIPLES)]
        return ox.parse_query_results(normalise_results_json(response.body, form), format=ox.QueryResultsFormat.JSON)
    except (SyntaxError, ValueError) as exc:
        kind = response.headers.get("Content-Type", "no content type") if response.headers else "no content type"
        raise RemoteError(f"{redact(endpoint)} answered {kind} that is not {accept}: {exc}; the server said: "
                          f"{response.text(500)}", status=response.status, url=endpoint) from None


def normalise_results_json(body: bytes, form: str = "SELECT") -> bytes:
    """Virtuoso's dialect made standard: ``typed-literal`` → ``literal``, booleans ``1``/``0`` → ``true``/``false``,
    and ASK answered as a one-column table (``__ASK_RETVAL``: one row ``1`` if true, none if false) → ``boolean``."""
    import json

    data = json.loads(body.decode("utf-8"))
    if form == "ASK" and "boolean" not in data:
        rows = data.get("results", {}).get("bindings", [])
        answer = any(term.get("value") not in ("0", "false") for row in rows for term in row.values())
        return json.dumps({"head": {}, "boolean": answer}).encode("utf-8")
    for row in data.get("results", {}).get("bindings", []):
        for term in row.values():
            if term.get("type") == "typed-literal":
                term["type"] = "literal"
            if term.get("datatype") == XSD_BOOLEAN and term.get("value") in ("1", "0"):
                term["value"] = "true" if term["value"] == "1" else "false"
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def select_remote(client: Client, endpoint: str, sparql: str, *, timeout: float | None = None) -> ox.QuerySolutions:
    """The solutions of one of our own SELECT queries on the server."""
    import pyoxigraph as ox

    results = run_remote(client, endpoint, sparql, "SELECT", timeout=timeout)
    if not isinstance(results, ox.QuerySolutions):
        raise TypeError("expected a SELECT query")
    return results


def count_triples(client: Client, endpoint: str, graph: str, *, timeout: float | None = None) -> int:
    """``COUNT(*)`` of one named graph (a single row: never truncated)."""
    sparql = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    rows = list(select_remote(client, endpoint, sparql, timeout=timeout))
    try:
        return int(rows[0]["n"].value)
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        raise RemoteError(f"{redact(endpoint)}: the COUNT query gave no number: {rows!r}", url=endpoint) from None


BUCKET = ('SUBSTR(MD5(CONCAT(STR(?p), " ", IF(isBLANK(?s), "", STR(?s)), " ", IF(isBLANK(?o), "", STR(?o)))), '
          "1, {width})")


def fetch_graph(client: Client, endpoint: str, graph: str, *, timeout: float | None = None) -> list:
    """Every triple of a named graph, checked against ``COUNT``, however low the server's row cap.

    A graph-store GET is cut silently at Virtuoso's ``ResultSetMaxRows``, and Virtuoso refuses
    ``ORDER BY`` with an ``OFFSET`` past the cap, so a capped answer is fetched again in buckets of the
    MD5 of each triple (1, 2, … hex digits), each bucket smaller than the cap.
    """
    expected = count_triples(client, endpoint, graph, timeout=timeout)
    where = f"GRAPH <{graph}> {{ ?s ?p ?o }}"
    try:
        triples = run_remote(client, endpoint, f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {where} }}", "CONSTRUCT",
                             timeout=timeout)
        cap = len(triples)  # type: ignore[arg-type]
    except TruncatedError as exc:
        triples, cap = [], exc.max_rows
    if len(triples) != expected:  # type: ignore[arg-type]  # Virtuoso cuts CONSTRUCT answers without a header
        triples = _fetch_in_buckets(client, endpoint, where, cap, timeout)
    if len(triples) != expected:  # type: ignore[arg-type]
        raise RemoteError(f"{redact(endpoint)}: downloaded {len(triples)} triples of <{graph}>, but it has "  # type: ignore[arg-type]
                          f"{expected}: the server cuts answers without saying so", url=endpoint)
    return triples  # type: ignore[return-value]


def _fetch_in_buckets(client: Client, endpoint: str, where: str, cap: int, timeout: float | None) -> list:
    for width in range(1, 5):
        bucket = BUCKET.format(width=width)
        sizes = select_remote(client, endpoint, f"SELECT ?b (COUNT(*) AS ?n) WHERE {{ {where} BIND({bucket} AS ?b) }} "
                              "GROUP BY ?b", timeout=timeout)
        counts = {row["b"].value: int(row["n"].value) for row in sizes}
        if max(counts.values(), default=0) < cap:
            break
    else:
        raise RemoteError(f"{redact(endpoint)}: cannot split the graph into answers under {cap} rows")
    triples: list = []
    for key in sorted(counts):
        triples.extend(run_remote(client, endpoint, f'CONSTRUCT {{ ?s ?p ?o }} WHERE {{ {where} '
                                  f'FILTER({bucket} = "{key}") }}', "CONSTRUCT", timeout=timeout))  # type: ignore[arg-type]
    return triples


def _refuse_truncated(response: Response, endpoint: str) -> None:
    cap = response.headers.get("X-SPARQL-MaxRows") if response.headers else None
    if cap and cap.strip().isdigit():
        raise TruncatedError(
            f"{redact(endpoint)} cut the answer at its maximum of {cap} rows (Virtuoso ResultSetMaxRows); "
            "the full answer is longer: add LIMIT and OFFSET to page through it", int(cap), endpoint)
