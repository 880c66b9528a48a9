"""``kb query`` prefers a running ``kb serve`` of the same evidence, and says so; otherwise the local store.

A real ``kb serve`` runs in its own process on a free port (``--port 0``); ``kb query`` finds it
through ``.kb-cache/serve.json`` and checks that the process is alive, that it answers, and that
it holds the store of the current evidence.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.procs import stop

TERMS = ("SELECT ?c ?statement ?population ?n WHERE { ?c a psk:Claim ; psk:statement ?statement ; "
         "psk:population ?population . OPTIONAL { ?c psk:sampleSize ?n } } ORDER BY ?c ?population")
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def kb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def serving(evidence_copy: Path, tmp_path: Path) -> Iterator[tuple[Path, int, subprocess.Popen]]:
    """``kb serve`` on the fixture copy: (evidence, port, process); stopped by its own pid afterwards."""
    process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--evidence", str(evidence_copy), "--out",
                                str(tmp_path / "site"), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.monotonic() + 180
        assert process.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"kb serve exited {process.returncode}: {process.stderr.read() if process.stderr else ''}")
            found = re.search(r"SPARQL at http://127\.0\.0\.1:(\d+)/sparql", line)
            port = int(found.group(1)) if found else None
        assert port is not None, "kb serve did not say where it serves"
        yield evidence_copy, port, process
    finally:
        stop(process, timeout=20)


def test_kb_query_is_answered_by_a_running_kb_serve(serving):
    evidence, port, _ = serving
    record = json.loads((evidence.parent / ".kb-cache" / "serve.json").read_text())
    assert record["port"] == port and record["host"] == "127.0.0.1"
    served = kb("query", "--evidence", str(evidence), "claims-per-direction", "--format", "csv")
    assert served.returncode == 0, served.stderr
    assert f"answered by kb serve on 127.0.0.1:{port}" in served.stderr
    construct = kb("query", "--evidence", str(evidence), "CONSTRUCT { ?c a psk:Claim } WHERE { ?c a psk:Claim }")
    assert construct.returncode == 0 and "@prefix psk:" in construct.stdout


def test_the_same_answers_without_kb_serve_from_the_local_store(serving):
    evidence, _port, process = serving
    served = {fmt: kb("query", "--evidence", str(evidence), TERMS, "--format", fmt)
              for fmt in ("table", "json", "tsv", "csv")}
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)
    assert not (evidence.parent / ".kb-cache" / "serve.json").exists()  # kb serve forgets itself on the way out
    for fmt, answer in served.items():
        local = kb("query", "--evidence", str(evidence), TERMS, "--format", fmt)
        assert local.returncode == 0 and "kb serve" not in local.stderr
        assert "answered by kb serve" in answer.stderr
        assert local.stdout == answer.stdout, fmt


def test_an_edit_since_kb_serve_started_means_the_local_store(serving):
    evidence, _port, _ = serving
    claims = sorted((evidence / "claims").glob("*.yaml"))[0]
    claims.write_text(claims.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # the key changes
    answer = kb("query", "--evidence", str(evidence), "claims-per-direction")
    assert answer.returncode == 0 and "kb serve" not in answer.stderr


def test_a_dead_kb_serve_is_not_used(evidence_copy: Path):
    from kb.config import load_config
    from kb.query.serving import Running, record
    from kb.query.store import evidence_key

    config = load_config(evidence_copy)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record(config.store_cache_dir, Running("127.0.0.1", 9, dead.pid, evidence_key(config)))
    answer = kb("query", "--evidence", str(evidence_copy), "claims-per-direction")
    assert answer.returncode == 0 and "kb serve" not in answer.stderr


def test_a_runaway_query_stopped_by_kb_serve_exits_5(serving):
    evidence, port, process = serving
    started = time.monotonic()
    answer = kb("query", "--evidence", str(evidence), "--timeout", "2", RUNAWAY)
    assert answer.returncode == 5, answer.stderr
    assert f"kb serve on 127.0.0.1:{port}" in answer.stderr and "ran past 2 s" in answer.stderr
    assert answer.stdout == ""
    assert time.monotonic() - started < 30
    assert process.poll() is None  # the server is still up
    assert kb("query", "--evidence", str(evidence), "claims-per-direction").returncode == 0


def test_errors_read_as_a_local_querys(serving):
    evidence, _port, _ = serving
    syntax = kb("query", "--evidence", str(evidence), "SELECT ?x WHERE { ?x a psk:Claim ")
    assert syntax.returncode == 3 and "line 1, column 17" in syntax.stderr
    refused = kb("query", "--evidence", str(evidence), "SELECT * WHERE { SERVICE <http://x/> { ?a ?b ?c } }")
    assert refused.returncode == 4 and "SERVICE is not allowed" in refused.stderr


def test_kb_query_endpoint_can_name_kb_serve(serving):
    """``--endpoint`` sends the KB's graph as default-graph-uri (as to Virtuoso): kb serve accepts it."""
    evidence, port, _ = serving
    named = kb("query", "--evidence", str(evidence), "--endpoint", f"http://127.0.0.1:{port}/sparql",
               "claims-per-direction", "--format", "csv")
    found = kb("query", "--evidence", str(evidence), "claims-per-direction", "--format", "csv")
    assert named.returncode == 0, named.stderr
    assert "answered by kb serve" not in named.stderr and "answered by kb serve" in found.stderr
    assert named.stdout == found.stdout


def test_kb_serve_leaves_its_last_rebuilt_store_for_kb_query(serving):
    """The loop's rebuilds patch the store in memory only: on the way out, kb serve writes the last one where kb query
    finds it, so the first kb query after a session of edits does not build it again (31 s at 10k/50k)."""
    from kb.config import load_config
    from kb.query.store import evidence_key, store_path

    evidence, _port, process = serving
    config = load_config(evidence)
    claims = sorted((evidence / "claims").glob("*.yaml"))[0]
    claims.write_text(claims.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while "rebuilt in" not in (line := process.stdout.readline()):
        assert line and "rebuild failed" not in line and time.monotonic() < deadline, f"kb serve did not rebuild: {line}"
    assert not store_path(config, evidence_key(config)).is_dir()  # the rebuilt store is held in memory only
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.stderr is not None and "cached the store for kb query" in process.stderr.read()
    assert store_path(config, evidence_key(config)).is_dir()
    local = kb("query", "--evidence", str(evidence), "claims-per-direction")
    assert local.returncode == 0 and "kb serve" not in local.stderr
