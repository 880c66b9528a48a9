"""A SPARQL server over HTTP: the query, update and graph store protocols, standard library only.

Why our own small client rather than urllib's auth handlers: Virtuoso answers a large PUT that lacks
credentials with ``401`` and closes the connection while the body is still being sent, so the client
sees "connection reset" instead of a challenge. We therefore fetch the challenge with a body-less
request first and send the body once, with its ``Authorization`` header (basic or digest).
Credentials come from the environment or a netrc file, never from the command line.
"""

from __future__ import annotations

import base64
import netrc
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message

USER_AGENT = "peer-support-kb (kb publish / kb query)"
DEFAULT_TIMEOUT = 60.0
PROBE_ABOVE_BYTES = 16 * 1024  # bodies larger than this are sent only after the challenge is known
TRANSIENT_STATUSES = frozenset({503})


class RemoteError(Exception):
    """The server failed, refused, or did not answer; the message says which, with its own text."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status, self.body, self.url = status, body, url


class AuthError(RemoteError):
    """The server refused the credentials (401) or the user's rights (403)."""


class TransientError(RemoteError):
    """Worth retrying: the server is starting (connection refused) or says so (503)."""

    retry_after: float | None = None


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    scheme: str = "auto"  # auto (whatever the server asks for), basic, or digest
    source: str = "environment"


def credentials_for(url: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """``KB_SPARQL_USER``/``KB_SPARQL_PASSWORD`` (``KB_SPARQL_AUTH``: basic|digest), else netrc.

    The netrc file is ``$NETRC`` or ``~/.netrc``, looked up by the endpoint's host name.
    """
    env = os.environ if env is None else env
    scheme = env.get("KB_SPARQL_AUTH", "auto").lower()
    if scheme not in ("auto", "basic", "digest"):
        raise ValueError(f"KB_SPARQL_AUTH must be basic, digest or auto, not {scheme!r}")
    user, password = env.get("KB_SPARQL_USER"), env.get("KB_SPARQL_PASSWORD")
    if user:
        if password is None:
            raise ValueError("KB_SPARQL_USER is set but KB_SPARQL_PASSWORD is not")
        return Credentials(user, password, scheme, "environment")
    path = env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(urllib.parse.urlsplit(url).hostname or "")
    except (netrc.NetrcParseError, OSError) as exc:
        raise ValueError(f"cannot read the netrc file {path}: {exc}") from None
    if not entry:
        return None
    login, _account, secret = entry
    return Credentials(login or "", secret or "", scheme, f"netrc {path}")


@dataclass(frozen=True)
class Endpoints:
    """Where queries, updates and graph uploads go (servers name them differently)."""

    query: str
    update: str
    store: str

    @classmethod
    def guess(cls, url: str, update: str | None = None, store: str | None = None) -> Endpoints:
        """From one URL: Virtuoso ``…/sparql``, Oxigraph ``…/query``, else a Fuseki dataset URL."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path.rstrip("/")

        def sibling(name: str) -> str:
            return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path.rsplit("/", 1)[0] + name, "", ""))

        if path.endswith(("/sparql", "/sparql-auth")):  # Virtuoso: digest-protected write endpoints
            guessed = (sibling("/sparql"), sibling("/sparql-auth"), sibling("/sparql-graph-crud-auth"))
        elif path.endswith("/query"):  # Oxigraph server (Fuseki: pass --store-endpoint …/data)
            guessed = (url, sibling("/update"), sibling("/store"))
        else:  # a Fuseki dataset URL answers all three protocols
            guessed = (url, url, url)
        return cls(guessed[0], update or guessed[1], store or guessed[2])


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes

    def text(self, limit: int = 2000) -> str:
        return _server_text(self.body, limit)


Sleep = Callable[[float], None]


class Client:
    """Sends one request at a time with a timeout, checks every answer, retries only transient failures."""

    def __init__(self, credentials: Credentials | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 4, backoff: float = 0.5, max_delay: float = 8.0, sleep: Sleep = time.sleep) -> None:
        self.credentials, self.timeout = credentials, timeout
        self.retries, self.backoff, self.max_delay, self.sleep = retries, backoff, max_delay, sleep
        self.requests = 0  # every request sent, probes included (tests and progress read it)
        self.server = ""  # the last Server header seen: publishing adapts to Virtuoso
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # --- the protocols ----------------------------------------------------------------------

    def query(self, endpoint: str, sparql: str, accept: str, *, default_graph: str | None = None,
              timeout: float | None = None) -> Response:
        """A query as GET (form POST when long): Virtuoso never answers a direct ``application/sparql-query`` POST."""
        params = [("query", sparql)] + ([("default-graph-uri", default_graph)] if default_graph else [])
        encoded = urllib.parse.urlencode(params)
        if len(encoded) < 4000:
            sep = "&" if "?" in endpoint else "?"
            return self.request("GET", f"{endpoint}{sep}{encoded}", headers={"Accept": accept}, timeout=timeout)
        return self.request("POST", endpoint, body=encoded.encode("ascii"), timeout=timeout,
                            headers={"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"})

    def update(self, endpoint: str, sparql: str, *, timeout: float | None = None,
               idempotent: bool = True) -> Response:
        """``idempotent=False`` for an update that must not run twice (see ``request``)."""
        body = urllib.parse.urlencode({"update": sparql}).encode("ascii")
        return self.request("POST", endpoint, body=body, timeout=timeout, idempotent=idempotent,
                            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"})

    def graph_store(self, method: str, store: str, graph: str, body: bytes | None = None, *,
                    timeout: float | None = None) -> Response:
        """Graph Store Protocol with ``?graph=``: PUT replaces, POST appends, GET reads."""
        url = f"{store}{'&' if '?' in store else '?'}{urllib.parse.urlencode({'graph': graph})}"
        headers = {"Content-Type": "application/n-triples"} if body is not None else {"Accept": "application/n-triples"}
        return self.request(method, url, body=body, headers=headers, timeout=timeout)

    # --- transport --------------------------------------------------------------------------

    def request(self, method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float | None = None, idempotent: bool = True) -> Response:
        """One logical request; transient failures (refused connection, 503) are retried with back-off.

        A request that must not run twice (``idempotent=False``) is retried only after a refused connection, which
        reached nothing: a 503 comes from whatever answered, which may be a gateway in front of a server that ran it.
        """
        attempt = 0
        while True:
            try:
                return self._authorised(method, url, body, dict(headers or {}), timeout or self.timeout)
            except TransientError as exc:
                if not idempotent and exc.status is not None:
                    raise RemoteError(f"{exc} (not retried: the request must not run twice)", status=exc.status,
                                      body=exc.body, url=url) from None
                if attempt >= self.retries:
                    raise RemoteError(f"{exc} (gave up after {attempt + 1} attempts)", status=exc.status,
                                      body=exc.body, url=url) from None
                delay = min(self.max_delay, exc.retry_after or self.backoff * 2**attempt)
                self.sleep(delay)
                attempt += 1

    def _authorised(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                    timeout: float) -> Response:
        creds = self.credentials
        if creds is not None and body is not None and len(body) > PROBE_ABOVE_BYTES:
            probe = self._send("HEAD", url, None, {}, timeout, tolerate=True)
            if probe.status == 401:
                headers["Authorization"] = self._authorization(creds, method, url, probe)
                return self._send(method, url, body, headers, timeout)
        first = self._send(method, url, body, headers, timeout, tolerate=creds is not None, only_401=True)
        if first.status != 401 or creds is None:
            return first
        headers["Authorization"] = self._authorization(creds, method, url, first)
        return self._send(method, url, body, headers, timeout)

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float,
              tolerate: bool = False, only_401: bool = False) -> Response:
        """One HTTP exchange. ``tolerate``: return error answers (a probe, or a 401 to answer) instead of raising."""
        request = urllib.request.Request(url, data=body, method=method, headers={"User-Agent": USER_AGENT, **headers})
        self.requests += 1
        where = f"{method} {redact(url)}"
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                self.server = answer.headers.get("Server", "")
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, exc.headers, _read(exc))
            self.server = exc.headers.get("Server", "") if exc.headers else ""
            if tolerate and (exc.code == 401 or not only_401):
                return response
            raise _http_error(where, response, url, sent_auth="Authorization" in headers) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise TransientError(f"{where}: connection refused: is the server running?", url=url) from None
            if isinstance(reason, TimeoutError):
                raise RemoteError(f"{where}: no answer within {timeout:g} s (timeout)", url=url) from None
            raise RemoteError(f"{where}: cannot reach the server: {reason}", url=url) from None
        except TimeoutError:
            raise RemoteError(f"{where}: no answer within {timeout:g} s (timeout)", url=url) from None
        except (ConnectionError, OSError) as exc:
            raise RemoteError(f"{where}: the connection failed: {exc}", url=url) from None

    @staticmethod
    def _authorization(creds: Credentials, method: str, url: str, challenge: Response) -> str:
        offered = challenge.headers.get_all("WWW-Authenticate") or []
        digest = next((c for c in offered if c.lower().startswith("digest")), None)
        basic = next((c for c in offered if c.lower().startswith("basic")), None)
        if digest and creds.scheme in ("auto", "digest"):
            return "Digest " + _digest(creds, method, url, digest)
        if basic and creds.scheme in ("auto", "basic"):
            token = base64.b64encode(f"{creds.user}:{creds.password}".encode()).decode("ascii")
            return f"Basic {token}"
        raise AuthError(f"{method} {redact(url)}: the server asks for {offered or 'no known scheme'}, "
                        f"but KB_SPARQL_AUTH is {creds.scheme}", status=401, url=url)


def _digest(creds: Credentials, method: str, url: str, challenge: str) -> str:
    """RFC 7616 digest (MD5/SHA-256, qop=auth) by urllib's own implementation, with a fresh nonce."""
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, url, creds.user, creds.password)
    handler = urllib.request.HTTPDigestAuthHandler(passwords)
    fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(challenge.split(" ", 1)[1]))
    header = handler.get_authorization(urllib.request.Request(url, method=method), fields)
    if not header:
        raise AuthError(f"{method} {redact(url)}: cannot answer the digest challenge {challenge!r}", status=401)
    return header


def _http_error(where: str, response: Response, url: str, *, sent_auth: bool) -> RemoteError:
    text = response.text()
    detail = f": {text}" if text else ""
    if response.status == 401:
        hint = "the server refused the credentials" if sent_auth else \
            "the server wants credentials: set KB_SPARQL_USER and KB_SPARQL_PASSWORD (or use a netrc file)"
        return AuthError(f"{where}: HTTP 401 Unauthorized: {hint}{detail}", status=401, body=text, url=url)
    if response.status == 403:
        return AuthError(f"{where}: HTTP 403 Forbidden: the user may not do this{detail}", status=403,
                         body=text, url=url)
    if response.status in TRANSIENT_STATUSES:
        error = TransientError(f"{where}: HTTP {response.status} (server busy or starting){detail}",
                               status=response.status, body=text, url=url)
        retry_after = response.headers.get("Retry-After", "") if response.headers else ""
        error.retry_after = float(retry_after) if retry_after.isdigit() else None
        return error
    return RemoteError(f"{where}: HTTP {response.status}{detail}", status=response.status, body=text, url=url)


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, AttributeError):
        return b""


def _server_text(body: bytes, limit: int) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(url: str) -> str:
    """The URL without a query string (queries and graph IRIs can be long; user:pass@ never shown)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
