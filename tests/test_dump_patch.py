"""The graph dumps patched from the last build's (kb.export.dumps.Patch): the same bytes as sorting the whole graph.

After an edit of a few claim files, the dumps read back only the chunks that the changed parts' triples fall in
(:mod:`kb.graph.memo` keeps each part's text), instead of dumping and sorting 2M triples. Every patched dump here is
compared with the dumps of the same graph sorted whole, and its change with the one the whole graphs give.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from kb.config import load_config
from kb.export.data_folder import dumps_patch
from kb.export.dumps import FORMATS, MemberCache, write_graph_dumps
from kb.pipeline import check
from tests.test_incremental import CORPUS, _edits, _one_file_per_claim, _replace

DUMPS = tuple(f"kb.{fmt}.gz" for fmt in FORMATS)


def _graph(evidence: Path, cache: Path):
    checked = check(load_config(evidence).with_overrides(cache_dir=cache), history=True, shacl=False)
    assert checked.graph is not None and not checked.report.errors, checked.report.problems[:3]
    return checked.evidence, checked.graph


def _lines(folder: Path) -> set[bytes]:
    return set(gzip.decompress((folder / "kb.nt.gz").read_bytes()).splitlines())


def _dump(evidence, graph, out: Path, cache: Path, patch=None):
    out.mkdir(parents=True)
    return write_graph_dumps(graph, out, MemberCache(cache / "dumps"), patch=patch, memo=cache / "graph")


def _patches_equal_sorts(evidence_dir: Path, tmp_path: Path, edits) -> list[str]:
    """Dump, then edit and dump again, patched, once per edit; each compared with the same graph sorted whole. The
    edits whose dumps were patched."""
    cache = tmp_path / "cache"
    evidence, graph = _graph(evidence_dir, cache)
    last = tmp_path / "first"
    assert not _dump(evidence, graph, last, cache).patched  # no last dumps to patch
    patched = []
    for name, edit in edits:
        edit()
        evidence, graph = _graph(evidence_dir, cache)
        patch = dumps_patch(evidence, graph)
        out = tmp_path / f"patched-{name}"
        dumps = _dump(evidence, graph, out, cache, patch)
        whole = tmp_path / f"whole-{name}"
        whole.mkdir()
        sorted_whole = write_graph_dumps(graph, whole, MemberCache(None))
        for file in DUMPS:
            assert (out / file).read_bytes() == (whole / file).read_bytes(), (name, file)
        before, after = _lines(last), _lines(whole)
        assert dumps.change.removed == tuple(sorted(before - after)), name
        assert dumps.change.added == tuple(sorted(after - before)), name
        assert dumps.change.after == sorted_whole.change.after
        if dumps.patched:
            patched.append(name)
        last = out
    return patched


@pytest.mark.parametrize("chunk_subjects", [1024, 2])
def test_a_patched_dump_is_the_whole_graphs_sorted_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        chunk_subjects: int) -> None:
    """Each kind of edit of the claims, of references.bib and of the vocabularies is patched (the text before the
    claims, the references…, is one more part; the vocabularies' lines are compared with the text after the claims).
    With a chunk every other subject, edits also remove and add subjects that begin chunks."""
    import kb.export.dumps

    monkeypatch.setattr(kb.export.dumps, "CHUNK_SUBJECTS", chunk_subjects)
    evidence = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence)
    edits = [*_edits(evidence), ("vocabulary", lambda: _replace(evidence / "vocab" / "certainty.ttl", '"High"@en',
                                                                 '"High certainty"@en'))]
    patched = _patches_equal_sorts(evidence, tmp_path, edits)
    assert patched == [name for name, _ in edits]


def _dumped_then_edited(tmp_path: Path) -> tuple[Path, list[Path], Path]:
    """The corpus a claim a file, its graph dumped (cache under ``cache``), then one statement edited: the evidence
    folder, its claim files and the cache."""
    evidence_dir = tmp_path / "evidence"
    shutil.copytree(CORPUS, evidence_dir)
    files = _one_file_per_claim(evidence_dir)
    cache = tmp_path / "cache"
    evidence, graph = _graph(evidence_dir, cache)
    _dump(evidence, graph, tmp_path / "first", cache)
    _replace(files[3], "statement: >-\n      ", "statement: >-\n      (edited) ")
    return evidence_dir, files, cache


def test_a_patch_that_does_not_add_up_is_not_trusted(tmp_path: Path) -> None:
    """A store holding a triple no part names (here added after the build): the count does not add up, and the
    dumps sort the whole graph, which has it."""
    import pyoxigraph as ox

    evidence_dir, _files, cache = _dumped_then_edited(tmp_path)
    evidence, graph = _graph(evidence_dir, cache)
    graph.store.add(ox.Quad(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:p"), ox.Literal("stray")))
    patch = dumps_patch(evidence, graph)
    assert patch is not None
    dumps = _dump(evidence, graph, tmp_path / "second", cache, patch)
    assert not dumps.patched
    assert b'<urn:x:s> <urn:x:p> "stray" .' in _lines(tmp_path / "second")


def test_a_check_between_builds_keeps_the_parts_the_last_dumps_were_made_from(tmp_path: Path) -> None:
    """The graph memo prunes what no build uses, but keeps the parts the last dumps were made from (pinned), so a
    ``kb check`` after an edit leaves the next build's patch possible."""
    evidence_dir, files, cache = _dumped_then_edited(tmp_path)
    _graph(evidence_dir, cache)  # kb check: builds the graph, prunes the memo
    _replace(files[3], "(edited) ", "(edited twice) ")
    evidence, graph = _graph(evidence_dir, cache)
    dumps = _dump(evidence, graph, tmp_path / "second", cache, dumps_patch(evidence, graph))
    assert dumps.patched


def test_the_parts_name_a_store_only_where_every_part_was_kept(tmp_path: Path) -> None:
    """A claim file whose digest was not taken (read after the digests) is written but not kept: no parts, no
    patch."""
    from types import SimpleNamespace

    from kb.graph.memo import GraphMemo, GraphParts

    evidence = SimpleNamespace(references_by_key={}, links_by_file={},
                               vocabulary=SimpleNamespace(concepts={}, quads=[]))
    memo = GraphMemo(tmp_path, "code", {"a.yaml": "1", "b.yaml": "2"}, evidence, "others")  # type: ignore[arg-type]
    names = (memo.head_key(), memo.key("a.yaml", []), memo.key("b.yaml", []))
    assert memo.parts(b"tail") == GraphParts(names, b"tail", fixed=memo.fixed)  # type: ignore[arg-type]
    memo = GraphMemo(tmp_path, "code", {"a.yaml": "1"}, evidence, "others")  # type: ignore[arg-type]
    memo.head_key(), memo.key("a.yaml", []), memo.key("b.yaml", [])
    assert memo.parts(b"tail") is None
    memo = GraphMemo(tmp_path, "code", {"a.yaml": "1"}, evidence, "")  # type: ignore[arg-type]
    memo.head_key(), memo.key("a.yaml", [])
    assert memo.parts(b"tail") is None  # the text before the claims was not kept either


def test_the_dumps_sorted_by_gnu_sort_are_those_sorted_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph dumps' lines are sorted by GNU ``sort`` as a stream (the lines held were ~0.5 GB at 10k/50k): the
    same bytes as sorted in Python (where no GNU sort is installed), in chunks of a stream as of a list; a sort that
    fails is an error, and the unsorted dump is removed either way."""
    from kb.export import rdf
    from kb.export.dumps import chunks

    assert rdf._gnu_sort() is not None, "GNU coreutils' sort is on every machine this project installs on"
    _evidence, graph = _graph(CORPUS, tmp_path / "cache")
    streamed = write_graph_dumps(graph, _made(tmp_path / "streamed"), MemberCache(None))
    monkeypatch.setattr(rdf, "_gnu_sort", lambda: None)
    here = write_graph_dumps(graph, _made(tmp_path / "here"), MemberCache(None))
    for file in DUMPS:
        assert (tmp_path / "streamed" / file).read_bytes() == (tmp_path / "here" / file).read_bytes(), file
    assert streamed.change == here.change
    lines = rdf._sorted_lines(graph)
    assert list(chunks(iter(lines))) == list(chunks(lines)) and b"".join(chunks(lines)) == b"\n".join(lines) + b"\n"

    monkeypatch.setattr(rdf, "_gnu_sort", lambda: "/bin/false")  # a sort that fails
    dumped = rdf.dump_unsorted(graph)
    with pytest.raises(OSError, match="sort failed"), rdf.sorted_lines_streamed(graph, dumped) as stream:
        list(stream)
    assert not dumped.exists()


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


# --- kb.graph.change.differing_lines: the lines two texts do not share, against sets of every line ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kb.graph import change  # noqa: E402


def _every_line(before: bytes, after: bytes) -> tuple[bytes, bytes]:
    """The definition: every line of each text made a set."""
    old, new = set(before.split(b"\n")) - {b""}, set(after.split(b"\n")) - {b""}
    return (b"".join(line + b"\n" for line in sorted(old - new)),
            b"".join(line + b"\n" for line in sorted(new - old)))


_LINES = st.lists(st.sampled_from([b"a", b"b", b"ab", b"ba", b"c", b"", b"<s> <p> \"o\" ."]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(lines=_LINES, edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 12), st.sampled_from(
    [b"a", b"b", b"d", b"ab", b""])), max_size=4), ends=st.tuples(st.booleans(), st.booleans()),
    few=st.sampled_from([0, 32]))
def test_the_lines_two_texts_do_not_share_are_those_of_sets_of_every_line(lines, edits, ends, few):
    """Texts that begin or end alike, lines held twice, a last line without its newline, and both ways of looking
    for a line among the shared ones (one by one, or their set): the same answer as sets of every line."""
    other = list(lines)
    for kind, at, line in edits:
        at = min(at, len(other))
        if kind == 0 and other:
            other.pop(min(at, len(other) - 1))
        elif kind == 1:
            other.insert(at, line)
        elif other:
            other[min(at, len(other) - 1)] = line
    before = b"\n".join(lines) + (b"\n" if ends[0] else b"")
    after = b"\n".join(other) + (b"\n" if ends[1] else b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(change, "_FEW", few)
        assert change.differing_lines(before, after) == _every_line(before, after)


def test_an_edited_line_among_many_is_found_without_setting_every_line():
    """An edited reference's case: one line changed among many, the others in the same order; a line held twice,
    once in the shared text, is not reported."""
    lines = [b"<w%d> <p> \"t%d\" ." % (i, i) for i in range(5000)]
    edited = list(lines)
    edited[2500] = b"<w2500> <p> \"edited\" ."
    edited[2600] = lines[10]  # now held twice: once where it was, once here
    before, after = b"\n".join(lines) + b"\n", b"\n".join(edited) + b"\n"
    gone, came = change.differing_lines(before, after)
    assert (gone, came) == _every_line(before, after)
    assert gone == lines[2500] + b"\n" + lines[2600] + b"\n" and came == edited[2500] + b"\n"
