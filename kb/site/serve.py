"""Preview the built site over HTTP on the loopback interface (``kb serve``).

The site needs no server — it works from ``file://`` — but a preview at a real URL shows what
readers of a hosted copy see. Only 127.0.0.1 is bound: the preview is never exposed to a network.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 (http.server's own attribute, replaced whole)
        **SimpleHTTPRequestHandler.extensions_map, ".nt": "application/n-triples", ".ttl": "text/turtle",
        ".jsonld": "application/ld+json", ".bib": "text/plain", ".rq": "application/sparql-query",
        ".csv": "text/csv", ".js": "text/javascript"}

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a preview needs no access log."""


def make_server(directory: Path, port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server for ``directory`` on 127.0.0.1 (port 0 picks a free port)."""
    handler = functools.partial(_Handler, directory=str(directory))
    return ThreadingHTTPServer((HOST, port), handler)
