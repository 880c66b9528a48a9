"""Measure rdflib's memory store against pyoxigraph on a KB-shaped graph (the store choice).

``python -m bench.store_choice [--triples N]`` replicates the fixture KB's claims and references
under fresh IRIs until the graph has about N triples, then times, in this one process and run:
load N-Triples, serialise Turtle, and the GROUP BY that feeds the evidence map. Results are
printed as seconds and as rdflib/pyoxigraph ratios (ratios survive a noisy machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP_QUERY = """
PREFIX psk: <https://w3id.org/peer-support-kb/ontology#>
SELECT ?population ?outcome ?direction (COUNT(*) AS ?n) WHERE {
  ?claim a psk:Claim ; psk:population ?population ; psk:finding ?f .
  ?f psk:outcome ?outcome ; psk:direction ?direction .
} GROUP BY ?population ?outcome ?direction
"""


def synthetic_ntriples(target: int) -> bytes:
    """The fixture graph's claim and work triples, copied under numbered IRIs."""
    import pyoxigraph as ox

    from kb.config import load_config
    from kb.pipeline import check

    checked = check(load_config(ROOT / "tests" / "data" / "evidence"), shacl=False)
    base = checked.evidence.config.base_iri
    quads = list(checked.graph.store)
    copyable = [q for q in quads if q.subject.value.startswith((base + "claim/", base + "work/"))]
    static = [q for q in quads if q not in set(copyable)]
    lines = [ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in static],
                          format=ox.RdfFormat.N_TRIPLES)]
    copies = max(1, (target - len(static)) // max(1, len(copyable)))
    template = ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in copyable],
                            format=ox.RdfFormat.N_TRIPLES).decode()
    for i in range(copies):
        lines.append(template.replace(base + "claim/", f"{base}claim/c{i}-")
                     .replace(base + "work/", f"{base}work/w{i}-").encode())
    return b"".join(lines)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(data: bytes) -> dict[str, float]:
    import pyoxigraph as ox
    import rdflib

    results: dict[str, float] = {}
    results["oxigraph_load_s"], store = timed(lambda: _ox_load(data))
    results["rdflib_load_s"], graph = timed(lambda: rdflib.Graph().parse(data=data, format="nt"))
    results["oxigraph_turtle_s"], _ = timed(
        lambda: store.dump(format=ox.RdfFormat.TURTLE, from_graph=ox.DefaultGraph()))
    results["rdflib_turtle_s"], _ = timed(lambda: graph.serialize(format="turtle"))
    results["oxigraph_map_query_s"], rows_ox = timed(lambda: list(store.query(MAP_QUERY)))
    results["rdflib_map_query_s"], rows_rdf = timed(lambda: list(graph.query(MAP_QUERY)))
    assert len(rows_ox) == len(rows_rdf), "both stores must give the same answer"
    results["triples"] = len(store)
    return results


def _ox_load(data: bytes) -> object:
    import pyoxigraph as ox

    store = ox.Store()
    store.bulk_load(data, format=ox.RdfFormat.N_TRIPLES)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(synthetic_ntriples(args.triples))
    for stage in ("load", "turtle", "map_query"):
        ox_s, rdf_s = results[f"oxigraph_{stage}_s"], results[f"rdflib_{stage}_s"]
        print(f"{stage:10s} pyoxigraph {ox_s:7.3f} s   rdflib {rdf_s:7.3f} s   ratio {rdf_s / ox_s:6.1f}x")
    print(f"triples: {results['triples']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
