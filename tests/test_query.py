"""Read-only SPARQL: the guard, example queries, formats, and errors with line and column."""

from __future__ import annotations

import json

import pytest

from kb.query.sparql import (
    QueryRefused,
    QuerySyntaxError,
    format_results,
    guard,
    keywords,
    load_examples,
    resolve_query,
    run_query,
)
from tests.conftest import FIXTURE

UPDATES = [
    "INSERT DATA { <http://a> <http://b> <http://c> }",
    "DELETE DATA { <http://a> <http://b> <http://c> }",
    "DELETE WHERE { ?s ?p ?o }",
    "PREFIX ex: <http://example.org/>\nINSERT { ?s ex:p 1 } WHERE { ?s ?p ?o }",
    "LOAD <http://example.org/data.ttl>",
    "LOAD <file:///etc/passwd> INTO GRAPH <http://g>",
    "CLEAR ALL",
    "CLEAR DEFAULT",
    "DROP GRAPH <http://g>",
    "DROP ALL",
    "CREATE GRAPH <http://g>",
    "ADD DEFAULT TO <http://g>",
    "MOVE DEFAULT TO <http://g>",
    "COPY <http://g> TO DEFAULT",
    "WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
    "# a comment first\nbase <http://x/> insert data { <a> <b> <c> }",
]


@pytest.mark.parametrize("update", UPDATES)
def test_updates_are_refused(update, fixture_checked):
    before = len(fixture_checked.graph.store)
    with pytest.raises(QueryRefused, match="read-only"):
        run_query(fixture_checked.graph.store, update)
    assert len(fixture_checked.graph.store) == before


@pytest.mark.parametrize("query", [
    "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }",
    "SELECT * FROM NAMED <file:///etc/passwd> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "select * from <http://example.org/remote.ttl> where { ?s ?p ?o }",
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE SILENT <http://example.org/sparql> { ?s ?p ?o } }",
])
def test_outside_access_is_refused(query, fixture_checked):
    with pytest.raises(QueryRefused):
        run_query(fixture_checked.graph.store, query)


def test_keywords_inside_strings_iris_and_names_are_ignored():
    query = '''SELECT ?service ?from WHERE { ?service rdfs:label "INSERT DATA FROM SERVICE" .
               ?from <http://example.org/DELETE> ?x . ?x schema:from 'drop' } # LOAD'''
    assert guard(query) == "SELECT"
    assert [k for k, _, _ in keywords(query)] == ["SELECT", "WHERE"]


def test_syntax_error_has_line_column_and_caret(fixture_checked):
    query = "SELECT * WHERE {\n  ?s ?p ?o\n"
    with pytest.raises(QuerySyntaxError) as info:
        run_query(fixture_checked.graph.store, query)
    # The engine gives up at the end (line 3); the brace that is never closed is on line 1 (issue 12, item 15).
    assert (info.value.line, info.value.col) == (1, 16)
    assert "line 1, column 16: '{' is never closed (expected '}')" in str(info.value)
    assert info.value.caret() == "SELECT * WHERE {\n               ^"


def test_undeclared_prefix_is_a_syntax_error(fixture_checked):
    with pytest.raises(QuerySyntaxError) as info:
        run_query(fixture_checked.graph.store, "SELECT * WHERE { ?s nope:p ?o }")
    assert info.value.line == 1


def test_standard_prefixes_are_predeclared(fixture_checked):
    results = run_query(fixture_checked.graph.store, "SELECT (COUNT(?c) AS ?n) WHERE { ?c a psk:Claim }")
    assert format_results(results, "csv") == b"n\r\n4\r\n"


def test_example_queries_have_headers_and_run(fixture_checked):
    examples = load_examples(FIXTURE / "queries")
    assert {e.name for e in examples} >= {"claims-per-direction", "no-effect-hospitalisation-smi"}
    for example in examples:
        assert example.title and example.title != example.name, f"{example.path} needs a '# title:' header"
        run_query(fixture_checked.graph.store, example.text)


def test_the_researchers_question(fixture_checked):
    """Which reviews found no effect on hospitalisation in SMI, and on which trials do they rest?"""
    text = resolve_query("no-effect-hospitalisation-smi", None, FIXTURE / "queries")
    payload = json.loads(format_results(run_query(fixture_checked.graph.store, text), "json"))
    rows = [{k: v["value"] for k, v in b.items()} for b in payload["results"]["bindings"]]
    assert [(r["claim"], r["source"], r["cited"]) for r in rows] == [
        ("smi-rct-review-hope-recovery", "shalaby2020peer", "lloydevans2014systematic")]
    assert payload["head"]["vars"] == ["claim", "statement", "source", "cited"]


def test_formats(fixture_checked):
    store = fixture_checked.graph.store
    select = "SELECT ?d (COUNT(*) AS ?n) WHERE { ?f psk:direction/skos:notation ?d } GROUP BY ?d ORDER BY ?d"
    table = format_results(run_query(store, select), "table").decode()
    assert table.splitlines()[0].split() == ["d", "|", "n"] and table.rstrip().endswith("(4 rows)")
    assert format_results(run_query(store, select), "tsv").decode().splitlines()[0] == "?d\t?n"
    assert format_results(run_query(store, "ASK { ?c a psk:Claim }"), "table") == b"true\n"
    assert json.loads(format_results(run_query(store, "ASK { ?c a psk:Claim }"), "json"))["boolean"] is True
    construct = "CONSTRUCT { ?c a psk:Claim } WHERE { ?c a psk:Claim }"
    turtle = format_results(run_query(store, construct), "turtle").decode()
    assert "@prefix psk:" in turtle and turtle.count("psk:Claim") == 4
    nt = format_results(run_query(store, construct), "ntriples").decode()
    assert len(nt.splitlines()) == 4


def test_limit_cuts_rows_and_says_so(fixture_checked):
    store = fixture_checked.graph.store
    payload = format_results(run_query(store, "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s"), "csv", limit=3)
    assert payload.truncated and len(payload.decode().splitlines()) == 4
    whole = format_results(run_query(store, "SELECT ?c WHERE { ?c a psk:Claim }"), "json", limit=10)
    assert not whole.truncated and len(json.loads(whole)["results"]["bindings"]) == 4


def test_json_terms_follow_the_w3c_format(fixture_checked):
    query = 'SELECT ?iri ?lang ?typed ?plain WHERE { BIND(psk:Claim AS ?iri) BIND("x"@en AS ?lang) BIND(2 AS ?typed) BIND("p" AS ?plain) }'
    payload = json.loads(format_results(run_query(fixture_checked.graph.store, query), "json"))
    row = payload["results"]["bindings"][0]
    assert row["iri"] == {"type": "uri", "value": "https://w3id.org/peer-support-kb/ontology#Claim"}
    assert row["lang"] == {"type": "literal", "value": "x", "xml:lang": "en"}
    assert row["typed"] == {"type": "literal", "value": "2", "datatype": "http://www.w3.org/2001/XMLSchema#integer"}
    assert row["plain"] == {"type": "literal", "value": "p"}
