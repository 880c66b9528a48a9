"""Answers kept beside the cached store: served again only for the same store, query, format and limit."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kb import resultcache
from kb.cli import main
from kb.config import load_config
from kb.query import load_examples
from kb.resultcache import ResultCache, parse, precompute, precomputed
from kb.store import evidence_key, open_store, persist, store_path

COUNT = "SELECT (COUNT(?c) AS ?n) WHERE { ?c a psk:Claim }"


def kb_query(folder, *args):
    result = CliRunner().invoke(main, ["query", "--evidence", str(folder), *args])
    assert result.exit_code == 0, result.stderr
    return result


def no_store(monkeypatch):
    """Make any opening of the store (or running of a query) fail loudly."""
    def boom(*args, **kwargs):
        raise AssertionError("the store was opened")

    monkeypatch.setattr("kb.store.open_store", boom)
    monkeypatch.setattr("kb.query.run_query", boom)


def answers(folder):
    config = load_config(folder)
    return store_path(config, evidence_key(config)) / "results"


def test_repeated_query_is_served_without_the_store(evidence_copy, monkeypatch):
    first = kb_query(evidence_copy, "--format", "csv", COUNT)
    assert list(answers(evidence_copy).glob("answer-*"))
    no_store(monkeypatch)
    assert kb_query(evidence_copy, "--format", "csv", COUNT).stdout == first.stdout


def test_other_format_or_limit_is_not_served_from_another_answer(evidence_copy):
    csv = kb_query(evidence_copy, "--format", "csv", "claims-per-direction").stdout
    table = kb_query(evidence_copy, "claims-per-direction").stdout
    assert csv != table and "-+-" in table
    cut = kb_query(evidence_copy, "--format", "csv", "--limit", "1", "claims-per-direction")
    assert "output cut at --limit 1" in cut.stderr
    again = kb_query(evidence_copy, "--format", "csv", "--limit", "1", "claims-per-direction")
    assert again.stdout == cut.stdout and "output cut at --limit 1" in again.stderr, "truncation is kept too"
    assert kb_query(evidence_copy, "--format", "csv", "claims-per-direction").stdout == csv


def test_build_precomputes_the_examples(evidence_copy, tmp_path, monkeypatch):
    plain = {e.name: kb_query(evidence_copy, "--format", "json", e.name).stdout
             for e in load_examples(evidence_copy / "queries")}
    for child in (evidence_copy.parent / ".kb-cache").glob("store-*"):
        import shutil

        shutil.rmtree(child)
    result = CliRunner().invoke(main, ["build", "--evidence", str(evidence_copy), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.stderr
    assert len(list(answers(evidence_copy).glob("solutions-*.srj"))) == len(plain)
    no_store(monkeypatch)
    for name, expected in plain.items():
        assert kb_query(evidence_copy, "--format", "json", name).stdout == expected


def test_damaged_entries_are_misses(evidence_copy, tmp_path):
    config = load_config(evidence_copy)
    key = evidence_key(config)
    checked_store = open_store(config)  # builds and persists (without precomputed examples)
    expected = kb_query(evidence_copy, "--format", "csv", "claims-per-direction").stdout
    folder = answers(evidence_copy)
    for entry in folder.glob("answer-*"):
        entry.write_bytes(b"garbage without a flag line")
    example = next(e for e in load_examples(evidence_copy / "queries") if e.name == "claims-per-direction")
    precompute(store_path(config, key), checked_store, [example])
    for entry in folder.glob("solutions-*"):
        entry.write_bytes(b'{"head": {"vars": ["direction", "n"]}, "results": {"bindings": [{"direction": ')
    assert kb_query(evidence_copy, "--format", "csv", "claims-per-direction").stdout == expected


def test_answers_go_with_their_store(evidence_copy):
    assert kb_query(evidence_copy, "--format", "csv", COUNT).stdout.split()[-1] == "4"
    old = answers(evidence_copy)
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text()
    claims.write_text(text[: text.index("  - id: epss-protocol-under-test")])
    assert kb_query(evidence_copy, "--format", "csv", COUNT).stdout.split()[-1] == "3"
    assert not old.exists()


def test_no_answer_without_a_store(tmp_path):
    cache = ResultCache(tmp_path / "store-x")
    cache.put("SELECT * {}", "csv", 10, b"x\r\n", False)
    assert not (tmp_path / "store-x").exists(), "an answer never creates a (db-less) store folder"
    assert cache.get("SELECT * {}", "csv", 10) is None and cache.solutions("SELECT * {}") is None


def test_big_answers_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(resultcache, "MAX_ENTRY_BYTES", 4)
    (tmp_path / "store-x").mkdir()
    cache = ResultCache(tmp_path / "store-x")
    cache.put("q", "csv", None, b"12345", False)
    cache.put("r", "csv", None, b"1234", True)
    assert cache.get("q", "csv", None) is None and cache.get("r", "csv", None) == (b"1234", True)


def test_precompute_skips_what_it_cannot_keep(evidence_copy, tmp_path):
    import pyoxigraph as ox

    from kb.query import ExampleQuery

    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode("http://x/a"), ox.NamedNode("http://x/p"), ox.Literal("v")))
    examples = [ExampleQuery(n, n, "", t, tmp_path / f"{n}.rq") for n, t in [
        ("broken", "SELECT ?x WHERE { ?x"), ("graph", "CONSTRUCT WHERE { ?s ?p ?o }"),
        ("refused", "SELECT * WHERE { SERVICE <http://x/> { ?s ?p ?o } }"),
        ("ask", "ASK { ?s ?p ?o }"), ("select", "SELECT ?o WHERE { ?s ?p ?o }")]]
    (tmp_path / "store").mkdir()
    assert precompute(tmp_path / "store", store, examples) == ["ask", "select"]
    cache = ResultCache(tmp_path / "store")
    assert bool(parse(cache.solutions("ASK { ?s ?p ?o }"))) is True
    assert [s["o"].value for s in parse(cache.solutions("SELECT ?o WHERE { ?s ?p ?o }"))] == ["v"]


def test_precompute_gives_up_after_its_budget(tmp_path, monkeypatch):
    import time

    import pyoxigraph as ox

    from kb.query import ExampleQuery

    def slow(store, text):
        time.sleep(1.0)
        return store.query(text)

    monkeypatch.setattr("kb.query.run_query", slow)
    (tmp_path / "store").mkdir()
    examples = [ExampleQuery("slow", "slow", "", "ASK {}", tmp_path / "slow.rq")]
    started = time.monotonic()
    assert precompute(tmp_path / "store", ox.Store(), examples, budget_s=0.1) == []
    assert time.monotonic() - started < 0.9
    time.sleep(1.2)
    assert not list((tmp_path / "store" / "results").glob("solutions-*")), "an answer after the budget is not kept"
    assert precomputed(tmp_path / "store"), "and kb build does not try again for this store"


@pytest.mark.parametrize("examples", [True, False])
def test_persist_keeps_examples_only_when_asked(evidence_copy, examples):
    config = load_config(evidence_copy)
    from kb.pipeline import check

    store = check(config, shacl=False).graph.store
    target = persist(config, store, examples=examples)
    assert bool(list((target / "results").glob("solutions-*"))) is examples
    assert precomputed(target) is examples
    assert persist(config, store, examples=True) == target, "a store kept by kb query gets its examples at kb build"
    assert precomputed(target) and len(list((target / "results").glob("solutions-*"))) == 2
