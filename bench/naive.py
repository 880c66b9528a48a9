"""The plain-rdflib path a naive design would take, on the same triples: ``python -m bench.naive NT JSON [--turtle]``.

Not a floor but a yardstick: it shows what the store choice buys at this scale (rdflib's
memory store parsing the built ``kb.nt``, answering the evidence-map GROUP BY, serialising
Turtle). Turtle serialisation is optional: at 200k triples it took 184 s on this machine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.store_choice import MAP_QUERY


def measure(nt: Path, turtle: bool) -> dict[str, Any]:
    from kb.io import gz

    out: dict[str, Any] = {}
    data = gz.read(nt)  # the site's dump is gzipped; unpacking it is not rdflib's work
    start = time.perf_counter()
    import rdflib

    graph = rdflib.Graph()
    graph.parse(data=data, format="nt")
    out["rdflib_parse_s"] = time.perf_counter() - start
    start = time.perf_counter()
    out["map_rows"] = len(list(graph.query(MAP_QUERY)))
    out["rdflib_map_query_s"] = time.perf_counter() - start
    if turtle:
        start = time.perf_counter()
        graph.serialize(format="turtle")
        out["rdflib_turtle_s"] = time.perf_counter() - start
    out["triples"] = len(graph)
    return out


def main() -> None:
    nt, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(measure(nt, "--turtle" in sys.argv[3:]), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
