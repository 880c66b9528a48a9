"""The stat index: unchanged files are not read again, and no edit ever goes unseen."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

import kb.io.fingerprint as fingerprint
from kb.io.fingerprint import digests


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def aged(monkeypatch):
    """Hash 'later': files written by the test are past the racy window, so their stat is remembered."""
    monkeypatch.setattr(fingerprint, "_clock", lambda: time.time_ns() + 10 * fingerprint.RACY_WINDOW_NS)


@pytest.fixture
def reads(monkeypatch):
    """Count the files actually read and hashed."""
    seen: list[str] = []
    real = fingerprint.hashlib.file_digest

    def counting(fh, name):
        seen.append(fh.name)
        return real(fh, name)

    monkeypatch.setattr(fingerprint.hashlib, "file_digest", counting)
    return seen


def test_hashes_once_then_trusts_the_stat(tmp_path, aged, reads):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"alpha")
    b.write_bytes(b"beta")
    index = tmp_path / "cache" / "index.json"
    assert digests([a, b], index) == {a: sha(b"alpha"), b: sha(b"beta")}
    assert len(reads) == 2 and index.is_file()
    assert digests([a, b], index) == {a: sha(b"alpha"), b: sha(b"beta")}
    assert len(reads) == 2, "unchanged files are not read again"


def test_edit_keeping_size_and_mtime_is_seen(tmp_path, aged, reads):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    index = tmp_path / "index.json"
    digests([a], index)
    before = os.stat(a)
    a.write_bytes(b"ALPHA")  # same size …
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))  # … and the mtime put back
    assert os.stat(a).st_size == before.st_size and os.stat(a).st_mtime_ns == before.st_mtime_ns
    assert digests([a], index) == {a: sha(b"ALPHA")}, "ctime still changed: the file is read again"
    assert len(reads) == 2


def test_replaced_file_is_seen(tmp_path, aged):
    a, other = tmp_path / "a.txt", tmp_path / "other.txt"
    a.write_bytes(b"alpha")
    index = tmp_path / "index.json"
    digests([a], index)
    other.write_bytes(b"gamma")
    os.replace(other, a)  # what editors and git checkout do
    assert digests([a], index) == {a: sha(b"gamma")}


def test_racily_clean_files_are_not_remembered(tmp_path, reads):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")  # written just now: a same-tick rewrite could keep its whole stat
    index = tmp_path / "index.json"
    assert digests([a], index) == {a: sha(b"alpha")}
    assert json.loads(index.read_text())["files"] == {}
    assert digests([a], index) == {a: sha(b"alpha")}
    assert len(reads) == 2, "a racily clean file is hashed every time until it has aged"


def test_future_mtime_is_racy(tmp_path, aged):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    future = time.time_ns() + 3600 * 10**9
    os.utime(a, ns=(future, future))
    index = tmp_path / "index.json"
    digests([a], index)
    assert json.loads(index.read_text())["files"] == {}


@pytest.mark.parametrize("content", [b"not json", b'{"format": "other", "files": {}}', b"[]",
                                     b'{"format": "kb-file-index 1", "files": []}'])
def test_corrupt_or_foreign_index_is_ignored(tmp_path, aged, content):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    index = tmp_path / "index.json"
    index.write_bytes(content)
    assert digests([a], index) == {a: sha(b"alpha")}
    assert json.loads(index.read_text())["format"] == fingerprint.INDEX_FORMAT, "rewritten"


def test_malformed_entry_is_ignored(tmp_path, aged):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    index = tmp_path / "index.json"
    st = os.stat(a)
    entries = {os.path.abspath(a): [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, 42]}
    index.write_text(json.dumps({"format": fingerprint.INDEX_FORMAT, "files": entries}))
    assert digests([a], index) == {a: sha(b"alpha")}


def test_lying_index_is_believed_only_for_its_exact_stat(tmp_path, aged):
    """The index is trusted for an identical stat (that is its point); any stat field differing reads the file."""
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    index = tmp_path / "index.json"
    st = os.stat(a)
    stat = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    for field in range(5):
        wrong = list(stat)
        wrong[field] += 1
        index.write_text(json.dumps({"format": fingerprint.INDEX_FORMAT,
                                     "files": {os.path.abspath(a): [*wrong, "0" * 64]}}))
        assert digests([a], index) == {a: sha(b"alpha")}, f"stat field {field}"


def test_unwritable_index_still_answers(tmp_path, aged):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    assert digests([a], blocker / "index.json") == {a: sha(b"alpha")}
    assert blocker.read_text().startswith("a file")


def test_failed_write_leaves_no_temporary_file(tmp_path, aged, monkeypatch):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    cache = tmp_path / "cache"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fingerprint.os, "replace", boom)
    assert digests([a], cache / "index.json") == {a: sha(b"alpha")}
    assert list(cache.iterdir()) == []


def test_no_index_path_remembers_nothing(tmp_path, aged, reads):
    a = tmp_path / "a.txt"
    a.write_bytes(b"alpha")
    digests([a], None)
    digests([a], None)
    assert len(reads) == 2 and list(tmp_path.iterdir()) == [a]


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        digests([tmp_path / "gone.txt"], tmp_path / "index.json")


def test_dropped_files_leave_the_index(tmp_path, aged):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"alpha")
    b.write_bytes(b"beta")
    index = tmp_path / "index.json"
    digests([a, b], index)
    digests([a], index)
    assert list(json.loads(index.read_text())["files"]) == [os.path.abspath(a)]
