"""The ``kb`` commands on the evidence folder: check, build, serve, stats, vocab, and the editors'
commands that change it (add, new-claim, release)."""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from kb.cli.common import (
    EXIT_ERRORS,
    STATS_FORMATS,
    Seconds,
    done,
    evidence_option,
    fail,
    held_until_done,
    load_config,
    print_problems,
)
from kb.cli.group import main

if TYPE_CHECKING:
    import pyoxigraph

    from kb.config import Config
    from kb.live import Loop
    from kb.pipeline import BuildResult


@main.command()
@evidence_option
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: every problem as a machine-readable record on stdout.")
@click.option("--no-shacl", is_flag=True, help="Skip SHACL validation of the graph (faster).")
@click.option("--shacl-engine", type=click.Choice(["sparql", "pyshacl"]), default="sparql", show_default=True,
              help="sparql: the shapes compiled to SPARQL (fast); pyshacl: the reference implementation.")
def check(evidence_dir: Path, strict: bool, fmt: str, no_shacl: bool, shacl_engine: str) -> None:
    """Validate the evidence and report every problem in one run."""
    from kb.pipeline import check as run_check
    from kb.pipeline import terminal_progress

    held_until_done()
    config = load_config(evidence_dir)
    checked = run_check(config, shacl=not no_shacl, progress=terminal_progress(), shacl_engine=shacl_engine,
                        releases=True)
    report = checked.report
    print_problems(report.problems, fmt)
    if fmt == "text":
        ev = checked.evidence
        click.echo(f"{len(ev.references)} references, {len(ev.claims)} claims, "
                   f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    code = 0 if report.ok(strict) else EXIT_ERRORS
    done(code)
    sys.exit(code)

@main.command()
@evidence_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Processes that render the site, this one included (default: one per CPU).")
def build(evidence_dir: Path, out_dir: Path, strict: bool, jobs: int | None) -> None:
    """Check the evidence, then write the graph dumps and the static site.

    Files whose inputs did not change since the last build into the same folder are reused.
    """
    held_until_done()
    result = _build_site(evidence_dir, out_dir, strict, jobs)  # held until done(): freeing it is the system's
    options = "".join(f" {flag} {shlex.quote(str(value))}" for flag, value, default in (
        ("--evidence", evidence_dir, "evidence"), ("--out", out_dir, "site")) if str(value) != default)
    click.echo(f"open {shlex.quote(str(result.out_dir / 'index.html'))} in a browser (no server needed), "
               f"or preview it with: kb serve{options}")
    done()

def _build_site(evidence_dir: Path, out_dir: Path, strict: bool, jobs: int | None) -> BuildResult:
    """``kb build`` without its closing hint (``kb serve`` says where it serves instead)."""
    from kb.pipeline import EvidenceError, OutputError, terminal_progress
    from kb.pipeline import build as run_build

    config = load_config(evidence_dir, out_dir=out_dir)
    try:
        # kb build exits once built: its store may go before the site's workers fork (kb.pipeline.Ahead)
        result = run_build(config, strict=strict, progress=terminal_progress(), jobs=jobs, keep_store=False)
    except EvidenceError as exc:
        print_problems(exc.report.problems)
        click.echo(f"kb build: {len(exc.report.errors)} error(s); nothing was written", err=True)
        sys.exit(EXIT_ERRORS)
    except OutputError as exc:
        fail(f"kb build: {exc}")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    print_problems(result.report.warnings)
    reused = f" ({len(result.reused)} unchanged since the last build)" if result.reused else ""
    click.echo(f"built {len(result.files)} files in {result.out_dir}{reused}")
    return result

@main.command()
@evidence_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--timeout", type=Seconds(), default=30.0, show_default=True,
              help="Stop a SPARQL query after this many seconds (a client may ask for less with ?timeout=MS).")
@click.option("--max-memory", type=click.IntRange(min=64), default=4096, show_default=True, metavar="MIB",
              help="Stop a SPARQL query that needs more than this many MiB of memory.")
@click.option("--no-build", is_flag=True, help="Serve the site as last built, and the store kb build or kb query "
              "cached for the current evidence (quicker to start; the pages may be older than the evidence).")
@click.option("--no-watch", is_flag=True, help="Do not rebuild when the evidence changes.")
def serve(evidence_dir: Path, out_dir: Path, port: int, timeout: float, max_memory: int, no_build: bool,
          no_watch: bool) -> None:
    """Build the site, then serve it on 127.0.0.1 with a SPARQL endpoint at /sparql (Ctrl-C stops).

    The endpoint answers the SPARQL 1.1 Protocol (GET and POST; JSON, XML, CSV and TSV results,
    Turtle, N-Triples or RDF/XML graphs) from the KB held in memory, read-only like kb query, each
    query in its own process within --timeout and --max-memory. kb query uses it while it runs.
    While it serves, it watches the evidence folder and rebuilds the site and the store when a file
    changes (the editors' loop); a rebuild that fails keeps the last good site. On the way out
    (Ctrl-C) it caches the last rebuilt store for kb query (Ctrl-C again skips that).
    """
    import os
    import threading

    from kb.live import Loop, Rebuild, Watcher
    from kb.pipeline import quiet, terminal_progress
    from kb.query.endpoint import PATH, Endpoint
    from kb.query.isolate import Limits
    from kb.query.serving import Running, forget, record
    from kb.query.store import evidence_key
    from kb.remote.publish import default_graph_iri
    from kb.site.serve import HOST, make_server

    config = load_config(evidence_dir, out_dir=out_dir)
    loop = Loop(config, progress=terminal_progress())
    watcher = None if no_watch else Watcher(config)  # before the build reads the files: no edit is missed
    if no_build:
        key = evidence_key(config)
        store = _cached_store(config)
    else:
        first = loop.build()
        if first.result is None:
            _failed_first_build(first)
        print_problems(first.result.report.warnings)
        reused = f" ({len(first.result.reused)} unchanged since the last build)" if first.result.reused else ""
        click.echo(f"built {len(first.result.files)} files in {first.result.out_dir}{reused}")
        key, store = first.key, first.result.checked.kg.store
        del first  # the rest (records, analysis) is not held while serving, nor frozen by ready()
        # the old site removed, the manifest recorded, references.bib's entries read where it watches, the state frozen
        loop.ready(prime=watcher is not None)
    endpoint = Endpoint(store, graph=default_graph_iri(config.base_iri), key=key,
                        limits=Limits(timeout=timeout, max_memory_mib=max_memory))
    try:
        server = make_server(out_dir, port, endpoint)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror} (use --port)") from None
    base = f"http://{HOST}:{server.server_port}"
    running = Running(HOST, server.server_port, os.getpid(), key)

    def rebuilt(rebuild: Rebuild) -> None:
        nonlocal running
        print_problems(rebuild.problems if rebuild.result is None else rebuild.result.report.warnings)
        # The line comes before the query workers are forked again (~0.2 s at 10k/50k): the site is in place, and a
        # query asked meanwhile waits for them (paused since the rebuild began), so none is answered from the old store.
        if rebuild.result is not None:
            running = Running(HOST, server.server_port, os.getpid(), rebuild.key)
            with contextlib.suppress(OSError):
                record(config.store_cache_dir, running)  # kb query finds the new store's key
            click.echo(rebuild.summary())
            endpoint.replace(rebuild.result.checked.kg.store, rebuild.key,
                             default_graph_iri(rebuild.result.checked.evidence.config.base_iri))
        else:
            click.echo(rebuild.summary())
            endpoint.resume()  # the last good store, put back

    stop = threading.Event()
    serving = threading.Thread(target=server.serve_forever, name="kb-serve", daemon=True)
    with contextlib.suppress(OSError):
        record(config.store_cache_dir, running)
    try:
        serving.start()
        watching = " (rebuilding when the evidence changes)" if watcher is not None else ""
        click.echo(f"serving {out_dir} at {base}/ and SPARQL at {base}{PATH}{watching} (Ctrl-C to stop)")
        loop.progress = quiet
        if watcher is not None:
            loop.run(rebuilt, stop, watcher, before=endpoint.pause, abandon=endpoint.resume)
        else:
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if serving.is_alive():
            server.shutdown()
        server.server_close()
        forget(config.store_cache_dir, os.getpid())
        _cache_last_store(loop)


def _cache_last_store(loop: Loop) -> None:
    """On the way out of ``kb serve``: the last rebuilt store, for ``kb query`` (:meth:`kb.live.Loop.uncached_store`);
    written whole or not at all (:func:`kb.query.store.persist`)."""
    from kb.query.store import persist

    uncached = loop.uncached_store()
    if uncached is None:
        return
    click.echo("caching the rebuilt store for kb query (Ctrl-C again to skip)", err=True)
    try:
        persist(loop.config, uncached[1], key=uncached[0])
        click.echo("cached the store for kb query", err=True)
    except KeyboardInterrupt:
        click.echo("skipped: the next kb query builds the store again", err=True)
    except OSError as exc:
        click.echo(f"could not cache the store ({exc}): the next kb query builds it again", err=True)


def _failed_first_build(first: object) -> NoReturn:
    """``kb serve``'s first build failed: say why, as ``kb build`` would, and stop."""
    from kb.live import Rebuild

    assert isinstance(first, Rebuild)
    if first.problems:
        print_problems(first.problems)
        fail(f"kb serve: {first.failure}; nothing was written")
    if first.usage:
        raise click.UsageError(first.failure)
    fail(f"kb serve: {first.failure}")


def _cached_store(config: Config) -> pyoxigraph.Store:
    """``kb serve --no-build``: the site must exist; the store is held in memory (:func:`kb.pipeline.serving_store`)."""
    from kb.export.formats import site_dump
    from kb.pipeline import EvidenceError, serving_store

    if site_dump(config.out_dir) is None:
        raise click.UsageError(f"{config.out_dir} is not a built site (no data/kb.nt.gz): run kb build, or kb serve "
                               "without --no-build")
    try:
        return serving_store(config)
    except EvidenceError as exc:
        print_problems(exc.report.errors)
        fail("kb serve: the evidence has errors; fix them first (kb check)")


@main.command()
@evidence_option
@click.option("--format", "fmt", type=click.Choice(STATS_FORMATS), default="table", show_default=True,
              help="table: fits 100 columns (the evidence map by outcome domain); csv: every population × "
                   "outcome, one row each; json: everything.")
def stats(evidence_dir: Path, fmt: str) -> None:
    """Counts, the evidence map, most-cited works, claims resting on no cited work, and gaps."""
    from kb.analyse.analysis import analyse
    from kb.analyse.stats import collect, render
    from kb.pipeline import check as run_check

    checked = run_check(load_config(evidence_dir), shacl=False)
    if checked.report.errors or checked.graph is None:
        print_problems(checked.report.errors)
        click.echo("kb stats: the evidence has errors; fix them first (kb check)", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(render(collect(checked.evidence, analyse(checked.graph, checked.evidence)), fmt), nl=False)

@main.command()
@evidence_option
@click.argument("scheme", required=False)
def vocab(evidence_dir: Path, scheme: str | None) -> None:
    """List the concepts of one scheme (or all) with their definitions.

    Schemes: population, intervention, outcome, design, direction, certainty.
    """
    from kb.edit.new_claim import AuthoringError, vocabulary_text
    from kb.load.vocab import load_vocabulary

    config = load_config(evidence_dir)
    vocabulary, problems = load_vocabulary(config.vocab_dir, config.base_iri)
    errors = [p for p in problems if p.severity == "error"]
    print_problems(errors)
    try:
        click.echo(vocabulary_text(vocabulary, scheme), nl=False)
    except AuthoringError as exc:
        raise click.UsageError(str(exc)) from None
    if errors:  # what was listed is incomplete: say so in the exit code too
        fail(f"kb vocab: {len(errors)} error(s) in {config.vocab_dir}; the list above is incomplete")

@main.command()
@evidence_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Show the entries that would be written and the summary; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Add the valid entries even when others are in error.")
@click.option("--encoding", metavar="NAME", help="Encoding of the input files (default: UTF-8, BOM optional).")
def add(evidence_dir: Path, files: tuple[str, ...], dry_run: bool, skip_invalid: bool, encoding: str | None) -> None:
    """Add BibTeX entries from FILE(s) (or - for standard input) to references.bib.

    Every entry is added, recognised as already present, or reported; existing bytes never change.
    """
    from kb.edit.add import AddOptions, run_add

    config = load_config(evidence_dir)
    options = AddOptions(evidence_dir=evidence_dir, dry_run=dry_run, skip_invalid=skip_invalid, encoding=encoding,
                         max_file_bytes=config.max_file_bytes, max_field_chars=config.max_field_chars)
    result = run_add(list(files), options)
    print_problems(result.problems)
    for outcome in result.outcomes:
        click.echo(outcome.format())
    if dry_run and result.new_entries:
        click.echo("\n" + "\n".join(result.new_entries), nl=False)
    click.echo(result.summary())
    sys.exit(result.exit_code)

@main.command("new-claim")
@evidence_option
@click.option("--source", required=True, help="Citekey of the document that states the claim.")
@click.option("--write", is_flag=True, help="Append the stub to claims/<SOURCE>.yaml instead of printing it.")
def new_claim(evidence_dir: Path, source: str, write: bool) -> None:
    """A claim stub with every field, the allowed vocabulary ids and the source's headings."""
    from kb.bibtex.load import FILE_FATAL
    from kb.edit.new_claim import AuthoringError, append_stub, claim_stub
    from kb.load.evidence import load_evidence

    config = load_config(evidence_dir)
    evidence, problems = load_evidence(config)
    unusable = [p for p in problems if p.code in FILE_FATAL and p.path == str(config.references_path)]
    if unusable:  # e.g. merge-conflict markers: say so, as every other command does
        print_problems(unusable)
        fail(f"kb new-claim: {config.references_path} cannot be read until this is fixed; nothing was written")
    try:
        if write:
            path = append_stub(evidence, source)
            click.echo(f"appended a claim stub to {path}; fill it in, then run kb check", err=True)
        else:
            click.echo(claim_stub(evidence, source), nl=False)
    except AuthoringError as exc:
        fail(f"kb new-claim: {exc}")

@main.command()
@evidence_option
@click.argument("name")
@click.option("--date", "date", required=True, help="The release's date, YYYY-MM-DD (never the clock).")
@click.option("--notes", default="", help="What this release is, in a sentence.")
def release(evidence_dir: Path, name: str, date: str, notes: str) -> None:
    """Keep the current evidence as a named, dated release that can be cited and compared for good.

    Writes releases/NAME/kb.nt.gz (the graph, compressed) and a [[releases]] entry in kb.toml,
    only when kb check passes. kb build then shows what each release changed.
    """
    from kb.pipeline import EvidenceError, OutputError
    from kb.states import ReleaseError, cut_release

    try:
        dump = cut_release(load_config(evidence_dir), name, date, notes)
    except EvidenceError as exc:
        print_problems(exc.report.errors)
        click.echo("kb release: the evidence has errors; nothing was written", err=True)
        sys.exit(EXIT_ERRORS)
    except OutputError as exc:
        fail(f"kb release: {exc}")
    except ReleaseError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"release {name} ({date}): kept {dump} ({dump.stat().st_size:,} bytes) and listed it in kb.toml")
