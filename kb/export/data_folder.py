"""A built site's ``data/`` folder, written in one place: the graph dumps, every export, the schema,
each release's kept dump, and the VoID description of them all.

An incremental build (``kb build`` after an edit, ``kb serve``'s editors' loop) hands in what it
kept from the last build — in memory (:class:`ExportCaches`) and under ``.kb-cache/`` — so that the
dumps, the FHIR Bundle, the nanopublications and the references' exports are made again only where
their inputs changed; the bytes are the same as a cold build's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.analyse.analysis import Analysis
from kb.checks.scope import Inputs
from kb.export.dumps import Dumps, Patch
from kb.export.void import Statistics
from kb.export.works import SaidMemo, WorkTexts
from kb.graph.build import KnowledgeGraph
from kb.graph.memo import FOLDER as MEMO_FOLDER
from kb.io.writing import write_file
from kb.load.byrecord import ByRecord
from kb.load.evidence import Evidence

# Written by every build, never reused from a previous one (the site's manifest marks them "dump").
GRAPH_DUMPS = ("kb.nt.gz", "kb.ttl.gz", "kb.jsonld.gz")
DUMPS_FOLDER = "dumps"  # the graph dumps' kept chunks and their index in the cache (.kb-cache/dumps/)


@dataclass(frozen=True)
class DataFolder:
    """What :func:`write_data_folder` wrote: the files' names (relative to ``data``), and the graph dumps
    (:class:`kb.export.dumps.Dumps`: how the graph changed, ``kb.ttl.gz``'s members) where it wrote them."""

    names: list[str]
    dumps: Dumps | None


@dataclass
class ExportCaches:
    """What a long-running process keeps of the last build's exports (only caches: same bytes without them)."""

    nanopubs: dict[str, Any] = field(default_factory=dict)  # the last export written (kb.export.nanopub_memo)
    dumps: dict[str, Any] = field(default_factory=dict)  # the last graph dumps' gzip members (kb.export.dumps)
    fhir: dict[str, Any] = field(default_factory=dict)  # the FHIR Bundle's fragments (kb.export.fhir_cache)
    fhir_files: dict[str, Any] = field(default_factory=dict)  # each claim file's last fragment and claims (likewise)
    members: dict[str, Any] = field(default_factory=dict)  # the FHIR Bundle's and nanopublications' gzip members
    runs: dict[str, Any] = field(default_factory=dict)  # what compress_runs saw of those, by format (dumps.Seen)
    browser: dict[str, Any] = field(default_factory=dict)  # the SPARQL page's copy's pieces (browser_turtle)
    by_context: dict[str, Any] = field(default_factory=dict)  # the references' exports (kb.export.fragments)
    works: dict[str, WorkTexts] = field(default_factory=dict)  # each work's text in them, by format
    said: SaidMemo = field(default_factory=SaidMemo)  # what each work's entry says, the key of those and of FHIR's
    claims: ByRecord[bytes] = field(default_factory=ByRecord)  # the claims table's rows' text (kb.export.table)


def write_data_folder(evidence: Evidence, graph: KnowledgeGraph, analysis: Analysis, data: Path, *,
                      inputs: Inputs | None, previous_nanopubs: Path | None, caches: ExportCaches | None,
                      progress: Callable[[str], None], elsewhere: bool = False,
                      dumped: Path | None = None, patch: Patch | None = None) -> DataFolder:
    """Write every file of ``data/``; return their names (relative to ``data``) and the graph dumps it wrote.

    ``inputs`` are the evidence files' digests when they were stable while loading (else nothing
    keyed by them is trusted); ``previous_nanopubs`` the last build's export, which unchanged claims
    keep and changed ones supersede. With ``elsewhere``, the :func:`analysis_files` and ``void.ttl`` (which
    describes them) and the graph dumps (:func:`graph_dumps`) are left to the caller, though listed. ``dumped``
    is the store's unsorted dump where a thread took it already (:func:`kb.export.rdf.dump_unsorted`), ``patch``
    how the last build's dumps can be patched instead (:func:`dumps_patch`).
    """
    from kb.export.csljson import csljson_bytes
    from kb.export.dumps import MemberCache, Seen, compress_runs
    from kb.export.fhir import fhir_bundle_chunks
    from kb.export.fhir_cache import fhir_bundle_cached
    from kb.export.fragments import Fragments, by_context
    from kb.export.nanopub_memo import Remembered
    from kb.export.ris import ris_bytes
    from kb.graph.shipped import schema_bytes
    from kb.io.procs import give_back_freed

    cache_dir = evidence.config.store_cache_dir
    data.mkdir(parents=True, exist_ok=True)
    remembered = Remembered(cache_dir / "nanopubs", caches.nanopubs if caches is not None else None)

    # The two largest exports (~400 and ~300 MB of text at 50,000 claims) come in pieces and are compressed as
    # they come: held whole, with the objects they are made of, they were 4 GB of the build's peak memory. Each
    # run of pieces is a gzip member kept for the next build (kb.export.dumps.compress_runs): compressing
    # them whole again was ~9 s of a rebuild after one edit.
    members = MemberCache(cache_dir / "members", caches.members if caches is not None else None,
                          formats=("fhir", "trig"))

    def seen(fmt: str) -> Seen | None:
        return caches.runs.setdefault(fmt, Seen()) if caches is not None else None

    def work_texts(fmt: str) -> WorkTexts | None:
        return caches.works.setdefault(fmt, WorkTexts(caches.said)) if caches is not None else None

    def nanopubs() -> bytes:
        """Each claim's nanopublication, keeping or superseding the last build's (kb.export.nanopub_memo)."""
        return compress_runs(remembered.trig(evidence, graph, previous_nanopubs, inputs), members, "trig", seen("trig"))

    def fhir() -> bytes:
        """The FHIR Bundle, from the fragments of unchanged files where the inputs are known (kb.export.fhir_cache)."""
        if inputs is None:
            return compress_runs(fhir_bundle_chunks(evidence), members, "fhir", seen("fhir"))
        fragments = Fragments(cache_dir / "fhir", caches.fhir if caches is not None else None, pieces=True)
        return compress_runs(fhir_bundle_cached(evidence, inputs, fragments,
                                                caches.fhir_files if caches is not None else None,
                                                caches.said if caches is not None else None),
                             members, "fhir", seen("fhir"))

    progress("writing data dumps")
    # Files that grow with the KB are gzipped (kb.export.formats.DATA_FILES says which).
    dumps = None if elsewhere else graph_dumps(evidence, graph, data, caches, dumped, patch, analysis.triples)[0]
    grown = {**{name: make for name, make in analysis_files(analysis, cache_dir, caches).items()
                if not elsewhere or name in made_here(caches)},
             "references.bib.gz": evidence.config.references_path.read_bytes,
             "references.json.gz": lambda: csljson_bytes(evidence.references, work_texts("json")),
             "references.ris.gz": lambda: ris_bytes(evidence.references, work_texts("ris"))}
    kept = Fragments(cache_dir / "by-context", caches.by_context if caches is not None else None)
    context = inputs.of("references") if inputs is not None else None  # (and the code, the base IRI)
    small = {name: by_context(kept, context, name, make) if name.startswith("references.") else make()
             for name, make in grown.items()}
    small["kb.fhir.json.gz"] = fhir()
    give_back_freed()  # the Bundle's lines (~0.5 GB at 50,000 claims) are gone: not held through what follows
    small["nanopubs.trig.gz"] = nanopubs()
    kept.keep()
    if caches is not None:
        for texts in caches.works.values():
            texts.end()
        caches.said.end()
    members.save()
    remembered.remember(small["nanopubs.trig.gz"])
    small.update({name: schema_bytes(name) for name in ("ontology.ttl", "shapes.ttl")})
    for release in evidence.releases:  # kept dumps, at a versioned path, for good
        small[f"releases/{release.name}/kb.nt.gz"] = Path(release.dump).read_bytes()
    for name, payload in small.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        write_file(data / name, payload)
    if elsewhere:
        return DataFolder([*GRAPH_DUMPS, *small], None)
    write_void(evidence, graph, data)
    return DataFolder([*GRAPH_DUMPS, *small, "void.ttl"], dumps)


def graph_dumps(evidence: Evidence, graph: KnowledgeGraph, data: Path, caches: ExportCaches | None,
                dumped: Path | None = None, patch: Patch | None = None,
                triples: int | None = None) -> tuple[Dumps, dict[str, Any] | None]:
    """``kb.nt.gz``, ``kb.ttl.gz`` and ``kb.jsonld.gz`` (:func:`kb.export.dumps.write_graph_dumps`), in chunks
    reused from the last build where unchanged, kept under ``.kb-cache/dumps/``; with ``caches``, also this
    build's chunks for the caller to keep in memory, those it holds already as None
    (:meth:`~kb.export.dumps.MemberCache.parcel`: another process may write the dumps: ``kb build`` has a site
    worker do it, from the store's unsorted dump taken before the workers forked, or by ``patch``ing the last
    build's chunks, :func:`dumps_patch`)."""
    from kb.export.dumps import MemberCache, write_graph_dumps

    data.mkdir(parents=True, exist_ok=True)
    config = evidence.config
    members = MemberCache(config.store_cache_dir / DUMPS_FOLDER, caches.dumps if caches is not None else None)
    memo = config.store_cache_dir / MEMO_FOLDER if config.parse_cache else None
    return (write_graph_dumps(graph, data, members, dumped, patch, triples, memo),
            members.parcel() if caches is not None else None)


def dumps_patch(evidence: Evidence, graph: KnowledgeGraph) -> Patch | None:
    """How the last build's graph dumps can be patched into this graph's (:func:`kb.export.dumps.patch_plan`), where
    the graph memo keeps the text of the parts that changed; None: sort the graph whole."""
    from kb.export.dumps import patch_plan

    config = evidence.config
    if not config.parse_cache:
        return None
    return patch_plan(config.store_cache_dir / DUMPS_FOLDER, config.store_cache_dir / MEMO_FOLDER, graph.parts)


FROM_NETWORK = frozenset({"network.graphml.gz"})  # analysis_files made from the evidence network alone


def analysis_files(analysis: Analysis, cache_dir: Path | None, caches: ExportCaches | None = None,
                   evidence: Evidence | None = None, inputs: Inputs | None = None) -> dict[str, Callable[[], bytes]]:
    """The files of ``data/`` made from the analysis alone (not the store): another process may write them
    (``kb build`` has the site's workers do it while this one writes the rest).

    Each is gzipped a run of lines at a time, every member kept under ``cache_dir`` and reused where its
    lines are unchanged (:func:`kb.export.dumps.compress_runs`): compressing both whole was ~3 s of every
    rebuild at 50,000 claims. A worker keeps them on disk only: its memory ends with it. ``caches`` are a
    long-running process's (:func:`made_here`); without them, each claim file's rows in the claims table are kept
    under ``cache_dir`` where the ``evidence``'s ``inputs`` are known
    (:func:`kb.export.table.claims_csv_lines_by_file`)."""
    from kb.export.dumps import MemberCache, Seen, compress_runs
    from kb.export.fragments import Fragments
    from kb.export.graphml import graphml_lines
    from kb.export.table import claims_csv_lines, claims_csv_lines_by_file

    def packed(fmt: str, lines: Callable[[], Iterable[bytes]]) -> Callable[[], bytes]:
        def run() -> bytes:
            members = MemberCache(cache_dir / "members" if cache_dir is not None else None,
                                  caches.members if caches is not None else None, formats=(fmt,))
            seen = caches.runs.setdefault(fmt, Seen()) if caches is not None else None
            data = compress_runs(lines(), members, fmt, seen)
            members.save()
            return data
        return run

    def claims() -> list[bytes]:
        claims = evidence.claims if evidence is not None else []
        paths = {c.id: c.path for c in claims}
        # a claim id in two files (which the checks refuse) would file one's rows under the other's digest
        if caches is None and cache_dir is not None and inputs is not None and claims and len(paths) == len(claims):
            return claims_csv_lines_by_file(analysis, paths, inputs.claim_files,
                                            Fragments(cache_dir / "claims-csv", None), inputs.context)
        return claims_csv_lines(analysis, caches.claims if caches is not None else None)

    return {"claims.csv.gz": packed("claims-csv", claims),
            "network.graphml.gz": packed("graphml", lambda: graphml_lines(analysis))}


def made_here(caches: ExportCaches | None) -> frozenset[str]:
    """The :func:`analysis_files` that the process with ``caches`` makes itself where the site's workers make the
    rest: in a long-running process (the editors' loop), the claims table, whose rows' text it keeps (a worker's
    memory ends with it); after an edit at 50,000 claims it was ~2 s of a worker's, and is ~0.3 s here."""
    return frozenset({"claims.csv.gz"}) if caches is not None else frozenset()


def write_void(evidence: Evidence, graph: KnowledgeGraph, data: Path, stats: Statistics | None = None) -> None:
    """``void.ttl``: the dataset and every file of ``data/`` with its size, so it comes once they are all written;
    ``stats`` are the graph's (:func:`kb.export.void.statistics`) where they were taken already."""
    from kb.export.formats import data_files
    from kb.export.void import DataFile, statistics, void_turtle

    described = [DataFile(f.name, f.description, f.media_type, (data / f.name).stat().st_size, f.compressed)
                 for f in data_files(evidence) if (data / f.name).is_file()]
    (data / "void.ttl").write_bytes(void_turtle(evidence, stats or statistics(graph), described))


def browser_turtle(evidence: Evidence, turtle: tuple[bytes, ...], caches: ExportCaches | None) -> bytes:
    """The SPARQL page's copy of ``kb.ttl.gz`` (``turtle``, its members) as one raw deflate stream, its pieces
    kept for the next build in memory and under ``.kb-cache/browser/`` (:func:`kb.export.dumps.browser_deflate`)."""
    from kb.export.dumps import MemberCache, browser_deflate

    cache = MemberCache(evidence.config.store_cache_dir / "browser", caches.browser if caches is not None else None,
                        formats=("deflate",))
    payload = browser_deflate(turtle, cache)
    cache.save()
    return payload
