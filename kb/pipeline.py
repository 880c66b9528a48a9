"""The orchestrator: load → graph → validate → analyse → render, read top to bottom.

Like mkdocs' ``build()``: gather everything, check it, and only then write. A build with errors
writes nothing; a successful one is written to a staging folder beside the output and swapped
in at the end in one atomic step (:mod:`kb.io.swap`), so a crash or Ctrl-C leaves the previous
site as it was and there is no instant at which the output folder is missing.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.config import Config
from kb.io.atomic import LockTimeoutError, locked_folder, new_dir_mode
from kb.io.procs import freeze, frozen, give_back_freed, no_gc, young_passes_only
from kb.io.reading import human_bytes, write_failure
from kb.io.swap import recover, replace_dir, staging_prefix
from kb.load.byrecord import ByRecord
from kb.load.evidence import Evidence, load_evidence
from kb.problems import Problem, Report, error

if TYPE_CHECKING:
    import pyoxigraph

    from kb.analyse.analysis import Analysis
    from kb.analyse.carry import KeptRows
    from kb.bibtex.load import EntryMemo
    from kb.checks.scope import Inputs
    from kb.diff.releases import History, KeptReleases
    from kb.diff.snapshot import Pickled, Snapshot, Subjects
    from kb.export.data_folder import ExportCaches
    from kb.export.dumps import Dumps
    from kb.export.void import Statistics
    from kb.graph.build import HeadStart, KnowledgeGraph, StorePatch
    from kb.graph.change import GraphChange
    from kb.graph.memo import GraphMemo, Written
    from kb.model import Release
    from kb.query.sparql import ExampleQuery
    from kb.query.store import Begun
    from kb.site import Rendered
    from kb.site.answers import Answer
    from kb.site.deps import KeyMemo
    from kb.site.pages import StyledCitation
    from kb.site.reuse import Previous

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """The default progress sink: pipes and tests stay silent."""


def terminal_progress() -> Progress:
    """Progress lines on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return quiet
    start = time.monotonic()

    def report(message: str) -> None:
        print(f"[{time.monotonic() - start:6.2f}s] {message}", file=sys.stderr, flush=True)

    return report


def _kept_rows() -> KeptRows:
    from kb.analyse.carry import KeptRows  # lazily: kb --help imports this module

    return KeptRows()


def _kept_releases() -> KeptReleases:
    from kb.diff.releases import KeptReleases  # lazily: kb --help imports this module

    return KeptReleases()


def _key_memo() -> KeyMemo:
    from kb.site.deps import KeyMemo  # lazily: kb --help imports this module

    return KeyMemo()


def _entry_memo() -> EntryMemo:
    from kb.bibtex.load import EntryMemo  # lazily: kb --help imports this module

    return EntryMemo()


def _export_caches() -> ExportCaches:
    from kb.export.data_folder import ExportCaches  # lazily: kb --help imports this module

    return ExportCaches()


@dataclass
class Warm:
    """What a long-running process (``kb serve``'s editors' loop, :mod:`kb.live`) keeps between builds.

    Only caches: a build with a warm state writes the same bytes as a cold one.
    """

    parsed: dict[str, tuple[str, object]] = field(default_factory=dict)  # file → (bytes key, its records)
    # what each entry of references.bib became when it was last read: an edited file evaluates only the entries that
    # changed (kb.bibtex.load.EntryMemo)
    entries: EntryMemo = field(default_factory=_entry_memo)
    # Persist the store for kb query? The loop's own endpoint answers kb query while it runs, and writing
    # 2M triples to RocksDB is 15 s of every rebuild; the loop persists only its first build.
    persist_store: bool = True
    exports: ExportCaches = field(default_factory=_export_caches)  # the exports' caches (kb.export.data_folder)
    # The last good build's graph: the next build brings its store to the new graph in place where it can
    # (kb.graph.build.build_graph's last), and a build that fails puts it back (undo), so it is always that graph's.
    graph: KnowledgeGraph | None = None
    pending: StorePatch | None = None  # what the build under way did to graph's store
    evidence: Evidence | None = None  # what graph was built from (prime)
    tallies: dict[str, Written] = field(default_factory=dict)  # the graph memo's entries without text (GraphMemo)
    # the lines each reference became in the graph's text before the claims, by the record's identity (GraphMemo)
    works: ByRecord[tuple[str, int]] = field(default_factory=ByRecord)
    # What the checks and the analysis made of each claim, and the works' citations, kept while the records are the
    # same objects and the evidence other than the claim files is unchanged (kb.load.byrecord, kb.analyse.carry; ~4 s
    # of a rebuild)
    context: str | None = None  # that evidence's digest (kb.checks.scope.Inputs.context); None: keep nothing
    records: str | None = None  # all that a claim's records read of it (kb.checks.scope.records_context)
    checked: ByRecord[list[Problem]] = field(default_factory=ByRecord)
    analysed: KeptRows = field(default_factory=_kept_rows)
    styled: tuple[str, tuple[object, ...], dict[str, tuple[StyledCitation, ...]]] | None = None
    links: tuple[str, tuple[object, ...], dict[str, Any]] | None = None  # the works' short links (ref_links)
    keys: KeyMemo = field(default_factory=_key_memo)  # the rows' groupings and their digests (kb.site.deps)
    # The release history's reading of the current graph, by record (kb.diff.snapshot.read_snapshot's reuse): each
    # claim's record and findings, each work's record; and each release's snapshot, by its dump's digest
    snapshot_claims: ByRecord[tuple[Any, dict[str, str]]] = field(default_factory=ByRecord)
    snapshot_works: ByRecord[Any] = field(default_factory=ByRecord)
    releases: dict[str, Snapshot] = field(default_factory=dict)
    # The records the last good graph's store holds (kb.diff.snapshot.Subjects), and those the build under way read
    subjects: Subjects | None = None
    subjects_read: Subjects | None = None
    released: KeptReleases = field(default_factory=_kept_releases)  # the history's releases' part
    later: list[Callable[[], object]] = field(default_factory=list)  # after the rebuild is told (tidy)

    def built(self, graph: KnowledgeGraph, evidence: Evidence | None = None) -> None:
        """A build succeeded with ``graph`` and ``evidence``: the next one starts from them."""
        self.graph, self.pending, self.evidence = graph, None, evidence
        self.subjects, self.subjects_read = self.subjects_read, None

    def prime(self, config: Config) -> None:
        """Read references.bib into :attr:`entries` where they hold none of it (its records came from the parse cache,
        or from a forked process): the next edit of it then evaluates only what changed. The memo hands out the last
        build's records where they are the same, and their graph lines are kept (:attr:`works`), so that what later
        stages keep by a work's record is kept from the first edit on. ~5 s at 10,000 works, run while the editor
        pauses or before serving."""
        from kb.bibtex.load import load_references
        from kb.graph.build import work_lines

        path = str(config.references_path)
        if not self.entries.holds(path):
            load_references(config.references_path, memo=self.entries)
            if self.evidence is not None:  # the last good build's works, where the same, and their graph lines
                self.entries.adopt(path, self.evidence.references)
                work_lines(self.evidence, self.works, _memo_code(config))

    def tidy(self) -> None:
        """What the last build left for later (:attr:`later`: the old site removed, the manifest recorded), done."""
        work, self.later = self.later, []
        for step in work:
            step()

    def begin(self, context: str | None, records: str | None = None, rows: str | None = None) -> None:
        """A build reads the evidence whose other files than the claim files have the digest ``context``: of it, the
        claims' checks read ``records`` (:func:`kb.checks.scope.records_context`), their rows ``rows``
        (:func:`kb.checks.scope.own_context`: not the reference lists or the archived sources,
        :attr:`kb.analyse.carry.KeptRows.records`)."""
        self.context, self.records = context, records
        self.checked.begin(records)  # a claim's checks read its source's text and reference list
        self.analysed.begin(context, rows)

    def end(self) -> None:
        """The build has made everything it makes of the records: what it did not ask for is dropped."""
        self.checked.end()

    def citations(self, evidence: Evidence, make: Callable[[Evidence], dict[str, tuple[StyledCitation, ...]] | None]
                  ) -> dict[str, tuple[StyledCitation, ...]] | None:
        """The works' citations: the last build's where the works are the same objects in the same context, else
        ``make``'s."""
        kept: dict[str, tuple[StyledCitation, ...]] | None = self._kept(self.styled, evidence)
        if kept is not None:
            return kept
        styled = self._restyled(evidence) or make(evidence)
        self.styled = (self.context, tuple(evidence.references), styled) \
            if styled is not None and self.context is not None else None
        return styled

    def _restyled(self, evidence: Evidence) -> dict[str, tuple[StyledCitation, ...]] | None:
        """The last build's citations of the works that are the same records, and the others' formatted here, where
        they are few: a work's citations read its entry alone (:func:`kb.site.cite.work_digest`), whatever else
        changed. Finding the edited work among the kept citations by digest was ~0.4 s at 10,000 works. None where
        nothing is kept, or many works are new."""
        if self.styled is None or self.context is None:
            return None
        from kb.site.cite import format_work

        last = {id(ref): ref for ref in self.styled[1]}
        refs = sorted(evidence.references, key=lambda r: r.key)  # in format_all's order
        new = [ref for ref in refs if last.get(id(ref)) is not ref]
        if len(new) > _RESTYLED:
            return None
        fresh = {ref.key: format_work(ref) for ref in new}
        kept = self.styled[2]
        return {ref.key: fresh[ref.key] if ref.key in fresh else kept[ref.key] for ref in refs}

    def ref_links(self, evidence: Evidence) -> dict[str, Any] | None:
        """The works' short links the site's resolver made in the last build (:meth:`kb.site.views.Resolver.ref_link`:
        each work's author and year, its LaTeX decoded; ~0.2 s at 10k works), where the works are the same objects in
        the same context; else an empty dict it fills, kept for the next build. None: nothing is kept."""
        if self.context is None:
            return None
        kept: dict[str, Any] | None = self._kept(self.links, evidence)
        if kept is None:
            kept = {}
            self.links = (self.context, tuple(evidence.references), kept)
        return kept

    def _kept(self, last: tuple[str, tuple[object, ...], Any] | None, evidence: Evidence) -> Any:
        """What ``last`` (context, works, what was made of them) holds where it was made in this context from
        ``evidence``'s works, the same objects in the same order; else None."""
        refs = evidence.references
        if (last is not None and self.context is not None and last[0] == self.context and len(last[1]) == len(refs)
                and all(a is b for a, b in zip(last[1], refs, strict=True))):
            return last[2]
        return None

    def undo(self) -> None:
        """A build failed: the last good graph's store is put back as it was (nothing, where it was not patched)."""
        self.subjects_read = None
        if self.pending is not None:
            self.pending.revert()
            self.pending = None


_RESTYLED = 50  # the most new works whose citations the loop formats itself (~5 ms each), not through the cache


class EvidenceError(Exception):
    """The evidence has errors: nothing was built or written."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"{len(report.errors)} error(s) in the evidence")
        self.report = report


@dataclass
class Checked:
    """The outcome of load → graph → validate."""

    evidence: Evidence
    graph: KnowledgeGraph | None  # None if loading failed badly
    report: Report = field(default_factory=Report)
    history: History | None = None  # the releases and what each changed (check(history=True))
    inputs: Inputs | None = None  # the files' digests, when stable while loading (kb.checks.scope)

    @property
    def kg(self) -> KnowledgeGraph:
        """The graph, for stages that run only on evidence that loaded."""
        if self.graph is None:
            raise EvidenceError(self.report)
        return self.graph


def check(config: Config, *, shacl: bool = True, progress: Progress = quiet, shacl_engine: str = "sparql",
          history: bool = False, releases: bool = False, warm: Warm | None = None,
          before_graph: Callable[[Evidence], None] | None = None,
          meanwhile: Callable[[Evidence], None] | None = None,
          on_store: Callable[[Evidence, KnowledgeGraph], None] | None = None,
          spare: Callable[[Callable[[], bool]], None] | None = None) -> Checked:
    """Load every file, build the graph, validate; report every problem, raise on none.

    With ``history``, also read the releases' dumps and add the release history to the graph
    (PROV): what a build, an export or a query sees, but not what checking needs; with ``releases`` instead, only
    read the dumps (each kept as a snapshot once read), so that a damaged one is reported (``kb check``).
    ``before_graph`` is work on the
    loaded records that may fork, run before the graph is built with no thread alive; ``meanwhile`` is work
    on the loaded records that runs while the graph's last triples are parsed (:func:`build_graph`);
    ``on_store`` is told of the finished store (history included) before SHACL reads it (the build begins
    its thread ahead there, :class:`Ahead`); ``spare`` is work for the rest of the parser's time (:func:`build_graph`).
    """
    from kb.bibtex.load import FILE_FATAL
    from kb.checks.crossfile import KeptChecks, check_evidence
    from kb.checks.scope import inputs, own_context, records_context, shacl_problems, stable_inputs
    from kb.graph.build import build_graph
    from kb.query.sparql import read_examples

    progress("loading evidence")
    try:
        before: Inputs | None = inputs(config)  # what caches keyed by the files' digests may trust (kb.checks.scope)
    except OSError:
        before = None
    # a fresh process parses the kept text before the claims while the records are read (a loop patches its store)
    begun = _head_start(config, before) if warm is None else None
    with frozen(), begun or contextlib.nullcontext():  # the records live as long as the command
        with no_gc():  # loaded with the collector paused, and frozen before it runs again: every record loaded is
            # young, and its first pass (even a young one) walked them all (~0.3 s at 10k/50k; a full one, ~0.5 s)
            evidence, problems = load_evidence(config, warm.parsed if warm is not None else None,
                                               before_fork=begun.pause if begun is not None else lambda: None,
                                               entries=warm.entries if warm is not None else None)
            stable = stable_inputs(config, before)
            freeze()
        report = Report(problems)
        progress(f"loaded {len(evidence.references)} references, {len(evidence.claims)} claims")
        if any(p.code in FILE_FATAL and p.path == str(config.references_path) for p in problems):
            # a half-merged, unreadable or undecodable references.bib: every claim would be "not in
            # references.bib"; the one problem that says why is the whole report
            return Checked(evidence, None, report)
        records = records_context(evidence, stable) if stable is not None else None
        released = None
        if evidence.releases and (releases or (history and not report.errors)):
            progress("reading releases")
            released = read_releases(evidence, warm.releases if warm is not None else None)
        if warm is not None:
            warm.begin(stable.context if stable is not None else None, records,
                       own_context(evidence, stable, labels=True) if stable is not None else None)
        crossfile: list[Problem] = []

        # each claim's own checks as the loop kept them, or as the last build into this cache did (a fresh process)
        kept_checks = warm.checked if warm is not None else (
            KeptChecks(config.store_cache_dir, stable, records)
            if stable is not None and records is not None and config.parse_cache else None)

        def on_records() -> None:  # while the graph's last batches are parsed: the records are all this needs
            crossfile.extend(check_evidence(evidence, kept_checks))
            if isinstance(kept_checks, KeptChecks):
                kept_checks.save()
            if meanwhile is not None:
                meanwhile(evidence)

        if before_graph is not None and not report.errors:
            if begun is not None:
                begun.pause()  # its parse done and its thread ended: before_graph may fork
            before_graph(evidence)
        progress("building graph")
        graph = build_graph(evidence, meanwhile=on_records,
                            memo=_graph_memo(config, evidence, stable, warm),
                            last=warm.graph if warm is not None else None, begun=begun, spare=spare)
        if begun is not None:
            begun.close()  # where it was not taken: dropped now, its thread ended before anything forks
        if warm is not None:
            warm.pending = graph.patch
            warm.end()
        report.extend(crossfile)
        report.extend(read_examples(config.queries_dir)[1])  # the site offers them: they must run
        progress(f"graph has {len(graph)} triples")
        hist = None
        if released:
            report.extend(snap for _, snap in released if isinstance(snap, Problem))
        if history and not report.errors:  # SHACL adds nothing to the store: the history comes first
            progress("comparing releases")
            hist = release_history(evidence, [(r, snap) for r, snap in released or () if not isinstance(snap, Problem)],
                                   graph, warm)
        if released is not None:  # compared, or read only to check them (kb check): not held through SHACL and the site
            released = None
            if hist is not None and hist.entries and warm is None:  # (the loop keeps the snapshots anyway)
                # The history copied once the snapshots it was compared from are freed. Made among their objects, it
                # shares their ids and labels, and kept their freed arenas from being given back: at 10k/50k a 35 MB
                # history held ~90 MB more through the site's rendering, and in its workers. ~1 s there.
                import pickle

                data = pickle.dumps(hist, protocol=pickle.HIGHEST_PROTOCOL)
                hist = None
                give_back_freed()
                hist = pickle.loads(data)
                del data
            give_back_freed()
        if on_store is not None:
            on_store(evidence, graph)
        if shacl and not evidence.vocabulary.incomplete:  # else every claim of the schemes missing would fail
            report.extend(shacl_problems(evidence, graph, report.problems, stable, shacl_engine, progress))
        checked = Checked(evidence, graph, report, inputs=stable)
        if not report.errors:
            checked.history = hist
        return checked


def _head_start(config: Config, before: Inputs | None) -> HeadStart | None:
    """The text before the claims as the last build kept it, its parse begun now (:class:`kb.graph.build.HeadStart`),
    where caches are on and the evidence's digests were read."""
    from kb.graph.build import HeadStart
    from kb.graph.memo import FOLDER, head_name

    if before is None or not config.parse_cache:
        return None
    return HeadStart(config.store_cache_dir / FOLDER, head_name(_memo_code(config), before.head_context))


def _memo_code(config: Config) -> str:
    """What every text the graph memo keeps is made with besides the evidence: the code and the base IRI."""
    from kb.checks.scope import code_digest

    return f"{code_digest()}\n{config.base_iri}"


def _graph_memo(config: Config, evidence: Evidence, stable: Inputs | None,
                warm: Warm | None = None) -> GraphMemo | None:
    """The claim files' text kept from the last build (:mod:`kb.graph.memo`), where the files' digests can be
    trusted (read before and after loading, the same) and caches are on; with what a long-running process keeps
    (:class:`Warm`): the memo's entries without their text, and each reference's lines."""
    from kb.graph.memo import FOLDER, GraphMemo

    if stable is None or not config.parse_cache:
        return None
    return GraphMemo(config.store_cache_dir / FOLDER, _memo_code(config), stable.claim_files,
                     evidence, stable.head_context, warm.tallies if warm is not None else None,
                     warm.works if warm is not None else None)


def read_releases(evidence: Evidence, kept: dict[str, Snapshot] | None = None
                  ) -> list[tuple[Release, Snapshot | Pickled | Problem]]:
    """Each release with its snapshot (its dump read, or the snapshot kept from an earlier read: in the cache, or in
    ``kept``, :attr:`Warm.releases`), or the problem that its dump cannot be read (damaged since it was cut:
    ``kb check`` reports it before a build compares). Without ``kept`` (a process that compares once), each snapshot
    is its pickle (:class:`kb.diff.snapshot.Pickled`), loaded when compared.

    :func:`check` reads them as soon as the evidence is loaded, while the process is small: a release's dump read
    cold at 10k/50k peaks at ~0.5 GB, which on top of the built graph took a cold build with a release to 1.9 GB."""
    with no_gc():  # a snapshot has no cycles, and the collector's passes over a dump's terms only cost time
        found = [(release, _release_snapshot_or_problem(evidence.config, release, kept))
                 for release in evidence.releases]
    if kept is not None:  # only the releases listed now
        listed = {id(snap) for _, snap in found}
        for key in [key for key, snap in kept.items() if id(snap) not in listed]:
            del kept[key]
    give_back_freed()  # what the dumps were read into, not kept for the graph to be built on
    return found


def release_history(evidence: Evidence, released: list[tuple[Release, Snapshot | Pickled]], graph: KnowledgeGraph,
                    warm: Warm | None = None) -> History:
    """What each release changed (``released``: :func:`read_releases`, all readable), and what is not yet
    released; recorded in the graph as PROV. With ``warm``, the current graph's records are read only for the
    claims and works that are not the last build's objects (the editors' loop: at 10k/50k the whole reading was
    3.8 s of every rebuild)."""
    from kb.diff.releases import history, prov_lines
    from kb.diff.snapshot import Snapshot, loaded, read_snapshot
    from kb.graph.iris import Minter

    base = evidence.config.base_iri
    current = Snapshot()
    latest = loaded(released[-1][1]) if released else None  # the records it repeats are read as its objects
    if latest is not None:
        released = [*released[:-1], (released[-1][0], latest)]
    # the current state is compared with the latest release only: without releases, reading it (3.8 s at 2M
    # triples, kb.diff.snapshot.read_snapshot) would be wasted
    if released and warm is None:
        current = read_snapshot(graph.store, base, like=latest)
    elif released and warm is not None:
        records: dict[str, dict[str, Any]] = {"claims": {c.id: c for c in evidence.claims},
                                              "works": dict(evidence.references_by_key)}
        memos: dict[str, ByRecord[Any]] = {"claims": warm.snapshot_claims, "works": warm.snapshot_works}

        def reuse(kind: str, ids: list[str], make: Callable[[list[str]], list[Any]]) -> list[Any]:
            memo, known = memos[kind], records[kind]
            if not all(i in known for i in ids):  # a record the graph holds and the evidence does not: read all
                memo.begin(None)
                return make(ids)
            return memo.many([known[i] for i in ids], lambda missing: make([r.id if kind == "claims" else r.key
                                                                              for r in missing]))

        # A claim's triples read of the rest of the evidence only what the records context names (which of the works
        # it cites are in references.bib, the vocabularies: kb.graph.memo), a work's only its entry (kb.graph.build's
        # works memo) but for its venue's title, which every work of that venue gives: an edited work keeps every
        # claim's reading (~4.5 s of the rebuild after it at 10k/50k) and every other work's (~1.3 s).
        warm.snapshot_claims.begin(warm.records)
        warm.snapshot_works.begin(_works_context(evidence, warm.records))
        current = read_snapshot(graph.store, base, reuse, latest, _subjects(graph, base, warm))
        for memo in memos.values():
            memo.end()
    hist = history(released, current, warm.released if warm is not None else None)
    graph.add_history(prov_lines(hist, Minter(base)).encode("utf-8"))
    return hist


def _works_context(evidence: Evidence, records: str | None) -> str | None:
    """``records`` (:func:`kb.checks.scope.records_context`) and the venues the works name: all a work's reading in the
    current graph (:func:`kb.diff.snapshot.read_snapshot`) is made of besides its own entry; None: keep nothing."""
    if records is None:
        return None
    import hashlib

    venues = sorted({(name, value) for ref in evidence.references for name in ("journal", "booktitle")
                     if (value := ref.fields.get(name))})
    return hashlib.sha256(f"{records}\n{venues!r}".encode()).hexdigest()


def _subjects(graph: KnowledgeGraph, base: str, warm: Warm) -> Subjects:
    """The records ``graph``'s store holds: the last good graph's, brought through this build's patch of its store
    where that is how the store came to be (:class:`kb.graph.build.StorePatch`), else read."""
    from kb.diff.snapshot import patched_subjects, record_subjects

    store, patch, last = graph.store, graph.patch, warm.subjects  # last: warm.graph's (Warm.built keeps them together)
    if last is not None and patch is not None and warm.graph is not None and warm.graph.store is store:
        subjects = patched_subjects(last, store, base, patch.removed, patch.added)
    else:
        subjects = record_subjects(store, base)
    warm.subjects_read = subjects
    return subjects


def _release_snapshot_or_problem(config: Config, release: Release, kept: dict[str, Snapshot] | None = None
                                 ) -> Snapshot | Pickled | Problem:
    from kb.diff.snapshot import StateError
    from kb.io.reading import os_error_text

    dump = Path(release.dump)
    try:
        return _release_snapshot(config, dump, kept)
    except (StateError, OSError) as exc:
        reason = os_error_text(exc) if isinstance(exc, OSError) else str(exc).removeprefix(f"{dump}: ")
        return error(dump, None, "release-dump-unreadable", f"the dump of release '{release.name}' cannot be read: "
                     f"{reason}", expected="the gzipped N-Triples file kb release wrote",
                     hint="restore it from version control: a release's dump never changes")


def _release_snapshot(config: Config, dump: Path, kept: dict[str, Snapshot] | None = None) -> Snapshot | Pickled:
    """A release's snapshot, cached by the dump's bytes (a release never changes once cut) and by the
    code that reads it (a snapshot pickled by older code may lack fields); also in ``kept`` by the same key, where a
    process builds again (the cache's copy took 1–2 s to load at 10k/50k). Without ``kept``, its pickle."""
    import hashlib
    import pickle

    from kb.diff import snapshot
    from kb.diff.snapshot import Pickled, read_dump, unpickled
    from kb.io.atomic import replace_cache_file

    data = dump.read_bytes()
    key = hashlib.sha256(data + Path(snapshot.__file__).read_bytes()).hexdigest()[:32]
    if kept is not None and key in kept:
        return kept[key]
    cache = config.store_cache_dir / "releases" / f"{key}.pickle"
    if kept is None:  # made from the same bytes as the dump: loaded when compared (Pickled.load)
        if cache.is_file():
            return Pickled(dump, cache)
    else:
        with contextlib.suppress(OSError):
            cached = unpickled(cache.read_bytes())
            if cached is not None:
                kept[key] = cached
                return cached
    snap = read_dump(dump)
    pickled = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
    if kept is not None:
        kept[key] = snap
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        replace_cache_file(cache, pickled)
    except OSError:  # a cache: the next build reads the dump again
        return snap if kept is not None else Pickled(dump, data=pickled)
    return snap if kept is not None else Pickled(dump, cache)


@dataclass
class BuildResult:
    checked: Checked
    analysis: Analysis
    out_dir: Path
    files: list[Path]
    written: list[str] = field(default_factory=list)  # site paths rendered this time
    reused: list[str] = field(default_factory=list)  # site paths linked unchanged from the last build
    kept: list[str] = field(default_factory=list)  # pages among them whose inputs were unchanged (never built)

    @property
    def report(self) -> Report:
        return self.checked.report


def build(config: Config, *, strict: bool = False, progress: Progress = quiet,
          site: bool = True, jobs: int | None = None, warm: Warm | None = None,
          verify_deps: bool = False, keep_store: bool = True) -> BuildResult:
    """Check, analyse and write graph dumps (and the site) to ``config.out_dir`` atomically.

    Files of the site whose inputs did not change since the last build into the same folder are
    hard-linked from it rather than rendered again (:mod:`kb.site.reuse`). ``warm`` is the state a
    long-running process keeps between builds (:class:`Warm`). ``verify_deps`` builds every page's
    context even where its inputs are unchanged, and fails if one differs (:mod:`kb.site.deps`; for tests).
    Without ``keep_store`` (``kb build``, which exits once built), the build may let the graph's store go before its
    site's workers fork (:class:`Ahead`): the result's graph is then not to be queried.
    """
    from kb.analyse.analysis import FromRecords, analyse, from_records
    from kb.site import prime_groups
    from kb.site.assets import CACHE as ASSETS_CACHE
    from kb.site.assets import oxigraph_scripts_ahead
    from kb.site.cite import formatted_in_processes, styled_citations, styled_citations_in_thread

    _refuse_dangerous_out_dir(config)  # a usage error: say so before minutes of checking
    _remove_what_killed_builds_left(config)
    early: list[FromRecords] = []  # the analysis's rows, made while the graph loads
    styled: list[dict[str, tuple[StyledCitation, ...]] | None] = []  # the works' citations, likewise where they can be

    def before_graph(evidence: Evidence) -> None:
        # A cold build of a large bibliography formats every work's citations in forked processes: here, before the
        # graph, rather than once its store is built (Ahead), they run beside a main process of ~0.2 GB rather than
        # ~1.3 GB. At 10k/50k that phase was the build's all-process peak (~1.5 GB); its time is the same.
        if site and warm is None and formatted_in_processes(evidence):
            styled.append(styled_citations(evidence))

    def on_records(evidence: Evidence) -> None:
        early.append(from_records(evidence, warm.analysed if warm is not None else None))
        if site:
            if not styled:
                styled.append(warm.citations(evidence, styled_citations_in_thread) if warm is not None
                              else styled_citations_in_thread(evidence))
            oxigraph_scripts_ahead(cache=evidence.config.store_cache_dir / ASSETS_CACHE)

    # What each stage makes lives until the build ends: frozen, the collector's full passes skip it (at 10k/50k
    # they walked millions of records and rows, ~3 s of every build), and they are paused (young_passes_only).
    begun: list[Ahead] = []  # the thread ahead, begun once the store is finished (before SHACL reads it)
    with frozen(), young_passes_only():
        try:
            checked = check(config, progress=progress, history=True, warm=warm, before_graph=before_graph,
                            meanwhile=on_records,
                            on_store=lambda evidence, graph: begun.append(
                                Ahead(evidence, graph, site, styled[0] if styled else None,
                                      let_go=warm is None and not keep_store)),
                            spare=(lambda busy: prime_groups(early[0].groups, busy) if early else None)
                            if site else None)
            if not checked.report.ok(strict) or checked.graph is None:
                raise EvidenceError(checked.report)
        except BaseException:
            for ahead in begun:
                ahead.close()
            raise
        freeze()
        ahead = begun[0]
        try:
            progress("analysing")
            analysis = analyse(checked.graph, checked.evidence, early[0] if early else None)
            freeze()
            rendered, staging = _locked_write(config, checked, analysis, progress, site, jobs, warm, verify_deps,
                                              ahead)
        finally:
            ahead.close()
    progress(f"wrote {len(rendered.files)} files to {config.out_dir}")
    files = [config.out_dir / f.relative_to(staging) for f in rendered.files]
    return BuildResult(checked, analysis, config.out_dir, files, rendered.written, rendered.reused, rendered.kept)


def _remove_what_killed_builds_left(config: Config) -> None:
    """The unsorted dumps, claims' triples and half-written stores of builds that were killed (0.4, 0.4 and 0.1 GB
    for a cold build killed at 55 s at 10k/50k; one that ends, however it fails, removes its own), and the caches'
    half-written files: removed once their process is gone (:mod:`kb.io.leftovers`)."""
    import tempfile

    from kb.export.nanopub import CLAIMS_KIND
    from kb.export.rdf import DUMP_KIND
    from kb.io.leftovers import remove_orphan_temps, remove_orphans
    from kb.query.store import STAGING_KIND

    temporary = Path(tempfile.gettempdir())
    for folder, kind in ((temporary, DUMP_KIND), (temporary, CLAIMS_KIND), (config.store_cache_dir, STAGING_KIND)):
        remove_orphans(folder, kind)
    remove_orphan_temps(config.store_cache_dir)


class Ahead:
    """Work on the finished store that pyoxigraph does without the GIL, in a thread while this one analyses and
    sets the site up: the store's unsorted dump, which the graph dumps sort (where they cannot patch the last build's
    instead, :func:`kb.export.data_folder.dumps_patch`), the graph's statistics for VoID, and
    the example queries' answers, which the SPARQL page shows. At 10k/50k they are ~2, ~1 and ~4 s that came
    later, next to other work, and the other core was idle here.

    Before the thread starts, the works' citations are formatted (``styled``): a large bibliography is formatted
    in forked processes, and no thread may be alive at a fork. For the same reason :meth:`join` must be called
    before the site's workers fork: the dump is waited for, and the statistics and examples not yet begun are
    left to :meth:`answers`, which makes them in the calling thread (a thread of the main process, while it writes
    ``data/``). :meth:`close` removes a dump no one took.

    Where the last build's answers and statistics were kept (:mod:`kb.site.kept_answers`), the thread leaves them
    to :meth:`answers`, which reuses what the graph's change since then (:meth:`tell`) leaves as it was.

    With ``let_go`` (a build in a process that keeps no store for a next one: ``kb build``), where nothing after the
    fork needs the store itself (nothing kept to patch or reuse, no named graph), the thread also makes everything
    that would read it then (every example's answer, and the claims' triples for the nanopublications), and
    :meth:`before_fork` lets the store go once it is done: at 10k/50k it was ~0.7 GB of every forked worker's
    ~1.4 GB. The store is persisted for ``kb query`` from its dump then (:func:`kb.query.store.persist`).
    """

    def __init__(self, evidence: Evidence, graph: KnowledgeGraph, site: bool = True,
                 styled: dict[str, tuple[StyledCitation, ...]] | None = None, let_go: bool = False) -> None:
        from kb.export.data_folder import dumps_patch
        from kb.query.sparql import load_examples
        from kb.site.cite import styled_citations
        from kb.site.kept_answers import KeptAnswers

        # First, while no thread is alive: a large bibliography is formatted in forked processes (``styled``: where
        # they were formatted already, while the graph was parsed).
        self.styled = (styled if styled is not None else styled_citations(evidence)) if site else None
        self.graph = graph
        self.examples: list[ExampleQuery] = load_examples(evidence.config.queries_dir) if site else []
        config = evidence.config
        # the last build's answers and statistics, reused where the graph's change leaves what they read as it was
        self.kept = KeptAnswers(config.store_cache_dir if config.parse_cache and site else None)
        self.told = threading.Event()  # how the graph changed since the last build is known (tell)
        self.change: GraphChange | None = None
        self.dumped: Path | None = None
        # the last build's dumps patched into this graph's, where they can be: then no dump is sorted
        self.patch = dumps_patch(evidence, graph)
        self.want_statistics = site
        self.statistics: Statistics | None = None  # the graph's, for VoID (kb.export.void.statistics)
        self.done: list[Answer] = []
        self.asked = 0  # how many examples the thread answered (or skipped)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.abandoned = threading.Event()  # the build failed or was interrupted: make nothing more (close)
        # let go of the store before the fork: only where nothing after it reads the store (see the class)
        self.let_go = (let_go and site and self.patch is None and not self.kept.hopeful
                       and not graph.outside_default_graph())
        self.claims: Path | None = None  # the claims' triples (kb.export.nanopub.claims_table), where let_go
        self.link: Path | None = None  # the dump, kept for the persisted store where the store was let go
        self.thread = threading.Thread(target=self._run, name="kb-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from kb.export.rdf import dump_unsorted
        from kb.export.void import statistics
        from kb.site.answers import example_answers

        try:
            if self.patch is None:
                self.dumped = dump_unsorted(self.graph)
            if self.kept.hopeful:
                return  # left to answers(), which may reuse them once the change is known
            if self.abandoned.is_set():
                return
            if self.want_statistics and (self.let_go or not self.stop.is_set()):  # let_go: made before the fork
                self.statistics = statistics(self.graph)
            for example in self.examples:
                if (self.stop.is_set() and not self.let_go) or self.abandoned.is_set():
                    break
                self.done += example_answers(self.graph.store, [example])
                self.asked += 1
            if self.let_go and not self.abandoned.is_set():
                from kb.export.nanopub import claims_table

                self.claims = claims_table(self.graph.store)
        except BaseException as exc:  # re-raised by join(), in the building thread
            self.error = exc

    def join(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def before_fork(self) -> None:
        """:meth:`join`; then, where the store is let go (see the class), let it go and give its memory back."""
        from kb.graph.build import Released

        self.join()
        if not self.let_go or self.dumped is None or self.claims is None:
            return
        link = self.dumped.with_name(self.dumped.name + ".store")
        try:
            os.link(self.dumped, link)
        except OSError:  # a temporary folder without hard links: the store is kept, and persisted from itself
            return
        self.link = link
        self.graph.let_go(Released(link, self.claims))
        gc.collect()
        give_back_freed()

    def dump(self) -> Path | None:
        """The store's unsorted dump, for :func:`kb.export.rdf._sorted_lines` (which removes it)."""
        self.join()
        dumped, self.dumped = self.dumped, None
        return dumped

    def tell(self, change: GraphChange | None) -> None:
        """How the graph changed since the last build's (from the dumps; None: unknown, or the build failed first):
        :meth:`answers` waits for it. Only the first call counts."""
        if not self.told.is_set():
            self.change = change
            self.told.set()

    def answers(self) -> list[Answer]:
        """Every example's answer, in order: the thread's, then the rest, each the last build's where the graph's
        change (:meth:`tell`, waited for) leaves what it reads as it was, else answered here; and the statistics,
        where the thread had not made them (VoID reads them once ``data/`` is written, after this)."""
        self.join()
        if self.kept.path is not None:  # answers are kept: with the graph they were found on, so wait for it
            self.told.wait()
            self.kept.since(self.change)
        if self.want_statistics and self.statistics is None:
            self.statistics = self.kept.statistics(self.graph)
        found = self.done + self.kept.answers(self.graph, self.examples[self.asked:])
        self.kept.keep(self.examples, found, self.statistics)
        return found

    def close(self) -> None:
        """Stop the thread after its current step (a Ctrl-C waited for every example's answer and the claims'
        triples: 6.4 s at 10k/50k) and remove what it made."""
        self.abandoned.set()
        self.stop.set()
        self.tell(None)
        self.thread.join()
        for made in (self.dumped, self.claims, self.link):
            if made is not None:
                made.unlink(missing_ok=True)


def _locked_write(config: Config, checked: Checked, analysis: Analysis, progress: Progress, site: bool,
                  jobs: int | None, warm: Warm | None, verify_deps: bool, ahead: Ahead) -> tuple[Rendered, Path]:
    """Write and swap the output under its folder's lock; what goes wrong is an :class:`OutputError`."""
    out_dir = config.out_dir
    folder = site_folder(config)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with locked_folder(folder.parent, timeout=600):
            return _write_and_swap(config, checked, analysis, folder, progress, site, jobs, warm, verify_deps, ahead)
    except LockTimeoutError as exc:
        raise OutputError(f"{exc}; {out_dir} is as it was") from None
    except OSError as exc:
        guide = ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and folder.is_dir():
            guide = f" (the previous build took {human_bytes(_size(folder))})"
        raise OutputError(f"{write_failure(exc, out_dir)}{guide}; {out_dir} is as it was") from None


class OutputError(Exception):
    """The output could not be written (disk full, permissions, another build): the old output is untouched."""


def site_folder(config: Config) -> Path:
    """The folder a build replaces: ``--out`` itself, or, when ``--out`` is a symlink, the folder it points at
    (the link is kept, and the site it points at is updated). :func:`build` has refused dangerous ones."""
    out = config.out_dir
    return Path(os.path.realpath(out)) if out.is_symlink() else out


def _write_and_swap(config: Config, checked: Checked, analysis: Analysis, folder: Path, progress: Progress,
                    site: bool, jobs: int | None, warm: Warm | None, verify_deps: bool,
                    ahead: Ahead) -> tuple[Rendered, Path]:
    """Under the folder's lock: clean a crashed build's leftovers, render into a staging folder, swap it in."""
    from kb.query.store import begin_from_dump
    from kb.site.reuse import load_previous, manifest_path, save_manifest

    for leftover in recover(folder):
        progress(f"cleaned up after a crashed build: {leftover}")
    begun: list[Begun] = []  # the store let go, written to disk as the build goes on (where none is cached)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(folder), suffix=".tmp", dir=folder.parent))
    try:
        staging.chmod(new_dir_mode())  # mkdtemp makes it private (0o700); a site is meant to be read
        manifest = manifest_path(config.store_cache_dir, config.out_dir)
        previous_nanopubs = folder / "data" / "nanopubs.trig.gz"  # read before the swap replaces it
        persist = warm is None or warm.persist_store

        def early() -> None:  # once the workers have forked: a thread is safe then
            if persist and checked.kg.released is not None:
                begun.extend(filter(None, [begin_from_dump(config, checked.kg.released.dump)]))

        rendered = write_outputs(checked, analysis, staging, site=site, progress=progress, ahead=ahead, jobs=jobs,
                                 warm=warm,
                                 previous=load_previous(manifest, config.out_dir),
                                 previous_nanopubs=previous_nanopubs if previous_nanopubs.is_file() else None,
                                 early=early,
                                 alongside=lambda change: _persist_store(config, checked, progress, change,
                                                                         begun.pop() if begun else None)
                                 if persist else None, verify_deps=verify_deps)
        manifest.unlink(missing_ok=True)  # a crash before the new one is saved must not leave a stale one
        # the editors' loop removes the old site and records the manifest once it has said the site is rebuilt
        # (~0.2 s at 10k/50k), before its next build reads the manifest (Warm.tidy)
        later = warm.later if warm is not None else None
        how = replace_dir(staging, folder, later)
        progress(f"swapped the new site in ({how})")
    except BaseException:
        for writing in begun:
            writing.drop()
        shutil.rmtree(staging, ignore_errors=True)
        raise

    def record() -> None:
        try:
            save_manifest(manifest, config.out_dir, rendered.fingerprints, rendered.deps, rendered.records)
        except OSError as exc:  # a cache: the next build just renders everything
            progress(f"could not record the site manifest: {exc}")

    if later is not None:
        later.append(record)
    else:
        record()
    return rendered, staging


def _size(folder: Path) -> int:
    """Bytes under ``folder`` (0 if absent): how much the last build needed, when the disk fills."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def write_outputs(checked: Checked, analysis: Analysis, target: Path, *, site: bool, progress: Progress, ahead: Ahead,
                  jobs: int | None = None, previous: Previous | None = None,
                  alongside: Callable[[GraphChange], None] = lambda _: None,
                  previous_nanopubs: Path | None = None, early: Callable[[], None] = lambda: None,
                  warm: Warm | None = None, verify_deps: bool = False) -> Rendered:
    """Write the data dumps (:mod:`kb.export.data_folder`) and, with ``site``, the rendered pages into ``target``.

    ``alongside`` is run once, while the site's workers render if there is a site, with how the graph
    changed since the last build's dumps (:class:`kb.graph.change.GraphChange`); ``early`` first of all, once the
    site's workers have forked.
    ``previous_nanopubs`` (the last build's ``data/nanopubs.trig.gz``) lets unchanged claims keep
    their nanopublications and changed ones supersede theirs. ``ahead`` is work on the store begun in a
    thread (:class:`Ahead`).
    """
    from kb.export.data_folder import (
        analysis_files,
        browser_turtle,
        graph_dumps,
        made_here,
        write_data_folder,
        write_void,
    )
    from kb.export.dumps import unparcel
    from kb.site import Background, Rendered

    dumps = Rendered([])
    caches = warm.exports if warm is not None else None
    made: list[Dumps] = []
    # With a site, a worker writes the graph dumps, from the store's unsorted dump the thread ahead took before
    # the workers forked (in the worker, dump() finds the thread gone): the main process has the most to do.
    def dumps_elsewhere() -> tuple[Dumps, dict[str, Any] | None]:
        graph, members = graph_dumps(checked.evidence, checked.kg, target / "data", caches, ahead.dump(), ahead.patch,
                                     analysis.triples)
        return graph.parcel(), members

    background = Background(dumps_elsewhere) if site else None

    def in_this_process() -> None:
        try:
            early()
            write_all()
        finally:
            ahead.tell(None)  # a failure before the dumps: the example answers wait for no change (else told)

    def write_all() -> None:
        written = write_data_folder(checked.evidence, checked.kg, analysis, target / "data", inputs=checked.inputs,
                                    previous_nanopubs=previous_nanopubs, progress=progress, caches=caches,
                                    elsewhere=site, dumped=None if site else ahead.dump(),
                                    patch=ahead.patch)
        for name in written.names:  # never reused from a previous build
            dumps.fingerprints[f"data/{name}"] = "dump"
            dumps.written.append(f"data/{name}")
        if background is not None:
            graph, members = background.result()
            if caches is not None and members is not None:
                unparcel(caches.dumps, members)  # the worker's memory ends with it
        else:
            assert written.dumps is not None
            graph = written.dumps
        made.append(graph)
        ahead.tell(graph.change)
        give_back_freed()  # the exports' text is written and dropped: the store is persisted without it
        if site:  # the workers have forked: a thread is safe now
            persisting.append(_InThread(lambda: alongside(graph.change)))
        else:
            alongside(graph.change)

    # With a site, ``alongside`` (the store persisted for kb query: RocksDB's copy and patch, the old store's
    # removal; ~2 s at 10k/50k, mostly without the GIL) runs in a thread while this process makes the SPARQL page
    # and renders groups; it is joined before this function returns.
    persisting: list[_InThread] = []
    rendered = Rendered([])
    if site:
        from kb.site import render_site

        progress("rendering site")
        # data/ is written while the site's workers render pages (the data page and the SPARQL page, which
        # need it, are rendered afterwards): the graph dumps and the files made from the analysis alone by
        # workers, the rest here; VoID, which gives every file's size, once they are all there.
        try:
            rendered = render_site(checked.evidence, checked.kg, analysis, target, progress=progress, jobs=jobs,
                                   previous=previous, alongside=in_this_process, history=checked.history,
                                   inputs=checked.inputs, verify_deps=verify_deps,
                                   data_files={name: make for name, make in
                                               analysis_files(analysis, checked.evidence.config.store_cache_dir,
                                                              evidence=checked.evidence, inputs=checked.inputs).items()
                                               if name not in made_here(caches)},
                                   data_done=lambda: write_void(checked.evidence, checked.kg, target / "data",
                                                                ahead.statistics),
                                   before_fork=ahead.before_fork, answers=ahead.answers,
                                   dump_payload=lambda: browser_turtle(
                                       checked.evidence, made[0].turtle_members(target / "data"), caches),
                                   styled=ahead.styled, background=background,
                                   ref_links=warm.ref_links(checked.evidence) if warm is not None else None,
                                   memo=warm.keys if warm is not None else None)
        finally:
            for thread in persisting:
                thread.join()
        dumps.fingerprints["data/void.ttl"] = "dump"
        dumps.written.append("data/void.ttl")
    else:
        in_this_process()
    rendered.fingerprints.update(dumps.fingerprints)
    rendered.written += dumps.written
    rendered.files = sorted(target / path for path in rendered.fingerprints)
    return rendered


class _InThread:
    """``work`` in a thread of its own; :meth:`join` waits for it and raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # re-raised by join(), in the building thread
                self.error = exc

        self.thread = threading.Thread(target=run, name="kb-persist")
        self.thread.start()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def query_store(config: Config) -> pyoxigraph.Store:
    """The KB as a pyoxigraph store for ``kb query``: the cached one if current, else built (and cached) now.

    Raises :class:`EvidenceError` if the evidence has errors: nothing is cached then.
    """
    from kb.query.store import evidence_key, open_cached, persist

    try:
        key: str | None = evidence_key(config)
        cached = open_cached(config, key)
    except OSError:  # a file that cannot be read: the check below reports it
        key, cached = None, None
    if cached is not None:
        return cached
    checked = check(config, shacl=False, history=True)
    if checked.report.errors or checked.graph is None:
        raise EvidenceError(checked.report)
    if key is not None:
        with contextlib.suppress(OSError):  # a read-only checkout still answers queries, just uncached
            persist(config, checked.graph.store, key)
    return checked.graph.store


def serving_store(config: Config) -> pyoxigraph.Store:
    """The KB held in memory for ``kb serve --no-build``: the built site's dump where it is the graph of the store
    cached for the current evidence (their names agree, :func:`kb.export.dumps.load_dump` says why it is the
    quicker copy), else a copy of the cached store, else :func:`query_store`'s, built now.

    Raises :class:`EvidenceError` if the evidence has errors and no store is cached for it."""
    from kb.export.dumps import load_dump
    from kb.export.formats import site_dump
    from kb.query.store import cached_mark, in_memory, open_cached

    dump, mark = site_dump(config.out_dir), cached_mark(config)
    if dump is not None and mark is not None:
        try:
            store, dumped = load_dump(dump)
        except (OSError, ValueError, SyntaxError):
            pass
        else:
            if dumped == mark:
                return store
            del store
    cached = open_cached(config)
    return in_memory(cached) if cached is not None else query_store(config)


def _persist_store(config: Config, checked: Checked, progress: Progress, change: GraphChange | None = None,
                   begun: Begun | None = None) -> None:
    """Leave the built graph where ``kb query`` finds it (a cache: failing to write it is harmless); from
    a copy of the last build's, patched by ``change``, where that is the one cached; or as ``begun``
    (:func:`kb.query.store.begin_from_dump`)."""
    from kb.query.store import persist

    kg = checked.kg
    try:
        patched = persist(config, kg.store if kg.released is None else None, change=change, quads=len(kg),
                          dump=kg.released.dump if kg.released is not None else None, begun=begun).patched
        progress(f"cached the store for kb query: the last build's, patched ({patched})" if patched
                 else "cached the store for kb query")
    except OSError as exc:
        progress(f"could not cache the store: {exc}")


def _refuse_dangerous_out_dir(config: Config) -> None:
    out = config.out_dir.resolve()
    evidence = config.evidence_dir.resolve()
    what = None
    if out == Path(out.anchor):
        what = f"the root folder {out}"
    elif out == Path.home().resolve():
        what = f"your home folder {out}"
    elif Path.home().resolve().is_relative_to(out):
        what = f"{out}, which holds your home folder {Path.home().resolve()}"
    elif out == evidence:
        what = f"the evidence folder {evidence}"
    elif evidence.is_relative_to(out):
        what = f"{out}, which holds the evidence folder {evidence}"
    if what:
        raise ValueError(f"refusing to write the site to {config.out_dir}: the build replaces its output folder "
                         f"as a whole, so it would replace {what}; choose another --out (default: site)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{config.out_dir} exists and is not a folder")
    from kb.export.formats import site_dump

    if out.is_dir() and any(out.iterdir()) and site_dump(out) is None:
        raise ValueError(f"refusing to replace {config.out_dir}: it is not empty and is not a site built by kb "
                         "(no data/kb.nt.gz); choose another --out")
