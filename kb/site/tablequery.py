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

from typing import TYPE_CHECKING

from kb.site.pages import TableQuery

if TYPE_CHECKING:
    from kb.graph.iris import Minter

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


OUTCOME_IRI, OUTCOME_LABEL = "@OUTCOME_IRI@", "@OUTCOME_LABEL@"  # the placeholders of :func:`cell_template`


def cell_template(axis: str, row_iri: str, row_label: str) -> str:
    """The query of every cell of a map row, its outcome left as placeholders: a row's page writes it
    once and each cell's link names its outcome (issue 17: eighty copies of the query were a fifth
    of a row's page). ``site.js`` fills it in as :func:`fill` does."""
    return cell_claims(axis, row_iri, row_label, OUTCOME_IRI, OUTCOME_LABEL).text


def fill(template: str, outcome_iri: str, outcome_label: str) -> str:
    return template.replace(OUTCOME_IRI, outcome_iri).replace(OUTCOME_LABEL, outcome_label)


def work_claims(iri: str, label: str) -> TableQuery:
    return claim_rows(f"Claims that {label} states or that rest on it.",
                      f"  {{ ?claim prov:wasQuotedFrom {_iri(iri)} }} UNION "
                      f"{{ ?claim cito:citesAsEvidence {_iri(iri)} }}\n")


def resting_claims(iri: str, label: str) -> TableQuery:
    """The claims that rest on a work, each once: the short list a work's entry links when it shows the first few."""
    return TableQuery(f"# Claims that rest on {label}.\nSELECT ?claim ?statement WHERE {{\n"
                      f"  ?claim cito:citesAsEvidence {_iri(iri)} ; psk:statement ?statement .\n}}\nORDER BY ?claim\n")


WORK_KEY, WORK_LABEL = "@WORK_KEY@", "@WORK_LABEL@"  # the placeholders of :func:`resting_template`


def resting_template(mint: Minter) -> str:
    """:func:`resting_claims` with the work's key and label left as placeholders: a works page writes
    it once and each entry's link names its work (issue 17: a query per work was 4 MB of a large KB's
    works). ``site.js`` fills it in as :func:`fill_work` does, the key from the entry's anchor."""
    return resting_claims(mint.work(WORK_KEY), WORK_LABEL).text


def fill_work(template: str, key: str, label: str) -> str:
    return template.replace(WORK_KEY, key).replace(WORK_LABEL, label)


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


# --- the gaps (kb.site.gaps): findings with a result about peer-delivered interventions ----------


def _counted(var: str, base: str) -> str:
    return (f"{var} psk:intervention/psk:interventionKind <{base}concept/intervention_kind/peer_delivered> .\n"
            f"    FILTER NOT EXISTS {{ {var} psk:findingType <{base}concept/finding_type/no_result> }}")


def gaps_expected(base: str) -> TableQuery:
    return TableQuery(f"""\
# Empty cells where the population and the outcome belong together: the population has findings
# on other outcomes of the outcome's domain, and the outcome has findings in other populations.
SELECT ?population ?outcome ?domain (COUNT(DISTINCT ?here) AS ?in_domain)
       (COUNT(DISTINCT ?elsewhere) AS ?populations) WHERE {{
  ?outcome skos:broader ?domain .
  ?a psk:population ?population ; psk:finding ?here .
    {_counted("?a", base)}
  ?here psk:outcome/skos:broader ?domain .
  ?b psk:population ?elsewhere ; psk:finding/psk:outcome ?outcome .
    {_counted("?b", base)}
  FILTER(?population != <{base}concept/population/not_stated> && ?elsewhere != <{base}concept/population/not_stated>)
  FILTER NOT EXISTS {{
    ?c psk:population ?population ; psk:finding/psk:outcome ?outcome .
    {_counted("?c", base)}
  }}
}}
GROUP BY ?population ?outcome ?domain
ORDER BY DESC(?in_domain * ?populations) DESC(?in_domain) ?population ?outcome
""")


def gaps_no_review(base: str) -> TableQuery:
    return TableQuery(f"""\
# Cells with findings from primary studies and none from a systematic review.
SELECT ?population ?outcome (COUNT(DISTINCT ?finding) AS ?primary_findings) WHERE {{
  ?claim psk:population ?population ; psk:finding ?finding ; psk:design/psk:designGroup "primary_study" .
    {_counted("?claim", base)}
  ?finding psk:outcome ?outcome .
  FILTER NOT EXISTS {{
    ?review psk:population ?population ; psk:finding/psk:outcome ?outcome ;
            psk:design/psk:designGroup "systematic_review" .
    {_counted("?review", base)}
  }}
}}
GROUP BY ?population ?outcome
ORDER BY DESC(?primary_findings) ?population ?outcome
""")


def gaps_weak(base: str) -> TableQuery:
    return TableQuery(f"""\
# Cells whose findings are all of low or very low certainty (only very low first).
SELECT ?population ?outcome (COUNT(DISTINCT ?finding) AS ?findings)
       (SUM(IF(?certainty = <{base}concept/certainty/low>, 1, 0)) AS ?low) WHERE {{
  ?claim psk:population ?population ; psk:finding ?finding ; psk:certainty ?certainty .
    {_counted("?claim", base)}
  ?finding psk:outcome ?outcome .
  FILTER NOT EXISTS {{
    ?better psk:population ?population ; psk:finding/psk:outcome ?outcome ; psk:certainty ?level .
    {_counted("?better", base)}
    VALUES ?level {{ <{base}concept/certainty/high> <{base}concept/certainty/moderate> }}
  }}
}}
GROUP BY ?population ?outcome
ORDER BY (?low > 0) DESC(?findings) ?population ?outcome
""")


def gaps_conflicting(base: str) -> TableQuery:
    d = f"{base}concept/direction/"
    return TableQuery(f"""\
# Cells whose findings point different ways (benefit, no effect, harm), or where one is mixed.
SELECT ?population ?outcome (COUNT(DISTINCT ?finding) AS ?findings) WHERE {{
  {{ SELECT DISTINCT ?population ?outcome WHERE {{
      ?a psk:population ?population ; psk:finding ?fa . ?fa psk:outcome ?outcome ; psk:direction ?da .
      {_counted("?a", base)}
      ?b psk:population ?population ; psk:finding ?fb . ?fb psk:outcome ?outcome ; psk:direction ?db .
      {_counted("?b", base)}
      VALUES ?da {{ <{d}benefit> <{d}no_effect> <{d}harm> <{d}mixed> }}
      VALUES ?db {{ <{d}benefit> <{d}no_effect> <{d}harm> <{d}mixed> }}
      FILTER(?da != ?db || ?da = <{d}mixed>)
  }} }}
  ?claim psk:population ?population ; psk:finding ?finding . ?finding psk:outcome ?outcome .
    {_counted("?claim", base)}
}}
GROUP BY ?population ?outcome
ORDER BY DESC(?findings) ?population ?outcome
""")
