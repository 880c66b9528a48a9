"""Where a running ``kb serve`` is, so that ``kb query`` can ask it instead of opening the store.

``kb serve`` writes ``serve.json`` in the cache folder (``.kb-cache/``): its port, its process id
and the evidence key of the store it holds (:func:`kb.query.store.evidence_key`). ``kb query``
uses it only when all three still hold: the key is the current evidence's (an edit since makes it
stale), the process is alive, and the endpoint answers with the same key in its ``X-KB-Evidence``
header (another program may have taken the port). Anything else: the local store, as before.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from kb.io.procs import alive

FILE_NAME = "serve.json"
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Running:
    host: str
    port: int
    pid: int
    key: str

    @property
    def endpoint(self) -> str:
        from kb.query.endpoint import PATH

        return f"http://{self.host}:{self.port}{PATH}"


def record(cache_dir: Path, running: Running) -> Path:
    """Say that this process serves the store of ``running.key`` (atomically: a reader never sees half)."""
    from kb.io.atomic import replace_cache_file

    path = cache_dir / FILE_NAME
    cache_dir.mkdir(parents=True, exist_ok=True)
    replace_cache_file(path, (json.dumps(asdict(running), sort_keys=True) + "\n").encode())
    return path


def forget(cache_dir: Path, pid: int) -> None:
    """Remove the record if it is still this process's (a newer ``kb serve`` may have replaced it)."""
    path = cache_dir / FILE_NAME
    current = _read(path)
    if current is not None and current.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def announced(cache_dir: Path, running: Running) -> Iterator[None]:
    """:func:`record` for as long as the block runs (a record that cannot be written only costs speed)."""
    with contextlib.suppress(OSError):
        record(cache_dir, running)
    try:
        yield
    finally:
        forget(cache_dir, running.pid)


def find(cache_dir: Path, key: str) -> Running | None:
    """The running ``kb serve`` for the evidence of ``key``, if there is one and it answers."""
    running = _read(cache_dir / FILE_NAME)
    if running is None or running.key != key or not alive(running.pid):
        return None
    from kb.query.endpoint import EVIDENCE_HEADER

    request = urllib.request.Request(running.endpoint, headers={"Accept": "text/turtle"})  # its description
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(request, timeout=PROBE_TIMEOUT_S) as answer:
            if answer.status == 200 and answer.headers.get(EVIDENCE_HEADER) == key:
                return running
    except (urllib.error.URLError, OSError, ValueError):
        pass
    return None


def _read(path: Path) -> Running | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Running(str(data["host"]), int(data["port"]), int(data["pid"]), str(data["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None

