"""Incremental builds (issue 6): after an edit, only the files whose inputs changed are written.

Reused files are hard links to the previous build's files, so "not written" is checked on disk:
the inode stays the same. Every incremental result is also compared with a from-scratch build.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.procs import stop
from kb.config import load_config
from kb.export.pieces import as_bytes
from kb.io import gz
from kb.pipeline import build
from kb.site.addresses import claim_page, concept_address

CLAIM = "smi-rct-review-hope-recovery"
MARK = "(edited for the incremental test)"


def _build(evidence: Path, out: Path, **kwargs):
    return build(load_config(evidence, out_dir=out), **kwargs)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _edit_claim(evidence: Path) -> None:
    path = evidence / "claims" / "shalaby2020peer.yaml"
    text = path.read_text(encoding="utf-8")
    assert "found some\n      evidence of benefit" in text
    path.write_text(text.replace("found some\n      evidence of benefit", f"found some {MARK}\n      evidence of "
                                 "benefit"), encoding="utf-8")


def test_first_build_writes_everything(evidence_copy: Path, tmp_path: Path) -> None:
    result = _build(evidence_copy, tmp_path / "site")
    assert not result.reused
    assert sorted(result.written) == sorted(str(f.relative_to(result.out_dir)) for f in result.files)


def test_an_edited_claim_rewrites_only_the_pages_that_show_it(evidence_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = _build(evidence_copy, out)
    inodes = {str(f.relative_to(out)): os.stat(f).st_ino for f in first.files}
    first_nanopubs = (out / "data" / "nanopubs.trig.gz").read_bytes()
    _edit_claim(evidence_copy)
    second = _build(evidence_copy, out)

    written, reused = set(second.written), set(second.reused)
    assert written and reused and not written & reused
    assert written | reused == {str(f.relative_to(out)) for f in second.files}
    # reused files were linked, not written: same inode as in the first build
    assert all(os.stat(out / path).st_ino == inodes[path] for path in reused)
    pages = {str(p.relative_to(out)) for p in out.rglob("*.html")}
    showing = {p for p in pages if MARK in (out / p).read_text(encoding="utf-8")}
    assert claim_page(CLAIM) in showing
    assert showing <= written
    # besides the pages showing the statement, only the data page (dump sizes) changes
    assert {p for p in written & pages} - showing <= {"data.html"}
    assert claim_page("addiction-network-support-abstinence") in reused  # another bucket: not rendered again

    # The nanopublications keep history (the edited claim's supersedes the last build's), so a fresh
    # build equals the incremental one when it starts from the same previous nanopublications.
    fresh_out = tmp_path / "fresh"
    (fresh_out / "data").mkdir(parents=True)
    (fresh_out / "data" / "kb.nt.gz").write_bytes(b"")  # a folder kb build may replace
    (fresh_out / "data" / "nanopubs.trig.gz").write_bytes(first_nanopubs)
    fresh = _build(evidence_copy, fresh_out)
    assert _tree(out) == _tree(fresh.out_dir)
    assert gz.read(out / "data" / "nanopubs.trig.gz").count(b"npx:supersedes") == 1


def test_a_rebuild_without_changes_rewrites_only_the_dumps(evidence_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(evidence_copy, out)
    again = _build(evidence_copy, out)
    assert {p for p in again.written if not p.startswith("data/")} == set()


def test_a_hand_edited_page_is_rendered_again(evidence_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = _build(evidence_copy, out)
    page = out / claim_page(CLAIM)
    original = page.read_bytes()
    page.write_bytes(original.replace(b"</body>", b"<p>tampered</p></body>"))
    second = _build(evidence_copy, out)
    assert claim_page(CLAIM) in second.written
    assert page.read_bytes() == original
    assert len(second.reused) > len(first.files) / 2


def test_a_template_change_renders_every_page_again(evidence_copy: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.site

    out = tmp_path / "site"
    _build(evidence_copy, out)
    templates = tmp_path / "templates"
    shutil.copytree(kb.site.TEMPLATES, templates)
    base = templates / "base.html"
    base.write_text(base.read_text(encoding="utf-8").replace("</body>", "<!-- changed --></body>"),
                    encoding="utf-8")
    monkeypatch.setattr(kb.site, "TEMPLATES", templates)
    second = _build(evidence_copy, out)
    pages = {str(p.relative_to(out)) for p in out.rglob("*.html")}
    assert pages <= set(second.written)
    assert all(b"<!-- changed -->" in (out / p).read_bytes() for p in pages)


def test_one_process_and_several_build_the_same_bytes(evidence_copy: Path, tmp_path: Path) -> None:
    serial = _build(evidence_copy, tmp_path / "one", jobs=1)
    parallel = _build(evidence_copy, tmp_path / "two", jobs=2)
    assert _tree(serial.out_dir) == _tree(parallel.out_dir)


def test_kb_build_reports_the_files_it_reused(evidence_copy: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kb.cli import main

    args = ["build", "--evidence", str(evidence_copy), "--out", str(tmp_path / "site"), "--jobs", "1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "unchanged" not in first.output
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert re.search(r"built \d+ files in .* \(\d+ unchanged since the last build\)", second.output)


def test_a_build_that_cannot_save_its_manifest_leaves_none_behind(evidence_copy: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.site.reuse

    out = tmp_path / "site"
    _build(evidence_copy, out)

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(kb.site.reuse, "save_manifest", fail)
    _edit_claim(evidence_copy)
    _build(evidence_copy, out)  # the site is built; only the record of it is missing
    monkeypatch.undo()
    third = _build(evidence_copy, out)
    assert not third.reused, "without a manifest nothing is trusted"


def test_fingerprints_depend_on_values_not_on_object_identity() -> None:
    import hashlib

    from kb.site.pages import Link, Term
    from kb.site.reuse import page_fingerprint

    key = hashlib.blake2b(digest_size=16)
    shared = "".join(["personal", "_recovery"])
    other = "".join(["personal_", "recovery"])
    assert shared == other and shared is not other
    same_object = (Term(shared, "Recovery", Link("outcomes/x.html", "Recovery")), shared)
    equal_objects = (Term(shared, "Recovery", Link("outcomes/x.html", "Recovery")), other)
    assert page_fingerprint(key, same_object) == page_fingerprint(key, equal_objects)
    changed = (Term(shared, "Recovery!", Link("outcomes/x.html", "Recovery")), other)
    assert page_fingerprint(key, changed) != page_fingerprint(key, same_object)


# --- the editors' loop (kb serve watching the evidence folder; kb.live) -------------------------------


def _fresh_equivalent(evidence: Path, out: Path, nanopubs: bytes) -> Path:
    """A cold build of ``evidence`` into a new folder, starting from the same previous nanopublications."""
    (out / "data").mkdir(parents=True)
    (out / "data" / "kb.nt.gz").write_bytes(b"")  # a folder kb build may replace
    (out / "data" / "nanopubs.trig.gz").write_bytes(nanopubs)
    return _build(evidence, out).out_dir


class _Running:
    """:meth:`kb.live.Loop.run` in a thread; :meth:`next` waits for its next rebuild."""

    def __init__(self, loop, watcher) -> None:
        import queue
        import threading

        self.rebuilds: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=loop.run, args=(self.rebuilds.put, self.stop, watcher), daemon=True)
        self.thread.start()

    def next(self, timeout: float = 120):
        return self.rebuilds.get(timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def test_the_loop_rebuilds_an_edit_into_the_bytes_of_a_cold_build(evidence_copy: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.live import Loop, Watcher
    from kb.site import addresses

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    watcher = Watcher(config, poll=0.05, settle=0.05)
    first = loop.build()
    assert first.ok and first.key
    # after a build, the loop's process knows every claim's and work's bucket (even where its workers alone hashed
    # them): the workers it forks next hash none again
    addresses.bucket.cache_clear()
    assert loop.build().ok
    with monkeypatch.context() as patched:
        patched.setattr(addresses, "fnv1a32", lambda text: pytest.fail(f"{text} hashed again"))
        for claim in first.result.checked.evidence.claims:
            addresses.claim_page(claim.id)
        for ref in first.result.checked.evidence.references:
            addresses.work_page(ref.key)
    nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
    # the studies counted, the workers' among them, are kept for the next build: a reworded claim counts none again
    assert loop.warm.analysed.last is not None
    counted = dict(loop.warm.analysed.last.studies._cache)
    assert counted
    running = _Running(loop, watcher)
    try:
        _edit_claim(evidence_copy)
        rebuild = running.next()
    finally:
        running.close()
    assert loop.warm.analysed.last is not None
    kept = loop.warm.analysed.last.studies._cache
    assert kept.keys() == counted.keys() and all(kept[key] is made for key, made in counted.items())  # none made again
    assert rebuild.ok and rebuild.changed == ["claims/shalaby2020peer.yaml"]
    assert claim_page(CLAIM) in rebuild.result.written
    assert claim_page("addiction-network-support-abstinence") in rebuild.result.reused
    assert rebuild.key != first.key
    assert "claims/shalaby2020peer.yaml changed: rebuilt in" in rebuild.summary()
    assert MARK in (tmp_path / "site" / claim_page(CLAIM)).read_text(encoding="utf-8")
    fresh = _fresh_equivalent(evidence_copy, tmp_path / "fresh", nanopubs)
    assert _tree(tmp_path / "site") == _tree(fresh)
    # the pages' input keys it keeps for the next build are a cold build's (a worker sends back only those of the
    # pages it built; the kept pages' are the last build's)
    from kb.site.reuse import load_previous, manifest_path

    loop_keys, cold_keys = (load_previous(manifest_path(load_config(evidence_copy).store_cache_dir, out), out).deps
                            for out in (tmp_path / "site", fresh))
    assert len(loop_keys) > 50 and {p: e.key for p, e in loop_keys.items()} == {p: e.key for p, e in cold_keys.items()}


def test_with_a_release_the_loop_reads_only_the_edited_claims_again_and_builds_a_cold_builds_bytes(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a release is cut every build compares the current graph with it (the history): the loop reads again
    only the edited claim (kb.diff.snapshot's reuse, by record) and none of the works, nor which records the store
    holds (the last build's, brought through the store's patch), compares only the current
    state with the release (the releases' part and the release's summary rows are kept; the current state's map cells
    and rows are the last build's, but the edited claim's), and the site it builds,
    the change since the release included, is a cold build's."""
    from click.testing import CliRunner

    import kb.diff.compare as diff_compare
    import kb.diff.releases as releases
    import kb.diff.snapshot as snapshot
    import kb.graph.build as graph_build
    from kb.cli import main
    from kb.live import Loop, Watcher

    cut = CliRunner().invoke(main, ["release", "r1", "--evidence", str(evidence_copy), "--date", "2026-01-01"])
    assert cut.exit_code == 0, cut.output
    monkeypatch.setattr(graph_build, "PATCH_SHARE", 0)  # the store patched in place, as at scale
    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    first = loop.build()
    assert first.ok and first.result.checked.history is not None
    assert first.result.checked.history.unreleased is None  # nothing changed since the release
    nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
    read: list[str] = []
    claim, work = snapshot._claim, snapshot._work
    monkeypatch.setattr(snapshot, "_claim", lambda i, *rest: read.append(i) or claim(i, *rest))
    monkeypatch.setattr(snapshot, "_work", lambda k, *rest: read.append(k) or work(k, *rest))
    scanned: list[object] = []  # the records the store holds: the last build's, brought through the patch
    subjects = snapshot.record_subjects
    monkeypatch.setattr(snapshot, "record_subjects", lambda *a: scanned.append(a) or subjects(*a))
    compared: list[object] = []  # the release against nothing is kept; the release's summary rows too
    summarised: list[list[str]] = []  # the claims of each cell or summary row made again
    compare, summary = releases.compare, diff_compare._summary
    monkeypatch.setattr(releases, "compare", lambda old, new, before: compared.append(new) or compare(old, new, before))
    monkeypatch.setattr(diff_compare, "_summary",
                        lambda snap, found: summarised.append([c for c, _ in found]) or summary(snap, found))
    running = _Running(loop, Watcher(config, poll=0.05, settle=0.05))
    try:
        _edit_claim(evidence_copy)
        rebuild = running.next()
    finally:
        running.close()
    assert rebuild.ok
    assert read == [CLAIM]  # the loop keeps the file's other claims as the same records: they are not read again
    assert not scanned
    assert len(compared) == 1  # compared with the release once
    # the release's cells and rows are kept, and the current state's carried from the last build but the edited claim's
    assert summarised and all(CLAIM in found for found in summarised)
    unreleased = rebuild.result.checked.history.unreleased
    assert unreleased is not None and [c.id for c in unreleased.claims.changed] == [CLAIM]
    monkeypatch.undo()
    fresh = _fresh_equivalent(evidence_copy, tmp_path / "fresh", nanopubs)
    assert _tree(tmp_path / "site") == _tree(fresh)


def test_with_a_release_the_loop_reads_no_claim_again_after_an_edited_work(evidence_copy: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited title changes no claim's triples (a claim reads of references.bib only which of the works it names
    are there: kb.checks.scope.records_context) and no other work's, so comparing with the release reads that work
    again and nothing else; the change since the release is the work's, and the site a cold build's. A venue spelt
    anew is read by every work."""
    from click.testing import CliRunner

    import kb.diff.snapshot as snapshot
    from kb.cli import main
    from kb.live import Loop

    cut = CliRunner().invoke(main, ["release", "r1", "--evidence", str(evidence_copy), "--date", "2026-01-01"])
    assert cut.exit_code == 0, cut.output
    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    assert loop.build().ok
    loop.ready()  # as kb serve makes it: references.bib's entries read, the first build's records handed out
    nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
    claims: list[str] = []
    works: list[str] = []
    claim, work = snapshot._claim, snapshot._work
    monkeypatch.setattr(snapshot, "_claim", lambda i, *rest: claims.append(i) or claim(i, *rest))
    monkeypatch.setattr(snapshot, "_work", lambda k, *rest: works.append(k) or work(k, *rest))
    _replace(evidence_copy / "references.bib", "title = {Peer Support in Mental Health: Literature Review}",
             "title = {Peer Support in Mental Health: A Literature Review}")
    rebuild = loop.build(["references.bib"])
    assert rebuild.ok, rebuild.failure or rebuild.problems
    assert not claims and works == ["shalaby2020peer"]
    unreleased = rebuild.result.checked.history.unreleased
    assert unreleased is not None and [w.id for w in unreleased.works.changed] == ["shalaby2020peer"]
    assert not unreleased.claims.changed
    # a venue spelt another way: each of its works reads the venue's titles, so every work is read again
    works.clear()
    _replace(evidence_copy / "references.bib", "journal = {JMIR Mental Health}", "journal = {BMC psychiatry}")
    rebuild = loop.build(["references.bib"])
    assert rebuild.ok, rebuild.failure or rebuild.problems
    assert not claims and len(works) == len(rebuild.result.checked.evidence.references)
    monkeypatch.undo()
    assert _tree(tmp_path / "site") == _tree(_fresh_equivalent(evidence_copy, tmp_path / "fresh", nanopubs))


def test_the_loop_rebuilds_an_edited_work_into_the_bytes_of_a_cold_build(evidence_copy: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited title keeps the claims' rows (the same objects) and most pages; an edited year changes the works'
    years, which the analysis reads (a build-wide input of the pages): each rebuild is a cold build's bytes. The
    loop, primed while the editor pauses, evaluates only the edited entry of references.bib."""
    import kb.bibtex.load as bib_load
    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    first = loop.build()
    assert first.ok
    loop.warm.prime(config)  # the first build's references came from another process: read here while idle
    rows = first.result.analysis.rows
    bib = evidence_copy / "references.bib"
    evaluated: list[str] = []
    evaluate_entry = bib_load.evaluate_entry
    monkeypatch.setattr(bib_load, "evaluate_entry", lambda block, *a, **k: evaluated.append(block.key)
                        or evaluate_entry(block, *a, **k))
    for name, key, old, new in (("title", "shalaby2020peer", "title = {Peer Support in Mental Health: Literature Review}",
                                 "title = {Peer Support in Mental Health: A Literature Review}"),
                                ("year", None, "year = {2014},", "year = {2011},")):
        nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
        _replace(bib, old, new)
        evaluated.clear()
        rebuild = loop.build(["references.bib"])
        assert rebuild.ok, rebuild.failure or rebuild.problems
        assert len(evaluated) == 1 and key in (None, evaluated[0]), (name, evaluated)
        if name == "title":
            assert all(a is b for a, b in zip(rebuild.result.analysis.rows, rows, strict=True))
            assert len(rebuild.result.kept) > len(rebuild.result.written)
        assert _tree(tmp_path / "site") == _tree(_fresh_equivalent(evidence_copy, tmp_path / f"fresh-{name}",
                                                                   nanopubs)), name


def test_the_loop_rebuilds_an_edited_reference_list_source_and_query_into_the_bytes_of_a_cold_build(
        evidence_copy: Path, tmp_path: Path) -> None:
    """Evidence files other than the claim files and references.bib: each rebuild is a cold build's bytes, and the
    claims' nanopublications, FHIR Evidence and rows, which read none of these files, are kept (the same objects)."""
    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    first = loop.build()
    assert first.ok
    rows = first.result.analysis.rows
    query = next((evidence_copy / "queries").glob("*.rq"))
    edits = (("citations", lambda: _shorten_reference_list(evidence_copy)),
             ("sources", lambda: _replace(evidence_copy / "sources" / "shalaby2020peer.yaml", 'title: "',
                                          'title: "Edited: ')),
             ("queries", lambda: query.write_text(query.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")))
    for name, edit in edits:
        nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
        fhir = {path: made[0] for path, made in loop.warm.exports.fhir_files["files"].items()}  # fragments' keys
        edit()
        rebuild = loop.build([name])
        assert rebuild.ok, rebuild.failure or rebuild.problems
        assert (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes() == nanopubs, name
        assert {path: made[0] for path, made in loop.warm.exports.fhir_files["files"].items()} == fhir, name
        assert all(a is b for a, b in zip(rebuild.result.analysis.rows, rows, strict=True)), name
        assert _tree(tmp_path / "site") == _tree(_fresh_equivalent(evidence_copy, tmp_path / f"fresh-{name}",
                                                                   nanopubs)), name


def test_the_loop_reads_references_bib_into_its_entry_memo_once_the_editor_pauses(evidence_copy: Path,
                                                                                  tmp_path: Path) -> None:
    """While the folder is quiet, a loop that built reads references.bib into its memo of entries (the first build's
    came from the parse cache or another process), so that the first edit of it is as quick as the next; a loop that
    has not built (``kb serve --no-build``) holds no records, and reads none."""
    import threading

    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)

    class Paused:  # a watcher whose editor pauses once, then stops the loop
        def wait(self, stop: threading.Event, idle=None, **_kw: object) -> None:
            assert idle is not None
            idle()

    loop.run(lambda _rebuild: None, threading.Event(), watcher=Paused())  # type: ignore[arg-type]
    assert not loop.warm.entries.holds(str(config.references_path))  # kb serve --no-build: nothing built, none held
    assert loop.build().ok
    loop.run(lambda _rebuild: None, threading.Event(), watcher=Paused())  # type: ignore[arg-type]
    assert loop.warm.entries.holds(str(config.references_path))


def test_a_loop_made_ready_to_serve_holds_references_bib_entries_before_any_pause(evidence_copy: Path,
                                                                                   tmp_path: Path) -> None:
    """``kb serve`` makes its loop ready before it says it serves: references.bib's entries are then read, so the
    loop's first pause does not make a save wait for them; a loop that will not watch (``kb serve --no-watch``)
    does not read them (~4.5 s of its start at 10,000 works, for edits it never rebuilds)."""
    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    loop.ready()  # nothing built (kb serve --no-build): nothing read
    assert not loop.warm.entries.holds(str(config.references_path))
    assert loop.build().ok  # its records come from the parse cache or another process, not its memo of entries
    loop.ready(prime=False)
    assert not loop.warm.entries.holds(str(config.references_path))
    loop.ready()
    assert loop.warm.entries.holds(str(config.references_path))


def test_the_loop_freezes_its_state_once_and_its_rebuilds_leave_what_they_make_to_the_collector(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop made ready freezes what it holds where its pass took long (at 10k/50k the pass over ~2.2M objects took
    1.5–3.5 s while a save waited; here any pass counts as long), and a rebuild then freezes nothing: what it makes and
    the next drops stays the collector's, not frozen for good, and the pass after it walks only that."""
    import gc

    import kb.live
    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    assert loop.build().ok
    monkeypatch.setattr(kb.live, "FREEZE_AFTER_S", -1.0)
    try:
        loop.ready()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        monkeypatch.setattr(kb.live, "FREEZE_AFTER_S", float("inf"))  # the passes after edits are short
        claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
        for edit in (lambda: _edit_claim(evidence_copy),
                     lambda: claims.write_text(claims.read_text(encoding="utf-8") + "# again\n", encoding="utf-8")):
            edit()
            assert loop.build().ok
            assert gc.get_freeze_count() <= frozen  # refcounting frees frozen objects; a rebuild froze none
            loop.collect()
            assert gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_the_first_edited_work_after_the_loop_is_ready_keeps_every_other_work_as_the_first_builds_record(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo of entries read while the loop is made ready hands out the first build's records where they are the
    same (they came from the parse cache or another process): what later stages keep by a work's record (its graph
    lines, citations, short links, exports) is then kept from the first edit on, not only from the second."""
    import kb.graph.build as graph_build
    import kb.site.cite as cite
    from kb.live import Loop

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    first = loop.build()
    assert first.ok
    loop.ready()
    formatted: list[str] = []
    format_work = cite.format_work
    monkeypatch.setattr(cite, "format_work", lambda ref: formatted.append(ref.key) or format_work(ref))
    written: list[str] = []  # the works whose graph lines are written again
    work_text = graph_build._Builder._work_text
    monkeypatch.setattr(graph_build._Builder, "_work_text",
                        lambda self, ref, display: written.append(ref.key) or work_text(self, ref, display))
    _replace(evidence_copy / "references.bib", "title = {Peer Support in Mental Health: Literature Review}",
             "title = {Peer Support in Mental Health: A Literature Review}")
    rebuild = loop.build(["references.bib"])
    assert rebuild.ok, rebuild.failure or rebuild.problems
    before = {ref.key: ref for ref in first.result.checked.evidence.references}
    after = rebuild.result.checked.evidence.references
    assert len(after) == len(before) > 3
    assert [ref.key for ref in after if ref is not before[ref.key]] == ["shalaby2020peer"]
    assert written == formatted == ["shalaby2020peer"]  # the other works' lines and citations are the first build's (the site is then a
    # cold build's: test_the_loop_rebuilds_an_edited_work_into_the_bytes_of_a_cold_build)


def test_the_loop_keeps_the_last_good_site_when_a_rebuild_fails(evidence_copy: Path, tmp_path: Path) -> None:
    from kb.live import Loop, Watcher

    out = tmp_path / "site"
    config = load_config(evidence_copy, out_dir=out)
    loop = Loop(config)
    watcher = Watcher(config, poll=0.05, settle=0.05)
    assert loop.build().ok
    before = _tree(out)
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    good = claims.read_text(encoding="utf-8")
    running = _Running(loop, watcher)
    try:
        claims.write_text(good.replace("statement: >-", "statement: [unclosed", 1), encoding="utf-8")
        failed = running.next()
        assert not failed.ok and failed.problems
        assert all(p.path == str(claims) for p in failed.problems if p.severity == "error")
        assert "rebuild failed" in failed.summary() and "still serving the last good site" in failed.summary()
        assert _tree(out) == before
        claims.write_text(good, encoding="utf-8")  # fixed: the next rebuild succeeds
        again = running.next()
    finally:
        running.close()
    assert again.ok
    assert _tree(out) == before
    assert gc.isenabled(), "the collector is paused while the loop builds, and back on after a failed build too"


def test_the_warm_state_reuses_the_records_of_unchanged_files(evidence_copy: Path, tmp_path: Path) -> None:
    from kb.live import Loop

    loop = Loop(load_config(evidence_copy, out_dir=tmp_path / "site"))
    first = loop.build().result.checked.evidence
    _edit_claim(evidence_copy)
    second = loop.build().result.checked.evidence
    assert second.references == first.references
    assert all(a is b for a, b in zip(second.references, first.references, strict=True))  # not read again
    edited = second.claims_by_id[CLAIM]
    assert MARK in edited.statement and edited is not first.claims_by_id[CLAIM]


def test_the_watcher_sees_a_change_a_new_file_and_a_removed_one_but_not_scratch_files(tmp_path: Path) -> None:
    import threading

    from kb.live import Watcher

    evidence = tmp_path / "evidence"
    (evidence / "claims").mkdir(parents=True)
    (evidence / "claims" / "a.yaml").write_text("a", encoding="utf-8")
    (evidence / "claims" / "b.yaml").write_text("b", encoding="utf-8")
    watcher = Watcher(load_config(evidence, out_dir=tmp_path / "site"), poll=0.01, settle=0.01)
    stop = threading.Event()
    (evidence / "claims" / "a.yaml").write_text("a, edited", encoding="utf-8")
    (evidence / "claims" / "b.yaml").unlink()
    (evidence / "claims" / "c.yaml").write_text("c", encoding="utf-8")
    (evidence / "claims" / ".a.yaml.swp").write_text("scratch", encoding="utf-8")
    (evidence / "claims" / "a.yaml~").write_text("backup", encoding="utf-8")
    assert watcher.wait(stop) == ["claims/a.yaml", "claims/b.yaml", "claims/c.yaml"]
    stop.set()
    assert watcher.wait(stop) is None


def test_the_watchers_scan_lists_what_os_walk_lists(tmp_path: Path) -> None:
    """The scan (one scandir per folder, names joined as found) against os.walk with relpath, its old form: nested
    folders, hidden ones, the output folder skipped, a link to a folder not followed, a link to a file followed."""
    from kb.live import IGNORED_SUFFIXES, scan

    evidence = tmp_path / "evidence"
    for name in ("claims/a.yaml", "claims/deep/er/b.yaml", "vocab/c.ttl", ".git/HEAD", "claims/.hidden.yaml",
                 "claims/d.yaml~", "site/index.html", "outside/e.yaml", "references.bib"):
        path = (tmp_path if name.startswith("outside") else evidence) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name, encoding="utf-8")
    (evidence / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (evidence / "claims" / "f.yaml").symlink_to(tmp_path / "outside" / "e.yaml")

    def walked(folder: Path, skip: list[Path]) -> dict[str, tuple[int, int, int, int]]:
        out = {}
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".") and os.path.join(root, d) not in map(str, skip)]
            for name in files:
                if not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES):
                    st = os.stat(os.path.join(root, name))
                    out[os.path.relpath(os.path.join(root, name), folder)] = (st.st_size, st.st_mtime_ns,
                                                                              st.st_ctime_ns, st.st_ino)
        return out

    found = scan(evidence, [evidence / "site"])
    assert found == walked(evidence, [evidence / "site"])
    assert sorted(found) == ["claims/a.yaml", "claims/deep/er/b.yaml", "claims/f.yaml", "references.bib",
                             "vocab/c.ttl"]


def _one_claim_watched(tmp_path: Path, settle: float) -> tuple[Path, Path, Any]:
    """An evidence folder of one claim file (``claims/a.yaml``), and a watcher polling it every 0.01 s."""
    from kb.live import Watcher

    evidence = tmp_path / "evidence"
    (evidence / "claims").mkdir(parents=True)
    claim = evidence / "claims" / "a.yaml"
    claim.write_text("a", encoding="utf-8")
    return evidence, claim, Watcher(load_config(evidence, out_dir=tmp_path / "site"), poll=0.01, settle=settle)


def test_the_watcher_runs_the_idle_work_once_the_folder_is_quiet_and_not_before_a_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's full collection after a rebuild (~2–3 s at 10k/50k) waits for a quiet folder: a save that comes
    first is rebuilt without waiting for it, and it runs once."""
    import threading

    import kb.live

    monkeypatch.setattr(kb.live, "IDLE_S", 0.1)
    _evidence, claim, watcher = _one_claim_watched(tmp_path, settle=0.01)
    ran: list[float] = []
    stop = threading.Event()
    claim.write_text("a, edited", encoding="utf-8")
    assert watcher.wait(stop, idle=lambda: ran.append(1)) == ["claims/a.yaml"] and ran == []  # the change first
    later = threading.Timer(0.5, lambda: claim.write_text("a, edited again", encoding="utf-8"))
    later.start()
    assert watcher.wait(stop, idle=lambda: ran.append(1)) == ["claims/a.yaml"]
    later.join()
    assert ran == [1]  # once, while the folder was quiet


def test_the_watcher_begins_as_soon_as_a_change_is_seen_and_abandons_one_that_comes_to_nothing(
        tmp_path: Path) -> None:
    """``begin`` (kb serve stops its query workers) runs once the first change is seen, before the folder has settled,
    once however many scans the settling takes; a file made and removed within the settle is no change: ``abandon``
    runs (the workers come back) and the watcher goes on waiting for a real one."""
    import threading

    evidence, claim, watcher = _one_claim_watched(tmp_path, settle=0.3)
    calls: list[str] = []
    stop = threading.Event()
    passing = evidence / "claims" / "passing.yaml"

    begun: list[float] = []

    def begin() -> None:
        calls.append("begin")
        begun.append(time.monotonic())
        if passing.exists():
            passing.unlink()  # removed again before the folder settles

    def abandon() -> None:  # then a real change: made here, not on a timer, so that a busy machine cannot merge them
        calls.append("abandon")
        claim.write_text("a, edited", encoding="utf-8")

    passing.write_text("made and removed", encoding="utf-8")
    assert watcher.wait(stop, begin=begin, abandon=abandon) == ["claims/a.yaml"]
    assert calls == ["begin", "abandon", "begin"]
    assert time.monotonic() - begun[-1] >= 0.25, "begun before the folder settled (0.3 s), not after"


def test_kb_serve_rebuilds_an_edit_and_answers_from_the_new_store(evidence_copy: Path, tmp_path: Path) -> None:
    """The loop end to end: ``kb serve`` says what it rebuilt, serves the new page and answers SPARQL from the
    rebuilt store; a broken file is reported and the last good site and store go on being served."""
    import json
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--evidence", str(evidence_copy), "--out",
                                str(tmp_path / "site"), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert process.stdout is not None

    def line_with(pattern: str) -> re.Match:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            if not line and process.poll() is not None:
                pytest.fail(f"kb serve exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
            found = re.search(pattern, line)
            if found:
                return found
        pytest.fail(f"kb serve never printed {pattern!r}")

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def statement() -> str:
        query = f'SELECT ?s WHERE {{ ?c dcterms:identifier "{CLAIM}" ; psk:statement ?s }}'
        url = f"http://127.0.0.1:{port}/sparql?" + urllib.parse.urlencode({"query": query})
        with opener.open(url, timeout=30) as answer:
            return json.loads(answer.read())["results"]["bindings"][0]["s"]["value"]

    def page() -> str:
        with opener.open(f"http://127.0.0.1:{port}/{claim_page(CLAIM)}", timeout=30) as answer:
            return answer.read().decode("utf-8")

    try:
        port = int(line_with(r"SPARQL at http://127\.0\.0\.1:(\d+)/sparql \(rebuilding when")[1])
        assert MARK not in statement() and MARK not in page()
        _edit_claim(evidence_copy)
        line_with(r"claims/shalaby2020peer\.yaml changed: rebuilt in \d+\.\d s")
        assert MARK in statement() and MARK in page()
        record = json.loads((evidence_copy.parent / ".kb-cache" / "serve.json").read_text())
        from kb.query.store import evidence_key

        assert record["key"] == evidence_key(load_config(evidence_copy))  # kb query finds the rebuilt store
        claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
        claims.write_text(claims.read_text(encoding="utf-8").replace("statement: >-", "statement: [x", 1),
                          encoding="utf-8")
        line_with(r"rebuild failed after .* still serving the last good site")
        assert MARK in statement() and MARK in page()
    finally:
        stop(process)
    assert process.returncode == 0
    assert "shalaby2020peer.yaml" in (process.stderr.read() if process.stderr else "")  # the error, on stderr


def test_kb_serve_no_watch_serves_the_first_build_and_rebuilds_nothing(evidence_copy: Path, tmp_path: Path) -> None:
    """``kb serve --no-watch`` builds once and serves it, site and SPARQL: an edit is not rebuilt (it never runs the
    editors' loop, so it does not read references.bib's entries for one either: ~7 s of its start at 10k/50k)."""
    import json
    import urllib.parse
    import urllib.request

    process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--no-watch", "--evidence", str(evidence_copy),
                                "--out", str(tmp_path / "site"), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline, found = time.monotonic() + 180, None
        while found is None and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            found = re.search(r"SPARQL at http://127\.0\.0\.1:(\d+)/sparql(.*)", line)
        assert found is not None, process.stderr.read() if process.stderr else ""
        assert "rebuilding" not in found[2]

        def statement() -> str:
            query = f'SELECT ?s WHERE {{ ?c dcterms:identifier "{CLAIM}" ; psk:statement ?s }}'
            url = f"http://127.0.0.1:{found[1]}/sparql?" + urllib.parse.urlencode({"query": query})
            with opener.open(url, timeout=30) as answer:
                return json.loads(answer.read())["results"]["bindings"][0]["s"]["value"]

        assert MARK not in statement()
        _edit_claim(evidence_copy)
        time.sleep(2.0)  # a watching loop sees it within 0.35 s and rebuilds this corpus in ~1 s
        assert MARK not in statement()
        with opener.open(f"http://127.0.0.1:{found[1]}/{claim_page(CLAIM)}", timeout=30) as answer:
            assert MARK not in answer.read().decode("utf-8")
    finally:
        stop(process)
    assert process.returncode == 0 and "changed:" not in process.stdout.read()


# --- SHACL on the claims of the changed claim files only (kb.checks.scope) ---------------------------


def _focus_under(violation, iris) -> bool:
    return any(violation.focus == iri or violation.focus.startswith(iri + "/") for iri in iris)


def test_shacl_on_some_claims_finds_what_the_whole_graph_finds_for_them(evidence_copy: Path) -> None:
    import pyoxigraph as ox

    from kb.checks.shacl import shacl_violations
    from kb.namespaces import PSK, SKOS
    from kb.pipeline import check

    checked = check(load_config(evidence_copy), shacl=False)
    store, base = checked.graph.store, checked.evidence.config.base_iri
    claims = sorted(base + "claim/" + c.id for c in checked.evidence.claims)
    assert len(claims) >= 4
    basis, closed, outcome, concept = claims[:4]
    store.add(ox.Quad(ox.NamedNode(basis), ox.NamedNode(PSK + "certaintyBasis"), ox.Literal("vibes")))
    store.add(ox.Quad(ox.NamedNode(closed), ox.NamedNode("http://example.org/sumary"), ox.Literal("x")))
    finding = next(store.quads_for_pattern(ox.NamedNode(outcome), ox.NamedNode(PSK + "finding"), None)).object
    for quad in list(store.quads_for_pattern(finding, ox.NamedNode(PSK + "outcome"), None)):
        store.remove(quad)  # a finding without its outcome: minCount on the nested node
    design = next(store.quads_for_pattern(ox.NamedNode(concept), ox.NamedNode(PSK + "design"), None)).object
    for quad in list(store.quads_for_pattern(design, ox.NamedNode(SKOS + "inScheme"), None)):
        store.remove(quad)  # a concept (not a claim file's) that the claim points at no longer conforms

    everything = shacl_violations(checked.graph, base)
    for chosen in ([basis], [closed, outcome], [concept], claims[4:], claims):
        scoped = shacl_violations(checked.graph, base, claims=chosen)
        assert scoped == [v for v in everything if _focus_under(v, chosen)], chosen
    assert {v.focus for v in everything} >= {basis, closed, concept}
    assert any(v.focus.startswith(outcome) for v in everything)


def test_shacl_on_the_works_finds_what_the_whole_graph_finds_for_them(evidence_copy: Path) -> None:
    """After an edited work the works are validated on a graph of their own triples: a work's own violations (two
    titles, a DOI out of pattern, an included study that is not a work) are the whole graph's."""
    import pyoxigraph as ox

    from kb.checks.shacl import shacl_violations
    from kb.namespaces import BIBO, DCTERMS, PSK
    from kb.pipeline import check

    checked = check(load_config(evidence_copy), shacl=False)
    store, base = checked.graph.store, checked.evidence.config.base_iri
    works = sorted({q.subject.value for q in store.quads_for_pattern(None, ox.NamedNode(PSK + "citekey"), None)})
    assert len(works) >= 3
    titled, doi, including = (ox.NamedNode(w) for w in works[:3])
    store.add(ox.Quad(titled, ox.NamedNode(DCTERMS + "title"), ox.Literal("A second title")))
    store.add(ox.Quad(doi, ox.NamedNode(BIBO + "doi"), ox.Literal("not a doi")))
    store.add(ox.Quad(including, ox.NamedNode(PSK + "includesStudy"), ox.NamedNode(base + "work/not-a-work")))
    everything = shacl_violations(checked.graph, base)
    scoped = shacl_violations(checked.graph, base, claims=[], works=True)
    assert scoped == [v for v in everything if v.focus in works]
    assert {v.focus for v in scoped} == {titled.value, doi.value, including.value}
    # the loop validates only the works its store patch touched (a graph of theirs and of the nodes they point at)
    named = {titled.value, doi.value, including.value, works[3]}
    assert shacl_violations(checked.graph, base, claims=[], works=named) == scoped


def test_the_loop_validates_only_the_works_its_edit_touched_and_finds_what_a_fresh_check_does(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the store patched in place (as at scale), an edited title has SHACL validate that work alone; the
    rebuild's problems are a fresh check's."""
    import kb.graph.build as graph_build
    from kb.live import Loop
    from kb.pipeline import check

    monkeypatch.setattr(graph_build, "PATCH_SHARE", 0)
    said: list[str] = []
    loop = Loop(load_config(evidence_copy, out_dir=tmp_path / "site"), progress=lambda m, *a, **k: said.append(m))
    assert loop.build().ok
    _replace(evidence_copy / "references.bib", "title = {Peer Support in Mental Health: Literature Review}",
             "title = {Peer Support in Mental Health: A Literature Review}")
    said.clear()
    rebuild = loop.build(["references.bib"])
    assert rebuild.ok, rebuild.failure or rebuild.problems
    assert [m for m in said if m.startswith("validating")] == [
        "validating with SHACL: the 0 claims of 0 changed file(s) and 1 work(s)"]
    fresh = check(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / "other-cache"))
    assert [p.format() for p in rebuild.result.checked.report.sorted()] == [p.format() for p in fresh.report.sorted()]


def test_the_works_a_store_patch_touched_are_those_with_a_changed_triple_and_those_that_include_one(
        evidence_copy: Path) -> None:
    """A triple of a work or of a node under it (its people) changed, or a work removed: that work, and every work
    whose included studies name it (its shape reads the included work's citekey)."""
    import pyoxigraph as ox

    from kb.checks.scope import patched_works
    from kb.graph.build import StorePatch
    from kb.namespaces import FOAF, PSK
    from kb.pipeline import check

    checked = check(load_config(evidence_copy), shacl=False)
    store, base = checked.graph.store, checked.evidence.config.base_iri
    works = sorted({q.subject.value for q in store.quads_for_pattern(None, ox.NamedNode(PSK + "citekey"), None)})
    study, review, unrelated = works[:3]
    store.add(ox.Quad(ox.NamedNode(review), ox.NamedNode(PSK + "includesStudy"), ox.NamedNode(study)))
    person = ox.Quad(ox.NamedNode(study + "/author/1"), ox.NamedNode(FOAF + "name"), ox.Literal("Someone"))
    other = ox.Quad(ox.NamedNode(base + "claim/x"), ox.NamedNode(PSK + "statement"), ox.Literal("not a work"))
    checked.graph.patch = StorePatch(store, removed=[person], added=[other])
    assert patched_works(checked.graph, base) == {study, review}
    checked.graph.patch = StorePatch(store, removed=[], added=[
        ox.Quad(ox.NamedNode(unrelated), ox.NamedNode(PSK + "citekey"), ox.Literal("x"))])
    assert patched_works(checked.graph, base) == {unrelated}


def test_a_check_after_editing_one_claim_file_validates_only_its_claims(evidence_copy: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.checks.shacl
    from kb.pipeline import check

    source = evidence_copy / "claims" / "shalaby2020peer.yaml"
    text = source.read_text(encoding="utf-8")
    second = text.split("\n  - id: ")
    # a second claim file holding the last claim (its ids renamed), so that one file can change alone
    (evidence_copy / "claims" / "second.yaml").write_text(
        "source: shalaby2020peer\nclaims:\n  - id: copy-" + second[-1], encoding="utf-8")

    def run(config=None):
        said: list[str] = []
        checked = check(config or load_config(evidence_copy), progress=said.append)
        return checked, [m for m in said if m.startswith("validating with SHACL")]

    first, said = run()
    assert said == ["validating with SHACL"] and first.report.ok()
    _, said = run()
    assert said == ["validating with SHACL: the 0 claims of 0 changed file(s)"]
    _edit_claim(evidence_copy)
    edited, said = run()
    assert said == [f"validating with SHACL: the {len(second) - 1} claims of 1 changed file(s)"]
    fresh, said = run(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / "other-cache"))
    assert said == ["validating with SHACL"]
    assert [p.format() for p in edited.report.sorted()] == [p.format() for p in fresh.report.sorted()]

    # an edited work (references.bib holds the same works): the claims of no file, and every work
    _replace(evidence_copy / "references.bib", "title = {", "title = {Edited: ")
    edited, said = run()
    assert said == ["validating with SHACL: the 0 claims of 0 changed file(s) and every work"]
    fresh, _ = run(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / "third-cache"))
    assert [p.format() for p in edited.report.sorted()] == [p.format() for p in fresh.report.sorted()]
    bib = evidence_copy / "references.bib"  # a work added that nothing names: no claim, and every work
    bib.write_text(bib.read_text(encoding="utf-8") + "\n@misc{added2024work,\n  title = {Added},\n  year = {2024},\n}\n",
                   encoding="utf-8")
    edited, said = run()
    assert said == ["validating with SHACL: the 0 claims of 0 changed file(s) and every work"]
    fresh, _ = run(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / "fourth-cache"))
    assert [p.format() for p in edited.report.sorted()] == [p.format() for p in fresh.report.sorted()]
    text = bib.read_text(encoding="utf-8")  # a work a claim cites, removed: which works the records name changed
    cited = re.search(r"@\w+\{" + re.escape(first.evidence.claims[0].cites[0]) + r",.*?\n\}\n", text, re.S)
    assert cited is not None
    bib.write_text(text[:cited.start()] + text[cited.end():], encoding="utf-8")
    removed, said = run()
    assert said == ["validating with SHACL"] and not removed.report.ok()
    bib.write_text(text, encoding="utf-8")
    run()  # clean again

    # a shorter reference list (the citing work's triples), an edited archived source, an edited example query (no
    # triples): the claims of no file, and every work
    query = next((evidence_copy / "queries").glob("*.rq"))
    for n, edit in enumerate((lambda: _shorten_reference_list(evidence_copy),
                              lambda: _replace(evidence_copy / "sources" / "shalaby2020peer.yaml", 'title: "',
                                               'title: "Edited: '),
                              lambda: query.write_text(query.read_text(encoding="utf-8") + "# edited\n",
                                                       encoding="utf-8"))):
        edit()
        edited, said = run()
        assert said == ["validating with SHACL: the 0 claims of 0 changed file(s) and every work"], n
        fresh, _ = run(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / f"cache-{n}"))
        assert [p.format() for p in edited.report.sorted()] == [p.format() for p in fresh.report.sorted()], n

    # the vocabularies' words, which no claim's shape reads: the claims of no file, and every concept (their shapes do)
    vocab = evidence_copy / "vocab" / "schemes.ttl"
    concepts = vocab.read_text(encoding="utf-8").count(" a skos:Concept ")
    for n, edit in enumerate((lambda: vocab.write_text(vocab.read_text(encoding="utf-8") + "\n# a comment\n",
                                                       encoding="utf-8"),
                              lambda: _replace(vocab, 'skos:definition "', 'skos:definition "Edited: '),
                              lambda: _replace(vocab, 'skos:prefLabel "Serious', 'skos:prefLabel "Edited: Serious'),
                              lambda: _replace(vocab, 'skos:prefLabel "Edited: Serious mental illness"',
                                               'skos:prefLabel ""'))):
        edit()
        edited, said = run()
        assert said == [f"validating with SHACL: the 0 claims of 0 changed file(s) and {concepts} concepts"], n
        fresh, _ = run(load_config(evidence_copy).with_overrides(cache_dir=tmp_path / f"vocab-cache-{n}"))
        assert [p.format() for p in edited.report.sorted()] == [p.format() for p in fresh.report.sorted()], n
    assert any("concept/population/smi> Value is shorter than 1" in p.format() for p in edited.report.problems)
    _replace(vocab, 'skos:prefLabel ""', 'skos:prefLabel "Serious mental illness"')
    assert run()[0].report.ok()
    vocab.write_text(vocab.read_text(encoding="utf-8") + NEW_CONCEPT, encoding="utf-8")
    _, said = run()
    assert said == ["validating with SHACL"]  # another concept: what a claim's shapes read, so everything again

    from kb.checks.shacl_compiler import Violation

    found = Violation(first.evidence.config.base_iri + "claim/x", None, "c", "m")
    monkeypatch.setattr(kb.checks.shacl, "shacl_violations", lambda *_a, **_k: [found])
    run()
    monkeypatch.undo()
    _, said = run()
    assert said == ["validating with SHACL"]  # a validation that found something is never the baseline


# --- the last nanopublications, remembered (kb.export.nanopub_memo) -------------------------------------


def _second_claim_file(evidence: Path, moved: bool = False) -> int:
    """Put the fixture's last claim into a file of its own: a renamed copy, or (``moved``) the claim itself, taken
    out of the first file; the claims left in the first file."""
    source = evidence / "claims" / "shalaby2020peer.yaml"
    parts = source.read_text(encoding="utf-8").split("\n  - id: ")
    if moved:
        source.write_text("\n  - id: ".join(parts[:-1]) + "\n", encoding="utf-8")
    (evidence / "claims" / "second.yaml").write_text(
        "source: shalaby2020peer\nclaims:\n  - id: " + ("" if moved else "copy-") + parts[-1], encoding="utf-8")
    return len(parts) - 1


def test_a_rebuild_makes_only_the_changed_files_nanopubs(evidence_copy: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.export.nanopub_memo as memo

    in_first = _second_claim_file(evidence_copy)
    made: list[int] = []
    read: list[Path] = []
    real_make, real_read = memo.claim_nanopubs, memo.read_previous
    monkeypatch.setattr(memo, "claim_nanopubs", lambda *a, claims, **k: made.append(len(claims)) or real_make(
        *a, claims=claims, **k))
    monkeypatch.setattr(memo, "read_previous", lambda path: read.append(path) or real_read(path))
    out = tmp_path / "site"
    _build(evidence_copy, out)
    assert sorted(made) == [1, in_first] and not read  # a first build: every claim, nothing to read
    made.clear()
    _edit_claim(evidence_copy)
    _build(evidence_copy, out)
    assert made == [in_first] and not read  # the edited file only, against the kept nanopublications
    assert gz.read(out / "data" / "nanopubs.trig.gz").count(b"npx:supersedes") == 1
    made.clear()
    written = (out / "data" / "nanopubs.trig.gz").read_bytes()
    _replace(evidence_copy / "references.bib", "title = {", "title = {Edited: ")
    _build(evidence_copy, out)
    assert made == [] and not read  # no nanopublication reads a work's title
    assert (out / "data" / "nanopubs.trig.gz").read_bytes() == written
    # nor the citation lists, the archived sources or the example queries (kb.checks.scope.exports_context)
    _shorten_reference_list(evidence_copy)
    _replace(evidence_copy / "sources" / "shalaby2020peer.yaml", 'title: "', 'title: "Edited: ')
    query = next((evidence_copy / "queries").glob("*.rq"))
    query.write_text(query.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    _build(evidence_copy, out)
    assert made == [] and not read
    assert (out / "data" / "nanopubs.trig.gz").read_bytes() == written
    cold = _fresh_equivalent(evidence_copy, tmp_path / "fresh", written)
    for name in ("nanopubs.trig.gz", "kb.fhir.json.gz"):
        assert (out / "data" / name).read_bytes() == (cold / "data" / name).read_bytes(), name
    # a nanopublication names its concepts by IRI only: the vocabularies' words are not in its context, which concepts
    # there are is
    vocab = evidence_copy / "vocab" / "schemes.ttl"
    _replace(vocab, 'skos:prefLabel "', 'skos:prefLabel "Edited: ')
    _replace(vocab, 'skos:definition "', 'skos:definition "Edited: ')
    _build(evidence_copy, out)
    assert made == [] and not read
    written = (out / "data" / "nanopubs.trig.gz").read_bytes()
    cold = _fresh_equivalent(evidence_copy, tmp_path / "fresh after words", written)
    for name in ("nanopubs.trig.gz", "kb.fhir.json.gz"):
        assert (out / "data" / name).read_bytes() == (cold / "data" / name).read_bytes(), name
    vocab.write_text(vocab.read_text(encoding="utf-8") + NEW_CONCEPT, encoding="utf-8")
    _build(evidence_copy, out)
    assert sorted(made) == [1, in_first]


NEW_CONCEPT = """
population:added_2026 a skos:Concept ; skos:inScheme scheme:population ; skos:notation "added_2026" ;
    skos:prefLabel "A population added"@en ; skos:definition "A concept no claim names yet."@en .
"""


def test_a_previous_export_that_is_not_the_last_written_is_read_and_checked(evidence_copy: Path,
                                                                             tmp_path: Path) -> None:
    from kb.export.nanopub import NanopubError
    from kb.export.nanopub_memo import Remembered
    from kb.pipeline import check

    out = tmp_path / "site"
    _build(evidence_copy, out)
    written = out / "data" / "nanopubs.trig.gz"
    checked = check(load_config(evidence_copy), shacl=False)
    tampered = tmp_path / "tampered.trig.gz"
    tampered.write_bytes(gz.compress(gz.read(written).replace(b"found some", b"found no", 1)))
    kept = Remembered(evidence_copy.parent / ".kb-cache" / "nanopubs")
    assert b"".join(map(as_bytes, kept.trig(checked.evidence, checked.kg, written, checked.inputs))) == gz.read(written)
    with pytest.raises(NanopubError, match="does not match its Trusty URI"):
        Remembered(evidence_copy.parent / ".kb-cache" / "nanopubs").trig(checked.evidence, checked.kg, tampered,
                                                                          checked.inputs)


def test_an_edit_rebuilt_with_the_remembered_nanopubs_equals_one_that_reads_them_back(evidence_copy: Path,
                                                                                       tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(evidence_copy, out)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # the same previous site, for a build without the remembered export
    _edit_claim(evidence_copy)
    remembered = _tree(_build(evidence_copy, out).out_dir)
    shutil.rmtree(evidence_copy.parent / ".kb-cache" / "nanopubs")
    read_back = _tree(_build(evidence_copy, copy).out_dir)
    assert remembered == read_back
    assert gz.read(out / "data" / "nanopubs.trig.gz").count(b"npx:supersedes") == 1


@pytest.mark.parametrize("reworded", [False, True])
def test_a_claim_moved_to_another_file_keeps_or_supersedes_its_nanopub_as_one_read_back(
        evidence_copy: Path, tmp_path: Path, reworded: bool) -> None:
    """A changed file's claims find their last nanopublications among the fragments the build did not reuse, a claim
    that moved to another file too: the same bytes as a build that reads the last export back."""
    out = tmp_path / "site"
    _build(evidence_copy, out)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    _second_claim_file(evidence_copy, moved=True)
    if reworded:
        second = evidence_copy / "claims" / "second.yaml"
        text = second.read_text(encoding="utf-8")
        assert "statement: >-\n      " in text
        second.write_text(text.replace("statement: >-\n      ", f"statement: >-\n      {MARK} ", 1), encoding="utf-8")
    remembered = _tree(_build(evidence_copy, out).out_dir)
    shutil.rmtree(evidence_copy.parent / ".kb-cache" / "nanopubs")
    read_back = _tree(_build(evidence_copy, copy).out_dir)
    assert remembered == read_back
    assert gz.read(out / "data" / "nanopubs.trig.gz").count(b"npx:supersedes") == int(reworded)


# --- the graph dumps in chunks, reused where unchanged (kb.export.dumps) -------------------------------


def test_the_chunked_dumps_decompress_to_the_whole_graphs_serialisations(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.export.dumps
    from kb.export.dumps import MemberCache, chunks, write_graph_dumps
    from kb.export.rdf import graph_bytes, ntriples_bytes
    from kb.pipeline import check
    from tests.conftest import FIXTURE

    monkeypatch.setattr(kb.export.dumps, "CHUNK_SUBJECTS", 3)  # many chunks from a small graph
    kg = check(load_config(FIXTURE), shacl=False, history=True).kg
    nt = ntriples_bytes(kg)
    assert len(list(chunks(nt.splitlines()))) > 20
    write_graph_dumps(kg, tmp_path, MemberCache(None))
    assert gz.read(tmp_path / "kb.nt.gz") == nt
    for fmt in ("ttl", "jsonld"):
        assert gz.read(tmp_path / f"kb.{fmt}.gz") == graph_bytes(kg, fmt, nt), fmt


def test_dumps_sent_from_a_worker_carry_only_what_the_receiver_lacks(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A site worker writes the graph dumps for the main process: kb.ttl.gz's members cross back as their sizes (read
    from the file it wrote), and the members the main process holds already (inherited at the fork) as None."""
    import pickle

    import kb.export.dumps
    from kb.export.dumps import MemberCache, unparcel, write_graph_dumps
    from kb.graph.build import build_graph
    from kb.load.evidence import load_evidence
    from kb.pipeline import check
    from tests.conftest import FIXTURE

    monkeypatch.setattr(kb.export.dumps, "CHUNK_SUBJECTS", 3)
    kg = check(load_config(FIXTURE), shacl=False, history=True).kg
    held: dict = {}  # the main process's memory of the last build's members
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_graph_dumps(kg, tmp_path / "one", MemberCache(None, held))
    ev = load_evidence(load_config(FIXTURE))[0]
    ev.claims[0] = dataclasses.replace(ev.claims[0], statement=ev.claims[0].statement + " Edited.")
    edited = build_graph(ev)
    forked = {fmt: dict(members) for fmt, members in held.items()}  # the worker's copy: the same objects
    cache = MemberCache(None, forked)
    dumps = write_graph_dumps(edited, tmp_path / "two", cache)
    parcel = cache.parcel()
    made = {fmt: [key for key, member in members.items() if member is not None] for fmt, members in parcel.items()}
    assert all(0 < len(made[fmt]) < len(parcel[fmt]) / 4 for fmt in parcel), made  # only the edited chunks' members
    unparcel(held, parcel)
    assert held == forked  # what the worker's own save kept
    sent = dumps.parcel()
    assert sent.turtle == () and len(pickle.dumps(sent)) < len(b"".join(dumps.turtle)) / 4
    assert sent.turtle_members(tmp_path / "two") == dumps.turtle
    (tmp_path / "two" / "kb.ttl.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(ValueError, match="not the file these dumps wrote"):
        sent.turtle_members(tmp_path / "two")


def test_the_browsers_copy_of_the_turtle_is_one_raw_deflate_stream_of_reused_pieces(tmp_path: Path,
                                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import zlib

    import kb.export.dumps
    from kb.export.dumps import MemberCache, browser_deflate, gzip_members, write_graph_dumps
    from kb.pipeline import check
    from tests.conftest import FIXTURE

    monkeypatch.setattr(kb.export.dumps, "CHUNK_SUBJECTS", 3)
    kg = check(load_config(FIXTURE), shacl=False, history=True).kg
    turtle = write_graph_dumps(kg, tmp_path, MemberCache(None)).turtle
    assert gzip_members((tmp_path / "kb.ttl.gz").read_bytes()) == list(turtle) and len(turtle) > 20
    kept = MemberCache(None, formats=("deflate",))
    payload = browser_deflate(turtle, kept)
    assert zlib.decompress(payload, -15) == gz.read(tmp_path / "kb.ttl.gz")
    # the next build's copy, one member changed: every other piece is reused, and the stream is still whole
    again = MemberCache(None, memory=kept.new, formats=("deflate",))
    changed = (*turtle[:5], gz.compress(b"<urn:x:s> <urn:x:p> \"edited\" .\n"), *turtle[6:])
    edited = browser_deflate(changed, again)
    assert again.reused == len(turtle) - 1
    assert zlib.decompress(edited, -15) == b"".join(gzip.decompress(m) for m in changed)
    assert zlib.decompress(browser_deflate([], MemberCache(None, formats=("deflate",))), -15) == b""
    with pytest.raises(ValueError, match="ends inside a member"):
        gzip_members(turtle[0] + turtle[1][:-3])


def test_a_store_with_named_graphs_gets_no_graph_mark(tmp_path: Path) -> None:
    """The dumps hold the default graph only: where the store holds more, they do not name its content."""
    import pyoxigraph as ox

    from kb.export.dumps import MemberCache, write_graph_dumps
    from kb.graph.build import KnowledgeGraph

    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:p"), ox.Literal("o")))
    (tmp_path / "a").mkdir()
    assert write_graph_dumps(KnowledgeGraph(store), tmp_path / "a", MemberCache(None)).change.after
    store.add(ox.Quad(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:p"), ox.Literal("o"), ox.NamedNode("urn:x:g")))
    (tmp_path / "b").mkdir()
    assert write_graph_dumps(KnowledgeGraph(store), tmp_path / "b", MemberCache(None)).change.after == ""


def test_chunks_end_at_subjects_so_an_edit_changes_only_its_own(tmp_path: Path) -> None:
    from kb.export.dumps import CHUNK_SUBJECTS, chunks

    lines = sorted(f"<urn:s:{i:05d}> <urn:p> \"{j}\" .".encode() for i in range(20 * CHUNK_SUBJECTS) for j in range(3))
    before = list(chunks(lines))
    assert b"".join(before) == b"\n".join(lines) + b"\n" and len(before) > 10
    subjects = [{line.split(b" ")[0] for line in chunk.splitlines()} for chunk in before]
    assert all(not (a & b) for a, b in itertools.pairwise(subjects))  # no subject split
    edited = [line.replace(b'"1"', b'"one"') if line.startswith(b"<urn:s:01234>") else line for line in lines]
    after = list(chunks(edited))
    assert len(after) == len(before) and sum(a != b for a, b in zip(before, after, strict=True)) == 1


def test_a_rebuild_reuses_the_dump_members_of_unchanged_chunks(evidence_copy: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.export.dumps

    monkeypatch.setattr(kb.export.dumps, "CHUNK_SUBJECTS", 3)
    made: list[str] = []
    real = kb.export.dumps._member
    monkeypatch.setattr(kb.export.dumps, "_member", lambda text, fmt, parsed=None: made.append(fmt) or real(text, fmt, parsed))
    out = tmp_path / "site"
    _build(evidence_copy, out, jobs=1)  # one process: the members are made (and counted) here, not in a worker
    first = len(made)
    made.clear()
    _edit_claim(evidence_copy)
    _build(evidence_copy, out, jobs=1)
    assert 0 < len(made) <= 3 * 2 < first  # the edited claim's chunk (and at most one more) in each format
    elsewhere = tmp_path / "elsewhere"  # no members to reuse: every chunk compressed again, the same bytes
    cold = build(load_config(evidence_copy, out_dir=elsewhere).with_overrides(cache_dir=tmp_path / "cache"))
    for name in ("kb.nt.gz", "kb.ttl.gz", "kb.jsonld.gz", "kb.fhir.json.gz"):
        assert (out / "data" / name).read_bytes() == (cold.out_dir / "data" / name).read_bytes(), name


# --- the FHIR Bundle from fragments kept by file (kb.export.fhir_cache) -----------------------------------


def _remove_reference(evidence: Path, key: str) -> None:
    bib = evidence / "references.bib"
    text = bib.read_text(encoding="utf-8")
    start = text.index("@article{" + key + ",")
    end = text.find("\n@", start)
    bib.write_text(text[:start] + (text[end + 1:] if end >= 0 else ""), encoding="utf-8")


def test_the_fhir_bundle_from_fragments_is_the_one_built_whole(evidence_copy: Path) -> None:
    from kb.export.fhir import fhir_bundle_bytes
    from kb.export.fhir_cache import Fragments, fhir_bundle_cached
    from kb.pipeline import check

    source = evidence_copy / "claims" / "shalaby2020peer.yaml"
    last = source.read_text(encoding="utf-8").split("\n  - id: ")[-1]
    (evidence_copy / "claims" / "second.yaml").write_text(
        "source: shalaby2020peer\nclaims:\n  - id: copy-" + last, encoding="utf-8")
    memory: dict = {}

    def both():
        checked = check(load_config(evidence_copy), shacl=False)
        assert checked.inputs is not None
        fragments = Fragments(None, memory)
        return b"".join(map(as_bytes, fhir_bundle_cached(checked.evidence, checked.inputs, fragments))), \
            fhir_bundle_bytes(checked.evidence), \
            fragments.made

    cached, whole, made = both()
    assert cached == whole and made == 3  # the citations and each claim file's fragment
    cached, whole, made = both()
    assert cached == whole and made == 0
    _edit_claim(evidence_copy)
    cached, whole, made = both()
    assert cached == whole and made == 1 and MARK.encode() in cached  # only the edited file's fragment
    _replace(evidence_copy / "references.bib", "title = {", "title = {Edited: ")
    cached, whole, made = both()
    assert cached == whole and made == 1 and b"Edited: " in cached  # the citations: no claim reads a title
    _remove_reference(evidence_copy, "urichuk2018enhancing")  # cited by the last claim, in both files
    cached, whole, made = both()
    assert cached == whole and made == 3  # the citations, and both files: a work their claims name went
    vocab = evidence_copy / "vocab" / "schemes.ttl"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    cached, whole, made = both()
    assert cached == whole and made == 0  # no concept changed
    _replace(vocab, 'skos:prefLabel "Serious mental illness"', 'skos:prefLabel "Edited: Serious mental illness"')
    cached, whole, made = both()
    assert cached == whole and 1 <= made <= 2 and b"Edited: Serious" in cached  # the files naming it: no Citation
    _replace(vocab, 'skos:definition "', 'skos:definition "Edited: ')  # a scheme's: no resource reads it
    cached, whole, made = both()
    assert cached == whole and made == 0
    # an outcome's, which its EvidenceVariable shows and no Evidence resource reads
    _replace(vocab, 'skos:definition "Believing that', 'skos:definition "Edited: Believing that')
    cached, whole, made = both()
    assert cached == whole and made == 0 and b"Edited: Believing that" in cached
    # a direction's, which each Evidence resource of that direction says in its words
    _replace(vocab, 'skos:definition "Peer support improved', 'skos:definition "Edited: Peer support improved')
    cached, whole, made = both()
    assert cached == whole and made >= 1 and b"Edited: Peer support improved" in cached
    vocab.write_text(vocab.read_text(encoding="utf-8") + NEW_CONCEPT, encoding="utf-8")
    cached, whole, made = both()
    assert cached == whole and made == 2  # which concepts there are: each file's fragment, not the Citations


def test_a_changed_files_fhir_fragment_keeps_the_lines_of_its_unchanged_claims(evidence_copy: Path) -> None:
    """In the editors' loop an edited file's unchanged claims are the last build's objects: its new fragment keeps
    their lines (the same pieces, which the compressed Bundle knows by identity) and makes the edited claim's alone;
    an edited work makes its own Citation alone; the Bundle is the one built whole."""
    from kb.export.fhir import fhir_bundle_bytes
    from kb.export.fhir_cache import Fragments, fhir_bundle_cached
    from kb.export.pieces import Piece
    from kb.pipeline import Warm, check

    memory: dict = {}
    memo: dict = {}
    warm = Warm()

    def pieces() -> list:
        checked = check(load_config(evidence_copy), shacl=False, warm=warm)
        assert checked.inputs is not None
        fragments = Fragments(None, memory)
        out = list(fhir_bundle_cached(checked.evidence, checked.inputs, fragments, memo))
        fragments.keep()
        assert b"".join(map(as_bytes, out)) == fhir_bundle_bytes(checked.evidence)
        return out

    first = pieces()
    _edit_claim(evidence_copy)
    second = pieces()
    before = {id(piece) for piece in first}  # first holds them: no other object has their ids
    lines = [p for p in second if isinstance(p, Piece)]
    made = [p for p in lines if id(p) not in before]
    edited = [p for p in lines if MARK.encode() in p.bytes()]
    assert made == edited and 0 < len(made) < len(lines) - 5, "only the edited claim's lines are made again"
    _replace(evidence_copy / "references.bib", "title = {", "title = {Edited: ")  # one work's Citation is made again
    held = {id(piece) for piece in second}
    third = pieces()
    made = [p for p in third if isinstance(p, Piece) and id(p) not in held]
    assert len(made) == 1 and b"Edited: " in made[0].bytes()
    # a shorter reference list, an edited source: the Citations are made again, no claim's Evidence
    _shorten_reference_list(evidence_copy)
    _replace(evidence_copy / "sources" / "shalaby2020peer.yaml", 'title: "', 'title: "Edited: ')
    held = {id(piece) for piece in third}
    third = pieces()
    made = [p for p in third if isinstance(p, Piece) and id(p) not in held]
    assert made and all(b'"resourceType":"Citation"' in p.bytes() for p in made), [p.bytes()[:80] for p in made]
    assert sum(b'"resourceType":"Evidence"' in p.bytes() for p in third if isinstance(p, Piece)) > 5
    # a work a claim cites went from references.bib: the claims are the same objects, their lines are not all kept,
    # nor is the Citation of the document whose reference list cites it
    _remove_reference(evidence_copy, "urichuk2018enhancing")
    assert not any(b"urichuk2018enhancing" in p.bytes() for p in pieces() if isinstance(p, Piece))


def test_fhir_fragments_are_kept_on_disk_for_the_next_build(evidence_copy: Path, tmp_path: Path) -> None:
    _build(evidence_copy, tmp_path / "site")
    folder = evidence_copy.parent / ".kb-cache" / "fhir"
    kept = {p.name for p in folder.glob("*.pickle")}
    assert len(kept) == 2  # the citations, the one claim file
    assert {p.name.split(".")[0] for p in folder.glob("*.bin")} == {name[:-7] for name in kept}  # their lines' bytes
    _edit_claim(evidence_copy)
    _build(evidence_copy, tmp_path / "site")
    after = {p.name for p in folder.glob("*.pickle")}
    assert len(after) == 2 and len(after & kept) == 1  # the citations' fragment kept, the edited file's replaced
    assert {p.name.split(".")[0] for p in folder.glob("*.bin")} == {name[:-7] for name in after}
    _shorten_reference_list(evidence_copy)
    _build(evidence_copy, tmp_path / "site")
    last = {p.name for p in folder.glob("*.pickle")}
    assert len(last) == 2 and len(last & after) == 1  # now the claim file's kept, the citations' made again
    cold = build(load_config(evidence_copy, out_dir=tmp_path / "cold").with_overrides(cache_dir=tmp_path / "cache"))
    assert gz.read(tmp_path / "site" / "data" / "kb.fhir.json.gz") == gz.read(cold.out_dir / "data" / "kb.fhir.json.gz")


def test_the_references_exports_are_kept_while_only_claims_change(evidence_copy: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.export.csljson

    calls: list[int] = []
    real = kb.export.csljson.csljson_bytes
    monkeypatch.setattr(kb.export.csljson, "csljson_bytes", lambda *a: calls.append(1) or real(*a))
    out = tmp_path / "site"
    _build(evidence_copy, out)
    assert len(calls) == 1
    _edit_claim(evidence_copy)
    _build(evidence_copy, out)
    assert len(calls) == 1  # kept: the references did not change
    bib = evidence_copy / "references.bib"
    bib.write_text(bib.read_text(encoding="utf-8") + "\n% a comment\n", encoding="utf-8")
    _build(evidence_copy, out)
    assert len(calls) == 2
    cold = build(load_config(evidence_copy, out_dir=tmp_path / "cold").with_overrides(cache_dir=tmp_path / "cache"))
    for name in ("references.bib.gz", "references.json.gz", "references.ris.gz"):
        assert (out / "data" / name).read_bytes() == (cold.out_dir / "data" / name).read_bytes(), name


def test_the_reference_scripts_are_kept_while_their_works_are_unchanged(evidence_copy: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``assets/refs/<n>.js`` is kept under a digest of its works and remade only when one changes,
    into the bytes a cold build writes."""
    import kb.site.refdata

    made: list[int] = []
    real = kb.site.refdata._script_text
    monkeypatch.setattr(kb.site.refdata, "_script_text", lambda refs: made.append(len(refs)) or real(refs))
    digested: list[int] = []
    digest = kb.site.refdata._shard_key
    monkeypatch.setattr(kb.site.refdata, "_shard_key", lambda n, refs: digested.append(n) or digest(n, refs))
    out = tmp_path / "site"
    _build(evidence_copy, out, jobs=1)  # in this process, where the calls are counted
    first = len(made)
    assert first >= 1 and len(digested) == first
    _edit_claim(evidence_copy)
    _build(evidence_copy, out, jobs=1)
    assert len(made) == first, "no work changed: every script is kept"
    assert len(digested) == first, "the evidence but the claims is unchanged: no work's record is digested again"
    bib = evidence_copy / "references.bib"
    text = bib.read_text(encoding="utf-8")
    assert text.count("title = {") > 1
    bib.write_text(text.replace("title = {", "title = {Edited: ", 1), encoding="utf-8")
    _build(evidence_copy, out, jobs=1)
    assert len(made) == first + 1, "one work changed: only its script is made again"
    cold = build(load_config(evidence_copy, out_dir=tmp_path / "cold").with_overrides(cache_dir=tmp_path / "cache"))
    scripts = sorted(p.relative_to(out) for p in (out / "assets" / "refs").glob("*.js"))
    assert scripts == sorted(p.relative_to(cold.out_dir) for p in (cold.out_dir / "assets" / "refs").glob("*.js"))
    for path in scripts:
        assert (out / path).read_bytes() == (cold.out_dir / path).read_bytes(), path


def test_runs_of_an_export_are_gzip_members_kept_while_their_bytes_are_unchanged(tmp_path: Path) -> None:
    """The FHIR Bundle and the nanopublications are written as one gzip member per run of pieces, cut where
    the content says: they decompress to the pieces joined, a rebuild with the last build's members writes
    the same bytes as one without, and an edited piece makes only its own run's member again."""
    import gzip
    import random

    from kb.export.dumps import MemberCache, compress_runs

    rng = random.Random(7)
    pieces = [f'{{"resourceType":"Evidence","id":"e{n}","note":"{rng.random()}"}}'.encode() * rng.randint(1, 4)
              for n in range(3000)]
    pieces = [p for piece in pieces for p in (piece, b",\n")]  # separators never end a run
    cold = compress_runs(pieces, MemberCache(None, formats=("fhir",)), "fhir")
    assert gzip.decompress(cold) == b"".join(pieces)
    kept = MemberCache(tmp_path / "members", formats=("fhir",))
    assert compress_runs(pieces, kept, "fhir") == cold
    kept.save()
    runs = len(kept.new["fhir"])
    assert runs > 3, "several runs at this size"
    edited = list(pieces)
    edited[1000] = edited[1000].replace(b"Evidence", b"Evidence-edited")
    again = MemberCache(tmp_path / "members", formats=("fhir",))
    warm = compress_runs(edited, again, "fhir")
    assert warm == compress_runs(edited, MemberCache(None, formats=("fhir",)), "fhir")
    assert gzip.decompress(warm) == b"".join(edited)
    assert again.reused >= runs - 2, "only the edited piece's run (and the next, if its end moved) is made again"
    assert compress_runs([], MemberCache(None, formats=("fhir",)), "fhir") == gz.compress(b"")


def test_kept_pieces_are_read_only_where_their_run_changed(tmp_path: Path, monkeypatch) -> None:
    """A fresh build reads the kept fragments' pieces without their bytes (kb.export.pieces): a run of unchanged
    pieces is known by their digests and its member reused, so only the edited piece's run is read; the bytes are
    those of the plain pieces compressed, and a piece's bytes come back from its file as they went in."""
    import gzip
    import random

    from kb.export import pieces as pieces_module
    from kb.export.dumps import MemberCache, compress_runs
    from kb.export.fragments import Fragments
    from kb.export.pieces import Piece

    rng = random.Random(5)
    lines = [f'{{"id":"e{n}","note":"{rng.random()}"}}'.encode() * rng.randint(2, 5) for n in range(4000)]
    fragments = Fragments(tmp_path / "fhir", None, pieces=True)
    for start in range(0, len(lines), 500):  # eight fragments, as eight claim files' lines
        fragments.put(f"f{start:04d}", [(f"c{n}", [Piece.of(lines[n])]) for n in range(start, start + 500)])
    fragments.keep()
    assert len(list((tmp_path / "fhir").glob("*.bin"))) == 8

    def assembled(store: Fragments) -> list:
        out: list = []
        for name in sorted(f"f{start:04d}" for start in range(0, len(lines), 500)):
            for _claim, claim_lines in store.get(name):
                out += [claim_lines[0], b",\n"]
        return out

    plain = [p for line in lines for p in (line, b",\n")]
    cold = compress_runs(plain, MemberCache(None, formats=("fhir",)), "fhir")
    members = MemberCache(tmp_path / "members", formats=("fhir",))
    assert compress_runs(assembled(Fragments(tmp_path / "fhir", None, pieces=True)), members, "fhir") == cold
    members.save()
    runs = len(members.new["fhir"])
    read: list[int] = []
    real = pieces_module.Blob.read
    monkeypatch.setattr(pieces_module.Blob, "read", lambda self, start, size: read.append(size) or real(self, start, size))

    kept = assembled(Fragments(tmp_path / "fhir", None, pieces=True))
    assert [p if isinstance(p, bytes) else p.bytes() for p in kept] == plain  # what went in comes back
    read.clear()
    edited = list(kept)
    edited[2000] = Piece.of(lines[1000] + b" ")  # one line of one claim file made again
    again = MemberCache(tmp_path / "members", formats=("fhir",))
    warm = compress_runs(edited, again, "fhir")
    assert 0 < len(read) < len(lines) / 3, "only the pieces of the edited piece's run (and the next's) were read"
    expected = [p if isinstance(p, bytes) else p.bytes() for p in edited]
    assert warm == compress_runs(expected, MemberCache(None, formats=("fhir",)), "fhir")
    assert gzip.decompress(warm) == b"".join(expected)
    assert runs > 3 and again.reused >= runs - 2
    read.clear()
    unchanged = MemberCache(tmp_path / "members", formats=("fhir",))
    assert compress_runs(kept, unchanged, "fhir") == cold and read == [], "nothing changed: no piece read"
    empty = Fragments(tmp_path / "empty", None, pieces=True)  # pieces of no bytes: a file of none, never mapped
    empty.put("e", [Piece.of(b""), Piece.of(b"")])
    empty.keep()
    assert [p.bytes() for p in Fragments(tmp_path / "empty", None, pieces=True).get("e")] == [b"", b""]


def test_a_builds_fragments_of_pieces_wait_on_disk_and_reading_them_leaves_nothing_mapped(tmp_path) -> None:
    """``kb build`` (no memory kept between builds) writes a fragment of pieces to the cache as soon as it is made and
    holds it as read back, its bytes on disk; a piece read lets its mapped pages go: at 10k/50k the FHIR Bundle's
    lines and the nanopublications were ~0.6 GB held in memory, then ~0.4 GB mapped while they were compressed.
    ``kb serve``'s loop keeps its fragments in memory, the same objects, their bytes let go once the build has written
    them (~1.1 GB held for its whole session at 10k/50k, after a start without caches)."""
    import os
    import random

    from kb.export.fragments import Fragments
    from kb.export.pieces import Piece

    rng = random.Random(7)
    lines = [rng.randbytes(rng.randint(2000, 9000)) for _ in range(800)]  # ~4.4 MB: many folios of the page cache
    made = [(f"c{n}", [Piece.of(line)]) for n, line in enumerate(lines)]
    fragments = Fragments(tmp_path / "fhir", None, pieces=True)
    held = fragments.put("f", made)
    assert (tmp_path / "fhir" / "f.pickle").is_file(), "written when made, not when the build ends"
    assert all(piece._data is None for _claim, pieces in held for piece in pieces), "held without their bytes"
    order = list(range(len(lines)))
    rng.shuffle(order)  # the Bundle reads by claim id, across files: out of the file's order
    assert all(held[n][1][0].bytes() == lines[n] for n in order)

    def mapped_kb(suffix: str) -> int:
        total, ours = 0, False
        with open("/proc/self/smaps", encoding="utf-8") as smaps:
            for line in smaps:
                parts = line.split()
                if parts and not parts[0].endswith(":") and "-" in parts[0]:
                    ours = len(parts) > 5 and parts[5].endswith(suffix)
                elif ours and parts[0] == "Rss:":
                    total += int(parts[1])
        return total

    assert mapped_kb(".bin") == 0, "every page read was let go"
    fragments.keep()
    assert sorted(os.listdir(tmp_path / "fhir"))[1] == "f.pickle" and len(os.listdir(tmp_path / "fhir")) == 2

    memory: dict = {}
    looping = Fragments(tmp_path / "loop", memory, pieces=True)
    assert looping.put("f", made) is made and not (tmp_path / "loop").exists(), "the loop holds what it made"
    pieces = [piece for _claim, claim_pieces in made for piece in claim_pieces]
    looping.keep()  # written at the build's end; then its pieces' bytes are let go, the same objects kept
    assert memory["f"] is made and all(piece._data is None for piece in pieces), "held without their bytes"
    assert all(made[n][1][0].bytes() == lines[n] for n in order)
    assert mapped_kb(".bin") == 0


def test_writing_and_reading_fragments_of_pieces_leaves_no_cycles(tmp_path) -> None:
    """A build pauses the cyclic collector: what is dropped must be freed by reference counts alone. Writing and
    reading a fragment of pieces made a class in each call, and a class refers to itself: its closures held the
    pieces' bytes and the mapped file until a full collection (at 10k/50k the FHIR Bundle's Citations, ~50 MB, and 33
    mapped files, through the site's rendering)."""
    import gc

    from kb.export.fragments import Fragments
    from kb.export.pieces import Piece

    made = [(f"c{n}", [Piece.of(bytes([n]) * 300)]) for n in range(50)]
    gc.collect()
    gc.disable()
    try:
        held = Fragments(tmp_path / "fhir", None, pieces=True).put("f", made)
        again = Fragments(tmp_path / "fhir", None, pieces=True).get("f")
        assert [p.bytes() for _c, pieces in again for p in pieces] == [p.bytes() for _c, pieces in made for p in pieces]
        del held, again
        assert gc.collect() == 0, "unreachable cycles left behind"
    finally:
        gc.enable()


def test_runs_seen_in_the_last_build_of_the_process_are_not_hashed_again(monkeypatch) -> None:
    """``kb serve``'s loop hands the same piece objects to every rebuild: :class:`kb.export.dumps.Seen` knows an
    unchanged run by its pieces' identity and hashes only runs with a new piece, and the bytes are a cold build's."""
    import random

    from kb.export import dumps
    from kb.export.dumps import MemberCache, Seen, compress_runs

    rng = random.Random(11)
    pieces = [f'{{"id":"e{n}","note":"{rng.random()}"}}'.encode() * rng.randint(2, 5) for n in range(3000)]
    pieces = [p for piece in pieces for p in (piece, b",\n")]
    hashed: list[int] = []
    key_of = dumps.key_of
    monkeypatch.setattr(dumps, "key_of", lambda data: hashed.append(len(data)) or key_of(data))
    seen, members = Seen(), MemberCache(None, {}, formats=("fhir",))
    first = compress_runs(pieces, members, "fhir", seen)
    members.save()
    runs = len(hashed)
    assert runs > 3 and first == compress_runs(pieces, MemberCache(None, formats=("fhir",)), "fhir")
    edited = list(pieces)
    edited[2001] = edited[2001] + b" "  # a new object in one run; every other piece is the same object
    expected = compress_runs(edited, MemberCache(None, formats=("fhir",)), "fhir")
    hashed.clear()
    assert compress_runs(edited, MemberCache(None, members.memory, formats=("fhir",)), "fhir", seen) == expected
    assert 1 <= len(hashed) <= 2, "only the run with the new piece (and the next, if its end moved)"
    hashed.clear()
    copies = [bytes(bytearray(p)) for p in edited]  # equal bytes, other objects: hashed again, same output
    assert compress_runs(copies, MemberCache(None, formats=("fhir",)), "fhir", seen) == expected
    assert abs(len(hashed) - runs) <= 1, "every run hashed (the edited piece may move one end)"


def test_runs_seen_survive_random_edits_inserts_and_removals(monkeypatch) -> None:
    """Across rebuilds that edit, insert, remove and move pieces (plain and :class:`kb.export.pieces.Piece`, with one
    separator object shared by every entry), :class:`kb.export.dumps.Seen` cuts the same runs as a walk piece by piece:
    the bytes are a cold build's every time, and an unchanged run is neither hashed nor compressed again."""
    import random

    from kb.export import dumps
    from kb.export.dumps import MemberCache, Seen, compress_runs
    from kb.export.pieces import Piece

    rng = random.Random(23)
    separator = b",\n"

    def entry(n: int) -> bytes | Piece:
        text = f'{{"id":"e{n}","note":"{rng.random()}"}}'.encode() * rng.randint(2, 4)
        return Piece.of(text) if rng.random() < 0.5 else text

    entries = [entry(n) for n in range(2500)]
    seen, memory = Seen(), {}
    calls: list[int] = []
    compressed = dumps.gz.compress
    monkeypatch.setattr(dumps.gz, "compress", lambda data: calls.append(1) or compressed(data))
    made = 0
    for round_ in range(12):
        # twice without the last separator (the last run ends with the export, not at a boundary), then with it
        pieces = [p for e in entries for p in (e, separator)][:-1 if round_ in (0, 3, 4, 10, 11) else None]
        if round_ == 7:
            pieces = []  # an empty export, then a full one again
        cold = compress_runs(pieces, MemberCache(None, formats=("fhir",)), "fhir")
        members = MemberCache(None, memory, formats=("fhir",))
        calls.clear()
        assert compress_runs(pieces, members, "fhir", seen) == cold, f"round {round_}"
        members.save()
        runs = len(members.new["fhir"])
        if 0 < round_ < 7 or round_ > 8:
            assert len(calls) <= 6, f"round {round_}: {len(calls)} of {runs} runs compressed again"
        made += len(calls)
        edit = rng.randrange(4)  # one of: reword, insert, remove, move a stretch
        at = rng.randrange(len(entries) - 50)
        if edit == 0:
            entries[at] = entry(at)
        elif edit == 1:
            entries[at:at] = [entry(10_000 + round_ * 10 + k) for k in range(3)]
        elif edit == 2:
            del entries[at:at + 5]
        else:
            stretch = entries[at:at + 40]
            del entries[at:at + 40]
            entries[at // 2:at // 2] = stretch
    assert made > 0


def test_a_claim_file_read_again_keeps_the_objects_of_its_unchanged_claims(tmp_path: Path) -> None:
    """The editors' loop reads an edited claim file again; each claim equal to the last read's (every field, its
    lines included) is that very object, so one edited claim is one changed claim for what knows claims by identity.
    A claim whose lines moved is equal in nothing but its words: a new object."""
    from kb.load.evidence import load_evidence

    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    config = load_config(evidence, out_dir=tmp_path / "site")
    memory: dict = {}
    first = {c.id: c for c in load_evidence(config, memory)[0].claims}
    path = evidence / "claims" / "shalaby2020peer.yaml"
    text = path.read_text(encoding="utf-8")
    words = "has in recent years been successfully closed"
    assert text.count(words) == 1
    path.write_text(text.replace(words, "has in recent years been closed"), encoding="utf-8")
    second = load_evidence(config, memory)[0].claims
    changed = [c.id for c in second if c is not first[c.id]]
    assert changed == ["abstract-gap-closed-by-peer-support"] and len(second) == len(first) > 50
    assert second[0].statement != first[changed[0]].statement
    path.write_text(text.replace("claims:\n", "claims:\n  # a comment: every claim's lines move\n", 1),
                    encoding="utf-8")
    third = load_evidence(config, memory)[0].claims
    assert not any(c is first[c.id] for c in third) and all(c.line == first[c.id].line + 1 for c in third)


# --- input keys: record pages whose inputs are unchanged are not even built (kb.site.deps) -----------------

CORPUS = Path(__file__).resolve().parents[1] / "evidence"


def _one_file_per_claim(evidence: Path) -> list[Path]:
    """Each claim of the corpus in a file of its own, as a large KB keeps them: an edit of one file then
    changes the input keys of one claim (a claim's key is its file's digest)."""
    files = []
    for source in sorted((evidence / "claims").glob("*.yaml")):
        head, *parts = source.read_text(encoding="utf-8").split("\n  - id: ")
        source.unlink()
        for i, part in enumerate(parts):
            files.append(evidence / "claims" / f"{source.stem}-{i:03d}.yaml")
            files[-1].write_text(f"{head}\n  - id: {part.rstrip()}\n", encoding="utf-8")
    return files


def _shorten_reference_list(evidence: Path) -> str:
    """The last work of the source's reference list taken off (no other work's bracketed number moves); its key."""
    path = evidence / "citations" / "shalaby2020peer.yaml"
    text = path.read_text(encoding="utf-8")
    last = list(re.finditer(r"(?m)^  - (\S+)\n", text))[-1]
    path.write_text(text[:last.start()] + text[last.end():], encoding="utf-8")
    return last[1]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _with(files: list[Path], *needles: str, without: str = "") -> Path:
    return next(f for f in files if all(n in f.read_text(encoding="utf-8") for n in needles)
                and not (without and without in f.read_text(encoding="utf-8")))


VOCABULARY_EDITS = ("definition", "domain definition", "other label", "scheme definition", "label")  # last in _edits


def _edits(evidence: Path) -> list[tuple[str, object]]:
    """One edit of each kind a page's key must see: a statement, a direction, an outcome, the cited
    works (which can change a work's kind, so the study counts of pages the claim is not on), a claim
    removed (one citing no work), a claim added, a work's title (the source of every claim: its link is unchanged),
    a cited work's first author (its link is not), a new work no claim cites yet (as `kb add` adds one), a claim
    citing it (it gets a kind), a reference list one work shorter, an archived source's description, an example
    query, and the vocabularies' words: a concept's definition (a domain's too), another label, a scheme's definition
    and a label."""
    files = _one_file_per_claim(evidence)
    statement = files[3]
    direction = _with(files, "direction: benefit", "level: low")
    outcome = _with(files, "outcome: hope,", without="outcome: quality_of_life")
    cites = _with(files, "cites: [chinman2014peer, cabassa2017peerbased]")
    removed = [f for f in files if "cites: []" in f.read_text(encoding="utf-8")][-1]  # no work's kind rests on it
    copied = files[30]
    query = sorted((evidence / "queries").glob("*.rq"))[0]
    outcomes = evidence / "vocab" / "outcomes.ttl"
    return [
        ("statement", lambda: _replace(statement, "statement: >-\n      ", f"statement: >-\n      {MARK} ")),
        ("direction", lambda: _replace(direction, "direction: benefit", "direction: no_effect")),
        ("outcome", lambda: _replace(outcome, "outcome: hope,", "outcome: quality_of_life,")),
        ("cites", lambda: _replace(cites, "cites: [chinman2014peer, cabassa2017peerbased]", "cites: [chinman2014peer]")),
        ("removed", removed.unlink),
        ("added", lambda: (evidence / "claims" / "added.yaml").write_text(
            copied.read_text(encoding="utf-8").replace("\n  - id: ", "\n  - id: added-", 1), encoding="utf-8")),
        ("reference", lambda: _replace(evidence / "references.bib", "title = {", "title = {Edited: ")),
        ("author", lambda: _replace(evidence / "references.bib", "author = {Gagne, C. A. and",
                                    "author = {Gagné, C. A. and")),
        ("new work", lambda: (evidence / "references.bib").write_text(
            (evidence / "references.bib").read_text(encoding="utf-8")
            + "\n@misc{added2026work,\n  author = {Added, A.},\n  title = {A work no claim cites yet},\n"
              "  year = {2026},\n}\n", encoding="utf-8")),
        ("cites new work", lambda: _replace(cites, "cites: [chinman2014peer]", "cites: [chinman2014peer, added2026work]")),
        ("reference list", lambda: _shorten_reference_list(evidence)),
        ("source", lambda: _replace(evidence / "sources" / "shalaby2020peer.yaml", 'title: "', 'title: "Edited: ')),
        ("query", lambda: query.write_text(query.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")),
        ("definition", lambda: _replace(outcomes, 'skos:definition "Deaths', 'skos:definition "Edited: Deaths')),
        ("domain definition", lambda: _replace(outcomes, 'skos:definition "Whether', 'skos:definition "Edited: Whether')),
        ("other label", lambda: _replace(outcomes, 'skos:altLabel "death"@en', 'skos:altLabel "dying"@en')),
        ("scheme definition", lambda: _replace(evidence / "vocab" / "populations.ttl", 'skos:definition "Who receives',
                                               'skos:definition "Edited: Who receives')),
        ("label", lambda: _replace(outcomes, 'skos:prefLabel "Mortality"@en', 'skos:prefLabel "Deaths"@en')),
    ]


def _rebuilds_equal_cold_builds(evidence: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Split the corpus, build, then edit and rebuild once per kind of edit, comparing each rebuild with a
    cold build of the same evidence; the pages each rebuild kept by their input keys."""
    edits = _edits(evidence)
    out = tmp_path / "site"
    assert not _build(evidence, out).kept  # a first build has no keys to compare with
    kept = {}
    for name, edit in edits:
        nanopubs = (out / "data" / "nanopubs.trig.gz").read_bytes()
        edit()
        rebuilt = _build(evidence, out)
        kept[name] = rebuilt.kept
        assert set(rebuilt.kept) <= set(rebuilt.reused)
        cold = _fresh_equivalent(evidence, tmp_path / f"cold-{name}", nanopubs)
        assert _tree(out) == _tree(cold), name
    return kept


def test_pages_whose_inputs_are_unchanged_are_kept_without_their_contexts(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    kept = _rebuilds_equal_cold_builds(evidence, tmp_path)
    # a claim edit keeps most record pages, and so does a work's edited title: a page's key holds the works it
    # shows, most of them by their links alone; so do an edit of cited works that changes a work's kind (read from
    # the claims citing it alone), and a claim citing a new work, which gets a kind: a page's key holds the kinds
    # its counts read
    assert all(len(kept[name]) > 100 for name in ("statement", "direction", "outcome", "cites", "removed", "added",
                                                  "reference", "author", "new work", "cites new work")), kept
    assert "references/index.html" not in kept["reference"] + kept["author"] + kept["new work"]  # it lists every work
    assert "index.html" not in kept["new work"]  # it counts the works
    assert claim_page("abstract-gap-closed-by-peer-support") in kept["reference"]  # it links the source only
    assert {"network.html", "assets/sparql-links.js"} <= set(kept["reference"])  # they show works' links only
    assert "map.html" not in kept["statement"]  # a map of marks shows the statements (in the marks' titles)
    # a shorter reference list: the pages that show it are made again (the list's work, the network, the
    # bibliography's counts), the rest kept; an archived source or an example query is on no record page
    assert all(len(kept[name]) > 100 for name in ("reference list", "source", "query")), kept
    assert not {"network.html", "references/index.html", "data/network.graphml.gz"} & set(kept["reference list"])
    assert set(kept["source"]) == set(kept["query"]) >= {"network.html", "references/index.html", "map.html"}
    # the vocabularies' words besides the labels: the pages that show them are made again, the rest kept (a label is
    # on most pages: all of them are made again)
    assert all(len(kept[name]) > 100 for name in ("definition", "domain definition", "other label",
                                                  "scheme definition")), kept
    mortality = concept_address("outcome", "mortality")
    assert mortality not in kept["definition"] + kept["other label"] and mortality in kept["domain definition"]
    survival = "summaries/domains/survival.html"  # its lede is the domain's definition
    assert survival in kept["definition"] and survival not in kept["domain definition"]


def test_a_vocabularys_edited_words_keep_only_pages_whose_contexts_are_the_same(evidence_copy: Path,
                                                                                tmp_path: Path) -> None:
    """``verify_deps`` builds every page anyway: after each edit of the vocabularies' words, no page kept by its key
    has another context than the one its builder makes now."""
    out = tmp_path / "site"
    _build(evidence_copy, out)
    vocab = evidence_copy / "vocab" / "schemes.ttl"
    for old, new in (('skos:definition "', 'skos:definition "Edited: '), ('skos:altLabel "', 'skos:altLabel "Other '),
                     ('skos:prefLabel "Serious', 'skos:prefLabel "Edited: Serious')):
        _replace(vocab, old, new)
        rebuilt = _build(evidence_copy, out, verify_deps=True)
        assert rebuilt.report.ok(), old


def test_a_page_reading_many_kinds_is_keyed_by_every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MANY_KINDS a page's reads of the works' kinds are kept as one, every work's kind: each rebuild is still a
    cold build's bytes, and the edits that change no kind keep as many pages."""
    import kb.site.deps as deps

    monkeypatch.setattr(deps, "MANY_KINDS", 2)
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    kept = _rebuilds_equal_cold_builds(evidence, tmp_path)
    assert all(len(kept[name]) > 100 for name in ("statement", "direction", "reference", "new work")), kept
    # a work cited by two claims gets a kind (one of them now cites it alone): the pages counting it see it
    cites = _with(sorted((evidence / "claims").glob("*.yaml")), "cites: [beales2015peer, maclellan2015peer]")
    _replace(cites, "cites: [beales2015peer, maclellan2015peer]", "cites: [beales2015peer]")
    assert _build(evidence, tmp_path / "site", verify_deps=True).report.ok()


def test_input_keys_keep_a_large_kbs_pages_and_their_shared_csv(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Past LARGE_KB findings lists are short and the questions share one CSV, made from the kept pages' memos;
    past MARKS_PER_MAP the maps show counts, which a reworded claim leaves as they were."""
    from kb.site import evmap, limits

    monkeypatch.setattr(limits, "LARGE_KB", 0)
    monkeypatch.setattr(evmap, "MARKS_PER_MAP", 0)
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    kept = _rebuilds_equal_cold_builds(evidence, tmp_path)
    assert len(kept["statement"]) > 100, kept
    assert {"map.html", "map-interventions.html", "summaries/questions.csv.gz"} <= set(kept["statement"])
    assert "map.html" not in kept["direction"]


def test_a_large_kbs_pages_are_kept_when_a_claim_they_count_but_do_not_show_is_reworded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past LARGE_KB a concept page lists its best few findings and summarises them all: rewording a claim it counts
    but does not show keeps it (its words are not on the page), and the rebuild is still a cold build's bytes."""
    from collections import defaultdict

    from kb.site import evmap, limits
    from kb.site.context import best_first

    monkeypatch.setattr(limits, "LARGE_KB", 0)
    monkeypatch.setattr(evmap, "MARKS_PER_MAP", 0)
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    files = _one_file_per_claim(evidence)
    out = tmp_path / "site"
    by_intervention: dict[str, list] = defaultdict(list)
    for row in _build(evidence, out).analysis.rows:
        by_intervention[row.intervention].append(row)
    intervention, claim_id = next(
        (intervention, row.claim_id) for intervention, rows in sorted(by_intervention.items()) for row in rows
        if row.claim_id not in {r.claim_id for r in best_first(rows, limits.LARGE.concept_claims)})
    nanopubs = (out / "data" / "nanopubs.trig.gz").read_bytes()
    _replace(_with(files, f"- id: {claim_id}\n"), "statement: >-\n      ", f"statement: >-\n      {MARK} ")
    rebuilt = _build(evidence, out)
    assert f"interventions/{intervention}.html" in rebuilt.kept
    assert claim_page(claim_id) not in rebuilt.kept
    assert _tree(out) == _tree(_fresh_equivalent(evidence, tmp_path / "cold", nanopubs))


def test_verify_fails_a_page_whose_key_misses_an_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify_deps`` builds every page anyway: a key that leaves out something the page shows is caught."""
    import kb.site.deps as deps

    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    edits = dict(_edits(evidence))
    monkeypatch.setattr(deps.Deps, "claims", lambda self, ids: b"")  # keys blind to the claims
    out = tmp_path / "site"
    _build(evidence, out)
    edits["statement"]()
    with pytest.raises(AssertionError, match="its builder reads something its key does not cover"):
        _build(evidence, out, verify_deps=True)


def test_verify_fails_a_page_whose_key_misses_the_kinds_its_counts_read(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The kinds a page's counts of reviews and studies read are in its key: with them left out, an edit that gives a
    work cited by two claims a kind (one of them now cites it alone) leaves the other claim's pages, which count it,
    as they were, and ``verify_deps`` fails."""
    import kb.site.deps as deps
    from kb.analyse.studies import KIND_READ

    noted = deps.note_all
    monkeypatch.setattr(deps, "note_all", lambda keys: noted([key for key in keys if not key.startswith(KIND_READ)]))
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    cites = _with(_one_file_per_claim(evidence), "cites: [beales2015peer, maclellan2015peer]")  # of unstated design
    out = tmp_path / "site"
    _build(evidence, out)
    _replace(cites, "cites: [beales2015peer, maclellan2015peer]", "cites: [beales2015peer]")
    with pytest.raises(AssertionError, match="its builder reads something its key does not cover"):
        _build(evidence, out, verify_deps=True)
    monkeypatch.undo()  # with the kinds noted, every kept page is as a build makes it
    _replace(cites, "cites: [beales2015peer]", "cites: [beales2015peer, maclellan2015peer]")
    _build(evidence, tmp_path / "again")
    _replace(cites, "cites: [beales2015peer, maclellan2015peer]", "cites: [beales2015peer]")
    assert _build(evidence, tmp_path / "again", verify_deps=True).report.ok()


def test_work_ahead_gives_every_answer_in_order_however_far_the_thread_got() -> None:
    """The examples the thread did not answer before the fork are answered afterwards, in the same order."""
    from kb.pipeline import Ahead, check
    from kb.query.sparql import load_examples
    from kb.site.answers import example_answers
    from tests.conftest import FIXTURE

    config = load_config(FIXTURE, parse_cache=False)  # nothing kept: the thread answers (kb.site.kept_answers)
    checked = check(config, shacl=False, history=True)
    expected = example_answers(checked.kg.store, load_examples(config.queries_dir))
    assert len(expected) >= 2
    stopped = Ahead(checked.evidence, checked.kg)
    stopped.stop.set()  # as if the workers forked at once: the thread stops before its first example
    finished = Ahead(checked.evidence, checked.kg)
    finished.thread.join()  # as if the fork came late: the thread answered them all
    try:
        assert finished.asked == len(finished.examples)
        for ahead in (stopped, finished):
            assert ahead.answers() == expected
            assert ahead.styled is not None and len(ahead.styled) == len(checked.evidence.references)
            dumped = ahead.dump()
            assert dumped is not None and dumped.stat().st_size > 0
            dumped.unlink()
    finally:
        stopped.close()
        finished.close()


def test_the_site_does_not_depend_on_the_order_the_store_keeps_its_triples_in(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A store iterates its triples in the order they came, and a store brought to a graph by removing and adding
    triples holds them in another order than one parsed whole. Every file of the site (the example queries' answers
    among them: a GROUP_CONCAT concatenates in the order the store gives) must read the same either way."""
    import random

    import pyoxigraph as ox

    import kb.graph.build as graph_build
    from tests.conftest import REAL

    def site(name: str) -> dict[str, bytes]:
        out = tmp_path / name
        build(load_config(REAL, out_dir=out).with_overrides(parse_cache=False, cache_dir=tmp_path / f"{name}-cache"))
        return _tree(out)

    cold = site("cold")
    parsed = graph_build.build_graph

    def shuffled(*args, **kwargs):
        kg = parsed(*args, **kwargs)
        quads = list(kg.store)
        random.Random(len(quads)).shuffle(quads)
        kg.store = ox.Store()
        kg.store.extend(quads)
        return kg

    monkeypatch.setattr(graph_build, "build_graph", shuffled)
    assert site("shuffled") == cold


# --- the loop's store, patched in place (kb.graph.build.build_graph's last) ----------------------------------


def _claim_block(text: str, claim_id: str) -> str:
    """A claim's block in a claims file, from its ``- id:`` line to the next claim's."""
    start = text.index(f"  - id: {claim_id}\n")
    end = text.find("\n  - id: ", start + 1)
    return text[start:end + 1 if end != -1 else len(text)]


def _cold_quads(evidence: Path, cache: Path) -> set:
    from kb.pipeline import check

    config = load_config(evidence).with_overrides(parse_cache=False, cache_dir=cache)
    return set(check(config, shacl=False, history=True).kg.store)


def _patching_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A loop over a copy of the real corpus, built once, that patches its store whatever share of files changed
    (the real corpus has one claim file); the loop, the claim file and the first build."""
    import kb.graph.build as graph_build
    from kb.live import Loop
    from tests.conftest import REAL

    monkeypatch.setattr(graph_build, "PATCH_SHARE", 0)
    evidence = tmp_path / "evidence"
    shutil.copytree(REAL, evidence)
    loop = Loop(load_config(evidence, out_dir=tmp_path / "site"))
    first = loop.build()
    assert first.ok and first.result.checked.kg.patch is None  # the first build parses
    return loop, evidence / "claims" / "shalaby2020peer.yaml", first


def test_the_loop_brings_its_store_to_each_edit_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The editors' loop keeps the last good graph's store and brings it to the next graph by removing and adding
    the triples of the claim files that changed (5–6 s of parsing at 10k/50k): it holds exactly the triples of a cold
    build after an edit, a claim moved to a new file, that file removed again, and a reference edit (the text before
    the claims compared line by line like a claim file's), an edited vocabulary (its lines compared likewise), unless
    a triple it no longer states is the ontology's too; and the site is a cold build's, byte for byte."""
    import kb.graph.memo as graph_memo

    loop, claims, first = _patching_loop(tmp_path, monkeypatch)
    evidence = claims.parent.parent
    original = claims.read_text(encoding="utf-8")
    store = first.result.checked.kg.store
    read_entry, read = graph_memo.read_entry, []  # the kept entries the loop's build read from disk

    def rebuilt(step: str) -> object:
        nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
        read.clear()
        monkeypatch.setattr(graph_memo, "read_entry", lambda folder, name: read.append(name) or read_entry(folder, name))
        rebuild = loop.build()
        monkeypatch.setattr(graph_memo, "read_entry", read_entry)
        assert rebuild.ok, (step, rebuild.problems)
        assert set(rebuild.result.checked.kg.store) == _cold_quads(evidence, tmp_path / f"{step}-cache"), step
        assert len(rebuild.result.checked.kg) == len(rebuild.result.checked.kg.store), step  # counted, not counted again
        fresh = _fresh_equivalent(evidence, tmp_path / f"{step}-fresh", nanopubs)
        assert _tree(tmp_path / "site") == _tree(fresh), step
        return rebuild.result.checked.kg

    claims.write_text(original.replace("has in recent years been successfully closed", "has closed"),
                      encoding="utf-8")
    graph = rebuilt("reworded")
    assert graph.store is store and graph.patch is not None and graph.patch.removed and graph.patch.added

    reworded = claims.read_text(encoding="utf-8")
    block = _claim_block(reworded, "abstract-gap-closed-by-peer-support")
    claims.write_text(reworded.replace(block, ""), encoding="utf-8")  # the claim moves to a file of its own
    (evidence / "claims" / "moved.yaml").write_text("source: shalaby2020peer\nclaims:\n" + block, encoding="utf-8")
    graph = rebuilt("moved")
    assert graph.store is store and graph.patch is not None
    assert not graph.patch.removed and not graph.patch.added  # the same claims (and history), in other files

    (evidence / "claims" / "moved.yaml").unlink()
    graph = rebuilt("removed")
    assert graph.store is store and graph.patch is not None
    assert len(read) == 1  # the text of the file that went; the other file's tallies were kept in memory
    gone = {str(quad.subject) for quad in graph.patch.removed}
    assert "<https://w3id.org/peer-support-kb/claim/abstract-gap-closed-by-peer-support>" in gone

    references = evidence / "references.bib"
    references.write_text(references.read_text(encoding="utf-8").replace("Peer support", "Peer Support", 1),
                          encoding="utf-8")
    graph = rebuilt("reference")
    assert graph.store is store and graph.patch is not None
    gone, came = ({(str(q.subject), str(q.predicate), str(q.object)) for q in quads}
                  for quads in (graph.patch.removed, graph.patch.added))
    assert {(s, p) for s, p, _o in gone} == {(s, p) for s, p, _o in came}  # the titles, and nothing else
    assert {p for _s, p, _o in came} == {"<http://purl.org/dc/terms/title>"}
    assert any("Peer Support" in o for _s, _p, o in came) and any("Peer support" in o for _s, _p, o in gone)

    # edited again: the works that are the same objects as in the last rebuild keep their lines; only the edited one
    # is written again
    from kb.graph.build import _Builder

    written, work_text = [], _Builder._work_text
    monkeypatch.setattr(_Builder, "_work_text", lambda self, ref, display: written.append(ref.key)
                        or work_text(self, ref, display))
    edited = references.read_text(encoding="utf-8")
    references.write_text(edited.replace("Peer Support", "Peer support work", 1), encoding="utf-8")
    graph = rebuilt("reference again")
    assert graph.store is store and graph.patch is not None
    assert len(written) == 1 and len(loop.warm.works.kept) == len(first.result.checked.evidence.references)
    monkeypatch.setattr(_Builder, "_work_text", work_text)

    vocabulary = evidence / "vocab" / "certainty.ttl"
    vocabulary.write_text(vocabulary.read_text(encoding="utf-8").replace('"High"@en', '"High certainty"@en'),
                          encoding="utf-8")
    graph = rebuilt("vocabulary")
    assert graph.store is store and graph.patch is not None  # the vocabularies' lines compared like the tail's
    assert {str(q.predicate) for q in (*graph.patch.removed, *graph.patch.added)} == {
        "<http://www.w3.org/2004/02/skos/core#prefLabel>"}
    # a triple the ontology holds too, stated by a vocabulary: added, it is in the store already (parsed whole);
    # removed, it stays the ontology's (parsed whole again, not patched away)
    text = vocabulary.read_text(encoding="utf-8")
    vocabulary.write_text(text + "\n<https://w3id.org/peer-support-kb/ontology#Claim> a "
                          "<http://www.w3.org/2002/07/owl#Class> .\n", encoding="utf-8")
    store = rebuilt("shared").store
    vocabulary.write_text(text, encoding="utf-8")
    graph = rebuilt("unshared")
    assert graph.patch is None and graph.store is not store


def test_a_patch_parses_only_the_lines_that_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's patch compares the texts before and after line by line: the shared lines (most of the text after
    the claims) are never parsed, and what it finds is what parsing both whole finds."""
    import kb.graph.build as build_module

    shared = b"".join(b'<https://e.org/w%d> <https://e.org/p> "%d" .\n' % (i, i) for i in range(1000))
    before = shared + b'<https://e.org/c> <https://e.org/p> "old" .\n'
    after = b'<https://e.org/c> <https://e.org/p> "new" .\n' + shared
    parsed: list[bytes] = []
    parse = build_module.default_graph_quads
    monkeypatch.setattr(build_module, "default_graph_quads", lambda data: parsed.append(data) or parse(data))
    gone, came = build_module._differing(before, after)
    whole_before, whole_after = set(parse(before)), set(parse(after))
    assert (gone, came) == (whole_before - whole_after, whole_after - whole_before) and len(gone) == len(came) == 1
    assert sum(len(text) for text in parsed) < 100


def test_the_loops_claim_keys_carried_are_those_made_afresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kb.site.deps.Deps`` carries the claims' keys from the loop's last build (only claims that are new objects, or
    whose release history changed, are keyed again): through rewording, moved lines, a changed design, a claim added,
    renamed and removed, every key, the facets' digest and the records are those a build without the carry makes, and
    the carry is taken where the claims kept their places."""
    from kb.live import Loop
    from kb.site import deps as deps_module
    from tests.conftest import REAL

    evidence = tmp_path / "evidence"
    shutil.copytree(REAL, evidence)
    claims = evidence / "claims" / "shalaby2020peer.yaml"
    original = claims.read_text(encoding="utf-8")
    carried: list[bool] = []
    real_init, real_carry = deps_module.Deps.__init__, deps_module.Deps._carry

    def spied(self, *args) -> bool:
        carried.append(real_carry(self, *args))
        return carried[-1]

    def shadowed(self, res=None, inputs=None, render_key=b"", known=None, last=None) -> None:
        real_init(self, res, inputs, render_key, known, last)
        if last is None or not self.enabled:
            return
        fresh = deps_module.Deps(res, inputs, render_key, known)
        assert (dict(self._claims), dict(self._counted), self._facets) == \
            (dict(fresh._claims), dict(fresh._counted), fresh._facets)
        assert list(self._claims) == list(fresh._claims)
        assert {d: r for d, r in self.records.items() if r} == fresh.records

    monkeypatch.setattr(deps_module.Deps, "__init__", shadowed)
    monkeypatch.setattr(deps_module.Deps, "_carry", spied)
    loop = Loop(load_config(evidence, out_dir=tmp_path / "site"))
    last_claim = original.split("\n  - id: ")[-1]
    texts = [
        original.replace("has in recent years been successfully closed", "has in recent years been closed"),
        original.replace("claims:\n", "claims:\n  # every claim's lines move\n", 1),
        original.replace("design: systematic_review\n", "design: narrative_review\n", 1),
        original + "\n  - id: added-" + last_claim,
        original.replace("  - id: abstract-gap-closed-by-peer-support", "  - id: abstract-gap-renamed", 1),
        original,
    ]
    assert loop.build().ok
    for text in texts:
        claims.write_text(text, encoding="utf-8")
        rebuilt = loop.build()
        assert rebuilt.ok, [p.message for p in rebuilt.problems][:3]
    claims.write_text(texts[0], encoding="utf-8")
    assert loop.build().ok
    released = subprocess.run([sys.executable, "-m", "kb", "release", "2026-12", "--evidence", str(evidence),
                               "--date", "2026-12-01"], capture_output=True, text=True, timeout=300)
    assert released.returncode == 0, released.stderr
    after = loop.build()  # the reworded claim's history changed (released now); no claim did
    assert after.ok and [e.release.name for e in after.result.checked.history.entries] == ["2026-11", "2026-12"]
    # the first build has nothing to carry; adding, renaming and removing a claim key every claim afresh
    assert carried == [False, True, True, True, False, False, False, True, True]


def test_the_loop_records_the_manifest_and_removes_the_old_site_once_the_rebuild_is_told(evidence_copy: Path,
                                                                                         tmp_path: Path) -> None:
    """After a rebuild the loop tells it (kb serve prints the line) before it removes the old site and records the
    site's manifest (Warm.tidy): the next build, or the loop's next turn, does it first, and reads that manifest."""
    from kb.live import Loop
    from kb.site.reuse import manifest_path

    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    loop = Loop(config)
    assert loop.build().ok
    manifest = manifest_path(config.store_cache_dir, config.out_dir)
    assert not manifest.exists() and len(loop.warm.later) == 1  # the first build had no old site to remove
    _edit_claim(evidence_copy)
    rebuilt = loop.build()  # the first build's manifest recorded first: its pages are reused
    assert rebuilt.ok and len(rebuilt.result.reused) > 10 and not manifest.exists()
    # the old site, under a staging name (where the file system swaps folders atomically; else it is gone already)
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".site.")]
    assert len(leftovers) <= 1 and len(loop.warm.later) == 1 + len(leftovers)
    loop.warm.tidy()
    assert manifest.is_file() and not any(p.name.startswith(".site.") for p in tmp_path.iterdir())


def test_the_loop_reads_kb_toml_again_for_every_rebuild(evidence_copy: Path, tmp_path: Path) -> None:
    """kb.toml edited while kb serve runs (a new title, a release kb release added) is what the next rebuild
    uses; a kb.toml that cannot be read fails the rebuild with its line, and the last good site stays."""
    from kb.live import Loop

    loop = Loop(load_config(evidence_copy, out_dir=tmp_path / "site"))
    assert loop.build().ok
    toml = evidence_copy / "kb.toml"
    good = toml.read_text(encoding="utf-8") if toml.is_file() else ""
    toml.write_text(good + '\ntitle = "Retitled while serving"\n' if "title" not in good else
                    re.sub(r'(?m)^title = .*$', 'title = "Retitled while serving"', good), encoding="utf-8")
    assert loop.build().ok
    assert "Retitled while serving" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    toml.write_text(good + "\ntitle = [unclosed\n", encoding="utf-8")
    failed = loop.build()
    assert not failed.ok and "kb.toml" in failed.failure
    assert "Retitled while serving" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_a_failed_rebuild_puts_the_loops_store_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild that fails after patching the store (here the claims file cannot be read, so its claims' triples
    were removed) puts back every triple: the loop goes on serving the last good graph, and the next rebuild
    patches it from there into a cold build's graph."""
    loop, claims, first = _patching_loop(tmp_path, monkeypatch)
    evidence = claims.parent.parent
    good = claims.read_text(encoding="utf-8")
    store = first.result.checked.kg.store
    before = set(store)
    claims.write_text(good.replace("statement: >-", "statement: [unclosed", 1), encoding="utf-8")
    failed = loop.build()
    assert not failed.ok and failed.problems
    assert set(store) == before and loop.warm.pending is None
    claims.write_text(good.replace("has in recent years been successfully closed", "has closed"), encoding="utf-8")
    again = loop.build()
    assert again.ok and again.result.checked.kg.store is store and again.result.checked.kg.patch is not None
    assert set(store) == _cold_quads(evidence, tmp_path / "cold-cache")
    assert len(again.result.checked.kg) == len(store)


def test_the_loop_keeps_what_the_checks_and_analysis_made_of_each_unchanged_claim(evidence_copy: Path,
                                                                                  tmp_path: Path) -> None:
    """The loop keeps each claim's problems, rows and links while the claim is the same record and the evidence
    other than the claim files is unchanged (kb.load.byrecord, kb.analyse.carry): an edited claim is checked again,
    and so is every claim once the vocabulary changes under it."""
    from kb.live import Loop
    from kb.problems import Problem

    loop = Loop(load_config(evidence_copy, out_dir=tmp_path / "site"))
    first = loop.build()
    assert first.ok
    carried = loop.warm.analysed.last  # the rows, links and study base, carried to the next build (kb.analyse.carry)
    assert carried is not None and carried.claims == first.result.checked.evidence.claims
    _edit_claim(evidence_copy)  # one claim of the one claim file: every claim of it is a new record
    assert loop.build().ok
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text(encoding="utf-8")
    claims.write_text(text.replace("intervention: network_support\n", "intervention: network_suport\n"),
                      encoding="utf-8")
    typo = loop.build()
    assert not typo.ok and any(p.code == "claim-unknown-term" and "network_suport" in p.message
                               for p in typo.problems)
    claims.write_text(text, encoding="utf-8")
    again = loop.build()
    assert again.ok
    problems: list[Problem] = [p for kept in loop.warm.checked.kept.values() for p in kept[1]]
    assert not [p for p in problems if p.severity == "error"]

    vocab = evidence_copy / "vocab" / "schemes.ttl"  # the claim files unchanged, their term gone from the vocabulary
    concepts = vocab.read_text(encoding="utf-8")
    start = concepts.index("intervention:network_support a skos:Concept")
    vocab.write_text(concepts[:start] + concepts[concepts.index("\n", concepts.index("psk:interventionKind", start)) + 1:],
                     encoding="utf-8")
    gone = loop.build()
    assert not gone.ok and any(p.code == "claim-unknown-term" and "network_support" in p.message
                               for p in gone.problems)


def test_values_are_kept_by_record_identity_within_one_context() -> None:
    from kb.load.byrecord import ByRecord

    made: list[str] = []

    def make(name: str):
        return lambda: made.append(name) or name.upper()

    kept: ByRecord[str] = ByRecord()
    a, b, c = ["a"], ["b"], ["a"]  # c equals a, but is another record
    kept.begin("context")
    assert [kept.get(a, make("a")), kept.get(b, make("b"))] == ["A", "B"]
    kept.end()
    kept.begin("context")
    assert [kept.get(a, make("a")), kept.get(c, make("c"))] == ["A", "C"]  # a kept; c is new
    kept.end()  # b was not asked for: dropped
    kept.begin("context")
    assert kept.get(b, make("b")) == "B"
    kept.end()
    kept.begin("another")  # the evidence around the records changed: nothing is kept
    assert kept.get(b, make("b")) == "B"
    kept.begin(None)  # unknown: nothing is kept, nothing made is kept
    kept.get(b, make("b"))
    kept.end()
    assert not kept.kept
    assert made == ["a", "b", "c", "b", "b", "b"]


def test_many_values_are_kept_by_record_identity_and_made_together_in_order() -> None:
    """:meth:`kb.load.byrecord.ByRecord.many` gives what a :meth:`get` per record gives: the kept values of the same
    objects, the others made in one call, in order; what was not asked for is dropped at the end."""
    from kb.load.byrecord import ByRecord

    calls: list[list[str]] = []

    def make(records: list[list[str]]) -> list[str]:
        calls.append([r[0] for r in records])
        return [r[0].upper() for r in records]

    kept: ByRecord[str] = ByRecord()
    records = [[name] for name in "abcdef"]
    kept.begin("context")
    assert kept.many(records, make) == list("ABCDEF") and calls == [list("abcdef")]
    kept.end()
    again = [records[0], ["b"], records[2], ["x"], records[4]]  # b read again (equal, another object), x new, d/f gone
    kept.begin("context")
    assert kept.many(again, make) == ["A", "B", "C", "X", "E"] and calls[-1] == ["b", "x"]
    kept.end()
    assert {id(r) for r, _ in kept.kept.values()} == {id(r) for r in again}
    kept.begin("context")
    assert kept.many([records[3], again[3]], make) == ["D", "X"] and calls[-1] == ["d"]  # d was dropped
    kept.begin(None)
    assert kept.many(again, make) == ["A", "B", "C", "X", "E"] and calls[-1] == ["a", "b", "c", "x", "e"]


def test_the_claims_tables_rows_are_kept_by_claim_file_between_builds(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the loop's memo (``kb build``), the claims table keeps each claim file's rows' text on disk under the
    file's digest and the other evidence's: the table is the bytes written whole, an unchanged KB writes no row again,
    an edit writes only its own file's rows, and the entries of files that changed are removed."""
    from bench.corpus import edit_one_claim, generate
    from kb.analyse.analysis import Analysis, from_records
    from kb.checks.scope import inputs
    from kb.export import table
    from kb.export.fragments import Fragments
    from kb.load.evidence import load_evidence

    evidence_dir = tmp_path / "evidence"
    generate(evidence_dir, 60, 300, seed=5, density=50)
    config = load_config(evidence_dir)
    folder = tmp_path / "claims-csv"
    written: list[int] = []
    lines = table._lines
    monkeypatch.setattr(table, "_lines", lambda rows: written.append(len(rows)) or lines(rows))

    def table_now() -> tuple[bytes, bytes, int]:
        evidence, _ = load_evidence(config)
        analysis = Analysis(rows=from_records(evidence).rows, links=[])
        now = inputs(config)
        kept = table.claims_csv_lines_by_file(analysis, {c.id: c.path for c in evidence.claims}, now.claim_files,
                                              Fragments(folder, None), now.context)
        return b"".join(kept), table.claims_csv(analysis), len(analysis.rows)

    files = len(list((evidence_dir / "claims").glob("*.yaml")))
    assert files > 3
    kept, whole, rows = table_now()
    assert kept == whole and len(written) == files + 1  # each file's rows, then the whole table to compare
    written.clear()
    kept, whole, rows = table_now()
    assert kept == whole and written == [rows]  # only the whole table's
    written.clear()
    edit_one_claim(evidence_dir)
    kept, whole, rows = table_now()
    assert kept == whole and b"(Edited for the incremental benchmark.)" in kept
    assert len(written) == 2  # the edited file's rows, and the whole table
    assert len(list(folder.glob("*.pickle"))) == files


def test_each_claims_checks_are_kept_by_claim_file_between_fresh_checks(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the loop, each claim's own cross-file checks are kept on disk by claim file, under the digest of the
    evidence other than the claim files and of which works they name references.bib holds: an unchanged KB checks
    no claim again, an edit checks its own file's claims, a new concept checks every claim (an edit of the vocabulary
    that changes no concept, none), an edited work none, a claim naming a work references.bib lacks every time, and the problems are always those of
    checking everything (a problem kept, one found, one gone); a damaged cache is checked again."""
    from bench.corpus import edit_one_claim, generate
    from kb.checks import crossfile
    from kb.pipeline import check

    evidence_dir = tmp_path / "evidence"
    generate(evidence_dir, 60, 300, seed=5, density=50)
    files = sorted((evidence_dir / "claims").glob("*.yaml"))
    first_file = files[0]  # a claim that names a term the vocabulary lacks: a problem kept with its file
    first_file.write_text(first_file.read_text(encoding="utf-8").replace("intervention: ", "intervention: x", 1),
                          encoding="utf-8")
    cache = tmp_path / "cache"
    checked: list[str] = []
    real = crossfile._check_claim
    monkeypatch.setattr(crossfile, "_check_claim",
                        lambda ev, claim, listed: checked.append(claim.path) or real(ev, claim, listed))

    def problems(cached: bool = True) -> list[str]:
        checked.clear()
        config = load_config(evidence_dir, cache_dir=cache if cached else tmp_path / "none", parse_cache=cached)
        return sorted(p.format() for p in check(config, shacl=False).report.problems)

    everything = problems(cached=False)
    assert any("claim-unknown-term" in p for p in everything)
    claims = len(checked)
    assert problems() == everything and len(checked) == claims
    assert problems() == everything and checked == []  # nothing changed: no claim checked again
    edited = edit_one_claim(evidence_dir)
    assert problems() == problems(cached=False)
    problems()
    assert checked == []
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("intervention: ", "intervention: y", 1), encoding="utf-8")
    found = problems()
    assert set(checked) == {str(edited)} and found == problems(cached=False) and len(found) == len(everything) + 1
    edited.write_text(text, encoding="utf-8")  # the problem gone again
    assert problems() == everything and set(checked) == {str(edited)}
    vocab = evidence_dir / "vocab" / "populations.ttl"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "\n# an edit of no concept\n", encoding="utf-8")
    assert problems() == everything and checked == []  # a claim's checks read which concepts there are, no word
    vocab.write_text(vocab.read_text(encoding="utf-8") + NEW_CONCEPT, encoding="utf-8")
    assert problems() == everything and len(checked) == claims
    [kept] = cache.glob("crossfile-*.pickle")
    kept.write_bytes(b"not a pickle")
    assert problems() == everything and len(checked) == claims
    assert len(list(cache.glob("crossfile-*.pickle"))) == 1
    bib = evidence_dir / "references.bib"  # an edited work: no claim reads its title
    _replace(bib, "title = {", "title = {Edited: ")
    found = problems()
    assert checked == [] and found == problems(cached=False)
    # a claim naming a work references.bib lacks: the hint suggests from every citekey, so it is checked each time
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("cites: [", "cites: [zzunknown2020work, ", 1), encoding="utf-8")
    found = problems()
    assert found == problems(cached=False) and any("zzunknown2020work" in p for p in found)
    bib.write_text(bib.read_text(encoding="utf-8") + "\n@misc{zzunknown2021work,\n  title = {Near},\n  year = {2021},\n}\n",
                   encoding="utf-8")
    found = problems()
    assert checked == [str(edited)]  # that claim alone
    assert found == problems(cached=False) and any("zzunknown2021work" in p for p in found)  # the new hint


def test_the_loop_keeps_the_claims_checks_past_an_edited_work_but_not_a_claims_naming_an_unknown_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the editors' loop a claim's checks are kept by the claim's identity while what they read is unchanged: an
    edited work keeps them all; a claim naming a work references.bib lacks is checked again each time, since its
    hint suggests from every citekey (a new work can be a better one)."""
    from bench.corpus import generate
    from kb.checks import crossfile
    from kb.pipeline import Warm, check

    evidence_dir = tmp_path / "evidence"
    generate(evidence_dir, 60, 300, seed=5, density=50)
    checked: list[str] = []
    real = crossfile._check_claim
    monkeypatch.setattr(crossfile, "_check_claim",
                        lambda ev, claim, listed: checked.append(claim.id) or real(ev, claim, listed))
    warm = Warm()

    def problems(fresh: bool = False) -> list[str]:
        checked.clear()
        config = load_config(evidence_dir, cache_dir=tmp_path / ("fresh" if fresh else "cache"), parse_cache=not fresh)
        return sorted(p.format() for p in check(config, shacl=False, warm=None if fresh else warm).report.problems)

    problems()
    bib = evidence_dir / "references.bib"
    _replace(bib, "title = {", "title = {Edited: ")
    found = problems()
    assert checked == [] and found == problems(fresh=True)
    edited = sorted((evidence_dir / "claims").glob("*.yaml"))[0]
    _replace(edited, "cites: [", "cites: [zzunknown2020work, ")
    found = problems()
    assert found == problems(fresh=True) and any("zzunknown2020work" in p for p in found)
    bib.write_text(bib.read_text(encoding="utf-8") + "\n@misc{zzunknown2021work,\n  title = {Near},\n  year = {2021},\n}\n",
                   encoding="utf-8")
    found = problems()
    assert len(checked) == 1  # the claim naming the unknown work alone
    assert found == problems(fresh=True) and any("zzunknown2021work" in p for p in found)


def test_the_rows_grouped_while_the_graph_is_parsed_are_the_ones_the_pages_read(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh build groups the rows the ways the pages will while its graph is still parsed (the workers inherit
    them): it stops as soon as the parser is done, and a site built with every grouping made there is the site
    built with none made there, byte for byte."""
    import kb.graph.build
    import kb.site
    from bench.corpus import generate
    from kb.analyse.groups import Groups

    asked: list[int] = []
    answers = iter([True, True, False, True])
    groups = Groups([])
    kb.site.prime_groups(groups, lambda: asked.append(1) or next(answers))
    assert len(asked) == 3 and list(groups._made) == [("questions", "", False)] and "ranked" in vars(groups)

    evidence = tmp_path / "evidence"
    generate(evidence, 40, 200, seed=3, density=40)
    primed: list[int] = []
    real = kb.site.prime_groups

    def prime(groups: Groups, busy) -> None:
        real(groups, busy)
        primed.append(len(groups._made))

    monkeypatch.setattr(kb.site, "prime_groups", prime)
    monkeypatch.setattr(kb.graph.build._Loader, "busy", lambda self: True)
    _build(evidence, tmp_path / "primed")
    assert primed and primed[-1] >= 20  # every grouping the pages read
    monkeypatch.setattr(kb.graph.build._Loader, "busy", lambda self: False)
    _build(evidence, tmp_path / "unprimed")
    assert primed[-1] == 0
    assert _tree(tmp_path / "primed") == _tree(tmp_path / "unprimed")


def test_the_loop_carries_its_groupings_and_their_digests_and_still_builds_a_cold_builds_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop takes the last build's groupings of the rows over, changed in place for the claims that changed
    (kb.analyse.regroup), and the digests of the lists no changed claim is in (kb.site.deps.KeyMemo): after a
    reword, a claim moved to other concepts and another direction, a claim file removed and put back, and a failed
    build, the site is a cold build's, byte for byte."""
    import kb.graph.build as graph_build
    from bench.corpus import edit_one_claim, generate
    from kb.analyse.groups import Groups
    from kb.analyse.regroup import Marks
    from kb.live import Loop
    from kb.site import overview
    from kb.site.deps import KeyMemo

    evidence = tmp_path / "evidence"
    generate(evidence, 40, 200, seed=3, density=40)
    carried: list[object] = []
    kept: list[int] = []
    carry, begin = Groups.carry, KeyMemo.begin

    def spy_carry(self: Groups, last: Groups, changed: set[str], reworded=frozenset()) -> Marks | None:
        marks = carry(self, last, changed, reworded)
        carried.append(marks)
        return marks

    def spy_begin(self: KeyMemo, groups: Groups, deps, make) -> None:
        begin(self, groups, deps, make)
        kept.append(len(deps.memo))

    monkeypatch.setattr(Groups, "carry", spy_carry)
    monkeypatch.setattr(KeyMemo, "begin", spy_begin)
    monkeypatch.setattr(graph_build, "PATCH_SHARE", 0)  # the store patched, as at scale: nothing grouped meanwhile
    loop = Loop(load_config(evidence, out_dir=tmp_path / "site"))
    assert loop.build().ok and carried == []

    def rebuilt(step: str, carries: bool = True) -> None:
        carried.clear()
        nanopubs = (tmp_path / "site" / "data" / "nanopubs.trig.gz").read_bytes()
        rebuild = loop.build()
        assert rebuild.ok, (step, rebuild.problems)
        if carries:
            assert len(carried) == 1 and carried[0] is not None and kept[-1] > 0, step
        assert _tree(tmp_path / "site") == _tree(_fresh_equivalent(evidence, tmp_path / f"{step}-fresh", nanopubs)), step

    rebuilt("unchanged")
    assert carried == [Marks()]  # nothing changed: no list touched
    edited = edit_one_claim(evidence)
    rebuilt("reworded")
    assert carried[0].worded and not carried[0].moved  # a reworded claim: its rows swapped in place
    text = edited.read_text(encoding="utf-8")
    population = text[text.index("population: "):text.index("\n", text.index("population: "))]
    moved = text.replace(population, "population: smi" if "smi" not in population else "population: ptsd", 1)
    moved = moved.replace("direction: benefit}", "direction: harm}", 1)
    assert moved != text
    edited.write_text(moved, encoding="utf-8")
    rebuilt("moved")
    other = sorted((evidence / "claims").glob("*.yaml"))[0]
    removed = other.read_text(encoding="utf-8")
    other.unlink()
    rebuilt("removed", carries=False)  # a file's claims: more than the loop carries over at this size
    other.write_text(removed, encoding="utf-8")
    rebuilt("back", carries=False)
    edited.write_text(moved.replace("intervention: ", "intervention: x", 1), encoding="utf-8")
    assert not loop.build().ok  # refused by the checks: the groupings were not touched
    assert loop.warm.keys.groups is not None
    edited.write_text(text, encoding="utf-8")
    rebuilt("fixed")
    edit_one_claim(evidence)
    with monkeypatch.context() as failing:  # a build that fails once the pages are begun
        failing.setattr(overview, "data_page", lambda *args: (_ for _ in ()).throw(ValueError("no data page")))
        assert not loop.build().ok
    assert loop.warm.keys.groups is None  # its lists were changed in place: the next build groups afresh
    rebuilt("after a failure", carries=False)
    edit_one_claim(evidence)
    rebuilt("reworded again")


def test_the_loop_keeps_the_works_short_links_while_the_works_are_the_same_records(evidence_copy: Path) -> None:
    """The resolver's links to the works (author and year, LaTeX decoded) are kept by the loop while the works are the
    same objects in the same context, and made afresh otherwise."""
    import dataclasses

    from kb.load.evidence import load_evidence
    from kb.pipeline import Warm

    evidence, _ = load_evidence(load_config(evidence_copy))
    warm = Warm()
    warm.begin(None)
    assert warm.ref_links(evidence) is None  # inputs that changed while read: nothing kept
    warm.begin("context")
    links = warm.ref_links(evidence)
    assert links == {}
    links["k"] = "made"  # type: ignore[assignment]
    assert warm.ref_links(evidence) is links
    again = dataclasses.replace(evidence, references=[dataclasses.replace(r) for r in evidence.references])
    assert warm.ref_links(again) == {}  # equal works, other records: made afresh
    warm.begin("another context")
    assert warm.ref_links(again) == {}


def test_a_pages_works_digest_is_its_reads_parts_in_order() -> None:
    """What a kept page read of the works (``kb.site.deps.Works``) is digested from one map of every read's part: a
    work's digest, an aspect's value (a work without it as repr(None)), an unknown work as "-", and the three reads
    of every work, in the order read."""
    import hashlib

    from kb.site import deps as deps_module

    deps = deps_module.Deps()
    deps.enabled, deps._which = True, b"which"
    deps._works = {"a": b"work a", "b": b"work b"}
    deps._aspects = {deps_module.LINK: {"a": b"'link a'"}, deps_module.DOI: {"b": b"'10.1/b'"}}
    deps._aspects[deps_module.KIND_READ] = {"a": b"('review', 'design')"}
    reads = (deps_module.DOI + "b", deps_module.LINK + "a", deps_module.LINK + "b", "a", "gone",
             deps_module.EVERY_WORK, deps_module.WHICH_WORKS, deps_module.EVERY_KIND)
    parts = [b"'10.1/b'", b"'link a'", b"None", b"work a", b"-", deps._every_work(), b"which", deps._every_kind()]
    assert deps.works_digest(reads) == hashlib.blake2b(b"".join(parts), digest_size=16).digest()
    assert deps.works_digest(reads[:2]) == hashlib.blake2b(b"'10.1/b''link a'", digest_size=16).digest()
    assert deps.works_digest(()) == hashlib.blake2b(b"", digest_size=16).digest()
