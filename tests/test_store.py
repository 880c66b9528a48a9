"""The persisted store: kb query reuses it while the evidence is unchanged, and never serves a stale one."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_config
from kb.export.dumps import load_dump
from kb.pipeline import query_store, serving_store
from kb.query.store import cached_mark, evidence_key, open_cached, store_path


def count_claims(folder) -> str:
    result = CliRunner().invoke(main, ["query", "--evidence", str(folder), "--format", "csv",
                                       "SELECT (COUNT(?c) AS ?n) WHERE { ?c a psk:Claim }"])
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()[-1]


def test_query_caches_and_invalidates(evidence_copy):
    config = load_config(evidence_copy)
    key = evidence_key(config)
    assert not store_path(config, key).exists()
    assert count_claims(evidence_copy) == "4"
    assert (store_path(config, key) / "db").is_dir(), "the first query leaves a store behind"
    assert count_claims(evidence_copy) == "4"
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text()
    start = text.index("  - id: epss-protocol-under-test")
    claims.write_text(text[:start])
    assert evidence_key(config) != key
    assert count_claims(evidence_copy) == "3", "an edit invalidates the cached store"
    assert not store_path(config, key).exists(), "old stores are cleaned up"


def test_build_leaves_a_store_for_queries(evidence_copy, tmp_path):
    result = CliRunner().invoke(main, ["build", "--evidence", str(evidence_copy), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.stderr
    config = load_config(evidence_copy)
    assert (store_path(config, evidence_key(config)) / "db").is_dir()
    store = query_store(config)
    assert len(store) > 500


def test_broken_evidence_is_not_cached(evidence_copy):
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text().replace("design: rct", "design: rtc"))
    result = CliRunner().invoke(main, ["query", "--evidence", str(evidence_copy), "claims-per-direction"])
    assert result.exit_code == 1 and "claim-unknown-term" in result.stderr
    config = load_config(evidence_copy)
    assert not config.store_cache_dir.exists() or not list(config.store_cache_dir.glob("store-*"))


def test_edit_keeping_size_and_mtime_invalidates(evidence_copy, monkeypatch):
    """The stat index (kb.io.fingerprint) trusts an unchanged stat; an in-place edit of the same size with
    the mtime put back still changes ctime, so the key changes and the new text is what queries see."""
    import os
    import time

    import kb.io.fingerprint as fingerprint

    monkeypatch.setattr(fingerprint, "_clock", lambda: time.time_ns() + 10 * fingerprint.RACY_WINDOW_NS)
    config = load_config(evidence_copy)
    key = evidence_key(config)
    assert (config.store_cache_dir / "evidence-index.json").is_file()
    assert count_claims(evidence_copy) == "4"
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    before = os.stat(claims)
    text = claims.read_text()
    edited = text.replace("found some\n      evidence of benefit", "found SOME\n      evidence of benefit")
    assert edited != text and len(edited) == len(text)
    claims.write_text(edited)
    os.utime(claims, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(claims).st_size == before.st_size and os.stat(claims).st_mtime_ns == before.st_mtime_ns
    assert evidence_key(config) != key
    result = CliRunner().invoke(main, ["query", "--evidence", str(evidence_copy), "--format", "csv",
                                       "SELECT ?s WHERE { ?c psk:statement ?s } ORDER BY ?s"])
    assert result.exit_code == 0, result.stderr
    assert "found SOME evidence" in result.stdout


def test_the_store_is_written_to_disk_in_batches_with_every_quad(evidence_copy, monkeypatch):
    """persist bulk-loads the built graph in batches (one bulk load of 2M quads took 1.4 GB more memory):
    with batches of 7 quads the cached store holds exactly the built graph's quads."""
    import pyoxigraph as ox

    from kb.pipeline import check
    from kb.query import store as cached

    monkeypatch.setattr(cached, "PERSIST_BATCH", 7)
    config = load_config(evidence_copy)
    built = check(config, shacl=False).kg.store
    target = cached.persist(config, built).path
    disk = ox.Store.read_only(str(target / "db"))
    assert len(built) > 7 * 100
    assert set(disk.quads_for_pattern(None, None, None, None)) == set(built.quads_for_pattern(None, None, None, None))


def test_a_rebuild_patches_a_copy_of_the_last_builds_store(evidence_copy: Path, tmp_path: Path) -> None:
    """After an edit, kb build copies the last build's persisted store and applies the graph's change (from
    the dumps' chunks) instead of writing every quad again; the result holds exactly the new graph."""
    import pyoxigraph as ox

    from kb.pipeline import build, check
    from kb.query.store import evidence_key, store_path

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    said: list[str] = []
    build(config, progress=said.append)
    assert "cached the store for kb query" in said  # the first build writes it whole
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text(encoding="utf-8").replace("found some", "found some (edited)", 1),
                      encoding="utf-8")
    said.clear()
    build(config, progress=said.append)
    patched = [m for m in said if m.startswith("cached the store for kb query: the last build's, patched")]
    assert patched and "1 triples removed, 1 added" in patched[0], said
    stores = list(config.store_cache_dir.glob("store-*"))
    assert stores == [store_path(config, evidence_key(config))]  # the last build's is gone
    disk = ox.Store.read_only(str(stores[0] / "db"))
    fresh = check(config, shacl=False, history=True).kg.store
    assert set(disk.quads_for_pattern(None, None, None, None)) == set(fresh.quads_for_pattern(None, None, None, None))


def _edit_and_rebuild(config, evidence_copy: Path, said: list[str], words: str) -> None:
    from kb.pipeline import build

    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text(encoding="utf-8").replace("found some", f"found some ({words})", 1),
                      encoding="utf-8")
    said.clear()
    build(config, progress=said.append)


def test_a_patch_is_checked_against_the_count_kept_beside_the_store(evidence_copy: Path, tmp_path: Path) -> None:
    """Each persisted store keeps its quads' count beside it (counting RocksDB's 2M took ~6 s of a rebuild): a patch
    is kept only where that count, less what it removed and plus what it added, is the built graph's. A count that
    does not add up writes the store whole; a store without one (older caches) is counted instead."""
    import pyoxigraph as ox

    from kb.pipeline import build, check
    from kb.query.store import COUNT

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    said: list[str] = []
    build(config, progress=said.append)
    [first] = config.store_cache_dir.glob("store-*")
    quads = len(check(config, shacl=False, history=True).kg.store)
    assert (first / COUNT).read_text(encoding="ascii") == f"{quads}\n"

    (first / COUNT).write_text(f"{quads + 1}\n", encoding="ascii")  # a count that no patch can make add up
    _edit_and_rebuild(config, evidence_copy, said, "one")
    assert "cached the store for kb query" in said, said  # written whole, not patched
    [second] = config.store_cache_dir.glob("store-*")
    fresh = check(config, shacl=False, history=True).kg.store
    disk = ox.Store.read_only(str(second / "db"))
    assert set(disk.quads_for_pattern(None, None, None, None)) == set(fresh.quads_for_pattern(None, None, None, None))
    assert (second / COUNT).read_text(encoding="ascii") == f"{len(fresh)}\n"
    del disk

    (second / COUNT).unlink()  # as an older build left it
    _edit_and_rebuild(config, evidence_copy, said, "two")
    assert any(m.startswith("cached the store for kb query: the last build's, patched") for m in said), said
    [third] = config.store_cache_dir.glob("store-*")
    fresh = check(config, shacl=False, history=True).kg.store
    disk = ox.Store.read_only(str(third / "db"))
    assert set(disk.quads_for_pattern(None, None, None, None)) == set(fresh.quads_for_pattern(None, None, None, None))
    assert (third / COUNT).read_text(encoding="ascii") == f"{len(fresh)}\n"


def _triples(store) -> set:
    return {(q.subject, q.predicate, q.object) for q in store.quads_for_pattern(None, None, None, None)}


def test_kb_serve_no_build_holds_the_sites_dump_when_it_is_the_cached_stores_graph(evidence_copy, tmp_path,
                                                                                   monkeypatch):
    """The dump is loaded where its name is the cached store's, and gives the same triples; a dump that is not that
    graph (a site built from other evidence, a damaged file) is passed over for a copy of the cached store."""
    site = tmp_path / "site"
    result = CliRunner().invoke(main, ["build", "--evidence", str(evidence_copy), "--out", str(site)])
    assert result.exit_code == 0, result.stderr
    config = load_config(evidence_copy, out_dir=site)
    cached = open_cached(config)
    assert cached is not None
    expected = _triples(cached)
    dumped, mark = load_dump(site / "data" / "kb.nt.gz")
    assert mark == cached_mark(config), "the dump of a build is named as the store that build cached"
    assert _triples(dumped) == expected
    with monkeypatch.context() as patch:  # the dump is the store's graph: the store itself is not read
        patch.setattr("kb.query.store.open_cached", lambda *_: pytest.fail("read the cached store"))
        assert _triples(serving_store(config)) == expected

    dump = site / "data" / "kb.nt.gz"
    lines = gzip.decompress(dump.read_bytes()).splitlines(keepends=True)
    dump.write_bytes(gzip.compress(b"".join(lines[1:])))  # one triple short: another graph
    assert load_dump(dump)[1] != mark
    assert _triples(serving_store(config)) == expected, "the cached store, not the stale dump"
    dump.write_bytes(b"not gzip")
    assert _triples(serving_store(config)) == expected
