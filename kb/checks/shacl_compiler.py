"""Validate the graph with the shipped SHACL shapes, compiled to SPARQL and run in pyoxigraph.

Why not pyshacl on the build path: it took 86 s on a 330k-triple KB here (most of it walking
rdflib's memory store node by node), where these queries take a few seconds. pyshacl stays the
reference: the tests run both engines on the same graphs, with violations injected, and require
the same results; ``kb check --shacl-engine pyshacl`` runs it on demand.

Only the SHACL Core components our shapes use are compiled (targetClass, targetSubjectsOf,
property shapes with an IRI path, minCount, maxCount, datatype, in, pattern, minLength, nodeKind,
hasValue, minInclusive, node, closed/ignoredProperties); any other component is refused when the
shapes are read, so the two engines can never silently disagree about what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kb.graph.select import select

if TYPE_CHECKING:
    from pyoxigraph import Store
    from rdflib import Graph
    from rdflib.term import Node

SH = "http://www.w3.org/ns/shacl#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SUPPORTED = {f"{SH}{name}" for name in (
    "targetClass", "targetSubjectsOf", "property", "path", "minCount", "maxCount", "datatype", "in", "pattern",
    "minLength", "nodeKind", "hasValue", "minInclusive", "node", "closed", "ignoredProperties")} | {RDF_TYPE}


@dataclass(frozen=True, order=True)
class Violation:
    """One SHACL result: the focus node, the property (if any), the constraint component, the value."""

    focus: str
    path: str | None
    component: str
    message: str
    value: str | None = None


@dataclass(frozen=True)
class Check:
    query: str
    path: str | None
    component: str
    message: str
    nest: Nest  # for checks reached through sh:node: the enclosing focus variables


class ShapeError(ValueError):
    """The shapes use a SHACL feature this engine does not compile."""


def _term(node: Node) -> str:
    import rdflib

    if isinstance(node, rdflib.URIRef):
        return f"<{node}>"
    if isinstance(node, rdflib.Literal):
        return node.n3()
    raise ShapeError(f"unsupported term in shapes: {node!r}")


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Compiler:
    def __init__(self, shapes: Graph, restrict: list[str] | None = None) -> None:
        import rdflib

        self.g = shapes
        # Only these focus nodes (a VALUES clause on every top-level target), or all of them.
        self.restrict = "" if restrict is None else "VALUES ?focus { " + " ".join(restrict) + " } "
        self.sh = rdflib.Namespace(SH)
        self.checks: list[Check] = []

    def values(self, node: Node, prop: str) -> list:
        return list(self.g.objects(node, self.sh[prop]))

    def one(self, node: Node, prop: str) -> Any:
        found = self.values(node, prop)
        return found[0] if found else None

    def items(self, node: Node, prop: str) -> list:
        from rdflib.collection import Collection

        head = self.one(node, prop)
        return list(Collection(self.g, head)) if head is not None else []

    def refuse_unknown(self) -> None:
        for s, p, _ in self.g:
            if str(p).startswith(SH) and str(p) not in SUPPORTED:
                raise ShapeError(f"shape {s} uses {p}, which the SPARQL engine does not compile")

    def compile(self) -> list[Check]:
        self.refuse_unknown()
        for shape in sorted(set(self.g.subjects(None, None)), key=str):
            for target in self.targets(shape):
                self.node_shape(shape, self.restrict + target, Nest())
        return self.checks

    def targets(self, shape: Node) -> list[str]:
        """The SPARQL patterns binding ?focus to the shape's target nodes."""
        return [f"?focus <{RDF_TYPE}> <{cls}> ." for cls in self.values(shape, "targetClass")] + [
            f"{{ SELECT DISTINCT ?focus WHERE {{ ?focus <{pred}> ?_any }} }}"
            for pred in self.values(shape, "targetSubjectsOf")]

    def node_shape(self, shape: Node, target: str, nest: Nest) -> None:
        if self.one(shape, "nodeKind") == self.sh.IRI:
            self.add(f"{target} FILTER(!isIRI(?focus))", None, "NodeKindConstraintComponent",
                     "Value is not an IRI", nest, with_value=False)
        paths = []
        for prop in self.values(shape, "property"):
            path = self.one(prop, "path")
            paths.append(path)
            self.property_shape(prop, f"<{path}>", str(path), target, nest)
        if self.one(shape, "closed") is not None and str(self.one(shape, "closed")).lower() == "true":
            allowed = ", ".join(f"<{p}>" for p in sorted(set(paths) | set(self.items(shape, "ignoredProperties")),
                                                          key=str))
            variables = " ".join(["?focus", *nest.vars, "?p", "?value"])
            self.checks.append(Check(
                f"SELECT DISTINCT {variables} WHERE {{ {target} ?focus ?p ?value . FILTER(?p NOT IN ({allowed})) }}",
                None, SH + "ClosedConstraintComponent", "Node has a property not allowed by its closed shape", nest))

    def property_shape(self, prop: Node, path: str, path_iri: str, target: str, nest: Nest) -> None:
        each = f"{target} ?focus {path} ?value ."
        keep = " ".join(nest.vars)
        min_count = self.one(prop, "minCount")
        if min_count is not None:
            if int(min_count) != 1:
                raise ShapeError("only sh:minCount 1 is compiled")
            self.add(f"{{ SELECT DISTINCT ?focus {keep} WHERE {{ {target} }} }} MINUS {{ ?focus {path} ?value }}",
                     path_iri, "MinCountConstraintComponent", f"Less than {min_count} values", nest, with_value=False)
        max_count = self.one(prop, "maxCount")
        if max_count is not None:
            self.add(f"{each} }} GROUP BY ?focus {keep} HAVING (COUNT(DISTINCT ?value) > {int(max_count)})",
                     path_iri, "MaxCountConstraintComponent", f"More than {max_count} values", nest,
                     with_value=False, raw=True)
        filters = self.value_conditions(prop)
        for component, condition, message in filters:
            self.add(f"{each} FILTER({condition})", path_iri, component, message, nest)
        has_value = self.one(prop, "hasValue")
        if has_value is not None:
            self.add(f"{{ SELECT DISTINCT ?focus {keep} WHERE {{ {target} }} }} "
                     f"MINUS {{ ?focus {path} {_term(has_value)} }}", path_iri, "HasValueConstraintComponent",
                     f"Missing the value {has_value}", nest, with_value=False)
        inner = self.one(prop, "node")
        if inner is not None:
            fresh = f"?n{nest.depth}"
            inner_target = target.replace("?focus", fresh) + f" {fresh} {path} ?focus ."
            before = len(self.checks)
            self.node_shape(inner, inner_target, nest.deeper(fresh, path_iri))
            for i in range(before, len(self.checks)):  # reported at the outer focus, as SHACL does
                check = self.checks[i]
                if nest.depth == 0:
                    self.checks[i] = Check(check.query, path_iri, SH + "NodeConstraintComponent",
                                           f"Value does not conform to shape {inner}", check.nest)

    def value_conditions(self, prop: Node) -> list[tuple[str, str, str]]:
        """(component, SPARQL condition on ?value that means a violation, message) for one property."""
        filters = []
        datatype = self.one(prop, "datatype")
        if datatype is not None:
            filters.append(("DatatypeConstraintComponent", f"!isLiteral(?value) || datatype(?value) != <{datatype}>",
                            f"Value is not a literal of datatype {datatype}"))
        allowed = self.items(prop, "in")
        if allowed:
            filters.append(("InConstraintComponent", f"?value NOT IN ({', '.join(_term(a) for a in allowed)})",
                            "Value is not in the allowed list"))
        pattern = self.one(prop, "pattern")
        if pattern is not None:
            filters.append(("PatternConstraintComponent",
                            f"isBlank(?value) || !regex(str(?value), {_string(str(pattern))})",
                            f"Value does not match pattern {pattern}"))
        min_length = self.one(prop, "minLength")
        if min_length is not None:
            filters.append(("MinLengthConstraintComponent",
                            f"isBlank(?value) || strlen(str(?value)) < {int(min_length)}",
                            f"Value is shorter than {min_length} characters"))
        if self.one(prop, "nodeKind") == self.sh.IRI:
            filters.append(("NodeKindConstraintComponent", "!isIRI(?value)", "Value is not an IRI"))
        minimum = self.one(prop, "minInclusive")
        if minimum is not None:
            filters.append(("MinInclusiveConstraintComponent", f"!(?value >= {_term(minimum)})",
                            f"Value is less than {minimum}"))
        return filters

    def add(self, where: str, path: str | None, component: str, message: str, nest: Nest, *,
            with_value: bool = True, raw: bool = False) -> None:
        variables = " ".join(["?focus", *nest.vars] + (["?value"] if with_value and not nest.depth else []))
        body = f"{{ {where} }}" if not raw else f"{{ {where}"
        self.checks.append(Check(f"SELECT DISTINCT {variables} WHERE {body}", path, SH + component, message, nest))


@dataclass(frozen=True)
class Nest:
    """Where a check sits: the variables of the enclosing focus nodes, outermost first."""

    vars: tuple[str, ...] = ()
    path: str | None = None

    @property
    def depth(self) -> int:
        return len(self.vars)

    def deeper(self, var: str, path: str) -> Nest:
        return Nest((*self.vars, var), self.path or path)


def compile_shapes(shapes: Graph, restrict: list[str] | None = None) -> list[Check]:
    """The SPARQL checks equivalent to an rdflib graph of SHACL shapes.

    ``restrict`` (N-Triples terms) limits the checks to those focus nodes.
    """
    return _Compiler(shapes, restrict).compile()


def run_checks(store: Store, checks: list[Check]) -> Iterator[Violation]:
    """Every violation found in the store's default graph, in a stable order.

    A check reached through ``sh:node`` reports at the outermost focus, with the node it reached
    first as the value (what the nested shape's failure makes non-conforming).
    """
    found: set[Violation] = set()
    for check in checks:
        for row in select(store, check.query):
            if check.nest.depth:
                names = [v.lstrip("?") for v in check.nest.vars] + ["focus"]
                focus, value = row[names[0]].value, row[names[1]].value
            else:
                focus, value = row["focus"].value, _value(row, "value")
            path = check.path
            if check.component == SH + "ClosedConstraintComponent" and not check.nest.depth:
                path = row["p"].value
            found.add(Violation(focus, path, check.component, check.message, value))
    yield from sorted(found, key=lambda v: (v.focus, v.path or "", v.component, v.value or ""))


def _value(row: object, name: str) -> str | None:
    try:
        term = row[name]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    return None if term is None else term.value
