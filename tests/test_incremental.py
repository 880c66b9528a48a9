"""Incremental builds (issue 6): after an edit, only the files whose inputs changed are written.

Reused files are hard links to the previous build's files, so "not written" is checked on disk:
the inode stays the same. Every incremental result is also compared with a from-scratch build.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from kb.config import load_config
from kb.io import gz
from kb.pipeline import build
from kb.site.addresses import claim_page

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
