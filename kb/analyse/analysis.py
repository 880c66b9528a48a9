"""Stage 4: analyse the graph — claim-outcome rows, the evidence map, and the evidence network.

The rows and the network are made from the records the graph is built from (faster, and while the graph
is still being parsed), and the tests hold each equal to its SPARQL projection of the graph
(:data:`ROWS_QUERY`, :data:`NETWORK_QUERY`), so that the numbers the site shows are the numbers a
researcher gets from the same queries. Never every triple: rdflib's networkx conversion would turn each
literal into a node.
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Any

from kb.analyse.studies import StudyBase, study_base
from kb.graph.build import KnowledgeGraph
from kb.load.evidence import Evidence
from kb.model import Claim
from kb.namespaces import sparql_prologue

if TYPE_CHECKING:
    from kb.analyse.carry import KeptRows
    from kb.analyse.groups import Groups

DIRECTIONS = ("benefit", "no_effect", "harm", "mixed", "inconclusive", "not_reported", "not_applicable")
LEVELS = ("high", "moderate", "low", "very_low")
_DIRECTION_RANK = {direction: n for n, direction in enumerate(DIRECTIONS)}
_LEVEL_RANK = {level: n for n, level in enumerate(LEVELS)}


def level_rank(level: str) -> int:
    """The certainty level's place in :data:`LEVELS`, surest first; a level outside it comes last."""
    return _LEVEL_RANK.get(level, len(LEVELS))


def direction_rank(direction: str) -> int:
    """The direction's place in :data:`DIRECTIONS`; a direction outside it comes last."""
    return _DIRECTION_RANK.get(direction, len(DIRECTIONS))


# The claim-outcome projection as researchers would write it: the analysis builds the same rows
# from the records (with labels and texts, ~10x faster), and a test holds the two to each other.
# No `?claim a psk:Claim`: joining on rdf:type made these queries 5x slower, and the predicates
# are used by claims only.
ROWS_QUERY = sparql_prologue() + """
SELECT ?claim_id ?outcome ?direction ?population ?intervention ?design ?certainty WHERE {
  ?claim psk:finding ?f ; dcterms:identifier ?claim_id ; psk:intervention ?i ; psk:design ?d ; psk:certainty ?c .
  ?f psk:outcome ?o ; psk:direction ?dir .
  ?o skos:notation ?outcome . ?dir skos:notation ?direction .
  ?i skos:notation ?intervention . ?d skos:notation ?design . ?c skos:notation ?certainty .
  { SELECT ?claim (GROUP_CONCAT(?pid; separator=" ") AS ?population) WHERE {
      ?claim psk:population/skos:notation ?pid } GROUP BY ?claim }
}
"""

NETWORK_QUERY = sparql_prologue() + """
SELECT ?kind ?from ?to WHERE {
  { ?claim prov:wasQuotedFrom ?w ; dcterms:identifier ?from . ?w psk:citekey ?to . BIND("states" AS ?kind) }
  UNION { ?claim cito:citesAsEvidence ?w ; dcterms:identifier ?from . ?w psk:citekey ?to .
          BIND("rests_on" AS ?kind) }
  UNION { ?claim psk:population ?p ; dcterms:identifier ?from . ?p skos:notation ?to . BIND("population" AS ?kind) }
  UNION { ?claim psk:intervention ?p ; dcterms:identifier ?from . ?p skos:notation ?to .
          BIND("intervention" AS ?kind) }
  UNION { ?claim psk:finding ?f ; dcterms:identifier ?from . ?f psk:outcome ?o . ?o skos:notation ?to .
          BIND("outcome" AS ?kind) }
  UNION { ?doc cito:cites ?work . ?doc psk:citekey ?from . ?work psk:citekey ?to . BIND("cites" AS ?kind) }
}
"""


@dataclass(frozen=True)
class Row:
    """One (claim, outcome) pair: the unit of the evidence map and of the claims CSV."""

    claim_id: str
    statement: str
    source: str
    cites: tuple[str, ...]
    finding_type: str
    population: tuple[str, ...]
    population_label: str  # the populations' labels, joined with "; "
    setting: tuple[str, ...]
    delivery: tuple[str, ...]
    perspective: str
    intervention: str
    intervention_label: str
    intervention_kind: str
    outcome: str
    outcome_label: str
    domain: str
    domain_label: str
    direction: str
    design: str
    design_label: str
    design_group: str
    certainty: str
    quote: str
    section: str

    def values(self, facet: str) -> tuple[str, ...]:
        """The row's concept ids on one facet (population, setting and delivery may hold several)."""
        value = getattr(self, facet)
        return value if isinstance(value, tuple) else (value,)


@dataclass
class Analysis:
    rows: list[Row]
    links: list[tuple[str, str, str]]  # the evidence network's, sorted (network_links)
    triples: int = 0
    studies: StudyBase = field(default_factory=StudyBase)  # kinds of cited works, reviews' inclusions
    groups: Groups = field(init=False, repr=False, compare=False)  # of the rows (Groups)
    shared: InitVar[Groups | None] = None  # the rows' groups made already (FromRecords.groups)

    def __post_init__(self, shared: Groups | None) -> None:
        from kb.analyse.groups import Groups  # it groups these rows (and imports them from here)

        self.groups = shared if shared is not None and shared.rows is self.rows else Groups(self.rows)

    @functools.cached_property
    def matrix(self) -> dict[tuple[str, str], Counter]:
        """Each (population, outcome)'s directions, counted (``kb stats``): made where it is asked for."""
        matrix: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for row in self.rows:
            for population in row.population:
                matrix[(population, row.outcome)][row.direction] += 1
        return dict(matrix)

    @functools.cached_property
    def network(self) -> object:
        """The evidence network (a networkx.DiGraph), made where it is first asked for: a build's site workers make
        it only for the pages and files of it that changed (~1.6 s at 50,000 claims), not the main process."""
        return network(self.links)

    def let_go_network(self) -> None:
        """Drop the network :attr:`network` made (~120 MB at 10k/50k claims), once what reads it is done; it is
        made again if asked for.

        Emptied, not only dropped: a networkx graph refers to itself (its views), so only the cyclic collector frees
        it, and the site's workers render with the collector paused (:func:`kb.io.procs.no_gc`). Dropped alone, it
        stayed in the worker to the end: ~125 MB at the all-process peak of a build at 10k/50k."""
        network = self.__dict__.pop("network", None)
        if network is not None:
            network.clear()

    @functools.cached_property
    def claim_ids(self) -> list[str]:
        """The claims with rows, sorted; made once (~0.15 s at 50,000 claims, and asked for by several pages)."""
        return sorted({r.claim_id for r in self.rows})

    def directions(self) -> Counter:
        return Counter(r.direction for r in self.rows)

    def certainty_levels(self) -> Counter:
        return Counter({level: n for level, n in Counter(
            c for _, c in {(r.claim_id, r.certainty) for r in self.rows}).items()})

    def most_cited(self, n: int = 10) -> list[tuple[str, int]]:
        """Works on which the most claims rest (ties by key, for stable output)."""
        counts = Counter(r for r in _edges(self.network, "rests_on"))
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def isolated_claims(self) -> list[str]:
        """Claims that rest on no cited work (they stand on the source document alone)."""
        resting = {u for u, _ in _edge_pairs(self.network, "rests_on")}
        return [c for c in self.claim_ids if f"claim:{c}" not in resting]

    def gaps(self, populations: list[str], outcomes: list[str]) -> dict[str, list]:
        """Cells with no evidence, only low/very-low certainty, conflicting directions, or no review."""
        cells: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in self.rows:
            for population in row.population:
                cells[(population, row.outcome)].append(row)
        empty = [(p, o) for p in populations for o in outcomes if (p, o) not in cells]
        low_only = sorted(k for k, rs in cells.items() if all(r.certainty in ("low", "very_low") for r in rs))
        conflicting = sorted(k for k, rs in cells.items()
                             if len({r.direction for r in rs} & {"benefit", "no_effect", "harm"}) > 1
                             or any(r.direction == "mixed" for r in rs))
        no_review = sorted(k for k, rs in cells.items() if not any(r.design_group == "systematic_review" for r in rs))
        return {"empty": empty, "low_only": low_only, "conflicting": conflicting, "no_review": no_review}


def _edge_pairs(graph: object, kind: str) -> list[tuple[str, str]]:
    return [(u, v) for u, v, k in graph.edges(data="kind") if k == kind]  # type: ignore[attr-defined]


def _edges(graph: object, kind: str) -> list[str]:
    return [v.split(":", 1)[1] for _, v in _edge_pairs(graph, kind)]


def claim_rows(evidence: Evidence) -> list[Row]:
    """One row per (claim, outcome), from the validated records, ordered by claim id then outcome."""
    rows_of = row_maker(evidence)
    claims, unique = _by_id(evidence.claims)
    rows = []
    for claim in claims:
        rows += rows_of(claim)
    if not unique:  # two claims with one id: their rows interleave by outcome
        rows.sort(key=lambda r: (r.claim_id, r.outcome))
    return rows


def row_maker(evidence: Evidence) -> Callable[[Claim], list[Row]]:
    """A claim's rows, sorted by outcome. What a claim's rows share is looked up once per claim, not once per row, and
    in each scheme's own table (``Vocabulary.label``'s work, inlined: ~1 s at 50,000 claims)."""
    schemes = evidence.vocabulary.concepts
    populations, interventions, designs, outcomes = (schemes.get(scheme, {}) for scheme in
                                                     ("population", "intervention", "design", "outcome"))

    def label(table: dict, concept_id: str) -> str:  # Vocabulary.label
        concept = table.get(concept_id)
        return concept.label if concept else concept_id

    def rows_of(claim: Claim) -> list[Row]:
        intervention = interventions.get(claim.intervention)
        design = designs.get(claim.design)
        shared: dict[str, Any] = {
            "claim_id": claim.id, "statement": " ".join(claim.statement.split()), "source": claim.source,
            "cites": tuple(sorted(set(claim.cites))), "finding_type": claim.finding_type,
            "population": claim.population,
            "population_label": "; ".join(label(populations, p) for p in claim.population),
            "setting": claim.setting, "delivery": claim.delivery, "perspective": claim.perspective,
            "intervention": claim.intervention, "intervention_label": label(interventions, claim.intervention),
            "intervention_kind": (intervention.kind if intervention else None) or "",
            "design": claim.design, "design_label": label(designs, claim.design),
            "design_group": (design.group if design else None) or "", "certainty": claim.certainty.level,
            "quote": " ".join(claim.quote.split()), "section": claim.section,
        }
        rows = []
        for finding in claim.outcomes:
            outcome = outcomes.get(finding.outcome)
            domain = (outcome.broader if outcome else "") or ""
            rows.append(Row(**shared, outcome=finding.outcome, outcome_label=label(outcomes, finding.outcome),
                            domain=domain, domain_label=label(outcomes, domain) if domain else "",
                            direction=finding.direction))
        rows.sort(key=_OUTCOME)
        return rows

    return rows_of


_OUTCOME = operator.attrgetter("outcome")


def _by_id(claims: list[Claim]) -> tuple[list[Claim], bool]:
    """The claims in id order, and whether no two share an id. Where none do, the rows (and links) of each claim in
    turn, each claim's sorted, are all of them sorted: sorting the 320,000 links and 88,000 rows of 10k/50k was
    ~0.4–0.9 s of every build, on its critical path."""
    return sorted(claims, key=_ID), len({c.id for c in claims}) == len(claims)


_ID = operator.attrgetter("id")


def network_links(evidence: Evidence) -> list[tuple[str, str, str]]:
    """The network's links, (kind, from, to), sorted: what :data:`NETWORK_QUERY` selects from the graph, taken
    from the records the graph is built from (a link to a work not in references.bib, or to a concept that is
    not one, is left out, as the graph leaves it out; the tests hold the two equal). At 50,000 claims the
    query and its CSV were ~2 s of the analysis, on the build's one busy core; the bench still times the query
    as the analysis's floor."""
    links_of = link_maker(evidence)
    claims, unique = _by_id(evidence.claims)
    each = [links_of(claim) for claim in claims]
    links = [link for kind in range(len(_CLAIM_LINKS)) for of_claim in each for link in of_claim[kind]]
    if not unique:  # two claims with one id: their links interleave
        links.sort()
    return citation_links(evidence) + links  # "cites" sorts first; the claims' kinds follow in their order, each by id


def citation_links(evidence: Evidence) -> list[tuple[str, str, str]]:
    """The network's ``cites`` links, sorted: the reference lists' (of the works references.bib holds)."""
    known = evidence.references_by_key
    return sorted(("cites", clist.source, key) for clist in evidence.citations if clist.source in known
                  for key in clist.references if key in known)


def citations_end(links: Sequence[tuple[str, str, str]]) -> int:
    """Where the ``cites`` links (:func:`citation_links`) end in the network's links: they sort first."""
    return bisect.bisect_right(links, "cites", key=_KIND)


_KIND = operator.itemgetter(0)


def link_maker(evidence: Evidence) -> Callable[[Claim], list[list[tuple[str, str, str]]]]:
    """A claim's links of each kind in :data:`_CLAIM_LINKS`' order, each list sorted."""
    known = evidence.references_by_key
    vocab = evidence.vocabulary

    def usable(scheme: str, concept_id: str) -> bool:
        concept = vocab.get(scheme, concept_id)
        return concept is not None and not concept.is_domain

    def links_of(claim: Claim) -> list[list[tuple[str, str, str]]]:
        cid = claim.id
        intervention = claim.intervention
        return [
            [("intervention", cid, intervention)] if usable("intervention", intervention) else [],
            sorted(("outcome", cid, f.outcome) for f in claim.outcomes if usable("outcome", f.outcome)),
            sorted(("population", cid, p) for p in claim.population if usable("population", p)),
            sorted(("rests_on", cid, key) for key in claim.cites if key in known),
            [("states", cid, claim.source)] if claim.source in known else [],
        ]

    return links_of


_CLAIM_LINKS = ("intervention", "outcome", "population", "rests_on", "states")  # the claims' kinds of link, sorted


_ENDS = {"states": ("claim", "doc"), "rests_on": ("claim", "doc"), "population": ("claim", "population"),
         "intervention": ("claim", "intervention"), "outcome": ("claim", "outcome"), "cites": ("doc", "doc")}


def network(links: list[tuple[str, str, str]]) -> object:
    """The directed graph of ``links`` (sorted), nodes ``kind:id``: node and edge order follow the links, so the
    graph is the same for the same links however they were found."""
    import networkx as nx

    nodes: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}  # each node's name, one string object: networkx keeps the one an edge names it by
    edges = []
    for kind, source, target in links:
        a, b = _ENDS[kind]
        u, v = f"{a}:{source}", f"{b}:{target}"
        u, v = names.setdefault(u, u), names.setdefault(v, v)  # 222 -> 122 MB at 10k/50k (322,000 edges)
        if u not in nodes:
            nodes[u] = {"type": a, "label": source}
        if v not in nodes:
            nodes[v] = {"type": b, "label": target}
        edges.append((u, v, {"kind": kind}))
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes.items())
    graph.add_edges_from(edges)
    return graph


@dataclass
class FromRecords:
    """The part of the analysis made from the records alone: made while the graph is still loading."""

    rows: list[Row]
    studies: StudyBase
    links: list[tuple[str, str, str]]  # the evidence network's (network_links)
    groups: Groups = field(init=False, repr=False, compare=False)  # of the rows, made while the graph is parsed

    def __post_init__(self) -> None:
        from kb.analyse.groups import Groups  # it groups these rows (and imports them from here)

        self.groups = Groups(self.rows)


def from_records(evidence: Evidence, kept: KeptRows | None = None) -> FromRecords:
    """Rows, study base and links; ``kept`` is what the last build of this process made of its records, carried over
    where it can be (:mod:`kb.analyse.carry`)."""
    if kept is not None:
        return kept.carry(evidence)
    return FromRecords(claim_rows(evidence), study_base(evidence), network_links(evidence))


def analyse(kg: KnowledgeGraph, evidence: Evidence, records: FromRecords | None = None) -> Analysis:
    """The analysis; ``records``, if given, is :func:`from_records` of the same evidence, made earlier."""
    records = records or from_records(evidence)
    return Analysis(rows=records.rows, links=records.links, triples=len(kg),
                    studies=records.studies, shared=records.groups)
