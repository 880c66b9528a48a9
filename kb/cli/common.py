"""What every ``kb`` command shares: exit codes, the ``--evidence`` option, problems on stderr,
atomic output, and the group that turns Ctrl-C into one line."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from kb.config import Config

STATS_FORMATS = ("table", "csv", "json")  # kb.analyse.stats.STATS_FORMATS (not imported: it loads the analysis)
EXIT_ERRORS, EXIT_USAGE, EXIT_SYNTAX, EXIT_REFUSED, EXIT_TIMEOUT = 1, 2, 3, 4, 5
EXIT_SERVER = 6
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

# Set by the ``kb`` program itself (:func:`kb.cli.run`), never by a test that invokes a command in its own process.
PROGRAM = False


def done(code: int = 0) -> None:
    """A command that built the whole KB in memory is done: in the ``kb`` program, leave now rather than free its
    millions of records one by one (~1.5 s at 10k/50k after every ``kb build``); the system takes the memory back
    at once. Everything is written and closed by then: only the output streams are flushed. In a caller's process
    (a test, a library user) nothing happens."""
    if PROGRAM:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a reader that went away (kb build | head), a closed stream
                stream.flush()
        os._exit(code)


def held_until_done() -> None:
    """A command that ends with :func:`done` holds what it makes until the process leaves: in the ``kb`` program it
    is frozen from the start (``gc.freeze``), so the stages that freeze their records (:func:`kb.io.procs.frozen`)
    leave them so. Else the end of a build gave every record back to the collector, whose next full pass walked them
    all (~0.7 s at 10k/50k) just before the process left. In a caller's process nothing happens."""
    if PROGRAM:
        gc.freeze()


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

def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
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

class Commands(click.Group):
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

def emit(payload: bytes, output: Path | None, command: str) -> None:
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
