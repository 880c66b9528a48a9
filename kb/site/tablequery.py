"""The SPARQL behind each table of the site ("this table as a query", after Scholia's panels).

Every table a reader sees comes with a link to the SPARQL page preloaded with the query that
produces its rows (``sparql.html#query=…``): the table is a view of the graph, and a researcher
can take the query from there. The texts have no prologue — the SPARQL page and ``kb query``
predeclare the prefixes — and name concepts and works by their full IRIs, so that they run on
any copy of the graph. ``tests/test_tablequery.py`` runs each against the graph and holds its
rows to the table's.

The map's query has a line ``# filters`` where the map's script puts the reader's filters
(``FILTER EXISTS`` blocks with ``VALUES``), so the link follows the filters.
"""

from __future__ import annotations

from kb.site.pages import TableQuery

# How each facet of a claim is reached from ?claim (or ?finding) in the graph.
FACET_PATHS = {
    "population": "?claim psk:population", "setting": "?claim psk:setting", "delivery": "?claim psk:deliveryMode",
    "perspective": "?claim psk:perspective", "intervention": "?claim psk:intervention",
    "intervention_kind": "?claim psk:intervention/psk:interventionKind", "finding_type": "?claim psk:findingType",
    "design": "?claim psk:design", "certainty": "?claim psk:certainty", "source": "?claim prov:wasQuotedFrom",
    "direction": "?finding psk:direction", "outcome": "?finding psk:outcome",
}
FILTER_MARK = "  # filters\n"

_CLAIM_ROWS = """\
# {title}
SELECT ?claim ?outcome ?direction ?certainty ?populations ?intervention ?design ?source ?statement WHERE {{
  ?claim a psk:Claim ; psk:statement ?statement ; psk:finding ?finding ; psk:intervention ?intervention ;
         psk:design ?design ; psk:certainty ?certainty ; prov:wasQuotedFrom ?source .
  ?finding psk:outcome ?outcome ; psk:direction ?direction .
{where}\
  {{ SELECT ?claim (GROUP_CONCAT(?label; separator="; ") AS ?populations)
    WHERE {{ ?claim psk:population/skos:prefLabel ?label }} GROUP BY ?claim }}
}}
ORDER BY ?claim ?outcome
"""


def _iri(iri: str) -> str:
    return f"<{iri}>"


def claim_rows(title: str, where: str = "") -> TableQuery:
    """One row per claim and outcome, as the site's claim tables show them."""
    return TableQuery(_CLAIM_ROWS.format(title=title, where=where))


def all_claims() -> TableQuery:
    return claim_rows("Every claim, one row per outcome (the claims index).")


def concept_claims(scheme: str, iri: str, label: str) -> TableQuery:
    return claim_rows(f"Claims about {label} ({scheme}).", f"  {FACET_PATHS[scheme]} {_iri(iri)} .\n")


def cell_claims(axis: str, row_iri: str, row_label: str, outcome_iri: str, outcome_label: str) -> TableQuery:
    return claim_rows(f"Claims on {outcome_label} in {row_label} (a cell of the evidence map).",
                      f"  {FACET_PATHS[axis]} {_iri(row_iri)} .\n  ?finding psk:outcome {_iri(outcome_iri)} .\n")


def work_claims(iri: str, label: str) -> TableQuery:
    return claim_rows(f"Claims that {label} states or that rest on it.",
                      f"  {{ ?claim prov:wasQuotedFrom {_iri(iri)} }} UNION {{ ?claim cito:citesAsEvidence {_iri(iri)} }}\n")


def evidence_map(axis: str, axis_label: str) -> TableQuery:
    """The map's GROUP BY: findings per row, outcome (with its domain) and direction."""
    var = "?" + axis
    return TableQuery(f"""\
# The evidence map: findings per {axis_label.lower()[:-1] if axis_label.endswith('s') else axis_label}, \
outcome and direction.
SELECT {var} ?domain ?outcome ?direction (COUNT(*) AS ?findings) WHERE {{
  ?claim a psk:Claim ; psk:finding ?finding .
  {FACET_PATHS[axis]} {var} .
  ?finding psk:outcome ?outcome ; psk:direction ?direction .
  ?outcome skos:broader ?domain .
{FILTER_MARK}}}
GROUP BY {var} ?domain ?outcome ?direction
ORDER BY {var} ?domain ?outcome ?direction
""")


def bibliography() -> TableQuery:
    return TableQuery("""\
# Every work: how often the source documents cite it, and how many claims it states or supports.
SELECT ?work ?key ?year ?type (COUNT(DISTINCT ?citation) AS ?cited) (COUNT(DISTINCT ?claim) AS ?claims) WHERE {
  ?work psk:citekey ?key ; psk:bibtexType ?type .
  OPTIONAL { ?work dcterms:issued ?year }
  OPTIONAL { ?citation cito:hasCitedEntity ?work }
  OPTIONAL { { ?claim prov:wasQuotedFrom ?work } UNION { ?claim cito:citesAsEvidence ?work } }
}
GROUP BY ?work ?key ?year ?type
ORDER BY ?key
""")
