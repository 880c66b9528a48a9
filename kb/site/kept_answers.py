"""The example queries' answers and the graph's VoID statistics, kept from the last build while what they read is.

At 10k/50k answering the examples and counting the graph for VoID are ~4 s of CPU in every build, though an edit
of one claim changes a few triples. A query's answer depends only on the triples its patterns can match, and a
pattern with a fixed predicate matches only triples with that predicate. So where every pattern of an example
has fixed predicates (:func:`predicates`), and how the graph changed since the last build
(:class:`kb.graph.change.GraphChange`, from the dumps' chunks: exactly the triples removed and added) touches none
of them, its last answer is its answer now. The statistics are kept the same way: the classes and entities read
``rdf:type`` alone, and the properties change only where a changed predicate appears or disappears.

The last answers are kept under ``.kb-cache/`` with the graph they were found on (its mark, the digest of its
dumps' chunks) and the code: a change that starts from another graph, or no change known, answers everything again.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.export.void import Statistics, statistics
from kb.io.atomic import replace_cache_file
from kb.namespaces import PREFIXES, RDF
from kb.site.answers import Answer, example_answers

if TYPE_CHECKING:
    from kb.graph.build import KnowledgeGraph
    from kb.graph.change import GraphChange
    from kb.query.sparql import ExampleQuery

KEPT_FILE = "answers.pickle"


@dataclass
class Kept:
    """What the last build found on its graph (``mark``): each example's answer by name, with the query text it
    answered, and the graph's statistics."""

    mark: str
    answers: dict[str, tuple[str, Answer | None]] = field(default_factory=dict)  # None: no answer (not a SELECT)
    statistics: Statistics | None = None


@functools.cache
def _code() -> str:
    """What an answer depends on besides the graph and the query: this code, the engine, the query parser."""
    import pyoxigraph
    import rdflib

    from kb.checks.scope import PACKAGE, code_digest

    return f"{code_digest(PACKAGE)} pyoxigraph {pyoxigraph.__version__} rdflib {rdflib.__version__}"


@functools.cache
def predicates(query: str) -> frozenset[str] | None:
    """The predicates a query's triple patterns (and property paths) can match, or ``None`` where a pattern can
    match any triple (a variable or negated predicate) or the query does not parse: then its answer may depend
    on every triple."""
    from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
    from rdflib.plugins.sparql import prepareQuery
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import URIRef

    try:
        parsed = prepareQuery(query, initNs=PREFIXES)
    except Exception:  # rdflib raises many kinds; not knowing is always safe
        return None
    found: set[str] = set()

    def predicate(p: object) -> bool:
        if isinstance(p, URIRef):
            found.add(str(p))
            return True
        if isinstance(p, (SequencePath, AlternativePath)):
            return all(predicate(part) for part in p.args)
        if isinstance(p, InvPath):
            return predicate(p.arg)
        if isinstance(p, MulPath):
            return predicate(p.path)
        if isinstance(p, NegatedPath):
            return False
        return False  # a variable, or something this reading does not know

    def triples(block: object) -> list:
        """A block's triples: translated patterns hold (s, p, o) each; an EXISTS keeps the parser's lists, which
        may run several triples on in one list."""
        out: list = []
        for item in block if isinstance(block, list | tuple) else ():
            out += [item[i:i + 3] for i in range(0, len(item), 3)] if isinstance(item, list | tuple) else [()]
        return out

    def walk(node: object) -> bool:
        if isinstance(node, CompValue):
            block = node.get("triples")
            if block is not None and not all(len(t) == 3 and predicate(t[1]) for t in triples(block)):
                return False
            return all(walk(value) for value in node.values())
        if isinstance(node, list | tuple):
            return all(walk(value) for value in node)
        if isinstance(node, dict):
            return all(walk(value) for value in node.values())
        return True

    return frozenset(found) if walk(parsed.algebra) else None


def changed_predicates(change: GraphChange) -> frozenset[str] | None:
    """The predicates of the triples ``change`` removed or added (its N-Triples lines); None where a line does not
    parse (then anything may have changed)."""
    import pyoxigraph as ox

    lines = b"\n".join([*change.removed, *change.added, b""])
    try:
        return frozenset(quad.predicate.value for quad in ox.parse(lines, format=ox.RdfFormat.N_TRIPLES))
    except SyntaxError:
        return None


class KeptAnswers:
    """The last build's answers and statistics (``folder``: ``.kb-cache/``; None keeps nothing), reused for this
    graph once :meth:`since` is told how it changed."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / KEPT_FILE if folder is not None else None
        self.kept = self._read()
        self.changed: frozenset[str] | None = None  # None: unknown, everything may have changed
        self.mark = ""

    @property
    def hopeful(self) -> bool:
        """Whether anything was kept: if not, answering at once (before the change is known) wastes nothing."""
        return self.kept is not None

    def since(self, change: GraphChange | None) -> None:
        """How the graph changed since the last build's (None: unknown)."""
        self.mark = change.after if change is not None else ""
        if change is not None and self.kept is not None and change.before == self.kept.mark and change.after:
            self.changed = changed_predicates(change)

    def answers(self, graph: KnowledgeGraph, examples: Sequence[ExampleQuery]) -> list[Answer]:
        """Each example's answer, in order: the last one where nothing it reads changed, else found now."""
        out: list[Answer] = []
        for example in examples:
            kept = self.kept.answers.get(example.name) if self.kept is not None else None
            if kept is not None and kept[0] == example.text and self._unchanged(predicates(example.text)):
                if kept[1] is not None:
                    out.append(kept[1])
                continue
            out += example_answers(graph.store, [example])
        return out

    def statistics(self, graph: KnowledgeGraph) -> Statistics:
        """The graph's VoID statistics: the last build's classes and entities while no ``rdf:type`` changed, and its
        properties while each changed predicate is still used and was before (else counted again)."""
        old = self.kept.statistics if self.kept is not None else None
        if old is None or self.changed is None or RDF + "type" in self.changed:
            return statistics(graph)
        if not all(p in old.properties and _used(graph, p) for p in self.changed):
            return statistics(graph)
        return Statistics(len(graph), old.entities, old.classes, old.properties)

    def keep(self, examples: Iterable[ExampleQuery], answers: Sequence[Answer], stats: Statistics | None) -> None:
        """Remember this build's answers and statistics for the next (a cache: failing to write it costs time)."""
        if self.path is None or not self.mark:
            return
        by_name = {answer.name: answer for answer in answers}
        kept = Kept(self.mark, {e.name: (e.text, by_name.get(e.name)) for e in examples}, stats)
        with contextlib.suppress(OSError, pickle.PicklingError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            replace_cache_file(self.path, pickle.dumps((_code(), kept), protocol=pickle.HIGHEST_PROTOCOL))

    def _unchanged(self, read: frozenset[str] | None) -> bool:
        return read is not None and self.changed is not None and not (read & self.changed)

    def _read(self) -> Kept | None:
        if self.path is None:
            return None
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError,
                                 TypeError):
            code, kept = pickle.loads(self.path.read_bytes())  # our own cache, written above
            if code == _code() and isinstance(kept, Kept):
                return kept
        return None


def _used(graph: KnowledgeGraph, predicate: str) -> bool:
    import pyoxigraph as ox

    return next(iter(graph.store.quads_for_pattern(None, ox.NamedNode(predicate), None)), None) is not None

