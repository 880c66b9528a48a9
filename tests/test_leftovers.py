"""What a killed build leaves (kb.io.leftovers): its temporary dump, its claims' triples and its half-written store
are named for its process, and a later build removes them once that process is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kb.config import load_config
from kb.export.nanopub import CLAIMS_KIND
from kb.export.rdf import DUMP_KIND
from kb.io.leftovers import STALE_AFTER, own_prefix, remove_orphans
from kb.pipeline import build
from kb.query.store import STAGING_KIND


def _gone_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def _make(path: Path, folder: bool = False, age: float = 2 * STALE_AFTER) -> Path:
    if folder:
        (path / "db").mkdir(parents=True)
        (path / "db" / "000001.sst").write_bytes(b"x")
    else:
        path.write_bytes(b"<a> <b> <c> .\n")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_only_old_leftovers_of_ended_processes_are_removed(tmp_path: Path) -> None:
    gone = _gone_pid()
    orphan = _make(tmp_path / f"{DUMP_KIND}{gone}-abc.nt")
    orphan_folder = _make(tmp_path / f"{STAGING_KIND}{gone}-abc", folder=True)
    young = _make(tmp_path / f"{DUMP_KIND}{gone}-young.nt", age=60)  # its process may live in another PID namespace
    mine = _make(tmp_path / f"{own_prefix(DUMP_KIND)}abc.nt")  # this process is alive
    other_kind = _make(tmp_path / f"{CLAIMS_KIND}{gone}-abc.tsv")
    unnamed = _make(tmp_path / f"{DUMP_KIND}abc.nt")  # not named for a process (an older kb's): left
    assert sorted(remove_orphans(tmp_path, DUMP_KIND)) == [orphan]
    assert remove_orphans(tmp_path, STAGING_KIND) == [orphan_folder]
    assert not orphan.exists() and not orphan_folder.exists()
    assert young.exists() and mine.exists() and other_kind.exists() and unnamed.exists()
    assert remove_orphans(tmp_path / "missing", DUMP_KIND) == []


def test_a_build_removes_what_a_killed_build_left(evidence_copy: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A build killed outright (the OOM killer, ``kill -9``) cannot remove its ~0.3 GB dump and half-written store
    (at 10k/50k); the next build does, and its own temporary files are named for it and gone when it ends."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    config.store_cache_dir.mkdir(parents=True, exist_ok=True)
    gone = _gone_pid()
    left = [_make(temporary / f"{DUMP_KIND}{gone}-abc.nt"), _make(temporary / f"{CLAIMS_KIND}{gone}-abc.tsv"),
            _make(config.store_cache_dir / f"{STAGING_KIND}{gone}-abc", folder=True)]
    build(config, jobs=1, keep_store=False)
    assert not any(path.exists() for path in left)
    assert list(temporary.iterdir()) == []
    assert not list(config.store_cache_dir.glob(f"{STAGING_KIND}*"))
