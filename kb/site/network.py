"""Lay out the evidence network (works, documents, claims, concepts) for a static SVG.

A layered layout: cited works | source documents | claims | populations, interventions and
outcomes, one column each, ordered within columns by the barycentre heuristic so that edges cross
little. It reads the networkx graph of :mod:`kb.analyse.analysis` and needs no numpy (networkx's force
layouts do); it is deterministic by construction — stable sorts with ids as tie-breakers, and
coordinates rounded to one decimal — so two builds draw the same picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from kb.site.pages import LegendItem, Link, NetEdge, NetNode

COLUMN_X = (40.0, 290.0, 540.0, 790.0)
COLUMN_HEADINGS = ("Cited works", "Source documents", "Claims", "Populations, interventions, outcomes")
SPACING = 11.0
MIN_SPAN = 420.0
TOP = 40.0
WIDTH = 1160
KINDS = (
    LegendItem("work", "Cited work", "A work that a source document cites."),
    LegendItem("source", "Source document", "A document that states claims (the review, the article)."),
    LegendItem("claim", "Claim", "A finding stated by a source document."),
    LegendItem("population", "Population", "Who receives peer support, or where."),
    LegendItem("intervention", "Intervention", "A form of peer support."),
    LegendItem("outcome", "Outcome", "What peer support may change."),
)
SWEEPS = 4
MAX_CLAIMS = 600  # above this, claims are not drawn: works link to concepts, weighted by claims
MAX_WORKS = 200  # and only the works most claims rest on are kept
MAX_LINKS = 5000  # and only the heaviest document–concept links (at 50,000 claims there were 48,000, 7.8 MB of SVG)


@dataclass
class Layout:
    width: int
    height: int
    nodes: list[NetNode]
    edges: list[NetEdge]


def project(graph: object, max_claims: int = MAX_CLAIMS, max_works: int = MAX_WORKS,
            max_links: int = MAX_LINKS) -> tuple[object, bool]:
    """The network to draw, and whether claims are in it.

    Beyond ``max_claims`` claims a node per claim is noise: each claim is replaced by edges from
    its documents to its concepts (weight = number of claims), keeping the source documents, the
    ``max_works`` works most claims rest on, and the ``max_links`` heaviest of those edges (the
    lightest first to go, ties by id; data/network.graphml.gz has the whole network).
    """
    import networkx as nx

    claims = [n for n in graph.nodes if n.startswith("claim:")]  # type: ignore[attr-defined]
    if len(claims) <= max_claims:
        return graph, True
    edges = list(graph.edges(data="kind"))  # type: ignore[attr-defined]
    sources = {v for _, v, k in edges if k == "states"} | {u for u, _, k in edges if k == "cites"}
    resting: dict[str, int] = {}
    for _, v, k in edges:
        if k == "rests_on":
            resting[v] = resting.get(v, 0) + 1
    works = set(sorted(resting, key=lambda w: (-resting[w], w))[:max_works])
    keep_docs = sources | works
    out = nx.DiGraph()
    for doc in sorted(sources):
        out.add_node(doc, role="source")
    for claim in sorted(claims):
        docs = sorted(v for v in graph.successors(claim) if v in keep_docs)  # type: ignore[attr-defined]
        concepts = sorted(v for v in graph.successors(claim) if not v.startswith("doc:"))  # type: ignore[attr-defined]
        for d in docs:
            for c in concepts:
                weight = out.edges[d, c]["weight"] + 1 if out.has_edge(d, c) else 1
                out.add_edge(d, c, kind="via_claims", weight=weight)
    light = sorted(((w, u, v) for u, v, w in out.edges(data="weight")), key=lambda e: (-e[0], e[1], e[2]))
    out.remove_edges_from((u, v) for _, u, v in light[max_links:])
    for u, v, k in edges:
        if k == "cites" and u in keep_docs and v in keep_docs:
            out.add_edge(u, v, kind=k, weight=1)
    return out, False


def layout(graph: object, label: Callable[[str], str], link: Callable[[str], str | None]) -> Layout:
    """Positions for every node of the evidence network, and the edges between them."""
    g = graph  # a networkx.DiGraph; nodes are "kind:id"
    edge_kinds = list(g.edges(data="kind"))  # type: ignore[attr-defined]
    sources = ({v for _, v, k in edge_kinds if k == "states"} | {u for u, _, k in edge_kinds if k == "cites"}
               | {n for n, role in g.nodes(data="role") if role == "source"})  # type: ignore[attr-defined]
    nodes = sorted(g.nodes)  # type: ignore[attr-defined]
    cols: list[list[str]] = [[], [], [], []]
    for node in nodes:
        kind = node.split(":", 1)[0]
        if kind == "doc":
            cols[1 if node in sources else 0].append(node)
        elif kind == "claim":
            cols[2].append(node)
        else:
            cols[3].append(node)
    concept_rank = {"population": 0, "intervention": 1, "outcome": 2}
    cols[3].sort(key=lambda n: (concept_rank.get(n.split(":", 1)[0], 3), n))
    neighbours = {n: sorted(set(g.predecessors(n)) | set(g.successors(n))) for n in nodes}  # type: ignore[attr-defined]

    position: dict[str, float] = {}

    def place(col: list[str]) -> None:
        for i, n in enumerate(col):
            position[n] = i / max(len(col) - 1, 1)  # columns differ in length: compare fractions

    for col in cols:
        place(col)
    for _ in range(SWEEPS):
        for c in (3, 1, 0, 2):
            _reorder(cols[c], neighbours, position, grouped=c == 3)
            place(cols[c])

    tallest = max((len(c) for c in cols), default=1)
    span = max(tallest * SPACING, MIN_SPAN)  # small networks still get room to breathe
    height = int(TOP + span + 10)
    coords: dict[str, tuple[float, float]] = {}
    for c, col in enumerate(cols):
        step = span / max(len(col), 1)  # each node in the middle of its share: short columns sit centred
        for i, n in enumerate(col):
            coords[n] = (COLUMN_X[c], round(TOP + (i + 0.5) * step, 1))
    out_nodes = []
    for c, col in enumerate(cols):
        for n in col:
            kind = n.split(":", 1)[0]
            kind = ("source" if c == 1 else "work") if kind == "doc" else kind
            degree = len(neighbours[n])
            x, y = coords[n]
            out_nodes.append(NetNode(n, kind, label(n), x, y, round(min(2.5 + degree ** 0.5, 9.0), 1),
                                     _link(link(n), label(n)), degree))
    edges = []
    for u, v, data in sorted(g.edges(data=True)):  # type: ignore[attr-defined]
        (x1, y1), (x2, y2) = coords[u], coords[v]
        width = round(min(0.8 + math.log2(data.get("weight", 1)), 5.0), 1)
        edges.append(NetEdge(data.get("kind", ""), x1, y1, x2, y2, width, u, v))
    return Layout(WIDTH, height, out_nodes, edges)


def _reorder(col: list[str], neighbours: dict[str, list[str]], position: dict[str, float], *, grouped: bool) -> None:
    """Sort a column by the mean position of each node's neighbours (ties: keep id order)."""
    def key(n: str) -> tuple:
        near = [position[m] for m in neighbours[n] if m in position]
        centre = round(sum(near) / len(near), 6) if near else float("inf")
        group = n.split(":", 1)[0] if grouped else ""
        return (_GROUP_ORDER.get(group, 0), centre, n)

    col.sort(key=key)


_GROUP_ORDER = {"population": 0, "intervention": 1, "outcome": 2}


def _link(path: str | None, label: str) -> Link | None:
    return Link(path, label) if path else None
