"""Stage 5: render the checked KB as a static website (``kb build`` → ``site/``).

The site works from ``file://`` and any sub-path (relative links only), makes no request outside
itself, and is byte-identical for the same evidence. Modules: :mod:`~kb.site.pages` (the template
contract), :mod:`~kb.site.addresses` (the URL scheme), :mod:`~kb.site.views` (records → views),
:mod:`~kb.site.buckets` (claims and works), :mod:`~kb.site.cells` (the map cells),
:mod:`~kb.site.context` and :mod:`~kb.site.overview` (the other page types), :mod:`~kb.site.evmap` (the evidence map),
:mod:`~kb.site.gaps` (the ranked gaps), :mod:`~kb.site.tablequery` (the SPARQL behind each table),
:mod:`~kb.site.search` (search index, IRI → page map), :mod:`~kb.site.markdown` (the method page's
excerpt of the editors' guide),
:mod:`~kb.site.grade` (plain-language summaries), :mod:`~kb.site.summaries` (summary-of-findings
pages), :mod:`~kb.site.headlines` (the balanced headlines), :mod:`~kb.site.evidence_base` (distinct
works and review overlap), :mod:`~kb.site.network` (the network layout),
:mod:`~kb.site.assets` (scripts and the Oxigraph bundle), :mod:`~kb.site.render` (jinja2, writing),
:mod:`~kb.site.reuse` (incremental builds), :mod:`~kb.site.cite` (APA 7 and Vancouver by citeproc-py),
:mod:`~kb.site.highwire` (``citation_*`` tags, COinS), :mod:`~kb.site.refdata` (reference downloads).

The record pages (the buckets of claims and works, concepts, the maps and their rows of cells) and
the overview pages that summarise them are built and rendered in worker processes, one group of
pages at a time, each page written as soon as it is made (with the graph dumps and the files of ``data/`` made
from the analysis alone), while
this process writes the rest of ``data/``, makes the SPARQL page and then renders the groups no worker
has begun; the pages that need ``data/`` (data, what's new) are rendered afterwards in this process.
A record page whose inputs are those of the last build is linked from it without its context being
built (:mod:`~kb.site.deps`).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kb.io.procs import forked_pool, frozen, give_back_freed, no_gc, usable_cpus
from kb.site.assets import REPO_ROOT, SiteError
from kb.site.reuse import Previous

if TYPE_CHECKING:
    from kb.analyse.analysis import Analysis
    from kb.analyse.groups import Groups
    from kb.checks.scope import Inputs
    from kb.diff.releases import History
    from kb.graph.build import KnowledgeGraph
    from kb.load.evidence import Evidence
    from kb.site.answers import Answer
    from kb.site.deps import KeyMemo
    from kb.site.pages import Link, StyledCitation

__all__ = ["Rendered", "SiteError", "prime_groups", "render_site"]

TEMPLATES = REPO_ROOT / "site_templates"
T = TypeVar("T")


@dataclass
class Rendered:
    """What a render wrote: every file, and which were rendered anew or reused from the last build."""

    files: list[Path]
    written: list[str] = field(default_factory=list)  # site paths
    reused: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    deps: dict[str, Any] = field(default_factory=dict)  # page → its input key (kb.site.deps.DepEntry)
    kept: list[str] = field(default_factory=list)  # pages reused by their input keys, never built
    records: dict[str, dict[str, bytes]] = field(default_factory=dict)  # claims' record keys (kb.site.deps)


@dataclass(frozen=True)
class TableRef:
    """A table page with a CSV, as the data page lists it."""

    template: str
    title: str
    csv: object  # Link


@dataclass
class _Job:
    """Everything a worker needs; inherited through ``fork``, never pickled."""

    res: Any  # Resolver
    site: Any  # SiteInfo
    env: Any  # jinja2 Environment
    key: Any  # the render key (a blake2b object)
    target: Path
    previous: Previous
    threshold: int
    templates: Path
    deps: Any = None  # kb.site.deps.Deps
    verify: bool = False
    data: dict[str, Callable[[], bytes]] = field(default_factory=dict)  # files of data/ a worker makes


@dataclass
class _Part:
    fingerprints: dict[str, str]
    written: list[str]
    reused: list[str]
    tables: list[TableRef]
    deps: dict[str, Any] = field(default_factory=dict)  # the built pages' input keys (kept: the last build's)
    kept: list[str] = field(default_factory=list)
    digests: dict[int, list[bytes | None]] = field(default_factory=dict)  # Deps.take_computed: for KeyMemo
    counts: dict[Any, Any] = field(default_factory=dict)  # StudyBase.take_made: the studies counted, for the loop


def _groups() -> dict[str, Callable[[_Job, Any], None]]:
    """The pages in groups a worker renders in one go, in the order of their parts (the data page lists their tables
    so): the overview pages and scripts that need neither the store nor ``data/`` (:func:`_overview`), then the
    record pages. The workers begin them in :func:`_schedule`'s order."""
    from kb.site import buckets, cells, context, summaries

    def claims(job: _Job, out: Any) -> None:
        buckets.claim_pages(job.res, out)
        context.claims_index(job.res, out)

    def references(job: _Job, out: Any) -> None:
        buckets.reference_pages(job.res, out)
        # the works (the key's base) and how many claims state or cite each: a reworded claim keeps it
        keep = out.keeper
        out.keyed("references/index.html", keep.key("references/index.html", keep.facets()),
                  lambda: context.bibliography(job.res, out))

    def maps(*axes: str) -> Callable[[_Job, Any], None]:
        def render(job: _Job, out: Any) -> None:
            context.map_pages(job.res, out, job.threshold, axes=axes)
            for axis in axes:
                cells.row_pages(job.res, out, axis, context.MAP_PATHS[axis])
        return render

    def data(job: _Job, out: Any) -> None:
        from kb.export.data_folder import FROM_NETWORK

        for name, make in job.data.items():
            path = f"data/{name}"
            # a file made from the evidence network alone is kept while what the network is made of is (the claims
            # without their words: a reworded claim keeps it)
            out.keyed_file(path, out.keeper.key(path, out.keeper.facets(), out.keeper.lists()) if name in FROM_NETWORK
                           else "", make)

    return {
        # the overview pages and scripts: built whole in every build, the longest groups after an edit
        "overview": _overview,
        "scripts": _scripts,
        "_data": data,  # data/'s files made from the analysis (VoID, which gives their sizes, comes after)
        "claims": claims,
        "concepts": lambda job, out: context.concept_pages(job.res, out),
        "map-population": maps("population"),
        "references": references,
        "map-intervention": maps("intervention"),
        "map-facets": maps("setting", "delivery", "perspective"),
        "summaries": lambda job, out: summaries.summary_pages(job.res, out),
    }


def _overview(job: _Job, out: Any) -> None:
    """The overview pages, in a worker like the record pages (with :func:`_scripts`, ~15 s at 50,000 claims
    that this process, busy writing ``data/``, would add after it). The SPARQL page (the store's answers),
    the dump script, and the data and what's-new pages (``data/``'s files) are made in this process."""
    from kb.site import gaps, living, overview

    res, site, keep = job.res, job.site, out.keeper
    # Keyed like the maps of counts (kb.site.deps): by every claim without its words, what the findings' facets and
    # the network are made of, so rewording a claim keeps them; the home page also by the graph's size (what its
    # headlines' directness reads, the claims' sources and downgrades, is in every claim without its words: listing
    # them again was ~0.3 s of a worker at 10k/50k). At 10k/50k they are ~5 s of a worker's CPU in every build.
    out.keyed("gaps.html", keep.key("gaps.html", keep.facets()), lambda: gaps.gaps_page(res, out))
    out.keyed("network.html", keep.key("network.html", keep.facets(), keep.lists()),
              lambda: overview.network_page(res, out))
    overview.search_page(res, out)
    overview.resolve_page(res, out)
    overview.method_page(res, out, overview.ontology_terms())
    out.keyed("index.html", keep.key("index.html", keep.facets(), res.analysis.triples),
              lambda: overview.home_page(res, site, out))
    living.feeds(res, site, out)


def _scripts(job: _Job, out: Any) -> None:
    """The site's assets and the scripts that summarise the records (search index, maps' data, works)."""
    from kb.site import assets
    from kb.site.evmap import map_data, map_statements
    from kb.site.search import search_index, sparql_links

    res = job.res
    config = res.ev.config
    for path, content in assets.static_files(job.templates / "static"):
        out.files[path] = content
    statements = map_statements(res.analysis.rows)
    keep = out.keeper
    # the findings' facets only: a reworded claim keeps it
    out.keyed_file("assets/map-data.js", keep.key("assets/map-data.js", keep.facets()),
                   lambda: assets.data_script("KB_MAP", "assets/map-data.js", map_data(res, res.analysis.rows),
                                              "the findings, for the evidence maps' filters").content)
    # The search index refers to the statements of claims with findings by their place (which their rows decide)
    # and holds the words of the others (and every quote, where the limits search quotes): a reworded claim with
    # findings keeps it. The IRI → page map reads the vocabularies (the key's base) and the works' links (their reads).
    claims = res.ev.claims
    index_words = ([(c.id, c.statement) for c in claims if c.id not in statements],
                   [c.quote for c in claims] if res.limits.search_quotes else None)
    out.keyed_file("assets/search-index.js", keep.key("assets/search-index.js", keep.facets(), index_words),
                   lambda: assets.packed_script("KB_SEARCH", "assets/search-index.js", search_index(res, statements),
                                                "search index").content)
    out.keyed_file("assets/sparql-links.js", keep.key("assets/sparql-links.js"),
                   lambda: assets.data_script("KB_LINKS", "assets/sparql-links.js", sparql_links(res),
                                              "IRI → page").content)
    scripts = [assets.packed_script("KB_MAP_STATEMENTS", "assets/map-statements.js",
                                    list(statements.values()), "statements, for the maps' CSV and the search"),
               *res.refdata.scripts(config.store_cache_dir / "refdata" if config.parse_cache else None,
                                    job.deps.context if job.deps is not None else None)]
    for script in scripts:
        out.files[script.path] = script.content


def render_site(evidence: Evidence, graph: KnowledgeGraph, analysis: Analysis, target: Path, *,
                progress: Callable[[str], None] = lambda _: None,
                threshold: int | None = None, templates: Path | None = None, node_modules: Path | None = None,
                previous: Previous | None = None, jobs: int | None = None,
                alongside: Callable[[], None] | None = None, history: History | None = None,
                inputs: Inputs | None = None, verify_deps: bool = False,
                data_files: dict[str, Callable[[], bytes]] | None = None,
                data_done: Callable[[], None] = lambda: None,
                before_fork: Callable[[], None] = lambda: None,
                answers: Callable[[], Sequence[Answer]] | None = None,
                dump_payload: Callable[[], bytes] | None = None,
                styled: dict[str, tuple[StyledCitation, ...]] | None = None,
                background: Background | None = None, memo: KeyMemo | None = None,
                ref_links: dict[str, Link] | None = None) -> Rendered:
    """Write every page, table, script and asset of the site into ``target``.

    ``previous`` is the last build (see :mod:`kb.site.reuse`): unchanged files are linked from it, and
    with ``inputs`` (the evidence files' digests) record pages made from the same inputs are linked
    without their contexts being built (:mod:`kb.site.deps`; ``verify_deps`` builds them anyway and
    fails on a key that missed a change). ``data_files`` are files of ``data/`` (name → how to make its bytes)
    a worker writes too, first; ``data_done`` runs once they and ``alongside``'s are written, before the
    data page, which gives their sizes.
    ``jobs`` is the number of processes that render, this one among them (default: the CPUs this process may use):
    ``jobs - 1`` forked workers, and this process once its own work is done. ``alongside``
    is work for this process while the workers render (the pipeline writes ``data/`` and persists the
    store there); this process then makes the SPARQL page and its copy of the graph. ``before_fork`` runs just
    before the workers fork (a thread must be done by then). ``answers`` are the example queries' answers for
    the SPARQL page, where they were found already (:mod:`kb.site.answers`; else they are found here, from the
    store, which only this process reads: a worker reading it would copy it); ``dump_payload`` is that page's
    copy of ``data/kb.ttl.gz`` (:func:`kb.export.dumps.browser_deflate`; else made from the file). ``styled`` are
    the works' citations where they were formatted already (:func:`kb.site.cite.styled_citations`).
    ``background`` is work a worker begins before the pages (:class:`Background`). ``memo`` is what the last build
    of this process kept of its input keys (:class:`kb.site.deps.KeyMemo`; the editors' loop), ``ref_links`` the works'
    short links it made (:meth:`kb.pipeline.Warm.ref_links`), which the resolver uses and fills.
    """
    from kb.query.sparql import load_examples
    from kb.site import assets, overview
    from kb.site.answers import example_answers
    from kb.site.deps import Deps
    from kb.site.evmap import MARKS_PER_CELL
    from kb.site.render import environment
    from kb.site.reuse import render_key
    from kb.site.views import Resolver

    res = Resolver(evidence, analysis, history, styled, ref_links)
    site = overview.site_info(res)
    oxigraph = assets.oxigraph_scripts(node_modules or assets.find_node_modules(),  # fail before any work
                                       evidence.config.store_cache_dir / assets.CACHE)
    templates = templates or TEMPLATES
    if not (templates / "base.html").is_file():
        raise SiteError(f"the site templates are missing ({templates}); build from the KB's repository "
                        "(pip install -e . keeps them beside the package)")
    res.prime()  # shared lookups computed once, before the workers start
    key = render_key(templates, site)
    previous = previous or Previous()
    job = _Job(res, site, environment(templates, evidence.config.store_cache_dir / "templates"), key, target, previous,
               threshold if threshold is not None else MARKS_PER_CELL, templates,
               Deps(res, inputs, key.digest(), previous.records, memo), verify_deps, data_files or {})
    if memo is not None:
        memo.begin(analysis.groups, job.deps, lambda groups: prime_groups(groups, lambda: True))
        # the loop keeps the studies counted for the next build (StudyBase.keep_counts), the workers' among them
        analysis.studies.made = {}
    processes = max(1, min(jobs or usable_cpus(), len(_groups())))
    progress(f"rendering record and overview pages in {processes} process{'es' if processes > 1 else ''}")
    dump: list = []
    out = _output()

    def payload() -> bytes:
        if dump_payload is not None:
            return dump_payload()
        from kb.export.dumps import MemberCache, browser_deflate, gzip_members

        members = gzip_members((target / "data" / "kb.ttl.gz").read_bytes())
        return browser_deflate(members, MemberCache(None, formats=("deflate",)))

    def in_this_process() -> None:
        # The example queries not answered yet run in a thread while data/ is written here (pyoxigraph answers
        # without the GIL: ~1.6 s at 10k/50k that came after data/). The workers have forked: threads are safe now.
        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            found = threads.submit(answers if answers is not None else lambda: example_answers(
                graph.store, load_examples(evidence.config.queries_dir)))
            (alongside or (lambda: None))()  # writes data/ (the graph dumps among it, where no worker does)
            # The dump script is mostly zlib, which runs without the GIL: in a thread of its own (a cold build
            # compresses every piece: ~3 s at 10k/50k). Its triple count is the analysis's, of the same finished
            # store: counting the store again took ~0.3 s.
            script = threads.submit(lambda: assets.dump_script(payload(), analysis.triples))
            overview.sparql_page(res, out, found.result())
            dump.append(script.result())

    def finish(parts: list[_Part]) -> Rendered:
        """The pages that need data/, and what the build wrote: while the workers leave (their exit was ~0.15 s)."""
        data_done()
        return _finish(job, out, parts, [*oxigraph, *dump], progress, memo)

    before_fork()
    return _run(job, processes, in_this_process, background, then=finish)


def _finish(job: _Job, out: Any, parts: list[_Part], scripts: list[Any], progress: Callable[[str], None],
            memo: KeyMemo | None) -> Rendered:
    """:func:`render_site`'s last pages (data, what's new: they need data/'s files), the ``scripts`` this process made,
    and the parts put together."""
    from kb.site import living, overview
    from kb.site.render import Writer, stamp

    res, site, target = job.res, job.site, job.target
    progress("rendering the data and what's-new pages")
    writer = Writer(target, job.previous)
    living.whatsnew_page(res, site, out, target / "data")
    tables = [t for part in parts for t in part.tables] + [TableRef(p.template, p.title, p.csv)
                                                            for p in out.pages if p.csv is not None]
    overview.data_page(res, site, out, target, tables)
    _flush(job, writer, out)
    for script in scripts:
        writer.write(script.path, script.content)

    if memo is not None:
        memo.end(res.analysis.groups, job.deps, [part.digests for part in parts] + [job.deps.take_computed()],
                 res.ev.claims, res.history.claims)
        studies = res.analysis.studies
        for part in parts:
            studies.keep_made(part.counts)
        studies.made = None
    result = Rendered([], records=job.deps.records)
    for part in [*parts, _Part(writer.fingerprints, writer.written, writer.reused, [])]:
        clash = result.fingerprints.keys() & part.fingerprints.keys()
        if clash:
            raise ValueError(f"two files would be written to {min(clash)}")
        result.fingerprints.update(part.fingerprints)
        result.written += part.written
        result.reused += part.reused
        result.deps.update((path, job.previous.deps[path]) for path in part.kept)  # in the order the keeper had them
        result.deps.update(part.deps)
        result.kept += part.kept
    stamp(target, list(result.fingerprints))
    result.files = sorted(target / path for path in result.fingerprints)
    progress(f"{len(result.written)} files written, {len(result.reused)} unchanged since the last build"
             + (f" ({len(result.kept)} pages not even built: their inputs are unchanged)" if result.kept else ""))
    return result


def _output() -> Any:
    from kb.site.context import Output

    return Output([], {})


def _flush(job: _Job, writer: Any, out: Any) -> list[TableRef]:
    """Render (or reuse) the pages and write the files collected in ``out``; return its tables."""
    from kb.site.render import render_page
    from kb.site.reuse import page_fingerprint

    tables = []
    check = out.keeper.check if out.keeper.expected else None
    for page in out.pages:
        fingerprint = page_fingerprint(job.key, page)
        if check:
            check(page.path, fingerprint)
        writer.put(page.path, fingerprint, lambda page=page: render_page(job.env, page, job.site))
        if page.csv is not None:
            tables.append(TableRef(page.template, page.title, page.csv))
    for path, text in out.files.items():
        writer.write(path, text)
        if check:
            check(path, writer.fingerprints[path])
    out.pages.clear()
    out.files.clear()
    return tables


@dataclass
class Background:
    """Work for a site worker that needs none of the pages (``kb build``'s graph dumps), begun before the
    groups; :meth:`result` waits for it, for the main process's own work that needs it."""

    work: Callable[[], Any]
    _result: Callable[[], Any] | None = None

    def result(self) -> Any:
        if self._result is None:  # no workers: done here, when first asked for
            value = self.work()
            self._result = lambda: value
        return self._result()


_JOB: _Job | None = None  # set in the parent just before the workers fork
_TAKEN: Any = None  # one flag per group, shared with the workers: set by whoever renders it (_claim)
_BACKGROUND: Background | None = None


def _background() -> Any:
    assert _BACKGROUND is not None
    return _BACKGROUND.work()


def _render_group(name: str) -> _Part:
    from kb.site.deps import Keeper
    from kb.site.render import Writer

    job = _JOB
    assert job is not None
    with no_gc():  # contexts are acyclic; the collector only costs time here (20–40 %)
        writer, out = Writer(job.target, job.previous), _output()
        out.keeper = Keeper(job.deps, job.previous, writer, job.verify)
        tables: list[TableRef] = []
        out.sink = lambda: tables.extend(_flush(job, writer, out))  # each page written once made, not held
        _groups()[name](job, out)
        tables += _flush(job, writer, out) + out.tables
    _rendered_here(name)
    give_back_freed()  # what the group's pages were made of: the next group, or the other process, may use it
    keeper = out.keeper
    records, kept = keeper.finish(writer.fingerprints), set(keeper.kept)
    # A kept page's entry is the last build's, which the main process holds: sent back, a question page's were ~16 MB
    # at 10k/50k, which the worker waited ~0.35 s to hand over while the main process rendered
    built = {path: entry for path, entry in records.items() if path not in kept}
    return _Part(writer.fingerprints, writer.written, writer.reused, tables, built, keeper.kept,
                 job.deps.take_computed() if job.deps is not None else {}, job.res.analysis.studies.take_made())


# The groups that read the evidence network (the network page; network.graphml.gz). A worker held it (~240 MB at
# 10k/50k then, ~120 MB now) through every group after them: the largest part of its growth, at the all-process peak.
NETWORK_GROUPS = ("overview", "_data")


def _rendered_here(name: str) -> None:
    """This process rendered group ``name``: once no group left to it reads the network, let the network go. With
    workers, a group is left to no process once taken (whoever took it renders it, this process one group at a
    time); alone, this process renders the groups in order."""
    job = _JOB
    if job is None or name not in NETWORK_GROUPS:
        return
    names = list(_groups())
    readers = [names.index(group) for group in NETWORK_GROUPS]
    if all(_TAKEN[i] for i in readers) if _TAKEN is not None else max(readers) <= names.index(name):
        job.res.analysis.let_go_network()


def prime_groups(groups: Groups, busy: Callable[[], bool]) -> None:
    """Group the rows the ways the site's pages will (:class:`kb.analyse.groups.Groups`) while ``busy()`` says that
    the main process would otherwise wait (a fresh build's graph still being parsed): the workers fork later and
    inherit each grouping made here; what is not made here, they make. At 10k/50k the workers made ~20 groupings
    of ~90,000 rows (~2.5 s of CPU after they forked, on two saturated cores) while the main process waited ~1–2 s
    for the parser. In the order the workers take their groups (the summaries first). The editors' loop makes
    here, before the fork, every grouping it did not carry over from the last build (:class:`kb.site.deps.KeyMemo`),
    so that the next build can."""
    from functools import partial

    from kb.site.addresses import CONCEPT_FOLDERS
    from kb.site.context import MAP_PATHS

    steps: list[Callable[[], object]] = [groups.questions, lambda: groups.ranked]
    for scheme in CONCEPT_FOLDERS:
        steps += [partial(groups.by, scheme), partial(groups.by, scheme, ranked=True)]
    for axis in MAP_PATHS:
        steps += [partial(groups.cells, axis), partial(groups.cells, axis, ranked=True)]
    steps += [partial(groups.by, "domain"), partial(groups.by, "source"), partial(groups.by, "cites")]
    for step in steps:
        if not busy():
            return
        step()


# The groups the workers begin with, the longest first: the summaries are the longest group of a cold build (~13 s
# of CPU at 10k/50k) and after an edit (~2 s: the changed question's and domain's pages). Last in the parts' order,
# they were left to the main process once it had written data/, the build's last ~2 s (1 core idle); begun first by
# a worker, the main process ends with the shortest groups instead: the loop 10.81 → 10.42 s (medians of five edits,
# alternated in one process). Then the two that read the network (NETWORK_GROUPS), one after the other, so that the
# worker lets it go as soon as it can (~120 MB at 10k/50k, made by the first).
FIRST = ("summaries", *NETWORK_GROUPS)


def _schedule(names: list[str]) -> list[int]:
    """The groups (their indices in ``names``) in the order the workers begin them: :data:`FIRST`, then the others
    in their order; the main process takes groups from the end of it."""
    first = [names.index(name) for name in FIRST if name in names]
    return first + [i for i in range(len(names)) if i not in first]


def _claim(index: int) -> bool:
    """Take group ``index`` to render, unless another process took it."""
    with _TAKEN.get_lock():
        if _TAKEN[index]:
            return False
        _TAKEN[index] = 1
        return True


def _render_claimed(index: int) -> _Part | None:
    """In a worker: the group's part, or None where the main process took the group."""
    return _render_group(list(_groups())[index]) if _claim(index) else None


def _rendered(part: _Part | None) -> _Part:
    assert part is not None, "a group neither a worker nor the main process rendered"
    return part


def _run(job: _Job, processes: int, alongside: Callable[[], None], background: Background | None,
         then: Callable[[list[_Part]], T]) -> T:
    """Render the groups in ``processes`` processes, this one among them: ``processes - 1`` forked workers; ``then``
    is given the parts in group order, and run while the workers leave (no process is forked meanwhile).

    This process counts as one because it has as much to do as a worker (``kb build``'s ``data/``, in
    ``alongside``) before it renders: at 10k/50k on two cores, two workers beside it (three processes on two
    cores) took ~10 s longer (a median of 130 against 122 s), ~25 s more CPU and 0.6 GB more memory (2.8 against
    2.2 GB, all processes at once) than one.

    ``alongside`` runs here once the workers have forked (never before: no thread may be alive
    at a fork). Then this process renders the groups no worker has begun, the last of :func:`_schedule` first,
    rather than wait: whoever renders a group, its part is the same. ``background`` is begun by a worker before the
    groups.
    """
    global _JOB, _TAKEN, _BACKGROUND
    names = list(_groups())
    _JOB, _BACKGROUND = job, background
    try:
        if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            parts = [_render_group(name) for name in names]
            alongside()
            return then(parts)
        context = multiprocessing.get_context("fork")
        _TAKEN = context.Array("b", len(names))
        # frozen: the collector must not touch (and so copy) the parent's objects in the workers
        with frozen(), forked_pool(processes - 1) as pool:
            if background is not None:
                background._result = pool.apply_async(_background).get
            schedule = _schedule(names)
            pending = pool.map_async(_render_claimed, schedule, chunksize=1)
            # Workers leave once the groups are rendered, not when this process is done with its own
            # work: an idle worker still holds its copy of the parent's pages (~1 GB at 50,000 claims).
            pool.close()
            alongside()
            mine: dict[int, _Part] = {}
            for i in reversed(schedule):
                if pending.ready():
                    break
                if _claim(i):
                    mine[i] = _render_group(names[i])
            theirs = dict(zip(schedule, pending.get(), strict=True))
            return then([mine[i] if i in mine else _rendered(theirs[i]) for i in range(len(names))])
    finally:
        _JOB = _TAKEN = _BACKGROUND = None
