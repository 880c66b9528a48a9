"""``python -m bench --refs N --claims M [--json FILE] [--keep DIR]``: the performance benchmark.

Generates a synthetic evidence folder of the given scale, then measures every pipeline stage,
``kb build``, ``kb check``, ``kb query``, ``kb --help``, an incremental rebuild and peak RSS,
each against its floor measured in the same run; prints a table with PASS/MISS per target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.runner import BenchError, Options, bench, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=1000, help="references to generate (default 1000)")
    parser.add_argument("--claims", type=int, default=10000, help="claims to generate (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (same seed, same bytes)")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the results as JSON here")
    parser.add_argument("--keep", type=Path, help="keep the corpus and built site in this folder (replaced)")
    parser.add_argument("--evidence", type=Path, help="benchmark a copy of this evidence folder instead")
    parser.add_argument("--rdflib", choices=("auto", "all", "fast", "none"), default="auto",
                        help="naive rdflib baseline: all (incl. Turtle), fast (parse + query), none; "
                             "auto skips Turtle above 250k triples")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per measured process")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the short commands (median taken)")
    parser.add_argument("--floor-runs", type=int, default=2, help="runs of the floors (fastest kept)")
    parser.add_argument("--edits", type=int, default=3,
                        help="edits timed one after another for the loop and the fresh rebuild (median taken)")
    parser.add_argument("--peers", default="virtuoso,oxigraph",
                        help="SPARQL servers to compare kb serve with: virtuoso, oxigraph (comma-separated) or none")
    args = parser.parse_args(argv)
    try:
        result = bench(Options(**vars(args)))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
