"""A recording reverse proxy on 127.0.0.1 that can fail chosen requests: fault injection for publish tests.

With no upstream it answers every request with 599, which makes "nothing was sent" checkable.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Fault = Callable[[str, str, bytes, int], int | None]  # (method, path, body, index) -> status to answer, or None

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class Proxy:
    def __init__(self, upstream: str | None = None, fault: Fault | None = None) -> None:
        self.upstream = urlsplit(upstream) if upstream else None
        self.fault = fault
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    index = len(proxy.requests)
                    proxy.requests.append((self.command, self.path))
                status = proxy.fault(self.command, self.path, body, index) if proxy.fault else None
                if proxy.upstream is None:
                    status = status or 599
                if status:
                    message = f"injected failure {status}".encode()
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                    return
                assert proxy.upstream is not None
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn.request(self.command, self.path, body=body if body else None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response_only(answer.status)  # transparent: the upstream Server header, not ours
                for key, value in answer.getheaders():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
