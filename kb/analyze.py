"""Stage 4: analyse the graph — claim-outcome rows, the evidence map, and the evidence network.

Everything here reads the graph through SPARQL projections (never every triple: rdflib's
networkx conversion would turn each literal into a node), so that the numbers the site shows are
the numbers a researcher gets from the same queries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from kb.graph import KnowledgeGraph
from kb.namespaces import sparql_prologue

DIRECTIONS = ("benefit", "no_effect", "harm", "mixed", "inconclusive")
LEVELS = ("high", "moderate", "low", "very_low")
REVIEW_DESIGNS_HINT = ("review", "meta_analysis", "cochrane")

ROWS_QUERY = sparql_prologue() + """
SELECT ?claim_id ?statement ?source ?population ?population_label ?intervention ?intervention_label
       ?outcome ?outcome_label ?domain ?domain_label ?direction ?design ?design_label ?certainty ?quote ?section
       (GROUP_CONCAT(DISTINCT ?cite_key; separator=";") AS ?cites)
WHERE {
  ?claim a psk:Claim ; dcterms:identifier ?claim_id ; psk:statement ?statement ; psk:quote ?quote ;
         psk:section ?section ; prov:wasQuotedFrom/psk:citekey ?source ;
         psk:population ?p ; psk:intervention ?i ; psk:design ?d ; psk:certainty ?c ; psk:finding ?f .
  ?f psk:outcome ?o ; psk:direction ?dir .
  ?p skos:notation ?population ; skos:prefLabel ?population_label .
  ?i skos:notation ?intervention ; skos:prefLabel ?intervention_label .
  ?o skos:notation ?outcome ; skos:prefLabel ?outcome_label ; skos:broader ?dom .
  ?dom skos:notation ?domain ; skos:prefLabel ?domain_label .
  ?d skos:notation ?design ; skos:prefLabel ?design_label .
  ?c skos:notation ?certainty .
  ?dir skos:notation ?direction .
  OPTIONAL { ?claim cito:citesAsEvidence/psk:citekey ?cite_key }
}
GROUP BY ?claim_id ?statement ?source ?population ?population_label ?intervention ?intervention_label
         ?outcome ?outcome_label ?domain ?domain_label ?direction ?design ?design_label ?certainty ?quote ?section
ORDER BY ?claim_id ?outcome
"""

NETWORK_QUERY = sparql_prologue() + """
SELECT ?kind ?from ?to WHERE {
  { ?claim a psk:Claim ; dcterms:identifier ?from ; prov:wasQuotedFrom/psk:citekey ?to . BIND("states" AS ?kind) }
  UNION { ?claim a psk:Claim ; dcterms:identifier ?from ; cito:citesAsEvidence/psk:citekey ?to .
          BIND("rests_on" AS ?kind) }
  UNION { ?claim a psk:Claim ; dcterms:identifier ?from ; psk:population/skos:notation ?to .
          BIND("population" AS ?kind) }
  UNION { ?claim a psk:Claim ; dcterms:identifier ?from ; psk:intervention/skos:notation ?to .
          BIND("intervention" AS ?kind) }
  UNION { ?claim a psk:Claim ; dcterms:identifier ?from ; psk:finding/psk:outcome/skos:notation ?to .
          BIND("outcome" AS ?kind) }
  UNION { ?doc cito:cites ?work . ?doc psk:citekey ?from . ?work psk:citekey ?to . BIND("cites" AS ?kind) }
}
ORDER BY ?kind ?from ?to
"""


@dataclass(frozen=True)
class Row:
    """One (claim, outcome) pair: the unit of the evidence map and of the claims CSV."""

    claim_id: str
    statement: str
    source: str
    cites: tuple[str, ...]
    population: str
    population_label: str
    intervention: str
    intervention_label: str
    outcome: str
    outcome_label: str
    domain: str
    domain_label: str
    direction: str
    design: str
    design_label: str
    certainty: str
    quote: str
    section: str


@dataclass
class Analysis:
    rows: list[Row]
    network: object  # networkx.DiGraph
    matrix: dict[tuple[str, str], Counter] = field(default_factory=dict)
    triples: int = 0

    @property
    def claim_ids(self) -> list[str]:
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
            cells[(row.population, row.outcome)].append(row)
        empty = [(p, o) for p in populations for o in outcomes if (p, o) not in cells]
        low_only = sorted(k for k, rs in cells.items() if all(r.certainty in ("low", "very_low") for r in rs))
        conflicting = sorted(k for k, rs in cells.items()
                             if len({r.direction for r in rs} & {"benefit", "no_effect", "harm"}) > 1
                             or any(r.direction == "mixed" for r in rs))
        no_review = sorted(k for k, rs in cells.items()
                           if not any(any(h in r.design for h in REVIEW_DESIGNS_HINT) for r in rs))
        return {"empty": empty, "low_only": low_only, "conflicting": conflicting, "no_review": no_review}


def _edge_pairs(graph: object, kind: str) -> list[tuple[str, str]]:
    return [(u, v) for u, v, k in graph.edges(data="kind") if k == kind]  # type: ignore[attr-defined]


def _edges(graph: object, kind: str) -> list[str]:
    return [v.split(":", 1)[1] for _, v in _edge_pairs(graph, kind)]


def claim_rows(kg: KnowledgeGraph) -> list[Row]:
    rows = []
    for s in kg.store.query(ROWS_QUERY):
        def get(name: str, s: object = s) -> str:
            return "" if s[name] is None else s[name].value  # type: ignore[index]

        rows.append(Row(
            claim_id=get("claim_id"), statement=get("statement"), source=get("source"),
            cites=tuple(sorted(filter(None, get("cites").split(";")))), population=get("population"),
            population_label=get("population_label"), intervention=get("intervention"),
            intervention_label=get("intervention_label"), outcome=get("outcome"),
            outcome_label=get("outcome_label"), domain=get("domain"), domain_label=get("domain_label"),
            direction=get("direction"), design=get("design"), design_label=get("design_label"),
            certainty=get("certainty"), quote=get("quote"), section=get("section"),
        ))
    return rows


def evidence_network(kg: KnowledgeGraph) -> object:
    """Documents, claims, populations, interventions and outcomes as a directed graph."""
    import networkx as nx

    graph = nx.DiGraph()
    prefix = {"states": ("claim", "doc"), "rests_on": ("claim", "doc"), "population": ("claim", "population"),
              "intervention": ("claim", "intervention"), "outcome": ("claim", "outcome"), "cites": ("doc", "doc")}
    for s in kg.store.query(NETWORK_QUERY):
        kind = s["kind"].value
        a, b = prefix[kind]
        u, v = f"{a}:{s['from'].value}", f"{b}:{s['to'].value}"
        graph.add_node(u, type=a, label=s["from"].value)
        graph.add_node(v, type=b, label=s["to"].value)
        graph.add_edge(u, v, kind=kind)
    return graph


def analyse(kg: KnowledgeGraph) -> Analysis:
    rows = claim_rows(kg)
    matrix: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in rows:
        matrix[(row.population, row.outcome)][row.direction] += 1
    return Analysis(rows=rows, network=evidence_network(kg), matrix=dict(matrix), triples=len(kg.store))
