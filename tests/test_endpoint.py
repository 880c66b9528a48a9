"""``kb serve``'s SPARQL endpoint against the SPARQL 1.1 Protocol, on a real server on a free port.

https://www.w3.org/TR/sparql11-protocol/: GET ``?query=``, form POST, direct POST of
``application/sparql-query``; the W3C result formats by content negotiation; updates, ``SERVICE``
and ``FROM`` refused (403); syntax errors 400 with the place; a query past its time or memory
stopped (503) in its own process while the server goes on answering.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

import pytest

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # ~10^11 rows on the fixture
CLAIMS = "SELECT (COUNT(*) AS ?n) WHERE { ?c a psk:Claim }"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@pytest.fixture(scope="module")
def endpoint(fixture_checked) -> Iterator[str]:
    from kb.query.endpoint import Endpoint
    from kb.query.isolate import Limits
    from kb.site.serve import make_server

    store = fixture_checked.graph.store
    service = Endpoint(store, graph="https://w3id.org/peer-support-kb/graph", key="fixture-key",
                       limits=Limits(timeout=20, max_memory_mib=256))
    server = make_server(fixture_checked.evidence.config.evidence_dir, 0, service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sparql"
    finally:
        server.shutdown()
        server.server_close()


def request(url: str, *, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30) -> Answer:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as answer:
            return Answer(answer.status, dict(answer.headers.items()), answer.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers.items()), exc.read())


def get(endpoint: str, query: str, accept: str | None = None, **params: str) -> Answer:
    url = f"{endpoint}?{urllib.parse.urlencode({'query': query, **params})}"
    return request(url, headers={"Accept": accept} if accept else {})


def count(answer: Answer) -> int:
    return int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"])


# --- the three ways to send a query ----------------------------------------------------------


def test_get_answers_sparql_json_by_default(endpoint, fixture_checked):
    answer = get(endpoint, CLAIMS)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/sparql-results+json"
    assert count(answer) == len(fixture_checked.evidence.claims)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"  # the site may call it from any page
    assert answer.headers["X-KB-Evidence"] == "fixture-key"


def test_form_post_and_direct_post_give_the_same_answer(endpoint):
    by_get = get(endpoint, CLAIMS)
    form = request(endpoint, method="POST", data=urllib.parse.urlencode({"query": CLAIMS}).encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    direct = request(endpoint, method="POST", data=CLAIMS.encode(),
                     headers={"Content-Type": "application/sparql-query; charset=utf-8"})
    assert form.status == direct.status == 200
    assert form.body == direct.body == by_get.body


def test_default_graph_uri_names_the_kb_or_is_refused(endpoint):
    assert get(endpoint, CLAIMS, **{"default-graph-uri": "https://w3id.org/peer-support-kb/graph"}).status == 200
    other = get(endpoint, CLAIMS, **{"default-graph-uri": "http://example.org/other"})
    assert other.status == 400 and "serves one graph" in other.text
    named = get(endpoint, CLAIMS, **{"named-graph-uri": "http://example.org/g"})
    assert named.status == 400 and "named-graph-uri" in named.text


def test_a_rebuild_with_another_base_iri_moves_the_default_graph(fixture_checked):
    """kb serve reads kb.toml again for every rebuild: once one is served with a new base IRI, that IRI's graph is
    the one a client names (the old one is refused), and a rebuild that names none keeps the graph."""
    from kb.query.endpoint import Endpoint
    from kb.query.isolate import Limits

    store = fixture_checked.graph.store
    service = Endpoint(store, graph="https://old.example/graph", key="k1", limits=Limits(timeout=20), workers=1)

    def status(graph: str) -> int:
        query = urllib.parse.urlencode({"query": CLAIMS, "default-graph-uri": graph})
        return service.handle("GET", query, {}, b"").status

    try:
        assert status("https://old.example/graph") == 200
        service.replace(store, "k2", "https://new.example/graph")
        assert status("https://new.example/graph") == 200 and status("https://old.example/graph") == 400
        service.replace(store, "k3")
        assert status("https://new.example/graph") == 200
    finally:
        service.close()


# --- content negotiation ------------------------------------------------------------------------


def test_select_in_every_w3c_result_format(endpoint):
    query = 'SELECT ?id ?x WHERE { ?c a psk:Claim ; dcterms:identifier ?id . BIND("=1+1" AS ?x) } ORDER BY ?id LIMIT 3'
    as_json = json.loads(get(endpoint, query, "application/sparql-results+json").body)
    ids = [row["id"]["value"] for row in as_json["results"]["bindings"]]
    assert len(ids) == 3

    xml = get(endpoint, query, "application/sparql-results+xml")
    assert xml.headers["Content-Type"] == "application/sparql-results+xml"
    ns = {"r": "http://www.w3.org/2005/sparql-results#"}
    root = ElementTree.fromstring(xml.body)
    assert [b.find("r:literal", ns).text for b in root.iterfind(".//r:binding[@name='id']", ns)] == ids

    table = get(endpoint, query, "text/csv")
    assert table.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert table.text.endswith("\r\n")  # W3C SPARQL CSV: CRLF line ends
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0] == ["id", "x"] and [r[0] for r in rows[1:]] == ids
    assert all(r[1] == "'=1+1" for r in rows[1:])  # kb/io/tables.py: a formula-like cell is neutralised

    tsv = get(endpoint, query, "text/tab-separated-values")
    assert tsv.headers["Content-Type"] == "text/tab-separated-values; charset=utf-8"
    lines = tsv.text.splitlines()
    assert lines[0] == "?id\t?x" and lines[1].split("\t")[0] == f'"{ids[0]}"'


def test_accept_q_values_and_wildcards(endpoint):
    assert get(endpoint, CLAIMS, "text/csv;q=0.5, application/sparql-results+xml").headers["Content-Type"] \
        == "application/sparql-results+xml"
    assert get(endpoint, CLAIMS, "text/*").headers["Content-Type"].startswith("text/csv")
    assert get(endpoint, CLAIMS, "text/html,application/xhtml+xml,*/*;q=0.8").headers["Content-Type"] \
        == "application/sparql-results+json"  # what a browser sends
    refused = get(endpoint, CLAIMS, "image/png")
    assert refused.status == 406 and "application/sparql-results+json" in refused.text


def test_ask_and_construct_and_describe(endpoint):
    ask = get(endpoint, "ASK { ?c a psk:Claim }")
    assert ask.status == 200 and json.loads(ask.body)["boolean"] is True
    construct = "CONSTRUCT { ?c a psk:Claim } WHERE { ?c a psk:Claim } ORDER BY ?c LIMIT 2"
    turtle = get(endpoint, construct)
    assert turtle.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert "@prefix psk:" in turtle.text and turtle.text.count("psk:Claim") == 2
    nt = get(endpoint, construct, "application/n-triples")
    assert nt.headers["Content-Type"] == "application/n-triples" and len(nt.text.strip().splitlines()) == 2
    rdfxml = get(endpoint, construct, "application/rdf+xml")
    assert rdfxml.headers["Content-Type"] == "application/rdf+xml"
    assert len(ElementTree.fromstring(rdfxml.body)) == 2
    assert get(endpoint, construct, "application/sparql-results+json").status == 406  # a graph is not a table
    describe = get(endpoint, "DESCRIBE ?c WHERE { ?c a psk:Claim } LIMIT 1", "application/n-triples")
    assert describe.status == 200 and describe.text.count("\n") > 3


def test_service_description_without_a_query(endpoint):
    answer = request(endpoint)
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/turtle")
    assert "sd:SPARQL11Query" in answer.text and f"<{endpoint}>" in answer.text


# --- what is refused, and how ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["get", "form", "direct"])
def test_updates_are_refused_with_403(endpoint, how):
    update = "INSERT DATA { <http://example.org/a> <http://example.org/b> <http://example.org/c> }"
    if how == "get":
        answer = request(f"{endpoint}?{urllib.parse.urlencode({'update': update})}")
    elif how == "form":
        answer = request(endpoint, method="POST", data=urllib.parse.urlencode({"update": update}).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        answer = request(endpoint, method="POST", data=update.encode(),
                         headers={"Content-Type": "application/sparql-update"})
    assert answer.status == 403 and "read-only" in answer.text
    assert count(get(endpoint, "SELECT (COUNT(*) AS ?n) WHERE { <http://example.org/a> ?p ?o }")) == 0


def test_an_update_sent_as_a_query_is_refused(endpoint):
    answer = get(endpoint, "DELETE WHERE { ?s ?p ?o }")
    assert answer.status == 403 and "SPARQL Update (DELETE)" in answer.text


@pytest.mark.parametrize("query, word", [
    ("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", "SERVICE"),
    ("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }", "FROM"),
])
def test_service_and_from_are_refused(endpoint, query, word):
    answer = get(endpoint, query)
    assert answer.status == 403 and word in answer.text


def test_syntax_error_is_400_with_line_column_and_caret(endpoint):
    answer = get(endpoint, "SELECT ?c WHERE {\n  ?c a psk:Claim .\n  ?c psk:nope ?x\n")
    assert answer.status == 400
    assert "line 1, column 17" in answer.text or "line 4" in answer.text
    assert "^" in answer.text


def test_syntax_error_is_400_whatever_the_client_accepts(endpoint):
    """The query is parsed in the worker that runs it; one that cannot be answered in any accepted type is parsed
    here first, so that a broken query is still told as broken, not as unacceptable."""
    for accept in ("application/sparql-results+json", "text/turtle", "image/png"):
        answer = get(endpoint, "SELECT ?c WHERE {\n  ?c a psk:Claim .\n  ?c psk:nope ?x\n", accept)
        assert answer.status == 400 and "^" in answer.text, accept
    assert get(endpoint, "SELECT * WHERE { ?s ?p ?o } LIMIT 1", "image/png").status == 406


def test_undeclared_prefix_is_400(endpoint):
    answer = get(endpoint, "SELECT * WHERE { ?s nope:p ?o }")
    assert answer.status == 400 and "nope" in answer.text


@pytest.mark.parametrize("method, data, headers, status", [
    ("POST", b"query", {"Content-Type": "text/plain"}, 415),
    ("PUT", b"x", {"Content-Type": "application/n-triples"}, 405),
    ("DELETE", None, {}, 405),
])
def test_other_requests_have_their_status(endpoint, method, data, headers, status):
    answer = request(endpoint, method=method, data=data, headers=headers)
    assert answer.status == status and answer.body


def test_missing_or_repeated_query_is_400(endpoint):
    assert request(f"{endpoint}?default-graph-uri=x").status == 400
    twice = request(f"{endpoint}?query=ASK%7B%7D&query=ASK%7B%7D")
    assert twice.status == 400 and "more than once" in twice.text


def test_cors_preflight(endpoint):
    answer = request(endpoint, method="OPTIONS", headers={"Origin": "null",
                                                          "Access-Control-Request-Method": "POST"})
    assert answer.status == 204
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


# --- limits: a runaway query is stopped, and the server goes on -----------------------------------


def test_runaway_query_is_stopped_while_others_are_answered(endpoint):
    results: dict[str, Answer] = {}

    def runaway() -> None:
        results["runaway"] = get(endpoint, RUNAWAY, timeout="1500")

    started = time.monotonic()
    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.2)
    during = get(endpoint, CLAIMS)  # answered while the runaway query runs
    answered_during = time.monotonic() - started
    thread.join(30)
    stopped = results["runaway"]
    assert during.status == 200 and answered_during < 1.5
    assert stopped.status == 503 and "ran past 1.5 s" in stopped.text
    assert time.monotonic() - started < 10
    assert get(endpoint, CLAIMS).status == 200  # and after


def test_query_over_the_memory_bound_is_stopped(endpoint):
    hog = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f"  # sorts ~10^7 rows of terms
    answer = get(endpoint, hog)
    assert answer.status == 503 and "256 MiB" in answer.text
    assert get(endpoint, CLAIMS).status == 200


def test_bad_timeout_parameter_is_400(endpoint):
    assert get(endpoint, CLAIMS, timeout="soon").status == 400


# --- the editors' loop: no query workers while it writes the store ------------------------------------------


def _which(request: object) -> bytes:
    return b"first"


def _other(request: object) -> bytes:
    return b"second"


def test_a_paused_pool_has_no_workers_and_answers_a_waiting_request_once_it_has_the_new_store() -> None:
    """kb serve's loop writes the store in place: the pool stops its workers first (each shared every page the
    rebuild writes, which the system then copied for it), a request meanwhile waits and is answered by the new
    handler, and one that waits past its time limit is told why."""
    import os

    from kb.query.isolate import Limits, Pool, Stopped

    pool = Pool(_which, 2, Limits(timeout=20))
    try:
        assert pool.run("q") == b"first" and len(pool._all) == 2
        workers = list(pool._all)
        pool.pause()
        assert not pool._all
        for pid in workers:  # stopped and reaped
            with pytest.raises(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        with pytest.raises(Stopped, match="being rebuilt"):
            pool.run("q", Limits(timeout=0.2))
        answers: list[bytes] = []
        waiting = threading.Thread(target=lambda: answers.append(pool.run("q")))
        waiting.start()
        time.sleep(0.3)
        assert not answers and not pool._all  # no worker is forked while paused
        pool.replace_handler(_other)
        waiting.join(20)
        assert answers == [b"second"] and len(pool._all) == 2
        pool.pause()
        pool.replace_handler(_other)  # the same store again (a failed rebuild put it back)
        assert pool.run("q") == b"second" and len(pool._all) == 2
    finally:
        pool.close()
