"""The ``kb`` command: a thin shell over the library (:mod:`kb.pipeline` and friends).

Each command parses flags, calls one library function, prints the result, and maps failures to
exit codes. Problems go to stderr as ``path:line:col: CODE message``; results go to stdout.

Exit codes: 0 success · 1 the evidence or input has errors · 2 usage error · 3 SPARQL syntax error ·
4 query refused (update, SERVICE, FROM) · 5 query timed out · 6 the SPARQL server failed, refused or did not
answer (kb publish, kb query --endpoint).
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from kb.config import Config
    from kb.query.sparql import Payload

from kb.export.formats import EXPORT_FORMATS, FORMATS, export_bytes
from kb.namespaces import PREFIXES
from kb.problems import a_or_an

STATS_FORMATS = ("table", "csv", "json")  # kb.analyse.stats.STATS_FORMATS (not imported: it loads the analysis)
EXIT_ERRORS, EXIT_USAGE, EXIT_SYNTAX, EXIT_REFUSED, EXIT_TIMEOUT = 1, 2, 3, 4, 5
EXIT_SERVER = 6
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


F = TypeVar("F", bound=Callable[..., None])


def evidence_option(command: F) -> F:
    return click.option(
        "--evidence", "evidence_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("evidence"),
        show_default=True, help="The evidence folder (references.bib, claims/, vocab/, …).",
    )(command)


def load_config(evidence_dir: Path, **overrides: object) -> Config:
    from kb.config import ConfigError
    from kb.config import load_config as _load

    if not evidence_dir.is_dir():
        raise click.UsageError(f"evidence folder '{evidence_dir}' does not exist (use --evidence DIR)")
    try:
        return _load(evidence_dir, **overrides)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


def fail(message: str, code: int = EXIT_ERRORS) -> NoReturn:
    """A clean failure: the message on stderr, then exit ``code`` (never a traceback)."""
    click.echo(message, err=True)
    sys.exit(code)


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL with a host, else a usage error (before any request is made)."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise click.BadParameter(f"'{value}' is not an http:// or https:// URL with a host", ctx, param)
    return value


class Seconds(click.ParamType):
    """A duration in seconds: a finite number above 0 (``nan``, ``inf`` and ``-5`` are usage errors)."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"'{value}' is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0 or number > 86_400:
            self.fail(f"'{value}' is not a duration; expected a number of seconds above 0 and at most 86400",
                      param, ctx)
        return number


def print_problems(problems: list, fmt: str = "text") -> None:
    from kb.problems import Report

    report = Report(list(problems))
    if fmt == "json":
        click.echo(report.to_json())
        return
    for problem in report.sorted():
        click.echo(problem.format(), err=True)


class _Commands(click.Group):
    """The ``kb`` group: Ctrl-C ends a command with one line, not a traceback (writes are atomic)."""

    def invoke(self, ctx: click.Context) -> object:
        from kb.config import ConfigError

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail(f"kb {ctx.invoked_subcommand or ''}: interrupted; files are replaced atomically, so none was "
                 "left half-written", EXIT_INTERRUPTED)
        except ConfigError as exc:  # a kb.toml read deeper than load_config below (e.g. a release's)
            fail(str(exc))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="peer-support-kb", prog_name="kb")
def main() -> None:
    """Peer support evidence KB: check, build, query and export the evidence.

    Start with `kb check`, then `kb build` (graph dumps and the static site in site/).
    """


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

    config = load_config(evidence_dir)
    checked = run_check(config, shacl=not no_shacl, progress=terminal_progress(), shacl_engine=shacl_engine)
    report = checked.report
    print_problems(report.problems, fmt)
    if fmt == "text":
        ev = checked.evidence
        click.echo(f"{len(ev.references)} references, {len(ev.claims)} claims, "
                   f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    sys.exit(0 if report.ok(strict) else EXIT_ERRORS)


@main.command()
@evidence_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Processes that render the site (default: one per CPU).")
def build(evidence_dir: Path, out_dir: Path, strict: bool, jobs: int | None) -> None:
    """Check the evidence, then write the graph dumps and the static site.

    Files whose inputs did not change since the last build into the same folder are reused.
    """
    out = _build_site(evidence_dir, out_dir, strict, jobs)
    options = "".join(f" {flag} {shlex.quote(str(value))}" for flag, value, default in (
        ("--evidence", evidence_dir, "evidence"), ("--out", out_dir, "site")) if str(value) != default)
    click.echo(f"open {shlex.quote(str(out / 'index.html'))} in a browser (no server needed), "
               f"or preview it with: kb serve{options}")


def _build_site(evidence_dir: Path, out_dir: Path, strict: bool, jobs: int | None) -> Path:
    """``kb build`` without its closing hint (``kb serve`` says where it serves instead)."""
    from kb.pipeline import EvidenceError, OutputError, terminal_progress
    from kb.pipeline import build as run_build

    config = load_config(evidence_dir, out_dir=out_dir)
    try:
        result = run_build(config, strict=strict, progress=terminal_progress(), jobs=jobs)
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
    return result.out_dir


@main.command()
@evidence_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def serve(evidence_dir: Path, out_dir: Path, port: int) -> None:
    """Build the site, then serve it on 127.0.0.1 for preview (Ctrl-C stops)."""
    from kb.site.serve import HOST, make_server

    _build_site(evidence_dir, out_dir, strict=False, jobs=None)
    try:
        server = make_server(out_dir, port)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror} (use --port)") from None
    click.echo(f"serving {out_dir} at http://{HOST}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


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
@click.option("--endpoint", metavar="URL", callback=_http_url,
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
    _emit(payload, output, "query")
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


def _emit(payload: bytes, output: Path | None, command: str) -> None:
    """Results to stdout, or atomically to ``output``; a failed write says why and leaves nothing behind."""
    if output is None:
        try:
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
        except BrokenPipeError:  # `kb export | head`: the reader has what it wanted
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    from kb.io.atomic import atomic_write_bytes
    from kb.io.reading import write_failure

    try:
        atomic_write_bytes(output, payload, backup=False)
    except OSError as exc:
        fail(f"kb {command}: {write_failure(exc, output, len(payload))}; nothing was written")


@main.command()
@evidence_option
@click.option("--endpoint", required=True, metavar="URL", callback=_http_url,
              help="The server's query endpoint: Virtuoso …/sparql, Oxigraph …/query, or a Fuseki dataset URL.")
@click.option("--graph", "graph_iri", metavar="IRI", help="The named graph to replace [default: <base_iri>graph].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="The build folder whose data/kb.nt is published (run kb build first).")
@click.option("--input", "nt_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Publish this N-Triples file instead of <out>/data/kb.nt.")
@click.option("--update-endpoint", metavar="URL", callback=_http_url,
              help="SPARQL Update endpoint, if not the guessed one.")
@click.option("--store-endpoint", metavar="URL", callback=_http_url,
              help="Graph Store Protocol endpoint, if not the guessed one.")
@click.option("--chunk-triples", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Triples per upload request.")
@click.option("--timeout", type=Seconds(), default=60.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--retries", type=click.IntRange(0, 10), default=4, show_default=True,
              help="Retries (with back-off) when the server refuses connections or answers 503.")
@click.option("--dry-run", is_flag=True, help="Check the input and say what would be sent; send nothing.")
def publish(evidence_dir: Path, endpoint: str, graph_iri: str | None, out_dir: Path, nt_file: Path | None,
            update_endpoint: str | None, store_endpoint: str | None, chunk_triples: int, timeout: float,
            retries: int, dry_run: bool) -> None:
    """Replace one named graph on a SPARQL 1.1 server with the built KB, all or nothing.

    Uploads to a staging graph in chunks, checks its triple count, then swaps it in; a failure leaves
    the old graph whole. Credentials: KB_SPARQL_USER and KB_SPARQL_PASSWORD (KB_SPARQL_AUTH=basic|digest)
    or ~/.netrc — never flags. See docs/publishing.md.
    """
    from kb.pipeline import terminal_progress
    from kb.remote.publish import PublishError, default_graph_iri
    from kb.remote.publish import publish as run_publish

    graph = graph_iri or default_graph_iri(load_config(evidence_dir).base_iri)
    source = nt_file or out_dir / "data" / "kb.nt"
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
    _emit(payload, output, "export")


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
