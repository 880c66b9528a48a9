"""Time each stage of the kb pipeline in one fresh process: ``python -m bench.stages EVIDENCE BUILT JSON``.

Why one fresh process: a ``kb build`` pays each import (bibtexparser, pyoxigraph, rdflib,
pyshacl, networkx, jinja2) in the first stage that needs it, so this process does the same —
the stages run in pipeline order, each timing its own imports, and their sum is comparable with
the ``kb build`` process. The cyclic collector runs as in ``kb build`` (paused while loading, then
young passes only). BUILT is a site already built by ``kb build``: the site stage reads
the data files it needs from there only for outputs this process does not itself time.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Timer:
    """Seconds per named stage; a failing stage is recorded (with its error) and re-raised."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # process CPU time: less sensitive to other tenants than wall time
        self.errors: dict[str, str] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        except Exception:
            self.errors[name] = traceback.format_exc(limit=3)
            raise
        finally:
            self.seconds[name] = time.perf_counter() - start
            self.cpu[name] = time.process_time() - cpu


def _stage(timer: Timer, name: str, work: Callable[[], Any]) -> Any:
    with timer(name):
        return work()


def run_pipeline(evidence_dir: Path, built: Path) -> dict[str, Any]:
    """load → graph → validate → analyse → export → site → example queries, each timed."""
    timer = Timer()
    out: dict[str, Any] = {"stages": timer.seconds, "cpu_seconds": timer.cpu, "errors": timer.errors}
    with contextlib.suppress(Exception):  # the error is in timer.errors; later stages are simply missing
        _pipeline(timer, evidence_dir, built, out)
    return out


def _parse_cache(folder: Path) -> Callable[[Path, Callable[[Path], Any]], Any]:
    """The pipeline's per-file parse cache on an empty folder: a cold build parses and writes it."""
    try:
        from kb.load.parsecache import ParseCache
    except ImportError:
        return lambda path, loader: loader(path)
    return ParseCache(folder).load


def _load(timer: Timer, evidence_dir: Path) -> tuple[Any, list[Any]]:
    def config() -> Any:
        from kb.config import load_config

        return load_config(evidence_dir)

    cfg = config()
    folder = Path(tempfile.mkdtemp(prefix="bench-parse-cache-"))
    atexit.register(shutil.rmtree, folder, True)  # each run parses cold; leave nothing in /tmp
    cached = _parse_cache(folder)

    def bib() -> Any:
        from kb.bibtex.load import load_references

        return cached(cfg.references_path, load_references)

    def claims() -> Any:
        from kb.load.claims import load_claim_file, load_claims

        try:
            return load_claims(cfg.claims_dir, lambda path: cached(path, load_claim_file))
        except TypeError:  # a loader without the cache hook
            return load_claims(cfg.claims_dir)

    def rest() -> Any:
        from kb.load.claims import load_citations
        from kb.load.sources import load_sources
        from kb.load.vocab import load_vocabulary

        return (load_citations(cfg.citations_dir), load_vocabulary(cfg.vocab_dir, cfg.base_iri),
                load_sources(cfg.sources_dir))

    references, p1 = _stage(timer, "load_bib", bib)
    claim_list, p2 = _stage(timer, "load_claims", claims)
    (citations, p3), (vocabulary, p4), (sources, p5) = _stage(timer, "load_rest", rest)
    from kb.load.evidence import Evidence

    return Evidence(cfg, references, citations, claim_list, vocabulary, sources), [*p1, *p2, *p3, *p4, *p5]


@contextmanager
def _collector_as_kb_build() -> Iterator[tuple[Callable[[], Any], Callable[[], Any]]]:
    """The cyclic collector as ``kb build`` runs it (:func:`kb.pipeline.build`): paused while the records load, the
    records then frozen, and only its young passes after that; yields the two contexts. Timed with the collector's
    defaults, the stages paid for passes the build never makes: loading the claims of the 10k/50k corpus took 45 s
    of CPU that way here, against ~12 s paused."""
    try:
        from kb.io.procs import frozen, no_gc, young_passes_only
    except ImportError:  # older code: the collector's defaults
        yield contextlib.nullcontext, contextlib.nullcontext
        return
    with frozen():
        yield no_gc, young_passes_only


def _pipeline(timer: Timer, evidence_dir: Path, built: Path, out: dict[str, Any]) -> None:
    import gc

    with _collector_as_kb_build() as (loading, after):
        with loading():
            evidence, problems = _load(timer, evidence_dir)
            gc.freeze()  # undone where the block ends (kb.io.procs.frozen), as in kb build
        with after():
            _checked(timer, evidence, problems, built, out)


def _checked(timer: Timer, evidence: Any, problems: list[Any], built: Path, out: dict[str, Any]) -> None:
    def cross() -> list[Any]:
        from kb.checks.crossfile import check_evidence

        return check_evidence(evidence)

    problems += _stage(timer, "cross_checks", cross)

    def graph() -> Any:
        from kb.graph.build import build_graph

        return build_graph(evidence)

    kg = _stage(timer, "graph", graph)
    out["triples"] = len(kg)

    def shacl() -> list[Any]:
        from kb.checks.shacl import shacl_problems

        return shacl_problems(evidence, kg, problems)

    problems += _stage(timer, "shacl", shacl)
    out["errors_found"] = sum(1 for p in problems if p.severity == "error")

    def analysis() -> Any:
        from kb.analyse.analysis import analyse

        return analyse(kg, evidence)

    result = _stage(timer, "analyse", analysis)
    staging = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    try:
        _exports_and_site(timer, evidence, kg, result, staging, built, problems)
        _queries(timer, kg.store, evidence.config.queries_dir, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _exports_and_site(timer: Timer, evidence: Any, kg: Any, result: Any, staging: Path, built: Path,
                      problems: list[Any]) -> None:
    from kb.export.graphml import graphml_bytes
    from kb.export.rdf import graph_bytes
    from kb.export.table import claims_csv

    data = staging / "data"
    data.mkdir(parents=True)
    for fmt, name in (("ttl", "kb.ttl"), ("nt", "kb.nt"), ("jsonld", "kb.jsonld")):
        payload = _stage(timer, f"export_{fmt}", lambda fmt=fmt: graph_bytes(kg, fmt))
        (data / name).write_bytes(payload)
    (data / "claims.csv").write_bytes(_stage(timer, "export_csv", lambda: claims_csv(result)))
    (data / "network.graphml").write_bytes(_stage(timer, "export_graphml", lambda: graphml_bytes(result)))
    for other in sorted((built / "data").glob("*")):  # outputs not timed here (bib copy, schema files)
        if not (data / other.name).exists() and other.is_file():
            shutil.copyfile(other, data / other.name)
    try:
        from kb.site import render_site
    except ImportError:
        return  # the site renderer has not landed: no site stage

    from kb.pipeline import Checked
    from kb.problems import Report

    checked = Checked(evidence, kg, Report(list(problems)))
    _stage(timer, "site", lambda: render_site(checked.evidence, checked.graph, result, staging))


def _queries(timer: Timer, store: Any, queries_dir: Path, out: dict[str, Any]) -> None:
    import kb.query.sparql as q

    per_query: dict[str, float] = {}
    examples = q.load_examples(queries_dir)
    with timer("queries"):
        for example in examples:
            start = time.perf_counter()
            q.format_results(q.run_query(store, example.text), "csv")
            per_query[example.name] = time.perf_counter() - start
    out["query_seconds"] = per_query


def main() -> None:
    evidence_dir, built, target = (Path(a) for a in sys.argv[1:4])
    Path(target).write_text(json.dumps(run_pipeline(evidence_dir, built), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
