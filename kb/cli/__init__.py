"""The ``kb`` command: a thin shell over the library (:mod:`kb.pipeline` and friends).

Each command parses flags, calls one library function, prints the result, and maps failures to
exit codes. Problems go to stderr as ``path:line:col: CODE message``; results go to stdout.
The group is in :mod:`kb.cli.group`; the commands on the evidence folder in :mod:`kb.cli.evidence`,
those that read the KB out in :mod:`kb.cli.data`; what they share in :mod:`kb.cli.common`.

Exit codes: 0 success · 1 the evidence or input has errors · 2 usage error · 3 SPARQL syntax error ·
4 query refused (update, SERVICE, FROM) · 5 query timed out · 6 the SPARQL server failed, refused or did not
answer (kb publish, kb query --endpoint).
"""

from kb.cli import common, data, evidence  # noqa: F401  (registers the commands on the group)
from kb.cli.common import EXIT_ERRORS, EXIT_REFUSED, EXIT_SERVER, EXIT_SYNTAX, EXIT_TIMEOUT, EXIT_USAGE, STATS_FORMATS
from kb.cli.data import QUERY_HELP
from kb.cli.group import main

__all__ = ["EXIT_ERRORS", "EXIT_REFUSED", "EXIT_SERVER", "EXIT_SYNTAX", "EXIT_TIMEOUT", "EXIT_USAGE", "QUERY_HELP",
           "STATS_FORMATS", "main", "run"]


def run() -> None:
    """The ``kb`` program (and ``python -m kb``): :data:`main`, in a process of its own (:func:`kb.cli.common.done`)."""
    common.PROGRAM = True
    main()
