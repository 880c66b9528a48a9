"""A cold ``kb build`` (``build(keep_store=False)``) lets its store go before the site's workers fork (kb.pipeline.Ahead): it writes the same
bytes and persists the same store as a build that keeps it, and reading a store let go is a loud bug."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

import kb.pipeline
import kb.query.store
from kb.config import load_config
from kb.export.nanopub import ClaimRows, _claim_triples, claims_table
from kb.export.trusty import XSD_STRING, Lit
from kb.graph.iris import Minter
from kb.pipeline import build
from kb.query.store import evidence_key, store_path
from tests.conftest import FIXTURE, tree_digest


def _cold_build(evidence: Path, out: Path, keep_store: bool) -> kb.pipeline.BuildResult:
    shutil.rmtree(evidence.parent / ".kb-cache", ignore_errors=True)
    return build(load_config(evidence, out_dir=out), jobs=2, keep_store=keep_store)


def _quads(config_dir: Path) -> set[ox.Quad]:
    config = load_config(config_dir)
    store = ox.Store.read_only(str(store_path(config, evidence_key(config)) / "db"))
    return set(store)


def test_a_cold_build_lets_its_store_go_and_writes_what_a_build_keeping_it_writes(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    let, kept = tmp_path / "let" / "evidence", tmp_path / "kept" / "evidence"
    shutil.copytree(FIXTURE, let)
    shutil.copytree(FIXTURE, kept)
    begun: list[kb.query.store.Begun | None] = []
    begin = kb.query.store.begin_from_dump
    monkeypatch.setattr(kb.query.store, "begin_from_dump", lambda *args: begun.append(begin(*args)) or begun[-1])
    released = _cold_build(let, tmp_path / "let" / "site", keep_store=False)
    assert len(begun) == 1 and begun[0] is not None, "no store was cached: it is written as the site is"
    store = released.checked.kg.store
    with pytest.raises(RuntimeError, match="let its store go"):
        store.quads_for_pattern(None, None, None)
    with pytest.raises(RuntimeError, match="let its store go"):
        len(store)
    keeping = _cold_build(kept, tmp_path / "kept" / "site", keep_store=True)
    assert isinstance(keeping.checked.kg.store, ox.Store)
    assert tree_digest(tmp_path / "let" / "site") == tree_digest(tmp_path / "kept" / "site")
    persisted = _quads(let)
    assert persisted == _quads(kept)
    assert len(persisted) == len(keeping.checked.kg)
    kept_files = released.checked.kg.released
    assert kept_files is not None
    assert not kept_files.claims.exists() and not kept_files.dump.exists(), "the build removes what it kept"


def test_the_claims_table_holds_each_claims_own_triples_in_any_order_asked(fixture_checked) -> None:
    store = fixture_checked.graph.store
    mint = Minter(fixture_checked.evidence.config.base_iri)
    iris = sorted(mint.claim(claim.id) for claim in fixture_checked.evidence.claims)
    table = claims_table(store)
    try:
        rows = ClaimRows(table)
        for iri in [*iris, *reversed(iris)]:  # in the table's order, then each out of order (read from the top)
            expected = set(_claim_triples(store, ox.NamedNode(iri)))
            assert expected and set(rows.triples(iri)) == expected
        assert rows.triples(mint.claim("no-such-claim")) == []
    finally:
        table.unlink()


def test_a_claims_rows_are_found_wherever_the_table_has_them(tmp_path: Path) -> None:
    table = tmp_path / "claims.tsv"
    a, b, p = "<https://example.org/claim/a>", "<https://example.org/claim/b>", "<https://example.org/p>"
    table.write_text(f"?claim\t?s\t?p\t?o\n{a}\t{a}\t{p}\t\"one\"\n{b}\t{b}\t{p}\t\"two\"\n{a}\t{a}\t{p}\t{b}\n",
                     encoding="utf-8")
    rows = ClaimRows(table)
    assert sorted(rows.triples("https://example.org/claim/a"), key=str) == sorted(
        [("https://example.org/claim/a", "https://example.org/p", Lit("one", XSD_STRING)),
         ("https://example.org/claim/a", "https://example.org/p", "https://example.org/claim/b")], key=str)
    assert rows.triples("https://example.org/claim/b") == [
        ("https://example.org/claim/b", "https://example.org/p", Lit("two", XSD_STRING))]


def test_a_store_is_written_early_only_where_none_is_cached_and_a_failure_leaves_none_half_written(
        tmp_path: Path) -> None:
    config = load_config(FIXTURE, cache_dir=tmp_path / "cache")
    dump = tmp_path / "kb.nt"
    dump.write_bytes(b"<https://example.org/a> <https://example.org/p> <https://example.org/b> .\n")
    begun = kb.query.store.begin_from_dump(config, dump)
    assert begun is not None
    persisted = kb.query.store.persist(config, None, quads=1, dump=dump, begun=begun)
    assert len(ox.Store.read_only(str(persisted.path / "db"))) == 1
    assert kb.query.store.begin_from_dump(config, dump) is None, "a store is cached: it may be patched instead"
    shutil.rmtree(persisted.path)
    broken = kb.query.store.begin_from_dump(config, tmp_path / "missing.nt")
    assert broken is not None
    with pytest.raises(OSError):
        kb.query.store.persist(config, None, quads=1, dump=dump, begun=broken)
    assert not list(config.store_cache_dir.glob("*store-*")), "what the failed writing began is removed"


def test_a_store_being_written_from_its_dump_stops_at_its_next_batch_once_dropped(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """An interrupted cold build drops the store it began writing (kb.query.store.Begun.drop): the writing stops at
    its next batch instead of loading the whole dump first (~7 s at 10k/50k after a Ctrl-C)."""
    dump = tmp_path / "kb.nt"
    dump.write_bytes(b"".join(b"<https://example.org/%d> <https://example.org/p> <https://example.org/o> .\n" % i
                              for i in range(5)))
    monkeypatch.setattr(kb.query.store, "DUMP_BATCH", 1)

    class DroppedAfter:  # set once ``batches`` have been loaded
        def __init__(self, batches: int) -> None:
            self.left = batches

        def is_set(self) -> bool:
            self.left -= 1
            return self.left < 0

    for batches, quads in ((2, 2), (99, 5)):
        db = tmp_path / f"db{batches}"
        kb.query.store._write_dump(dump, db, DroppedAfter(batches))  # type: ignore[arg-type]
        assert len(ox.Store.read_only(str(db))) == quads


def test_an_abandoned_build_stops_the_thread_ahead_after_its_current_step(monkeypatch) -> None:
    """A build that lets its store go has the thread ahead answer every example and read the claims' triples before
    the fork. Once the build fails or is interrupted (Ahead.close), it stops after the step it is in: a Ctrl-C waited
    6.4 s for the rest at 10k/50k."""
    import threading
    import time

    import kb.site.answers
    from kb.pipeline import Ahead, check

    config = load_config(FIXTURE, parse_cache=False)
    checked = check(config, shacl=False, history=True)
    answer = kb.site.answers.example_answers
    begun, go_on = threading.Event(), threading.Event()
    asked: list[object] = []

    def answering(store: object, examples: list[object]) -> object:
        asked.append(examples)
        begun.set()
        assert go_on.wait(60)
        return answer(store, examples)

    monkeypatch.setattr(kb.site.answers, "example_answers", answering)
    ahead = Ahead(checked.evidence, checked.kg, let_go=True)
    assert ahead.let_go and len(ahead.examples) >= 2
    assert begun.wait(60)
    closing = threading.Thread(target=ahead.close)
    closing.start()
    deadline = time.monotonic() + 60
    while not ahead.abandoned.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    go_on.set()  # the step under way ends; nothing after it begins
    closing.join(60)
    assert not closing.is_alive() and not ahead.thread.is_alive()
    assert len(asked) == 1 and ahead.asked == 1
    assert ahead.claims is None, "the claims' triples were not read for a build that ends"
