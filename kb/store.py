"""Open the KB's graph for querying.

Today this checks the evidence and builds the graph in memory; the persisted, hash-keyed store
of the performance work plugs in here without the callers changing.
"""

from __future__ import annotations

import click

from kb.config import Config


def open_store(config: Config) -> object:
    """A pyoxigraph store holding the KB; exits with the problems if the evidence has errors."""
    from kb.pipeline import check

    checked = check(config, shacl=False)
    if checked.report.errors or checked.graph is None:
        for problem in checked.report.sorted():
            if problem in checked.report.errors:
                click.echo(problem.format(), err=True)
        raise click.exceptions.Exit(1)
    return checked.graph.store  # type: ignore[attr-defined]
