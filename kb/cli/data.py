"""The ``kb`` commands that read the KB out: query, export, publish, diff."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from kb.cli.common import (
    EXIT_ERRORS,
    EXIT_REFUSED,
    EXIT_SERVER,
    EXIT_SYNTAX,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Seconds,
    emit,
    evidence_option,
    fail,
    http_url,
    load_config,
    print_problems,
)
from kb.cli.group import main
from kb.export.formats import EXPORT_FORMATS, FORMATS, export_bytes
from kb.namespaces import PREFIXES
from kb.problems import a_or_an

if TYPE_CHECKING:
    from kb.config import Config
    from kb.query.sparql import Payload

QUERY_HELP = f"""Run a read-only SPARQL query: text, -f FILE.rq, or an example name.

\b
Examples:
  kb query --list
  kb query no-effect-hospitalisation-smi
  kb query 'SELECT (COUNT(*) AS ?n) WHERE {{ ?c a psk:Claim }}'
Predeclared prefixes: {", ".join(PREFIXES)}.
"""

@main.command(help=QUERY_HELP)
@evidence_option
@click.argument("query", required=False)
@click.option("-f", "--file", "query_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the query from a .rq file.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json", "turtle", "ntriples"]),
              default=None, help="Output format [default: table; turtle for CONSTRUCT/DESCRIBE].")
@click.option("--list", "list_examples", is_flag=True, help="List the example queries and exit.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write results to this file (atomically) instead of stdout.")
@click.option("--timeout", type=Seconds(), default=30.0, show_default=True, help="Give up after this many seconds.")
@click.option("--max-memory", type=click.IntRange(min=64), default=4096, show_default=True, metavar="MIB",
              help="Give up when the query holds more than this many MiB of memory.")
@click.option("--limit", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Write at most this many rows (or triples); a note on stderr says when rows were cut.")
@click.option("--endpoint", metavar="URL", callback=http_url,
              help="Query this SPARQL server instead of the local store (read-only too).")
@click.option("--graph", "graph_iri", metavar="IRI", help="With --endpoint: the named graph the KB was published to "
              "[default: <base_iri>graph].")
def query(evidence_dir: Path, query: str | None, query_file: Path | None, fmt: str | None, list_examples: bool,
          output: Path | None, timeout: float, max_memory: int, limit: int, endpoint: str | None,
          graph_iri: str | None) -> None:
    """``kb query`` (its help text, :data:`QUERY_HELP`, lists the prefixes of :data:`kb.namespaces.PREFIXES`)."""
    import kb.query.sparql as q

    config = load_config(evidence_dir)
    if list_examples:
        examples, problems = q.read_examples(config.queries_dir)
        for example in examples:
            click.echo(f"{example.name}\n    {example.title}")
        print_problems(problems)
        sys.exit(EXIT_ERRORS if problems else 0)
    try:
        text = q.resolve_query(query, query_file, config.queries_dir)
        form = q.guard(text)
    except q.QueryError as exc:
        fail(f"kb query: {exc}")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except q.QueryRefused as exc:
        click.echo(f"kb query: refused: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    fmt = fmt or ("turtle" if form in ("CONSTRUCT", "DESCRIBE") else "table")
    if (fmt in q.GRAPH_FORMATS) != (form in ("CONSTRUCT", "DESCRIBE")) and form in q.QUERY_FORMS:
        raise click.UsageError(f"--format {fmt} does not fit {a_or_an(form)} query")
    if endpoint:
        payload = _remote_query(endpoint, graph_iri or f"{config.base_iri}graph", text, fmt, limit, timeout)
    elif (served := _served_query(config, text, fmt, limit, timeout)) is not None:
        payload = served
    else:
        from kb.pipeline import EvidenceError, query_store

        try:
            store = query_store(config)
        except EvidenceError as exc:
            print_problems(exc.report.errors)
            click.echo("kb query: the evidence has errors; fix them first (kb check)", err=True)
            sys.exit(EXIT_ERRORS)
        payload = _run_with_timeout(lambda: q.format_results(q.run_query(store, text), fmt, limit=limit), timeout,
                                    max_memory)
    emit(payload, output, "query")
    if payload.truncated:
        click.echo(f"kb query: output cut at --limit {limit} rows", err=True)

def _remote_query(endpoint: str, graph: str, text: str, fmt: str, limit: int, timeout: float) -> Payload:
    """The same query on a server (kb.remote.query); server failures exit with EXIT_SERVER."""
    import kb.query.sparql as q
    from kb.remote.http import Client, RemoteError, credentials_for
    from kb.remote.query import run_query_remote

    notes: list[str] = []

    def work() -> Payload:
        results = run_query_remote(client, endpoint, text, graph=graph)
        if isinstance(results, list) and len(results) >= 10_000 and "virtuoso" in client.server.lower():
            notes.append(f"kb query: {len(results):,} triples: Virtuoso cuts CONSTRUCT/DESCRIBE answers at its "
                         "ResultSetMaxRows without saying so; this answer may be incomplete")
        return q.format_results(results, fmt, limit=limit)

    try:
        client = Client(credentials_for(endpoint), timeout=timeout, retries=1)
        payload = _run_with_timeout(work, timeout * 2 + 5)
    except (RemoteError, ValueError) as exc:
        click.echo(f"kb query: {exc}", err=True)
        sys.exit(EXIT_SERVER)
    for note in notes:
        click.echo(note, err=True)
    return payload

def _served_query(config: Config, text: str, fmt: str, limit: int, timeout: float) -> Payload | None:
    """The answer of a running ``kb serve`` of the same evidence (said on stderr), or None if there is none.

    The query was guarded and is checked for syntax here first (:func:`kb.remote.query.run_query_remote`),
    so its errors read as a local query's; the server stops a query past its limits with 503.
    """
    import kb.query.sparql as q
    from kb.query.serving import find
    from kb.query.store import evidence_key
    from kb.remote.http import Client, RemoteError
    from kb.remote.query import run_query_remote

    try:
        running = find(config.store_cache_dir, evidence_key(config))
    except OSError:
        return None
    if running is None:
        return None
    client = Client(None, timeout=timeout + 5, retries=0)
    where = f"kb serve on {running.host}:{running.port}"
    url = f"{running.endpoint}?timeout={int(timeout * 1000)}"  # the server stops it at the same limit
    try:
        payload = _run_with_timeout(lambda: q.format_results(run_query_remote(client, url, text), fmt, limit=limit),
                                    timeout + 10)
    except RemoteError as exc:
        if exc.status is None:  # it went away: the local store answers
            click.echo(f"kb query: {where} did not answer ({exc}); using the local store", err=True)
            return None
        if exc.status == 503 and exc.body.startswith("stopped:"):
            _stop(f"kb query: {where} {exc.body}; nothing was written (use --timeout)")
        fail(f"kb query: {where}: {exc.body or exc}", {403: EXIT_REFUSED, 400: EXIT_SYNTAX}.get(exc.status or 0,
                                                                                        EXIT_SERVER))
    click.echo(f"kb query: answered by {where}", err=True)
    return payload

def _run_with_timeout(work: Callable[[], Payload], timeout: float, max_memory: int | None = None) -> Payload:
    """Run the query in a worker thread; past ``timeout`` seconds or ``max_memory`` MiB, exit writing nothing."""
    import threading

    import kb.query.sparql as q
    from kb.io.procs import resident_mib

    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["ok"] = work()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    start = resident_mib()
    deadline = time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        worker.join(min(0.05, max(deadline - time.monotonic(), 0)))
        used = resident_mib()
        if max_memory is not None and used is not None and start is not None and used - start > max_memory:
            _stop(f"kb query: stopped: the query held more than {max_memory:,} MiB of memory; nothing was written "
                  "(narrow the query, add LIMIT, or raise --max-memory)")
    if worker.is_alive():
        _stop(f"kb query: timed out after {timeout:g} s; nothing was written (use --timeout)")
    error = box.get("error")
    if isinstance(error, q.QuerySyntaxError):
        click.echo(f"kb query: {error}", err=True)
        caret = error.caret()
        if caret:
            click.echo(caret, err=True)
        sys.exit(EXIT_SYNTAX)
    if isinstance(error, q.QueryRefused):
        click.echo(f"kb query: refused: {error}", err=True)
        sys.exit(EXIT_REFUSED)
    if isinstance(error, q.QueryFailed):
        fail(f"kb query: {error}", EXIT_SYNTAX)
    if isinstance(error, BaseException):
        raise error
    payload = box["ok"]
    assert isinstance(payload, q.Payload)
    return payload

def _stop(message: str) -> NoReturn:
    """Leave at once (the query thread cannot be interrupted); nothing has been written."""
    import os

    click.echo(message, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TIMEOUT)

@main.command()
@evidence_option
@click.option("--endpoint", required=True, metavar="URL", callback=http_url,
              help="The server's query endpoint: Virtuoso …/sparql, Oxigraph …/query, or a Fuseki dataset URL.")
@click.option("--graph", "graph_iri", metavar="IRI", help="The named graph to replace [default: <base_iri>graph].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="The build folder whose data/kb.nt.gz is published (run kb build first).")
@click.option("--input", "nt_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Publish this N-Triples file (.nt or .nt.gz) instead of <out>/data/kb.nt.gz.")
@click.option("--update-endpoint", metavar="URL", callback=http_url,
              help="SPARQL Update endpoint, if not the guessed one.")
@click.option("--store-endpoint", metavar="URL", callback=http_url,
              help="Graph Store Protocol endpoint, if not the guessed one.")
@click.option("--chunk-triples", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Triples per upload request.")
@click.option("--timeout", type=Seconds(), default=60.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--retries", type=click.IntRange(0, 10), default=4, show_default=True,
              help="Retries (with back-off) when the server refuses connections or answers 503 "
              "(a MOVE swap answered 503 is not retried).")
@click.option("--dry-run", is_flag=True, help="Check the input and say what would be sent; send nothing.")
def publish(evidence_dir: Path, endpoint: str, graph_iri: str | None, out_dir: Path, nt_file: Path | None,
            update_endpoint: str | None, store_endpoint: str | None, chunk_triples: int, timeout: float,
            retries: int, dry_run: bool) -> None:
    """Replace one named graph on a SPARQL 1.1 server with the built KB, all or nothing.

    Uploads to a staging graph in chunks, checks its triple count, then swaps it in; a failure leaves
    the old graph whole (a swap that goes unanswered may still finish on the server: the error then
    says so and names the staging graph it kept). Credentials: KB_SPARQL_USER and KB_SPARQL_PASSWORD
    (KB_SPARQL_AUTH=basic|digest) or ~/.netrc — never flags. See docs/publishing.md.
    """
    from kb.pipeline import terminal_progress
    from kb.remote.publish import PublishError, default_graph_iri
    from kb.remote.publish import publish as run_publish

    graph = graph_iri or default_graph_iri(load_config(evidence_dir).base_iri)
    from kb.export.formats import GRAPH_DUMP, site_dump

    source = nt_file or site_dump(out_dir) or out_dir / "data" / GRAPH_DUMP
    if not source.is_file():
        what = "is not a regular file" if source.exists() else "does not exist"
        raise click.UsageError(f"{source} {what}: run kb build (or give --input FILE.nt)")
    try:
        result = run_publish(source, endpoint, graph, chunk_triples=chunk_triples, dry_run=dry_run,
                             progress=terminal_progress(), update_endpoint=update_endpoint,
                             store_endpoint=store_endpoint, timeout=timeout, retries=retries)
    except PublishError as exc:
        print_problems(exc.problems)
        click.echo(f"kb publish: {exc}", err=True)
        sys.exit(EXIT_SERVER if exc.server else EXIT_ERRORS)
    print_problems(result.warnings)
    if dry_run:
        click.echo("dry run: nothing was sent\n" + result.plan.describe())
        return
    chunks = ", ".join(f"{s:.2f}" for s in result.chunk_seconds)
    click.echo(f"published {result.plan.triples:,} triples to <{graph}> in {result.seconds:.1f} s "
               f"(chunks: {chunks} s; {result.swap}: {result.swap_seconds:.2f} s; "
               f"previously {result.previous_triples:,} triples)")

@main.command()
@evidence_option
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="ttl", show_default=True,
              help="; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()) + ".")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (atomically) instead of stdout.")
@click.option("--previous", type=click.Path(exists=True, path_type=Path), default=None,
              help="nanopub: the previous export (a .trig file or a built site); unchanged claims keep their "
                   "nanopublication, changed ones supersede it.")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="nanopub: sign with this RSA private key (PEM or ~/.nanopub/id_rsa); "
                   "never keep it in the repository.")
def export(evidence_dir: Path, fmt: str, output: Path | None, previous: Path | None, sign_key: Path | None) -> None:
    """Export the KB in one of the formats below (the site's data page offers each as a download)."""
    from kb.analyse.analysis import analyse
    from kb.pipeline import check as run_check

    options = {"previous": previous, "sign_key": sign_key}
    unknown = [f"--{name.replace('_', '-')}" for name, value in options.items()
               if value is not None and name not in FORMATS[fmt].options]
    if unknown:
        raise click.UsageError(f"{', '.join(unknown)} only applies to --format nanopub")
    checked = run_check(load_config(evidence_dir), shacl=False, history=True)
    if checked.report.errors or checked.graph is None:
        print_problems(checked.report.errors)
        click.echo("kb export: the evidence has errors; nothing was exported", err=True)
        sys.exit(EXIT_ERRORS)
    try:
        analysis = analyse(checked.graph, checked.evidence)
        payload = export_bytes(checked.evidence, checked.graph, analysis, fmt, **options)
    except ValueError as exc:  # a previous export or key that cannot be used, a bad kb.toml date
        click.echo(f"kb export: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    emit(payload, output, "export")

@main.command()
@evidence_option
@click.argument("old", required=False, type=click.Path(path_type=Path))
@click.argument("new", required=False, type=click.Path(path_type=Path))
@click.option("--rev", "revs", metavar="A..B", help="Compare the evidence folder at two git revisions "
              "(A.. compares revision A with the working tree).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff(evidence_dir: Path, old: Path | None, new: Path | None, revs: str | None, fmt: str) -> None:
    """What changed between two states: evidence folders, built sites or dumps (OLD NEW), or revisions.

    Works and claims are compared by citekey and claim id; the consequences a reader notices (map
    cells whose direction, certainty or amount of evidence changed) come first. Exit 0 when nothing
    changed, 1 when something did (like diff), 2 on error.
    """
    from kb.config import ConfigError
    from kb.diff.compare import compare
    from kb.diff.render import to_json, words
    from kb.pipeline import EvidenceError
    from kb.states import StateError, snapshot_of

    if revs is not None:
        if old is not None or new is not None:
            raise click.UsageError("give either OLD NEW or --rev A..B, not both")
        a, sep, b = revs.partition("..")
        if not sep or not a:
            raise click.UsageError(f"--rev wants A..B (or A.. for the working tree), not '{revs}'")
        states = [(evidence_dir, a, a), (evidence_dir, b or None, b or "the working tree")]
    elif old is not None and new is not None:
        states = [(old, None, str(old)), (new, None, str(new))]
    else:
        raise click.UsageError("give two states to compare (OLD NEW) or --rev A..B")
    try:
        (before, _, old_name), (after, _, new_name) = [(snapshot_of(path, rev=rev), rev, name)
                                                       for path, rev, name in states]
    except EvidenceError as exc:
        print_problems(exc.report.errors)
        click.echo("kb diff: a state has errors in its evidence; nothing was compared", err=True)
        sys.exit(EXIT_USAGE)
    except (StateError, ConfigError) as exc:
        click.echo(f"kb diff: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    result = compare(before, after)
    render = to_json if fmt == "json" else words
    click.echo(render(result, before, after, old_name, new_name), nl=False)
    sys.exit(1 if result else 0)
