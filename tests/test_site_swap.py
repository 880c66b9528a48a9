"""Issue 12, items 5–7: the site folder is never missing, a crashed build is cleaned up by the next one,
``--out`` through a symlink updates the site it points at, and a full disk is a clean error."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import kb.io.swap
from kb.cli import main
from kb.io.swap import recover, replace_dir
from tests.conftest import ROOT, tree_digest


def build(evidence: Path, out: Path):
    return CliRunner().invoke(main, ["build", "--evidence", str(evidence), "--out", str(out), "--jobs", "1"],
                              catch_exceptions=False)


def dotfiles(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".kb-cache")


def complete(site: Path) -> bool:
    return site.is_dir() and (site / "data" / "kb.nt.gz").is_file() and (site / "index.html").is_file()


def edit_statement(evidence: Path, text: str) -> None:
    claims = evidence / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text().replace("A Cochrane review of peer support", text, 1))


def test_item5_there_is_no_instant_without_a_site(evidence_copy: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file-system step of the swap is watched: after each one the site is whole."""
    site = tmp_path / "site"
    assert build(evidence_copy, site).exit_code == 0
    seen: list[tuple[str, bool]] = []

    def watch(name: str, real):
        def wrapper(*args, **kwargs):
            result = real(*args, **kwargs)
            seen.append((name, complete(site)))
            return result
        return wrapper

    monkeypatch.setattr(kb.io.swap, "exchange", watch("exchange", kb.io.swap.exchange))
    monkeypatch.setattr(kb.io.swap.os, "rename", watch("rename", os.rename))
    monkeypatch.setattr(kb.io.swap.shutil, "rmtree", watch("rmtree", shutil.rmtree))
    edit_statement(evidence_copy, "A Cochrane review (edited) of peer support")
    assert build(evidence_copy, site).exit_code == 0
    assert ("exchange", True) in seen and all(ok for _, ok in seen), seen
    assert "(edited)" in "".join(p.read_text() for p in site.rglob("*.html"))
    assert dotfiles(tmp_path) == []


def test_item5_the_fallback_without_renameat2_also_builds_and_leaves_nothing(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    assert build(evidence_copy, site).exit_code == 0
    monkeypatch.setattr(kb.io.swap, "exchange", lambda a, b: False)  # not Linux, or a file system without it
    assert build(evidence_copy, site).exit_code == 0
    assert complete(site) and dotfiles(tmp_path) == []


def crash_during_swap(evidence: Path, site: Path, patch: str) -> subprocess.CompletedProcess:
    script = "\n".join(["import os", "import kb.io.swap as swap", "from kb.config import load_config",
                        "from kb.pipeline import build", textwrap.dedent(patch),
                        f"build(load_config({str(evidence)!r}, out_dir={str(site)!r}), jobs=1)"])
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_item5_a_crash_right_after_the_exchange_leaves_the_new_site_and_the_next_build_cleans(
        evidence_copy: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert build(evidence_copy, site).exit_code == 0
    edit_statement(evidence_copy, "A Cochrane review (crash) of peer support")
    proc = crash_during_swap(evidence_copy, site, textwrap.dedent("""
        real = swap.exchange
        def exchange(a, b):
            real(a, b)
            os._exit(9)
        swap.exchange = exchange"""))
    assert proc.returncode == 9, proc.stderr
    assert complete(site) and "(crash)" in "".join(p.read_text() for p in site.rglob("*.html"))
    [leftover] = dotfiles(tmp_path)  # the staging folder, now holding the old site
    assert leftover.startswith(".site.") and leftover.endswith(".tmp")
    assert build(evidence_copy, site).exit_code == 0
    assert complete(site) and dotfiles(tmp_path) == []


def test_item5_a_crash_between_the_fallbacks_two_renames_is_undone_by_the_next_build(
        evidence_copy: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert build(evidence_copy, site).exit_code == 0
    before = tree_digest(site)
    proc = crash_during_swap(evidence_copy, site, textwrap.dedent("""
        swap.exchange = lambda a, b: False
        real = os.rename
        def rename(src, dst):
            real(src, dst)
            if str(dst).endswith(".site.old"):
                os._exit(9)
        swap.os.rename = rename"""))
    assert proc.returncode == 9, proc.stderr
    assert not site.exists() and (tmp_path / ".site.old").is_dir()  # the gap the fallback cannot avoid
    assert recover(site) and tree_digest(site) == before  # what the next build does first
    assert build(evidence_copy, site).exit_code == 0 and complete(site) and dotfiles(tmp_path) == []


def test_item6_out_through_a_symlink_updates_the_site_it_points_at(evidence_copy: Path, tmp_path: Path) -> None:
    real = tmp_path / "real-site"
    assert build(evidence_copy, real).exit_code == 0
    link = tmp_path / "site"
    link.symlink_to("real-site")
    edit_statement(evidence_copy, "A Cochrane review (through the link) of peer support")
    result = build(evidence_copy, link)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == "real-site"
    assert "(through the link)" in "".join(p.read_text() for p in real.rglob("*.html"))
    assert dotfiles(tmp_path) == []  # no .sitelink.old, no staging folder


def test_item6_a_symlink_to_a_foreign_folder_is_refused(evidence_copy: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    (tmp_path / "site").symlink_to("docs")
    result = build(evidence_copy, tmp_path / "site")
    assert result.exit_code == 2 and "is not a site built by kb" in result.stderr
    assert (foreign / "precious.txt").read_text() == "keep me" and (tmp_path / "site").is_symlink()


def test_item7_a_full_disk_during_kb_build_is_a_clean_error(evidence_copy: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    assert build(evidence_copy, site).exit_code == 0
    edit_statement(evidence_copy, "A Cochrane review (full disk) of peer support")
    before, evidence_before = tree_digest(site), tree_digest(evidence_copy)
    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if ".site." in str(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    result = build(evidence_copy, site)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"kb build: could not write {site}: no space left on the device (the previous build took " in result.stderr
    assert f"; {site} is as it was" in result.stderr
    assert tree_digest(site) == before and dotfiles(tmp_path) == []
    assert tree_digest(evidence_copy) == evidence_before


def test_item8_a_folder_where_the_site_cannot_be_written_is_a_clean_error(
        evidence_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".site.x.tmp"))

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    result = build(evidence_copy, tmp_path / "site")
    assert result.exit_code == 1
    assert (f"kb build: could not write {tmp_path / 'site'}: permission denied (cannot create files in "
            f"{tmp_path})") in result.stderr
    assert not (tmp_path / "site").exists()


def test_replace_dir_creates_exchanges_and_recover_cleans(tmp_path: Path) -> None:
    target, new = tmp_path / "out", tmp_path / ".out.a.tmp"
    new.mkdir()
    (new / "v").write_text("1")
    assert replace_dir(new, target) == "created" and (target / "v").read_text() == "1"
    new.mkdir()
    (new / "v").write_text("2")
    assert replace_dir(new, target) == "exchanged" and (target / "v").read_text() == "2" and not new.exists()
    (tmp_path / ".out.b.tmp").mkdir()
    (tmp_path / ".out.old").mkdir()
    assert sorted(p.name for p in recover(target)) == [".out.b.tmp", ".out.old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_dir_can_leave_the_old_folders_removal_for_later(tmp_path: Path) -> None:
    """The editors' loop removes the old site once it has said the new one is in place: until then the old one
    lies under a staging folder's name, which a crashed loop's next build removes (recover)."""
    target, new = tmp_path / "out", tmp_path / ".out.a.tmp"
    target.mkdir()
    (target / "v").write_text("1")
    new.mkdir()
    (new / "v").write_text("2")
    later: list = []
    assert replace_dir(new, target, later) == "exchanged" and (target / "v").read_text() == "2"
    assert (new / "v").read_text() == "1" and len(later) == 1, "the old site, not removed yet"
    later[0]()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    new.mkdir()
    (new / "v").write_text("3")
    later.clear()
    assert replace_dir(new, target, later) == "exchanged" and [p.name for p in recover(target)] == [".out.a.tmp"]
    later[0]()  # removing what is gone already does nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (target / "v").read_text() == "3"
