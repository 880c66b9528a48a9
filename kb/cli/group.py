"""The ``kb`` group itself; the commands register on it from :mod:`kb.cli.evidence` and :mod:`kb.cli.data`."""

from __future__ import annotations

import click

from kb.cli.common import Commands


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="peer-support-kb", prog_name="kb")
def main() -> None:
    """Peer support evidence KB: check, build, query and export the evidence.

    Start with `kb check`, then `kb build` (graph dumps and the static site in site/).
    """
