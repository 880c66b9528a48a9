"""Warm queries: the example queries against ``kb serve`` and two peers loaded with the same ``kb.nt``.

``python -m bench.peers EVIDENCE_DIR SITE_DIR [--json FILE]`` (the runner calls :func:`measure`):

* ``kb serve``: a real ``kb serve`` process on the built site (its default, embedded engine:
  pyoxigraph in memory), each query in its forked child as it always runs;
* Virtuoso 7 (Debian's ``virtuoso-t``), started by the test suite's harness (``tests/virtuoso``)
  with buffers sized for the graph and no row cap, the dump bulk-loaded by ``ld_dir`` and
  ``rdf_loader_run`` into the graph that ``kb publish`` would fill;
* the Oxigraph server (``oxigraph serve-read-only``, the PyPI package ``oxigraph``: a RocksDB
  store that ``oxigraph load`` filled).

Every query goes over HTTP as a form POST asking for ``application/sparql-results+json`` and is
timed until its last byte is read; each example runs ``warmup`` times unmeasured (kept in the JSON as
``warmup_ms``), then ``runs`` times, on each server, interleaved (server A, B, C, then again), and the
median of the measured runs is kept. The warm-up is there for every server alike: the first run of a
query after another measures caches filling (Virtuoso's first certainty-by-design took 165 ms, its next
two 9.3 ms) or a worker settling after a heavy query, not the query. Loopback only; every server is stopped by
its own process id at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.procs import ROOT, kb_command, stop, tree_memory_mb

RESULTS_JSON = "application/sparql-results+json"
VIRTUOSO_BUFFERS = 170_000  # 8 KiB pages: ~1.3 GB, Virtuoso's own advice for a few million triples
VIRTUOSO_MAX_ROWS = 10_000_000  # no silent cut: every server returns every row


class PeerError(RuntimeError):
    """A server could not be started or loaded."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(endpoint: str, query: str, timeout: float, extra: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One query as a form POST; the status and the whole body."""
    body = urllib.parse.urlencode({"query": query, **(extra or {})}).encode()
    request = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": RESULTS_JSON})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def rows(body: bytes) -> int | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return len(data.get("results", {}).get("bindings", [])) if "results" in data else 1


def wait_until(ready: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise PeerError(f"{what} exited with {process.returncode}")
        if ready():
            return
        time.sleep(0.2)
    raise PeerError(f"{what} did not answer within {timeout:g} s")


@contextmanager
def kb_serve(evidence: Path, site: Path, timeout: float) -> Iterator[str]:
    """A real ``kb serve --no-build``: the site as built, the graph of the evidence held in memory (from the site's
    dump where it is the cached store's graph, :func:`kb.pipeline.serving_store`)."""
    port = free_port()
    process = subprocess.Popen([*kb_command(), "serve", "--no-build", "--evidence", str(evidence), "--out", str(site),
                                "--port", str(port), "--timeout", str(timeout)], cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    endpoint = f"http://127.0.0.1:{port}/sparql"
    try:
        wait_until(lambda: _answers(endpoint), 3600, "kb serve", process)
        SERVE_PIDS[endpoint] = process.pid
        yield endpoint
    finally:
        stop(process)


SERVE_PIDS: dict[str, int] = {}  # endpoint → kb serve's process id, for its memory


def _answers(endpoint: str) -> bool:
    try:
        return post(endpoint, "ASK {}", 5)[0] == 200
    except OSError:
        return False


@contextmanager
def oxigraph_server(nt: Path, work: Path) -> Iterator[str]:
    """``oxigraph serve-read-only`` on a RocksDB store loaded from ``nt`` by ``oxigraph load``."""
    binary = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which("oxigraph")
    if binary is None:
        raise PeerError("the oxigraph server is not installed: pip install 'oxigraph>=0.5,<0.6'")
    location = work / "oxigraph-db"
    shutil.rmtree(location, ignore_errors=True)
    loaded = subprocess.run([binary, "load", "--location", str(location), "--file", str(nt)], capture_output=True,
                            text=True, timeout=3600, stdin=subprocess.DEVNULL)
    if loaded.returncode != 0:
        raise PeerError(f"oxigraph load failed: {loaded.stderr[-1000:]}")
    port = free_port()
    process = subprocess.Popen([binary, "serve-read-only", "--location", str(location), "--bind",
                                f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}/query"
    try:
        wait_until(lambda: _answers(endpoint), 120, "oxigraph serve-read-only", process)
        yield endpoint
    finally:
        stop(process)
        shutil.rmtree(location, ignore_errors=True)


@contextmanager
def virtuoso(nt: Path, work: Path, graph: str) -> Iterator[str]:
    """Debian's Virtuoso 7 through the test suite's harness, sized for the graph, ``nt`` bulk-loaded into ``graph``."""
    sys.path.insert(0, str(ROOT))
    from tests.virtuoso.server import INI, Virtuoso

    folder = work / "virtuoso"
    shutil.rmtree(folder, ignore_errors=True)
    ini = INI.read_text(encoding="utf-8")
    ini = re.sub(r"(?m)^NumberOfBuffers\s*=.*$", f"NumberOfBuffers = {VIRTUOSO_BUFFERS}", ini)
    ini = re.sub(r"(?m)^MaxDirtyBuffers\s*=.*$", f"MaxDirtyBuffers = {VIRTUOSO_BUFFERS * 3 // 4}", ini)
    ini = re.sub(r"(?m)^ResultSetMaxRows\s*=.*$", f"ResultSetMaxRows = {VIRTUOSO_MAX_ROWS}", ini)
    server = Virtuoso(folder, ini_text=ini)
    server.start()
    try:
        data = folder / "db" / "load"
        data.mkdir()
        os.link(nt, data / "kb.nt") if nt.stat().st_dev == data.stat().st_dev else shutil.copyfile(nt, data / "kb.nt")
        server.isql(f"ld_dir('{data}', 'kb.nt', '{graph}'); rdf_loader_run(); checkpoint;", timeout=3600)
        yield server.endpoint
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def time_queries(servers: dict[str, str], queries: dict[str, str], runs: int, timeout: float,
                 extra: dict[str, dict[str, str]], warmup: int = 1) -> dict[str, dict[str, Any]]:
    """Each query ``warmup`` + ``runs`` times on every server, interleaved; per server and query: the
    measured runs, the warm-up runs, the median of the measured ones, rows."""
    out: dict[str, dict[str, Any]] = {name: {} for name in servers}
    for query_name, text in queries.items():
        for run in range(warmup + runs):
            for server, endpoint in servers.items():
                started = time.perf_counter()
                try:
                    status, body = post(endpoint, text, timeout, extra.get(server))
                except OSError as exc:
                    status, body = 0, str(exc).encode()
                seconds = time.perf_counter() - started
                entry = out[server].setdefault(query_name, {"runs_ms": [], "warmup_ms": [], "status": status})
                entry["runs_ms" if run >= warmup else "warmup_ms"].append(round(seconds * 1000, 1))
                if status != 200:
                    entry["status"], entry["error"] = status, body.decode("utf-8", "replace")[:500]
                entry["rows"] = rows(body) if status == 200 else None
    for per_query in out.values():
        for entry in per_query.values():
            entry["median_ms"] = statistics.median(entry["runs_ms"])
    return out


def p50(per_query: dict[str, Any]) -> float | None:
    """The median over the examples of each example's median (None if any failed)."""
    if not per_query or any(e["status"] != 200 for e in per_query.values()):
        return None
    return statistics.median(e["median_ms"] for e in per_query.values())


def measure(evidence: Path, site: Path, *, runs: int = 3, warmup: int = 1, timeout: float = 600.0,
            peers: tuple[str, ...] = ("virtuoso", "oxigraph"), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the servers one after the other (each loaded, then kept), time the examples on all of them."""
    from kb.config import load_config
    from kb.export.formats import site_dump
    from kb.io import gz
    from kb.namespaces import sparql_prologue
    from kb.query.sparql import load_examples

    config = load_config(evidence)
    graph = f"{config.base_iri}graph"
    dump = site_dump(site)
    if dump is None:
        raise SystemExit(f"{site} is not a built site (no data/kb.nt.gz)")
    examples = {e.name: e.text for e in load_examples(config.queries_dir)}
    # Peers do not know the KB's prefixes: they get the same PREFIX lines kb query --endpoint sends.
    with_prologue = {name: sparql_prologue() + text for name, text in examples.items()}
    result: dict[str, Any] = {"runs": runs, "warmup": warmup, "queries": sorted(examples),
                              "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="kb-bench-peers-", dir=site.parent) as tmp, _stack() as stack:
        work = Path(tmp)
        nt = work / "kb.nt"  # the peers load plain N-Triples: the site's dump, decompressed (untimed)
        nt.write_bytes(gz.read(dump))
        servers: dict[str, str] = {}
        started = time.perf_counter()
        log("kb serve --no-build: loading the graph into memory")
        servers["kb_serve"] = stack(kb_serve(evidence, site, timeout))
        result["kb_serve_start_s"] = round(time.perf_counter() - started, 1)
        starters = {"virtuoso": lambda: virtuoso(nt, work, graph), "oxigraph": lambda: oxigraph_server(nt, work)}
        for peer, start in starters.items():
            if peer not in peers:
                continue
            started = time.perf_counter()
            log(f"{peer}: starting and loading {nt.stat().st_size / 1e6:.0f} MB of N-Triples")
            try:
                servers[peer] = stack(start())
            except (PeerError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                log(f"{peer} not measured: {exc}")
                result[f"{peer}_error"] = str(exc)[-2000:]
                continue
            result[f"{peer}_load_s"] = round(time.perf_counter() - started, 1)
        texts = {name: with_prologue[name] for name in examples}
        log(f"timing {len(texts)} example queries × ({warmup} warm-up + {runs}) runs on {', '.join(servers)}")
        timings = time_queries(servers, texts, runs, timeout, {"virtuoso": {"default-graph-uri": graph}}, warmup)
        if servers.get("kb_serve") in SERVE_PIDS:  # after the queries: the workers have warmed up and answered
            result["kb_serve_memory"] = tree_memory_mb(SERVE_PIDS[servers["kb_serve"]])
    result["servers"] = timings
    result["p50_ms"] = {server: p50(per_query) for server, per_query in timings.items()}
    result["load_average_end"] = os.getloadavg()
    return result


@contextmanager
def _stack() -> Iterator[Callable[[Any], str]]:
    """Enter context managers as they come; leave them all (in reverse) at the end."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield stack.enter_context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.splitlines()[0])
    parser.add_argument("evidence", type=Path)
    parser.add_argument("site", type=Path, help="the site kb build wrote from EVIDENCE (its data/kb.nt.gz is loaded)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1,
                        help="runs of each query before the measured ones (not counted)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--peers", default="virtuoso,oxigraph", help="comma-separated: virtuoso, oxigraph, or none")
    parser.add_argument("--json", type=Path, dest="json_path")
    args = parser.parse_args(argv)
    peers = tuple(p for p in args.peers.split(",") if p and p != "none")
    result = measure(args.evidence, args.site, runs=args.runs, warmup=args.warmup, timeout=args.timeout, peers=peers,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json_path:
        args.json_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(render(result))
    return 0


def render(result: dict[str, Any]) -> str:
    servers = list(result["servers"])
    lines = ["| query | " + " | ".join(f"{s} (ms)" for s in servers) + " | kb serve ÷ Virtuoso |",
             "|---|" + "---:|" * (len(servers) + 1)]
    for query in result["queries"]:
        cells = []
        for s in servers:
            e = result["servers"][s].get(query, {})
            cells.append(f"{e['median_ms']:.0f}" if e.get("status") == 200 else f"error {e.get('status')}")
        ours, theirs = (result["servers"].get(k, {}).get(query, {}) for k in ("kb_serve", "virtuoso"))
        ratio = (f"{ours['median_ms'] / theirs['median_ms']:.2f}×" if ours.get("status") == theirs.get("status") == 200
                 and theirs["median_ms"] > 0 else "—")
        lines.append(f"| {query} | " + " | ".join(cells) + f" | {ratio} |")
    p = result["p50_ms"]
    lines.append("| **p50** | " + " | ".join("—" if p[s] is None else f"**{p[s]:.0f}**" for s in servers) + " | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
