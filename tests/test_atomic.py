"""Atomic, single-writer updates (BAD_INPUTS #37): old bytes survive any failure, no temp left."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kb.io.atomic import (
    ABSENT,
    ChangedOnDiskError,
    LockTimeoutError,
    atomic_write_bytes,
    file_digest,
    lock_path,
    locked,
)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_replaces_and_keeps_backup(tmp_path: Path) -> None:
    target = tmp_path / "references.bib"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new", expected_digest=file_digest(target))
    assert target.read_bytes() == b"new"
    assert (tmp_path / "references.bib.bak").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_creates_missing_file_when_expected_absent(tmp_path: Path) -> None:
    target = tmp_path / "new.bib"
    atomic_write_bytes(target, b"x", expected_digest=ABSENT)
    assert target.read_bytes() == b"x"
    assert not (tmp_path / "new.bib.bak").exists()


def test_changed_on_disk_aborts(tmp_path: Path) -> None:
    target = tmp_path / "references.bib"
    target.write_bytes(b"old")
    digest = file_digest(target)
    target.write_bytes(b"someone else's edit")
    with pytest.raises(ChangedOnDiskError, match="changed on disk"):
        atomic_write_bytes(target, b"mine", expected_digest=digest)
    assert target.read_bytes() == b"someone else's edit"
    assert leftovers(tmp_path) == []


def test_file_appearing_counts_as_change(tmp_path: Path) -> None:
    target = tmp_path / "references.bib"
    target.write_bytes(b"appeared")
    with pytest.raises(ChangedOnDiskError):
        atomic_write_bytes(target, b"mine", expected_digest=ABSENT)


def test_failing_replace_leaves_original_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "references.bib"
    target.write_bytes(b"original bytes\r\n")

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"half", expected_digest=file_digest(target))
    assert target.read_bytes() == b"original bytes\r\n"
    assert leftovers(tmp_path) == []


def test_mode_is_preserved(tmp_path: Path) -> None:
    target = tmp_path / "references.bib"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new")
    assert target.stat().st_mode & 0o777 == 0o640


def test_lock_times_out_while_held_elsewhere(tmp_path: Path) -> None:
    target = tmp_path / "references.bib"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from kb.io.atomic import locked
                with locked({str(target)!r}):
                    print("held", flush=True)
                    time.sleep(5)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeoutError, match="locked by another writer"), locked(target, timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locked(target, timeout=1):  # released when the holder died
        assert lock_path(target).exists()


def test_a_streamed_file_is_published_under_its_name_never_over_another(tmp_path):
    """kb release writes its dump as a stream into a temp file beside it, then gives it its name: a file that took
    the name meanwhile is kept as it is (FileExistsError), and the temp is the caller's to remove."""
    from kb.io.atomic import new_file_mode, new_temp, publish_new, temp_name_pattern

    target = tmp_path / "kb.nt.gz"
    temp = new_temp(target)
    assert temp.parent == tmp_path and temp.match(temp_name_pattern(target)) and temp.read_bytes() == b""
    temp.write_bytes(b"dump")
    publish_new(temp, target)
    assert target.read_bytes() == b"dump" and target.stat().st_mode & 0o7777 == new_file_mode()  # not mkstemp's
    other = new_temp(target)
    other.write_bytes(b"another")
    with pytest.raises(FileExistsError):
        publish_new(other, target)
    assert target.read_bytes() == b"dump"


def test_large_writes_reach_the_system_in_slices(tmp_path):
    """One write() of 2 MiB or more was ~30× slower than 1 MiB ones on the project's VMs (kb.io.writing): every
    large file the build writes goes through a sliced writer, whose bytes are those it was given."""
    import io

    from kb.io.atomic import atomic_write_bytes, new_file_mode, replace_cache_file
    from kb.io.writing import SLICE, SlicedWriter, open_sliced, write_file

    sizes: list[int] = []

    class Counted(io.FileIO):
        def write(self, data):  # type: ignore[override]
            sizes.append(len(data))
            return super().write(data)

    data = os.urandom(3 * SLICE + 5)
    with SlicedWriter(Counted(tmp_path / "counted", "w")) as fh:
        assert fh.write(b"head") == 4 and fh.write(memoryview(data)) == len(data)
    assert (tmp_path / "counted").read_bytes() == b"head" + data
    assert max(sizes) <= SLICE and len(sizes) >= 4
    write_file(tmp_path / "whole", data)
    atomic_write_bytes(tmp_path / "atomic", data)
    replace_cache_file(tmp_path / "cache", data)
    with open_sliced(tmp_path / "streamed") as fh:
        fh.write(data[:10])
        fh.write(data[10:])
    for name in ("whole", "atomic", "cache", "streamed"):
        assert (tmp_path / name).read_bytes() == data
    assert (tmp_path / "whole").stat().st_mode & 0o7777 == new_file_mode()
