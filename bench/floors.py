"""The floor of each stage, on the same inputs: ``python -m bench.floors EVIDENCE BUILT JSON``.

A floor is the least work any implementation of the stage must do with the libraries we chose,
measured in the same run on the same noisy machine, so a stage is judged by its ratio to it:

* load_bib: bibtexparser's bare splitter on the decoded file (no positions, values or checks);
* load_claims: libyaml's CSafeLoader composing the same files into nodes (with line marks, which
  a loader that reports lines needs; constructing Python objects is slower still);
* load_rest: CSafeLoader on the citation and source YAML, pyoxigraph parsing the vocabularies,
  reading the archived texts;
* cross_checks: per claim, the quote searched in its source text and every id looked up in a set;
* graph: pyoxigraph bulk-loading the same triples as N-Triples (the built ``data/kb.nt``);
* shacl: the Claim, OutcomeFinding and Work shapes' core constraints as SPARQL on pyoxigraph;
* analyse: the analysis queries on pyoxigraph, results consumed but not turned into records;
* export_ttl/nt/jsonld: pyoxigraph dumping the store (unsorted); export_csv: the csv module
  on the same rows; export_graphml: the same nodes and edges written as GraphML by string formatting;
* site: the built site's pages (all but ``data/``, whose files are the exports' floors) rendered from a
  bare jinja2 template (one escaped line at a time), and every one of its files written with the same
  bytes into a fresh folder: no reading and no deleting inside the timed part (a delete of a site-sized
  tree trims the disk synchronously and slows file creation for minutes after);
* queries: the example queries on an in-memory pyoxigraph store, results consumed.

Each floor pays its own library imports (the first floor to use a library imports it), as the
stages do, and runs with the cyclic collector paused: its passes are no part of the work (composing the
10k/50k claim files into nodes took 5.1 s of CPU with them, 3.6 s without).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stages import Timer
from kb.io import gz
from kb.io.writing import write_file

SHAPE_QUERIES = {
    "closed-claim": """SELECT ?c ?p WHERE { ?c a psk:Claim ; ?p ?o .
        FILTER(?p NOT IN (rdf:type, dcterms:identifier, psk:statement, psk:quote, psk:section, prov:wasQuotedFrom,
          dcterms:source, cito:citesAsEvidence, prov:wasDerivedFrom, psk:population, psk:intervention, psk:design,
          psk:certainty, psk:startingCertainty, psk:certaintyBasis, psk:downgrade, psk:certaintyReason,
          psk:reportedCertainty, psk:finding, psk:effect, psk:numberOfStudies, psk:numberOfParticipants,
          psk:setting, psk:country, skos:editorialNote)) }""",
    "claim-cardinality": """SELECT ?c WHERE { ?c a psk:Claim .
        OPTIONAL { ?c psk:statement ?s } OPTIONAL { ?c psk:quote ?q } OPTIONAL { ?c psk:population ?pop }
        OPTIONAL { ?c psk:certainty ?cert } }
        GROUP BY ?c HAVING (COUNT(DISTINCT ?s) != 1 || COUNT(DISTINCT ?q) != 1 || COUNT(DISTINCT ?pop) != 1
                            || COUNT(DISTINCT ?cert) != 1)""",
    "claim-datatypes": """SELECT ?c WHERE { ?c a psk:Claim ; psk:statement ?s ; psk:quote ?q ; dcterms:identifier ?id .
        FILTER(LANG(?s) = "" || LANG(?q) = "" || !REGEX(?id, "^[a-z0-9][a-z0-9-]*$")) }""",
    "finding-in": """SELECT ?f WHERE { ?f a psk:OutcomeFinding ; psk:direction ?d ; psk:outcome ?o .
        FILTER(?d NOT IN (<concept/direction/benefit>, <concept/direction/no_effect>, <concept/direction/harm>,
          <concept/direction/mixed>, <concept/direction/inconclusive>))
        FILTER NOT EXISTS { ?o skos:broader ?domain } }""",
    "work": """SELECT ?w WHERE { ?w psk:citekey ?k . OPTIONAL { ?w dcterms:title ?t } OPTIONAL { ?w bibo:doi ?doi }
        FILTER(!BOUND(?t) || !REGEX(?k, "^[A-Za-z0-9][A-Za-z0-9_.:+-]*$")
               || (BOUND(?doi) && !REGEX(?doi, "^10\\\\.[0-9]{4,9}/\\\\S+$"))) }""",
}


def _claim_nodes(evidence: Path) -> None:
    """libyaml composing each file into nodes with line marks: what a loader that reports lines needs."""
    import yaml

    for path in sorted((evidence / "claims").glob("*.yaml")):
        with path.open("rb") as fh:
            yaml.compose(fh, Loader=yaml.CSafeLoader)


def _claim_docs(evidence: Path) -> list[Any]:
    import yaml

    docs = []
    for path in sorted((evidence / "claims").glob("*.yaml")):
        with path.open("rb") as fh:
            docs.append(yaml.load(fh, Loader=yaml.CSafeLoader))
    return docs


def _load_rest(evidence: Path) -> tuple[dict[str, str], int]:
    import pyoxigraph as ox
    import yaml

    for folder in ("citations", "sources"):
        for path in sorted((evidence / folder).glob("*.yaml")):
            with path.open("rb") as fh:
                yaml.load(fh, Loader=yaml.CSafeLoader)
    base = "https://w3id.org/peer-support-kb/"
    quads = sum(len(list(ox.parse(path=str(p), format=ox.RdfFormat.TURTLE, base_iri=base)))
                for p in sorted((evidence / "vocab").glob("*.ttl")))
    texts = {p.stem: " ".join(p.read_text(encoding="utf-8").split())
             for p in sorted((evidence / "sources").glob("*.txt"))}
    return texts, quads


def _cross(docs: list[Any], texts: dict[str, str], keys: set[str]) -> int:
    found = 0
    for doc in docs:
        text = texts.get(doc["source"], "")
        for claim in doc["claims"]:
            found += " ".join(claim["quote"].split()) in text
            found += all(k in keys for k in claim["cites"]) and claim["population"] in keys
            found += sum(o["outcome"] in keys for o in claim["outcomes"])
    return found


def _graphml(nodes: list[tuple[str, str, str]], edges: list[tuple[str, str, str]]) -> bytes:
    from xml.sax.saxutils import quoteattr

    out = ['<?xml version="1.0" encoding="utf-8"?>\n<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
           '<key id="d0" for="node" attr.name="type" attr.type="string"/>\n'
           '<key id="d1" for="node" attr.name="label" attr.type="string"/>\n'
           '<key id="d2" for="edge" attr.name="kind" attr.type="string"/>\n<graph edgedefault="directed">\n']
    out += [f'<node id={quoteattr(n)}><data key="d0">{t}</data><data key="d1">{quoteattr(lab)[1:-1]}</data></node>\n'
            for n, t, lab in nodes]
    out += [f'<edge source={quoteattr(u)} target={quoteattr(v)}><data key="d2">{k}</data></edge>\n'
            for u, v, k in edges]
    out.append("</graph>\n</graphml>\n")
    return "".join(out).encode("utf-8")


def measure(evidence: Path, built: Path) -> dict[str, Any]:
    """Every floor once, in pipeline order; returns seconds per stage and the query floors."""
    t = Timer()
    with t("load_bib"):
        from bibtexparser.splitter import Splitter

        Splitter((evidence / "references.bib").read_bytes().decode("utf-8")).split()
    with t("load_claims"):
        _claim_nodes(evidence)
    docs = _claim_docs(evidence)  # plain data for the cross-check floor (not timed)
    with t("load_rest"):
        texts, _ = _load_rest(evidence)
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (evidence / "references.bib").read_text(encoding="utf-8"), re.M))
    keys |= {c["population"] for d in docs for c in d["claims"]} | {o["outcome"] for d in docs for c in d["claims"]
                                                                    for o in c["outcomes"]}
    with t("cross_checks"):
        _cross(docs, texts, keys)
    nt = gz.read(built / "data" / "kb.nt.gz")
    with t("graph"):
        import pyoxigraph as ox

        store = ox.Store()
        store.bulk_load(nt, format=ox.RdfFormat.N_TRIPLES)
    from kb.analyse.analysis import NETWORK_QUERY, ROWS_QUERY
    from kb.namespaces import PREFIXES

    base = "https://w3id.org/peer-support-kb/"
    with t("shacl"):
        for text in SHAPE_QUERIES.values():
            list(store.query(text, prefixes=dict(PREFIXES), base_iri=base))
    with t("analyse"):
        rows = [[term.value if term is not None else "" for term in s] for s in store.query(ROWS_QUERY)]
        links = [(s["kind"].value, s["from"].value, s["to"].value) for s in store.query(NETWORK_QUERY)]
    for fmt in ("TURTLE", "N_TRIPLES", "JSON_LD"):
        name = {"TURTLE": "ttl", "N_TRIPLES": "nt", "JSON_LD": "jsonld"}[fmt]
        with t(f"export_{name}"):
            store.dump(format=getattr(ox.RdfFormat, fmt), from_graph=ox.DefaultGraph())
    with t("export_csv"):
        import csv
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        buffer.getvalue().encode("utf-8")
    nodes = sorted({(f"a:{f}", "a", f) for _, f, _ in links} | {(f"b:{x}", "b", x) for _, _, x in links})
    with t("export_graphml"):
        _graphml(nodes, [(f"a:{f}", f"b:{x}", k) for k, f, x in links])
    files = _site_files(built)  # read before the clock starts
    lines = [(rel, data.decode("utf-8").splitlines()) for rel, data in files if rel.endswith(".html")]
    fresh = Path(tempfile.mkdtemp(prefix="bench-floor-site-"))
    try:
        with t("site"):
            _render_bare(lines)
            _write_all(fresh, files)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    from kb.query.sparql import load_examples

    per_query = {}
    with t("queries"):
        for example in load_examples(evidence / "queries"):
            start = time.perf_counter()
            list(store.query(example.text, prefixes=dict(PREFIXES)))
            per_query[example.name] = time.perf_counter() - start
    return {"stages": t.seconds, "cpu_seconds": t.cpu, "query_seconds": per_query, "triples": len(store)}


def _site_files(built: Path) -> list[tuple[str, bytes]]:
    """Every file of the built site outside ``data/``, as (site path, bytes), in a fixed order."""
    return [(path.relative_to(built).as_posix(), path.read_bytes()) for path in sorted(built.rglob("*"))
            if path.is_file() and path.relative_to(built).parts[0] != "data"]


def _render_bare(pages: list[tuple[str, list[str]]]) -> int:
    """Each page rendered by jinja2 from a bare template: its lines, escaped, one loop step each."""
    from jinja2 import Environment

    template = Environment(autoescape=True).from_string(
        "<!DOCTYPE html>\n<title>{{ path }}</title>\n{% for line in lines %}{{ line }}\n{% endfor %}")
    return sum(len(template.render(path=path, lines=lines)) for path, lines in pages)


def _write_all(root: Path, files: list[tuple[str, bytes]]) -> None:
    """The files written into ``root`` (a fresh folder), each folder made once, as the build writes them (a large
    file in slices, :mod:`kb.io.writing`: one write of 2 MiB or more was ~30× slower on this VM)."""
    made: set[Path] = set()
    for rel, data in files:
        target = root / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        write_file(target, data)


def main() -> None:
    import gc

    evidence, built, target = (Path(a) for a in sys.argv[1:4])
    gc.disable()  # see the module's docstring
    target.write_text(json.dumps(measure(evidence, built), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
