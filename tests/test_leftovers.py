"""What a killed build leaves (kb.io.leftovers): its temporary dump, its claims' triples, its half-written store and
its caches' half-written files are named for its process, and a later build removes them once that process is gone."""

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
from kb.io.atomic import new_temp
from kb.io.leftovers import STALE_AFTER, own_prefix, remove_orphan_temps, remove_orphans
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


def test_only_old_cache_temps_of_ended_or_unnamed_writers_are_removed_in_every_folder(tmp_path: Path) -> None:
    """A cache file is written to a temp file and renamed (kb.io.atomic): a writer killed in between leaves the temp
    file, as large as the entry (up to 86 MB at 10k/50k, the graph's memo)."""
    gone = _gone_pid()
    nested = tmp_path / "fhir" / "deep"
    nested.mkdir(parents=True)
    orphans = [_make(tmp_path / f".citations.pickle.{gone}-abcd_123.tmp"),
               _make(nested / f".3f2a.pickle.{gone}-zz9y8x7w.tmp"),
               _make(tmp_path / ".old.pickle.k2j4h6g8.tmp")]  # an older kb's name, for no process: old is enough
    mine = new_temp(tmp_path / "fhir" / "live.pickle")  # this process's, being written
    assert f".live.pickle.{os.getpid()}-" in mine.name
    _make(mine)
    kept = [mine, _make(tmp_path / f".young.pickle.{gone}-abcdefgh.tmp", age=60),
            _make(tmp_path / "citations.pickle"), _make(tmp_path / ".notes.tmp"),
            _make(tmp_path / f"{gone}-abcdefgh.tmp")]  # not a hidden temp of kb.io.atomic's
    elsewhere = tmp_path.parent / f"{tmp_path.name}-other"
    elsewhere.mkdir()
    outside = _make(elsewhere / f".x.pickle.{gone}-abcdefgh.tmp")
    (tmp_path / "link").symlink_to(elsewhere, target_is_directory=True)  # not followed
    assert remove_orphan_temps(tmp_path) == sorted(orphans)
    assert not any(path.exists() for path in orphans) and all(path.exists() for path in [*kept, outside])
    assert remove_orphan_temps(tmp_path / "missing") == []


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
    (config.store_cache_dir / "fhir").mkdir()
    left.append(_make(config.store_cache_dir / "fhir" / f".a1b2.pickle.{gone}-abcdefgh.tmp"))
    build(config, jobs=1, keep_store=False)
    assert not any(path.exists() for path in left)
    assert list(temporary.iterdir()) == []
    assert not list(config.store_cache_dir.glob(f"{STAGING_KIND}*"))
    assert not list(config.store_cache_dir.rglob("*.tmp"))
