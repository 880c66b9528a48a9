"""Lay out the evidence network (works, documents, claims, concepts) for a static SVG.

A layered layout: cited works | source documents | claims | populations, interventions and
outcomes, one column each, ordered within columns by the barycentre heuristic so that edges cross
little. It reads the networkx graph of :mod:`kb.analyze` and needs no numpy (networkx's force
layouts do); it is deterministic by construction — stable sorts with ids as tie-breakers, and
coordinates rounded to one decimal — so two builds draw the same picture.
"""

from __future__ import annotations

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


@dataclass
class Layout:
    width: int
    height: int
    nodes: list[NetNode]
    edges: list[NetEdge]


def layout(graph: object, label: Callable[[str], str], link: Callable[[str], str | None]) -> Layout:
    """Positions for every node of the evidence network, and the edges between them."""
    g = graph  # a networkx.DiGraph; nodes are "kind:id"
    sources = sorted({v for u, v, k in g.edges(data="kind") if k == "states"}  # type: ignore[attr-defined]
                     | {u for u, v, k in g.edges(data="kind") if k == "cites"})  # type: ignore[attr-defined]
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
    for u, v, k in sorted(g.edges(data="kind")):  # type: ignore[attr-defined]
        (x1, y1), (x2, y2) = coords[u], coords[v]
        edges.append(NetEdge(k or "", x1, y1, x2, y2))
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
