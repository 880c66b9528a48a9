"""``python -m bench.forkcost EVIDENCE_DIR [--query NAME]``: what isolating a query in a forked process costs.

``kb serve`` answers each query in a forked worker of the process that holds the store
(:mod:`kb.query.isolate`). This measures, on the store ``kb build`` cached for EVIDENCE_DIR, held in
memory as ``kb serve`` holds it: the fork itself; one example query in the parent, in a new thread,
in a fresh child, and in a child warmed by one full scan (what a worker does before it serves);
and the memory the warm-up makes private (Oxigraph's in-memory store writes to the nodes it reads,
so copy-on-write shares less than it seems).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

SCAN = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _private_mib() -> float:
    with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
        fields = {line.split(":")[0]: int(line.split()[1]) for line in fh if line.split(":")[0].startswith("Private")}
    return sum(fields.values()) / 1024


def measure(evidence: Path, query_name: str) -> dict[str, Any]:
    import pyoxigraph as ox

    from kb.config import load_config
    from kb.query.sparql import load_examples, run_query
    from kb.query.store import in_memory, open_cached

    config = load_config(evidence)
    cached = open_cached(config)
    if cached is None:
        raise SystemExit(f"no cached store for {evidence}: run kb build (or kb query) first")
    store = in_memory(cached)
    del cached
    text = next(e.text for e in load_examples(config.queries_dir) if e.name == query_name)

    def timed() -> float:
        started = time.perf_counter()
        results = run_query(store, text)
        if not isinstance(results, ox.QueryBoolean):
            sum(1 for _ in results)
        return (time.perf_counter() - started) * 1000

    out: dict[str, Any] = {"triples": len(store), "query": query_name}
    out["parent_ms"] = sorted(timed() for _ in range(3))[1]
    box: dict[str, float] = {}
    thread = threading.Thread(target=lambda: box.setdefault("ms", timed()))
    thread.start()
    thread.join()
    out["new_thread_first_ms"] = box["ms"]
    for warm in (False, True):
        read, write = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            result: dict[str, float] = {"fork_ms": (time.perf_counter() - started) * 1000}
            if warm:
                before = _private_mib()
                began = time.perf_counter()
                list(store.query(SCAN))  # type: ignore[arg-type]
                result["warm_up_ms"] = (time.perf_counter() - began) * 1000
                result["warm_up_private_mib"] = _private_mib() - before
            result["first_ms"] = timed()
            result["second_ms"] = timed()
            os.write(write, json.dumps(result).encode())
            os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        out["warmed_child" if warm else "fresh_child"] = json.loads(data)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forkcost", description=__doc__.splitlines()[0])
    parser.add_argument("evidence", type=Path)
    parser.add_argument("--query", default="certainty-by-design", help="the example query to time")
    parser.add_argument("--json", type=Path, dest="json_path")
    args = parser.parse_args(argv)
    result = measure(args.evidence, args.query)
    text = json.dumps(result, indent=1)
    if args.json_path:
        args.json_path.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
