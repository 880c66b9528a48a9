"""Find, in two queries per node shape, the focus nodes that may violate the shapes.

The per-constraint checks of :mod:`kb.checks.shacl_compiler` give exact, pyshacl-equivalent results but
take one query each (~150 on our shapes): too many to run over a million triples on every build.
Valid data is the common case, so the build first runs these detectors — one pass over the focus
nodes' triples with every value condition in one FILTER, and one GROUP BY for the counts — and
runs the exact checks only for the focus nodes they flag. A detector may over-flag, never
under-flag: the exact checks decide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.checks.shacl_compiler import _Compiler
from kb.graph.select import select

if TYPE_CHECKING:
    from pyoxigraph import Store
    from rdflib import Graph
    from rdflib.term import Node


class _Detector(_Compiler):
    def __init__(self, shapes: Graph, store: Store) -> None:
        super().__init__(shapes)
        self.store = store
        self.bad: dict[str, set[str]] = {}  # node shape → nodes that do not conform (memo)
        self.answers: dict[str, set[str]] = {}  # the same target-free query serves several shapes

    def select(self, query: str) -> set[str]:
        if query not in self.answers:
            # N-Triples forms (<iri>, "literal"): they go back into VALUES clauses as they are
            self.answers[query] = {str(row[0]) for row in select(self.store, query)}
        return self.answers[query]

    def node_shapes(self) -> list:
        return sorted({s for s in self.g.subjects(None, None) if self.values(s, "property")
                       or self.one(s, "nodeKind") is not None}, key=str)

    def flagged(self) -> set[str]:
        """Top-level focus nodes (of targeted shapes) that may violate something."""
        out: set[str] = set()
        for shape in self.node_shapes():
            for target in self.targets(shape):
                out |= self.nonconforming(shape, target)
        return out

    def nonconforming(self, shape: Node, target: str) -> set[str]:
        """Nodes bound by ``target`` that may fail ``shape`` (a superset: over-flagging is allowed).

        Value conditions and counts are checked per property through the predicate index, without
        joining on the target (a join on rdf:type made these queries 5-20x slower); the target
        join is kept only where it decides (closed shapes, minimum counts, hasValue).
        """
        props = self.values(shape, "property")
        paths = [str(self.one(p, "path")) for p in props]
        out: set[str] = set()
        if self.one(shape, "nodeKind") == self.sh.IRI:
            out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ {target} FILTER(!isIRI(?focus)) }}")
        branches = [f"{{ ?focus <{path}> ?value FILTER({' || '.join(cond for _, cond, _ in conds)}) }}"
                    for prop, path in zip(props, paths, strict=True) if (conds := self.value_conditions(prop))]
        if branches:
            out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ {' UNION '.join(branches)} }}")
        closed = self.one(shape, "closed")
        if closed is not None and str(closed).lower() == "true":
            allowed = sorted(set(paths) | {str(p) for p in self.items(shape, "ignoredProperties")})
            out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ {target} ?focus ?p ?value . "
                               f"FILTER(?p NOT IN ({', '.join(f'<{p}>' for p in allowed)})) }}")
        for prop, path in zip(props, paths, strict=True):
            if self.one(prop, "minCount") is not None:
                out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ {target} MINUS {{ ?focus <{path}> ?value }} }}")
            has_value = self.one(prop, "hasValue")
            if has_value is not None:
                out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ {target} "
                                   f"MINUS {{ ?focus <{path}> <{has_value}> }} }}")
            if self.one(prop, "maxCount") is not None:
                out |= self.select(f"SELECT ?focus WHERE {{ ?focus <{path}> ?value }} GROUP BY ?focus "
                                   f"HAVING (COUNT(DISTINCT ?value) > {int(self.one(prop, 'maxCount'))})")
            inner = self.one(prop, "node")
            if inner is not None and (bad_values := self.inner_bad(inner)):
                values = " ".join(sorted(bad_values))
                out |= self.select(f"SELECT DISTINCT ?focus WHERE {{ ?focus <{path}> ?value . "
                                   f"VALUES ?value {{ {values} }} }}")
        return out

    def inner_bad(self, shape: Node) -> set[str]:
        """Nodes that fail ``shape`` among all values of the properties that point at it."""
        key = str(shape)
        if key not in self.bad:
            self.bad[key] = set()  # guards against recursive shapes
            referring = sorted({str(self.one(p, "path")) for p in self.g.subjects(self.sh.node, shape)},
                               key=str)
            union = " UNION ".join(f"{{ ?_x <{path}> ?focus }}" for path in referring)
            self.bad[key] = self.nonconforming(shape, f"{{ SELECT DISTINCT ?focus WHERE {{ {union} }} }}")
        return self.bad[key]


def suspects(store: Store, shapes: Graph) -> set[str]:
    """Focus nodes (N-Triples terms) that may violate the shapes (none: the graph conforms)."""
    return _Detector(shapes, store).flagged()

