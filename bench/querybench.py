"""``python -m bench.querybench EVIDENCE_DIR SITE_DIR --json FILE``: the query side of the benchmark alone,
on a corpus already built (``python -m bench --keep DIR`` or ``kb build``), so that it can be measured
again without generating and building the corpus anew.

In one run, in this order: ``kb query`` per example without a server (cold: a process per query,
the cached on-disk store; after one untimed query, which rebuilds that store if the code changed
since the build: a cache miss, not a query), the examples warm on ``kb serve``, Virtuoso and the Oxigraph server
(:mod:`bench.peers`), and the SPARQL page (:mod:`bench.sparql_page`). The JSON has the same keys as
the full run's (``query_p50_ms``, ``peer_query_p50_ms``, ``oxigraph_server_query_p50_ms``,
``cold_query_p50_ms``, ``sparql_page_interactive_ms``, ``sparql_page_first_result_ms``), the machine and
its load averages at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.procs import kb_command, run
from bench.runner import KB_QUERY_DEFAULT_TIMEOUT, Options, _queries, _sparql_page, _warm_queries, log


def measure(evidence: Path, site: Path, opts: Options, page: bool = True) -> dict[str, Any]:
    machine = report.machine()
    log("kb query ASK {} (untimed): the cached store made current if the code changed since the build")
    prepared = run([*kb_command(), "query", "--evidence", str(evidence), "ASK {}"], timeout=opts.timeout)
    if not prepared.ok:
        log(f"kb query could not open or build the store: {prepared.stderr[-2000:]}")
    log("kb query per example query, no server (cold)")
    cold, problems = _queries(kb_command(), evidence, opts)
    log("warm queries: kb serve, Virtuoso and the Oxigraph server")
    warm = _warm_queries(evidence, site, opts)
    sparql_page: dict[str, Any] = {}
    if page:
        log("SPARQL page in headless Chromium")
        sparql_page = _sparql_page(site)
    p50 = warm.get("p50_ms", {})
    machine["load_average_end"] = os.getloadavg()
    return {
        "query_p50_ms": p50.get("kb_serve"), "peer_query_p50_ms": p50.get("virtuoso"),
        "oxigraph_server_query_p50_ms": p50.get("oxigraph"),
        "cold_query_p50_ms": statistics.median(cold.values()) * 1000 if cold else None,
        "sparql_page_interactive_ms": sparql_page.get("interactive_ms"),
        "sparql_page_first_result_ms": sparql_page.get("first_result_ms"),
        "sparql_page_ready_ms": sparql_page.get("ready_ms"),
        "cold_queries": {name: {"kb_query_process_s": s, "over_default_timeout": s > KB_QUERY_DEFAULT_TIMEOUT}
                         for name, s in sorted(cold.items())},
        "commands": report.warm_rows(warm), "warm_queries": warm, "sparql_page": sparql_page,
        "errors": {k: v for k, v in (("kb query", problems), ("warm queries", warm.get("error")),
                                     ("SPARQL page", sparql_page.get("error"))) if v},
        "machine": machine,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.querybench", description=__doc__.splitlines()[0])
    parser.add_argument("evidence", type=Path)
    parser.add_argument("site", type=Path)
    parser.add_argument("--json", type=Path, dest="json_path", required=True)
    parser.add_argument("--peers", default="virtuoso,oxigraph")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per query")
    parser.add_argument("--no-page", action="store_true", help="leave the SPARQL page out")
    args = parser.parse_args(argv)
    opts = Options(peers=args.peers, timeout=args.timeout)
    result = measure(args.evidence, args.site, opts, page=not args.no_page)
    args.json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(report.table(result["commands"]))
    for key in ("query_p50_ms", "peer_query_p50_ms", "oxigraph_server_query_p50_ms", "cold_query_p50_ms",
                "sparql_page_interactive_ms", "sparql_page_first_result_ms", "sparql_page_ready_ms"):
        print(f"{key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
