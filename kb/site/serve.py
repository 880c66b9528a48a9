"""Preview the built site over HTTP on the loopback interface, with a SPARQL endpoint beside it (``kb serve``).

The site needs no server — it works from ``file://`` — but a preview at a real URL shows what
readers of a hosted copy see. ``/sparql`` answers the SPARQL 1.1 Protocol from the KB held in
memory (:mod:`kb.query.endpoint`); every other path is a file of the site. Only 127.0.0.1 is
bound: neither is ever exposed to a network.
"""

from __future__ import annotations

import functools
import io
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from kb.query.endpoint import Endpoint

HOST = "127.0.0.1"
MAX_BODY_BYTES = 4 << 20  # a form-encoded query of 1 MiB grows up to 3× when percent-encoded


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 (http.server's own attribute, replaced whole)
        **SimpleHTTPRequestHandler.extensions_map, ".nt": "application/n-triples", ".ttl": "text/turtle",
        ".jsonld": "application/ld+json", ".bib": "text/plain", ".rq": "application/sparql-query",
        ".csv": "text/csv", ".js": "text/javascript"}
    server_version = "kb-serve"
    endpoint: Endpoint | None = None

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a preview needs no access log."""

    def _sparql(self) -> bool:
        """Answer a request for the SPARQL endpoint; False if the path is another one (a file)."""
        from kb.query.endpoint import PATH, Reply

        path, _, url_query = self.path.partition("?")
        if self.endpoint is None or path.rstrip("/") != PATH:
            return False
        body = b""
        if self.command == "POST":
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._send(Reply(411, b"a POST needs a Content-Length\n"))
                return True
            if int(length) > MAX_BODY_BYTES:
                self._send(Reply(413, f"the request body is larger than {MAX_BODY_BYTES:,} bytes\n".encode()))
                return True
            body = self.rfile.read(int(length))
        port = getattr(self.server, "server_port", 0)
        reply = self.endpoint.handle(self.command, url_query, dict(self.headers.items()), body,
                                     f"http://{HOST}:{port}")
        self._send(reply)
        return True

    def _send(self, reply: object) -> None:
        from kb.query.endpoint import Reply

        assert isinstance(reply, Reply)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client went away: nothing to tell it
            pass

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        """http.server's, but a path with a NUL byte (``/%00``) is a 400: opening it raised ``ValueError``, which
        dropped the connection unanswered and printed a traceback (found by fuzzing the server)."""
        if "\0" in self.translate_path(self.path):
            self.send_error(400, "a path cannot hold a NUL byte")
            return None
        return super().send_head()

    def do_GET(self) -> None:
        if not self._sparql():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._sparql():
            super().do_HEAD()

    def do_POST(self) -> None:
        if not self._sparql():
            self.send_error(405, "only /sparql takes a POST")

    def do_OPTIONS(self) -> None:
        if not self._sparql():
            self.send_error(405, "only /sparql takes OPTIONS")

    def do_PUT(self) -> None:
        if not self._sparql():
            self.send_error(405)

    def do_DELETE(self) -> None:
        if not self._sparql():
            self.send_error(405)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a query still running never keeps the server from stopping
    endpoint: Endpoint | None = None

    def server_close(self) -> None:
        super().server_close()
        if self.endpoint is not None:
            self.endpoint.close()


def make_server(directory: Path, port: int = 8000, endpoint: Endpoint | None = None) -> Server:
    """An HTTP server for ``directory`` on 127.0.0.1 (port 0 picks a free port), answering SPARQL at
    ``/sparql`` when given an ``endpoint``."""
    handler = type("Handler", (_Handler,), {"endpoint": endpoint})
    server = Server((HOST, port), functools.partial(handler, directory=str(directory)))
    server.endpoint = endpoint
    return server
