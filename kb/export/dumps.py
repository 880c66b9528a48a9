"""The graph dumps of a build (``data/kb.nt.gz``, ``kb.ttl.gz``, ``kb.jsonld.gz``), written in chunks
so that a rebuild compresses and serialises only what changed.

Compressing and serialising 2M triples three times was 45–90 s of every build, though one edited
claim changes a few lines. The sorted N-Triples are cut into chunks at subject boundaries chosen by
the subject alone (a chunk ends before a subject whose CRC-32 is a multiple of
:data:`CHUNK_SUBJECTS`), so an edit changes only the chunks of the subjects it touches. Each chunk is
one gzip member of each file (a gzip file may hold several members; every gzip reader joins them),
and the Turtle and JSON-LD of a chunk are pyoxigraph's serialisation of its triples, without the
prefix header (written once) and, for JSON-LD, without the array's brackets (written once, with a
comma member between chunks). So the decompressed files are byte for byte the whole graph's
serialisations (:func:`kb.export.rdf.graph_bytes`; tests compare them), and every member is a pure
function of its chunk's text: members are kept by the digest of that text, in memory
(``kb serve``'s loop) and in ``.kb-cache/dumps/`` (one pickle per format, holding the last build's
members), and reused instead of compressed again.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gzip
import hashlib
import itertools
import pickle
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.export.pieces import SHORT, Piece, as_bytes, key_of, run_key
from kb.export.rdf import GRAPH_FORMATS, sorted_lines_streamed
from kb.graph.build import KnowledgeGraph
from kb.graph.change import GraphChange, differing_lines, graph_mark
from kb.graph.memo import GraphParts, pin, read_entry
from kb.io import gz
from kb.io.atomic import replace_cache_file
from kb.io.writing import open_sliced
from kb.namespaces import PREFIXES

if TYPE_CHECKING:
    import pyoxigraph as ox

CHUNK_SUBJECTS = 1024  # subjects per chunk on average (~1.6 MB of N-Triples: 100 kB chunks made the dumps 15 % bigger)
FORMATS = ("nt", "ttl", "jsonld")
Members = dict[bytes, bytes]  # digest of a chunk's N-Triples → its gzip member in one format


def chunks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The sorted lines as chunks of N-Triples text, each ending at a boundary chosen by its next subject; only a
    chunk's lines are held (the lines may come as a stream, :func:`kb.export.rdf.sorted_lines_streamed`)."""
    held: list[bytes] = []
    subject = b""
    for line in lines:
        head = line[:line.find(b" ")]
        if head != subject:
            subject = head
            if held and zlib.crc32(head) % CHUNK_SUBJECTS == 0:
                yield b"\n".join(held) + b"\n"
                held = []
        held.append(line)
    if held:
        yield b"\n".join(held) + b"\n"


def _serialise(text: bytes, fmt: str, parsed: list[Any] | None = None) -> bytes:
    """The N-Triples ``text`` in ``fmt``; ``parsed``, where given, keeps its triples for the chunk's other format
    (parsed once for Turtle and JSON-LD: ~2 s of a cold build's worker at 2M triples)."""
    import pyoxigraph as ox

    if parsed is None:
        triples: Any = ox.parse(text, format=ox.RdfFormat.N_TRIPLES)
    else:
        if not parsed:
            parsed += ox.parse(text, format=ox.RdfFormat.N_TRIPLES)
        triples = parsed
    data = ox.serialize(triples, format=getattr(ox.RdfFormat, GRAPH_FORMATS[fmt]), prefixes=dict(PREFIXES))
    assert data is not None
    return data


@cache
def turtle_header() -> bytes:
    """The prefix lines pyoxigraph writes before any Turtle of the KB's prefixes."""
    probe = b'<urn:x:s> <urn:x:p> "o" .\n'
    data = _serialise(probe, "ttl")
    return data[:data.index(b"<urn:x:s>")]


def _member(text: bytes, fmt: str, parsed: list[Any] | None = None) -> bytes:
    return gz.compress(_body(text, fmt, parsed))


def _body(text: bytes, fmt: str, parsed: list[Any] | None = None) -> bytes:
    """The chunk in ``fmt`` without what the whole file says once (the prefixes; the array's brackets)."""
    if fmt == "nt":
        return text
    data = _serialise(text, fmt, parsed)
    if fmt == "ttl":
        header = turtle_header()
        assert data.startswith(header)
        return data[len(header):]
    assert data.startswith(b"[") and data.endswith(b"]")
    return data[1:-1]


class MemberCache:
    """The members of the last build, by chunk digest: this build reuses them and keeps its own for the next.

    ``formats`` names what the members are of: the three graph dumps, or the exports that
    :func:`compress_runs` writes (``fhir``, ``trig``), each a pickle of its own in ``folder``.
    """

    def __init__(self, folder: Path | None, memory: dict[str, Members] | None = None,
                 formats: tuple[str, ...] = FORMATS) -> None:
        self.folder, self.memory = folder, memory
        self._held = frozenset(fmt for fmt in formats if memory is not None and fmt in memory)  # old from memory
        self.old: dict[str, Members] = {fmt: self._load(fmt) for fmt in formats}
        self.new: dict[str, Members] = {fmt: {} for fmt in formats}
        self.reused = 0

    def member(self, fmt: str, key: bytes, make: Callable[[], bytes]) -> bytes:
        found = self.old[fmt].get(key)
        if found is None:
            found = make()
        else:
            self.reused += 1
        self.new[fmt][key] = found
        return found

    def save(self) -> None:
        """Keep this build's members (a cache: failing to write them only costs the next build time)."""
        if self.memory is not None:
            self.memory.update(self.new)
        if self.folder is None:
            return
        for fmt, members in self.new.items():
            _keep(self.folder / f"{fmt}.pickle", members)

    def parcel(self) -> dict[str, dict[bytes, bytes | None]]:
        """This build's members to send to the process whose :attr:`memory` this cache forked with, each it holds
        already (the same object) as None: sent whole, an edit's members were ~47 MB at 10k/50k (:meth:`Dumps.parcel`
        says why that is slow). :func:`unparcel` takes them in."""
        return {fmt: {key: None if fmt in self._held and self.old[fmt].get(key) is member else member
                      for key, member in members.items()}
                for fmt, members in self.new.items()}

    def _load(self, fmt: str) -> Members:
        if self.memory is not None and fmt in self.memory:
            return self.memory[fmt]
        if self.folder is None:
            return {}
        members = _kept(self.folder / f"{fmt}.pickle")
        return members if isinstance(members, dict) else {}


def unparcel(memory: dict[str, Members], parcel: dict[str, dict[bytes, bytes | None]]) -> None:
    """Keep another process's build's members (:meth:`MemberCache.parcel`) in ``memory``, as its own ``save`` would."""
    for fmt, members in parcel.items():
        held = memory.get(fmt, {})
        memory[fmt] = {key: held[key] if member is None else member for key, member in members.items()}


def _keep(path: Path, value: object) -> None:
    """``value`` pickled at ``path`` with the code that made it (a cache: failing to write only costs time)."""
    with contextlib.suppress(OSError, pickle.PicklingError):
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_cache_file(path, pickle.dumps((_code(), value), protocol=pickle.HIGHEST_PROTOCOL))


def _kept(path: Path) -> object:
    """What :func:`_keep` left at ``path`` if this code made it, else None."""
    with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError,
                             TypeError), path.open("rb") as fh:
        code, value = pickle.load(fh)  # our own cache, written by _keep
        if code == _code():
            return value
    return None


RUN_EVERY = 512  # pieces per run on average: ~1 MB of the FHIR Bundle's lines, ~4 MB of nanopublications (each member
# starts a fresh dictionary: runs of 256 made the files 1–2 % bigger)


@dataclass
class Seen:
    """What :func:`compress_runs` saw of an export in the last build of this process, by the pieces' identity: every
    piece in order and how they fell into runs. ``kb serve``'s loop hands the same piece objects (kept fragments) to
    every rebuild, so a run of the same objects in the same order is the same run, with the same key, known without
    reading its pieces: its first object is looked up, and the objects that follow compared with the run's (in C).
    Going piece by piece, ~300,000 pieces of three exports were ~0.5 s of every rebuild at 50,000 claims; joining and
    hashing them before, ~1.5 s. ``pieces`` holds every piece it saw: while it lives no other object can have their
    ids, so an id found here is the same object, hence the same bytes."""

    pieces: list[bytes | Piece] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # id() of each of pieces
    runs: list[tuple[int, int, bytes, bool]] = field(default_factory=list)  # start, end, key, ended at a boundary
    starts: dict[int, list[int]] = field(default_factory=dict)  # the id of a run's first long piece → its runs

    def match(self, ids: list[int], pos: int, lead: int, hint: int) -> tuple[int, int, bytes] | None:
        """The run of the last build that the pieces from ``pos`` repeat (its index, its length, its key), trying
        ``hint`` (the run after the last one matched) first; ``lead`` is the id of the first long piece from ``pos``.
        A run that ended with the last build's export, not at a boundary, is a run now only if it ends this one."""
        tried = [hint] if hint < len(self.runs) else []
        for r in itertools.chain(tried, self.starts.get(lead, ())):
            start, end, key, closed = self.runs[r]
            length = end - start
            if (closed or pos + length == len(ids)) and ids[pos:pos + length] == self.ids[start:end]:
                return r, length, key
        return None

    def add(self, start: int, end: int, key: bytes, closed: bool, lead: int) -> None:
        """The run of pieces ``start`` to ``end``; ``lead`` is the place of its first long piece (else ``start``)."""
        if start < end:  # an empty export's run is found by the hint alone
            self.starts.setdefault(self.ids[lead], []).append(len(self.runs))
        self.runs.append((start, end, key, closed))


def _size(piece: bytes | Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece.size


def _ends_run(piece: bytes | Piece) -> bool:
    """Whether a run ends after ``piece``: a long piece whose CRC-32 is a multiple of :data:`RUN_EVERY`."""
    if isinstance(piece, Piece):
        return piece.size >= SHORT and piece.crc % RUN_EVERY == 0
    return len(piece) >= SHORT and zlib.crc32(piece) % RUN_EVERY == 0


def _key(run: Sequence[bytes | Piece]) -> tuple[bytes, bytes | None]:
    """A run's key, and its bytes where they were joined to make it: a run holding a
    :class:`~kb.export.pieces.Piece` is keyed by what is known of its pieces (:func:`run_key`), others by their
    bytes."""
    if any(isinstance(piece, Piece) for piece in run):
        return run_key(run), None
    joined = b"".join(run)  # type: ignore[arg-type]  # plain pieces only
    return key_of(joined), joined


def _run_member(run: Sequence[bytes | Piece], joined: bytes | None) -> bytes:
    """A run's gzip member, from its bytes where :func:`_key` joined them already."""
    return gz.compress(joined if joined is not None else b"".join(map(as_bytes, run)))


def compress_runs(pieces: Iterable[bytes | Piece], members: MemberCache, fmt: str, seen: Seen | None = None) -> bytes:
    """The pieces joined and gzipped as one member per run of pieces, each member reused from the last
    build where its run's bytes are unchanged.

    A run ends after a piece (an entry's line, a nanopublication's block) whose CRC-32 is a multiple of
    :data:`RUN_EVERY`: boundaries chosen by the content, as the dumps' chunks are, so an edit changes
    the member of its own run and no other. Short pieces (separators, under 64 bytes) never end a run.
    Decompressed, the file is the pieces joined, byte for byte; compressed, it depends only on them.
    A run holding :class:`~kb.export.pieces.Piece` objects is keyed by their digests (:func:`run_key`), and their
    bytes are read only where its member is not kept. ``seen`` (kept by the caller between builds) knows the runs of
    the same piece objects as the last build's (:class:`Seen`); without it the pieces are compressed as they come,
    never all held.
    """
    if seen is not None:
        return _compress_seen(list(pieces), members, fmt, seen)
    out: list[bytes] = []
    run: list[bytes | Piece] = []

    def close() -> None:
        key, joined = _key(run)
        out.append(members.member(fmt, key, functools.partial(_run_member, run, joined)))
        run.clear()

    for piece in pieces:
        run.append(piece)
        if _ends_run(piece):
            close()
    if run or not out:
        close()
    return b"".join(out)


def _compress_seen(pieces: list[bytes | Piece], members: MemberCache, fmt: str, seen: Seen) -> bytes:
    """:func:`compress_runs` with what the last build saw (:class:`Seen`), which becomes what this one saw. The runs
    are the same as a walk piece by piece would cut: each starts where the last ended, and a run of the last build's
    pieces ends where it ended (at the same piece, or with the export)."""
    now = Seen(pieces, list(map(id, pieces)))
    out: list[bytes] = []
    pos, hint = 0, 0
    while pos < len(pieces) or not out:
        lead = next((i for i in range(pos, len(pieces)) if _size(pieces[i]) >= SHORT), pos)
        found = seen.match(now.ids, pos, now.ids[lead] if lead < len(pieces) else 0, hint)
        if found is not None:
            hint, length, key = found[0] + 1, found[1], found[2]
            end, joined = pos + length, None
            closed = end < len(pieces) or seen.runs[found[0]][3]
        else:
            end = next((i + 1 for i in range(pos, len(pieces)) if _ends_run(pieces[i])), len(pieces))
            closed = end < len(pieces) or (end > pos and _ends_run(pieces[end - 1]))
            key, joined = _key(pieces[pos:end])
        out.append(members.member(fmt, key, functools.partial(_run_member, pieces[pos:end], joined)))
        now.add(pos, end, key, closed, lead if lead < end else pos)
        pos = end
    seen.pieces, seen.ids, seen.runs, seen.starts = now.pieces, now.ids, now.runs, now.starts
    return b"".join(out)


@cache
def _code() -> str:
    """What a member depends on beside its chunk: this code, the serialiser, the prefixes, the compression."""
    import pyoxigraph as ox

    here = Path(__file__).parent
    digest = hashlib.sha256(f"pyoxigraph {ox.__version__} gzip {gz.ENGINE} {sorted(PREFIXES.items())}\n".encode())
    for name in ("dumps.py", "rdf.py"):
        digest.update((here / name).read_bytes())
    digest.update((here.parent / "io" / "gz.py").read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Dumps:
    """What :func:`write_graph_dumps` wrote: how the graph changed, and ``kb.ttl.gz`` as its gzip members."""

    change: GraphChange
    turtle: tuple[bytes, ...]  # the members of kb.ttl.gz, in order (for the SPARQL page's copy, browser_deflate)
    patched: bool = False  # made by patching the last build's chunks (Patch), not by sorting the whole graph
    sizes: tuple[int, ...] | None = None  # parcel(): the members' sizes, their bytes left in kb.ttl.gz

    def parcel(self) -> Dumps:
        """These dumps to send to another process: ``kb.ttl.gz``'s members by their sizes, read back from the file
        (:meth:`turtle_members`). Their bytes (~47 MB at 10k/50k) took 1–1.6 s through a pool's pipe to a process
        busy in Python (its reader thread waits for the GIL between reads), and the pipe's lock held every other
        worker's result back as long."""
        return replace(self, turtle=(), sizes=tuple(map(len, self.turtle)))

    def turtle_members(self, data: Path) -> tuple[bytes, ...]:
        """``kb.ttl.gz``'s members, in order; ``data`` is the folder it was written to."""
        if self.sizes is None:
            return self.turtle
        whole = memoryview((data / "kb.ttl.gz").read_bytes())
        if len(whole) != sum(self.sizes):
            raise ValueError(f"{data / 'kb.ttl.gz'} is not the file these dumps wrote")
        ends = list(itertools.accumulate(self.sizes))
        return tuple(bytes(whole[end - size:end]) for size, end in zip(self.sizes, ends, strict=True))


def write_graph_dumps(kg: KnowledgeGraph, data: Path, members: MemberCache, dumped: Path | None = None,
                      patch: Patch | None = None, triples: int | None = None, memo: Path | None = None) -> Dumps:
    """``kb.nt.gz``, ``kb.ttl.gz`` and ``kb.jsonld.gz`` in ``data``, from chunks (reused where unchanged);
    the graph's name, and how it changed since the last build's dumps where those are known. ``dumped`` is the
    store's unsorted dump where a thread took it already (:func:`kb.export.rdf.dump_unsorted`). With ``patch``
    (:func:`patch_plan`), the last build's chunks are patched where that can be done (``triples``: the store's
    size, which the patch must give), else the store is dumped and sorted whole. ``memo`` is the graph memo's
    folder, told which parts these dumps were made from (:func:`kb.graph.memo.pin`)."""
    patched = _patched(kg, members, patch, triples) if patch is not None else None
    if patched is not None:
        pieces, change, count = patched
        firsts, keys, turtle = _write(data, members, pieces)
    else:
        # the text of the chunks the last build did not have, to say what changed since; none kept where there were no
        # last dumps (a cold build: it was a second copy of the whole N-Triples, ~0.25 GB at 10k/50k, held by the
        # process that writes the dumps, a site worker, until the last chunk)
        fresh: list[bytes] | None = [] if members.old["nt"] else None
        count = 0

        def chunked(lines: Iterable[bytes]) -> Iterator[Chunk]:
            nonlocal count
            for text in chunks(lines):
                count += text.count(b"\n")  # each line ends in one, and holds none (N-Triples escapes it)
                yield _piece(text)

        with sorted_lines_streamed(kg, dumped) as lines:
            firsts, keys, turtle = _write(data, members, chunked(lines), fresh)
        change = _change(kg, fresh or [], keys, members.old["nt"])
    members.save()
    if members.folder is not None:
        _keep(members.folder / INDEX, DumpIndex(kg.parts, tuple(firsts), tuple(keys), count))
    if memo is not None:
        pin(memo, kg.parts.names if kg.parts is not None else ())
    return Dumps(change, tuple(turtle), patched is not None)


Chunk = tuple[bytes, bytes | None, bytes]  # a chunk's digest, its text (None: the last build's member) and first line


def _piece(text: bytes) -> Chunk:
    return key_of(text), text, text[:text.find(b"\n")]


def _write(data: Path, members: MemberCache, pieces: Iterable[Chunk],
           fresh: list[bytes] | None = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The three files from the chunks' ``pieces``; each chunk's first line and digest, and ``kb.ttl.gz``'s members.
    The text of chunks the last build did not have goes to ``fresh``."""
    firsts: list[bytes] = []
    keys: list[bytes] = []
    turtle: list[bytes] = []
    with open_sliced(data / "kb.nt.gz") as nt, open_sliced(data / "kb.ttl.gz") as ttl, \
            open_sliced(data / "kb.jsonld.gz") as jsonld:
        jsonld.write(gz.compress(b"["))
        comma = gz.compress(b",")
        for i, (key, text, first) in enumerate(pieces):
            if not i:
                turtle.append(gz.compress(turtle_header()))
                ttl.write(turtle[-1])
            keys.append(key)
            firsts.append(first)
            if fresh is not None and text is not None and key not in members.old["nt"]:
                fresh.append(text)
            parsed: list[Any] = []  # the chunk's triples, once one format needed them
            for fmt, out in (("nt", nt), ("ttl", ttl), ("jsonld", jsonld)):
                if fmt == "jsonld" and i:
                    out.write(comma)
                member = members.member(fmt, key, functools.partial(_member, text or b"", fmt, parsed))
                out.write(member)
                if fmt == "ttl":
                    turtle.append(member)
        jsonld.write(gz.compress(b"]"))
    return firsts, keys, turtle


def _change(kg: KnowledgeGraph, fresh: list[bytes], keys: list[bytes], old: Members) -> GraphChange:
    """How the graph changed since the build whose chunks were ``old``: the lines of the chunks gone against
    those of the chunks new (``fresh``), where that names the store's content."""
    after = graph_mark(keys)
    if kg.outside_default_graph():  # the dumps do not name the store's content
        return GraphChange(None, "")
    if not old:
        return GraphChange(None, after)
    gone = {line for key in old.keys() - set(keys) for line in gzip.decompress(old[key]).splitlines()}
    came = {line for text in fresh for line in text.splitlines()}
    removed, added = tuple(sorted(gone - came)), tuple(sorted(came - gone))
    if any(b"_:" in line for line in (*removed, *added)):  # blank nodes: a copy could not be matched line by line
        return GraphChange(None, after)
    return GraphChange(graph_mark(old), after, removed, added)


# --- patching the last build's chunks -----------------------------------------------------------------------------

INDEX = "index.pickle"


@dataclass(frozen=True)
class DumpIndex:
    """The last dumps' chunks in order (each one's first line and digest), their lines, and the parts of the graph
    they were made from (:class:`kb.graph.memo.GraphParts`; None where unknown)."""

    parts: GraphParts | None
    firsts: tuple[bytes, ...]
    keys: tuple[bytes, ...]
    lines: int


@dataclass(frozen=True)
class Patch:
    """This build's graph is the last dumps' with the parts ``gone`` and ``came`` swapped (and the text after the
    claims, and the release history, as they are in each): the triples that changed are among those parts'."""

    index: DumpIndex
    memo: Path  # the graph memo's folder, which keeps every part's text (kb.graph.memo)
    gone: tuple[str, ...]
    came: tuple[str, ...]
    tail: tuple[bytes, bytes]  # (the last graph's, this one's): the text after the claims, with the release history


PATCH_SHARE = 4  # a patch is tried while at most 1 part in 4 changed: more, and sorting the whole graph is as quick


def patch_plan(folder: Path, memo: Path, parts: GraphParts | None) -> Patch | None:
    """How this build's dumps can be the last build's patched (``folder``: where the dumps keep their chunks;
    ``memo``: the graph memo's folder), or None: the parts of either graph are unknown, the ontology or the code
    changed (:attr:`GraphParts.fixed`), or too many parts did (the text before the claims, the references…, is one
    part; the vocabularies' triples are compared with the text after the claims). Cheap: what it costs is left to the
    dumps, which may still find the patch cannot be made (:func:`_patched`) and sort the whole graph."""
    if parts is None or not parts.names:
        return None
    index = _kept(folder / INDEX)
    old = index.parts if isinstance(index, DumpIndex) else None
    if not isinstance(index, DumpIndex) or old is None or not old.names or not old.fixed or old.fixed != parts.fixed:
        return None  # the vocabularies, the ontology or the code changed: their triples are in no part
    gone, came = set(old.names) - set(parts.names), set(parts.names) - set(old.names)
    if (len(gone) + len(came)) * PATCH_SHARE > len(parts.names):
        return None
    return Patch(index, memo, tuple(sorted(gone)), tuple(sorted(came)),
                 (old.tail + old.prov + old.vocab, parts.tail + parts.prov + parts.vocab))


def _patched(kg: KnowledgeGraph, members: MemberCache, patch: Patch, triples: int | None
             ) -> tuple[list[Chunk], GraphChange, int] | None:
    """The chunks of this build's dumps as the last build's patched (a chunk's digest, or its new text), how the
    graph changed, and its lines; None where the patch cannot be made (then the graph is sorted whole).

    The triples that changed are among the lines of the parts that differ (:class:`Patch`): a line only the old
    parts hold is gone unless the store still holds it (another part has it too), and a line only the new parts
    hold came unless the last graph's chunk already held it. Those chunks alone are read back and sorted again, and
    cut again where a subject that begins a chunk came or went, as :func:`chunks` cuts the whole graph. A result
    that does not add up (a removed line the last graph lacked, a line count that is not the store's) is not
    trusted: the graph is sorted whole."""
    old = patch.index
    if kg.outside_default_graph() or not old.keys or any(
            key not in members.old[fmt] for fmt in FORMATS for key in old.keys):
        return None
    texts = {}
    for name in (*patch.gone, *patch.came):
        entry = read_entry(patch.memo, name)
        if entry is None:
            return None
        texts[name] = entry.text
    only_before, only_after = differing_lines(b"".join([*(texts[n] for n in patch.gone), patch.tail[0]]),
                                              b"".join([*(texts[n] for n in patch.came), patch.tail[1]]))
    before, after = _canonical([only_before]), _canonical([only_after])  # as the store's dump writes them
    maybe_removed, maybe_added = sorted(before - after), sorted(after - before)
    if any(b"_:" in line for line in (*maybe_removed, *maybe_added)):
        return None  # blank nodes: lines do not name triples across graphs
    store = kg.store
    removed = [line for line, quad in zip(maybe_removed, _quads(maybe_removed), strict=True) if quad not in store]
    by_chunk: dict[int, tuple[list[bytes], list[bytes]]] = {}
    for which, lines in ((0, removed), (1, maybe_added)):
        for line in lines:
            i = max(0, bisect.bisect_right(old.firsts, line) - 1)
            by_chunk.setdefault(i, ([], []))[which].append(line)
    olds = {i: gzip.decompress(members.old["nt"][old.keys[i]]).split(b"\n")[:-1] for i in by_chunk}
    added: list[bytes] = []
    patched: dict[int, list[bytes]] = {}
    for i, (gone, came) in by_chunk.items():
        held = set(olds[i])
        if not held.issuperset(gone):
            return None  # a line the old parts held that the last graph did not: the parts do not name the graph
        new = [line for line in came if line not in held]
        added += new
        patched[i] = sorted(held.difference(gone).union(new))
    count = old.lines - len(removed) + len(added)
    if count != (triples if triples is not None else len(store)):
        return None
    # Each chunk begins at a subject that begins chunks (or the graph's first line): a chunk that lost that
    # subject's lines belongs to the chunk before it, and is cut again with it.
    segments: list[tuple[int, list[bytes] | None]] = []  # (old chunk, None: as it was | its lines now)
    for i in range(len(old.keys)):
        if i not in patched:
            segments.append((i, None))
            continue
        lines = patched[i]
        if not lines:
            continue
        if segments and zlib.crc32(_subject(lines[0])) % CHUNK_SUBJECTS:
            j, before_lines = segments.pop()
            lines = (before_lines if before_lines is not None
                     else gzip.decompress(members.old["nt"][old.keys[j]]).split(b"\n")[:-1]) + lines
        segments.append((i, lines))
    pieces: list[Chunk] = []
    for i, lines_now in segments:
        if lines_now is None:
            pieces.append((old.keys[i], None, old.firsts[i]))
        else:
            pieces += map(_piece, chunks(lines_now))
    change = GraphChange(graph_mark(old.keys), graph_mark(key for key, _, _ in pieces), tuple(sorted(removed)),
                         tuple(sorted(added)))
    return pieces, change, count


def _subject(line: bytes) -> bytes:
    return line[:line.find(b" ")]


def _canonical(texts: list[bytes]) -> set[bytes]:
    """The lines of N-Triples ``texts`` as the store's dump writes them (pyoxigraph's serialiser)."""
    import pyoxigraph as ox

    text = b"".join(texts)
    if not text:
        return set()
    data = ox.serialize(ox.parse(text, format=ox.RdfFormat.N_TRIPLES, lenient=True), format=ox.RdfFormat.N_TRIPLES)
    return set((data or b"").split(b"\n")) - {b""}


def _quads(lines: list[bytes]) -> list[object]:
    import pyoxigraph as ox

    if not lines:
        return []
    return list(ox.parse(b"\n".join(lines) + b"\n", format=ox.RdfFormat.N_TRIPLES, lenient=True))


FINAL_BLOCK = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block: ends a raw deflate stream


def browser_deflate(members: Sequence[bytes], cache: MemberCache) -> bytes:
    """The text of gzip ``members`` (``kb.ttl.gz``'s) as one raw deflate stream, at level 9, for the SPARQL
    page's copy of the graph.

    A browser's ``DecompressionStream("gzip")`` reads the first member of a gzip file only, so the page's copy
    was the whole Turtle compressed again in every build (~3 s at 2M triples). Here each member's text is
    compressed on its own and ended with a sync flush (which ends on a byte boundary, every block not last),
    so the pieces join into one stream ``DecompressionStream("deflate-raw")`` reads whole, and each piece is
    reused by its member's digest (``cache``, format ``deflate``) while the member is unchanged.
    """
    out = []
    for member in members:
        key = key_of(member)
        out.append(cache.member("deflate", key, functools.partial(_raw_piece, member)))
    out.append(FINAL_BLOCK)
    return b"".join(out)


def _raw_piece(member: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(gzip.decompress(member)) + packer.flush(zlib.Z_SYNC_FLUSH)


def gzip_members(data: bytes) -> list[bytes]:
    """A gzip file's members, each as its bytes (for :func:`browser_deflate` where they were not kept)."""
    return [member for member, _ in _members(data)]


def _members(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each member of a gzip file, as its bytes and its text. Fed to the decompressor a window at a time: what a
    decompressor leaves over is a copy, and copying the rest of the file after every member would be quadratic."""
    view, pos = memoryview(data), 0
    while pos < len(data):
        start, unpack, text = pos, zlib.decompressobj(31), []
        while not unpack.eof:
            window = view[pos:pos + 65536]
            if not window:
                raise ValueError("a gzip file that ends inside a member")
            text.append(unpack.decompress(window))
            pos += len(window)
        pos -= len(unpack.unused_data)
        yield bytes(view[start:pos]), b"".join(text)


def load_dump(path: Path) -> tuple[ox.Store, str]:
    """The graph of a dump written here (``data/kb.nt.gz``) held in memory, and its name (:func:`graph_mark` of its
    chunks, one gzip member each), by which ``kb serve --no-build`` knows it for the graph of the cached store.

    Why from the dump: loaded in its order, the triples of subjects that sort together (a claim, its findings) lie
    together in memory. A copy of the cached store comes in RocksDB's order, by hash: at 10k/50k the example
    queries ran 17–40 % slower on it, and reading it took ~30 s against ~5 s here. Raises ``OSError``,
    ``ValueError`` or ``SyntaxError`` on a file that is not such a dump."""
    import pyoxigraph as ox

    store, keys = ox.Store(), []
    try:
        data = path.read_bytes()
        for _, text in _members(data):
            keys.append(key_of(text))
            store.load(text, format=ox.RdfFormat.N_TRIPLES, lenient=True)  # its name says whether it is ours
    except zlib.error as exc:
        raise ValueError(f"{path}: not a gzip file ({exc})") from None
    return store, graph_mark(keys)
