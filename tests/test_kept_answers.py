"""The example queries' answers and the VoID statistics kept from the last build (kb.site.kept_answers): reused only
where the graph's change leaves every triple they read as it was, and then the bytes a build without them writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kb.site.kept_answers as kept_answers
from kb.config import load_config
from kb.namespaces import PSK, RDF
from kb.pipeline import build
from kb.query.sparql import load_examples
from kb.site.kept_answers import predicates
from tests.conftest import REAL


def _names(*local: str) -> frozenset[str]:
    return frozenset(PSK + name for name in local)


@pytest.mark.parametrize(("query", "read"), [
    ("SELECT * WHERE { ?s psk:a ?o ; psk:b ?x }", _names("a", "b")),
    ("ASK { psk:a psk:b psk:c }", _names("b")),
    ("SELECT * WHERE { ?s (psk:a|^psk:b)/psk:c* ?o }", _names("a", "b", "c")),
    ("SELECT * WHERE { ?s a ?c FILTER NOT EXISTS { ?s psk:x ?y } }", _names("x") | {RDF + "type"}),
    ("SELECT * WHERE { ?s a ?c FILTER EXISTS { ?s psk:x/psk:y ?y ; psk:z ?w . ?w psk:v ?u } }",
     _names("v", "x", "y", "z") | {RDF + "type"}),
    ("SELECT * WHERE { ?s psk:a ?o FILTER(EXISTS { ?o psk:e1 ?x } || NOT EXISTS { ?o psk:e2 ?y }) }",
     _names("a", "e1", "e2")),
    ("SELECT * WHERE { ?s psk:a ?o MINUS { ?s psk:m ?y } }", _names("a", "m")),
    ("SELECT * WHERE { { SELECT ?s WHERE { ?s psk:sub ?o } } ?s psk:a ?c }", _names("a", "sub")),
    ("SELECT (1 AS ?x) {}", frozenset()),
    # a pattern that may match any triple, or a query this reading cannot follow: its answer may read everything
    ("SELECT * WHERE { ?s ?p ?o }", None),
    ("SELECT * WHERE { ?s !rdf:type ?o }", None),
    ("SELECT * WHERE { ?s psk:a ?o OPTIONAL { ?o ?q ?z } }", None),
    ("SELECT * WHERE { ?s a ?c FILTER EXISTS { ?s ?p ?y } }", None),
    ("SELEKT nothing", None),
])
def test_a_querys_predicates_are_those_its_patterns_name_or_none_where_any_triple_may_match(query, read) -> None:
    assert predicates(query) == read


def _answers(site: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((site / "data" / "answers").glob("*.js"))}


def test_a_rebuild_answers_again_only_the_examples_that_read_what_changed(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A reworded statement changes psk:statement alone: only the examples reading it are answered again, the
    others and the statistics are the last build's, and the answers and VoID are those of a build that kept
    nothing (its own cache folder)."""
    evidence = tmp_path / "evidence"
    shutil.copytree(REAL, evidence)
    out = tmp_path / "site"
    build(load_config(evidence, out_dir=out))
    claims = evidence / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text(encoding="utf-8").replace("statement: >-\n      ", "statement: >-\n      Edited: ",
                                                                 1), encoding="utf-8")
    asked: list[str] = []
    real = kept_answers.example_answers

    def counting(store, examples):
        asked.extend(e.name for e in examples)
        return real(store, examples)

    monkeypatch.setattr(kept_answers, "example_answers", counting)
    counted: list[object] = []
    real_statistics = kept_answers.statistics
    monkeypatch.setattr(kept_answers, "statistics", lambda graph: counted.append(graph) or real_statistics(graph))
    build(load_config(evidence, out_dir=out))
    examples = load_examples(evidence / "queries")
    reading = [e.name for e in examples if predicates(e.text) is None or PSK + "statement" in predicates(e.text)]
    assert asked == reading and 0 < len(asked) < len(examples)
    assert counted == [], "no rdf:type changed, and psk:statement is still used: the statistics are kept"

    monkeypatch.setattr(kept_answers, "example_answers", real)
    cold = tmp_path / "cold"
    build(load_config(evidence, out_dir=cold, cache_dir=tmp_path / "cold-cache"))
    assert _answers(out) == _answers(cold) and len(_answers(out)) >= len(examples) - 1
    assert _statistics(out) == _statistics(cold) and len(_statistics(out)) > 100  # sizes aside: the rebuild keeps
    # the superseded nanopublications, which a build into a new folder has not


def _statistics(site: Path) -> list[str]:
    """VoID's counts: the dataset's and each class's and property's partition (not the files' sizes)."""
    return [line for line in (site / "data" / "void.ttl").read_text(encoding="utf-8").splitlines()
            if "byteSize" not in line]


def test_answers_are_found_again_when_the_last_graph_is_not_the_one_the_change_starts_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept answers name the graph they were found on: kept from another graph, none is reused."""
    import pickle

    evidence = tmp_path / "evidence"
    shutil.copytree(REAL, evidence)
    config = load_config(evidence, out_dir=tmp_path / "site")
    build(config)
    path = config.store_cache_dir / kept_answers.KEPT_FILE
    code, kept = pickle.loads(path.read_bytes())
    assert kept.mark and kept.answers
    kept.mark = "another graph"
    path.write_bytes(pickle.dumps((code, kept)))
    asked: list[str] = []
    real = kept_answers.example_answers
    monkeypatch.setattr(kept_answers, "example_answers",
                        lambda store, examples: asked.extend(e.name for e in examples) or real(store, examples))
    build(config)
    assert asked == [e.name for e in load_examples(evidence / "queries")]
