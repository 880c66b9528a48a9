"""The map cells: one page per row of each map, one section per outcome (``cells/<axis>/<row>.html#<outcome>``).

A cell is what the map links to: the summary of its findings in GRADE's words, the distinct works
behind them with the reviews' overlap, and its claims — every one while the cell holds up to
a limit (:mod:`kb.site.limits`), the best evidence first beyond it, with the query for all of them.
A row's page has the CSV of the findings it lists while it lists every one (``data/claims.csv.gz``
has them all, and at scale, where a cell lists its best few, it is the only CSV). At 50,000 claims
that is a few hundred pages instead of one page and one CSV per cell.
"""

from __future__ import annotations

from kb.analyse.analysis import Row
from kb.site import addresses, evmap, jsonld, tablequery
from kb.site.context import Output, add_csv, best_first, claims_csv
from kb.site.evidence_base import evidence_base
from kb.site.pages import CellRowPage, CellView, Link, Term
from kb.site.views import Resolver


def cell_view(res: Resolver, axis: str, row_id: str, outcome: str, rows: list[Row], domain: Term | None) -> CellView:
    row_term, outcome_term = res.term(axis, row_id), res.term("outcome", outcome)
    outcome_iri = res.concept_iri("outcome", outcome)
    shown = best_first(rows, res.limits.cell_claims)
    summaries, more_summaries = res.summaries(rows)
    return CellView(
        outcome=outcome_term, domain=domain, text=evmap.cell_text(rows), summaries=summaries,
        more_summaries=more_summaries,
        rows=res.claim_rows(shown), more=len(rows) - len(shown), base=evidence_base(res, rows),
        query=tablequery.cell_claims(axis, res.concept_iri(axis, row_id), row_term.label,
                                     outcome_iri, outcome_term.label),
        outcome_iri=outcome_iri,
        refs=res.refdata.ref_list(f"{axis}-{row_id}--{outcome}-works",  # the works of the claims listed
                                  {key for row in shown for key in (row.source, *row.cites)}),
        changed=res.last_changed(res.history.cells.get((row_id, outcome))) if axis == "population" else "",
    )


def row_pages(res: Resolver, out: Output, axis: str, map_path: str) -> None:
    """The page of each row of the ``axis`` map that has findings, its cells in the map's column order."""
    by_row = res.analysis.groups.cells(axis)
    ranked = res.analysis.groups.cells(axis, ranked=True)  # each cell's rows, best first (best_first)
    layout = evmap.domains(res)
    keep = out.keeper
    for row_id in sorted(by_row):
        found = by_row[row_id]
        path = addresses.cell_page(axis, row_id)
        # its cells' findings (the words of those each shows: rewording another keeps the page), and (on the
        # populations map) what each cell's history says
        key = keep.key(path, *(part for o in sorted(found) for part in (
            o, keep.counted_rows(found[o]), keep.rows(ranked[row_id][o][:res.limits.cell_claims]),
            res.history.cells.get((row_id, o)) if axis == "population" else None)))
        if keep.reuse(path, key):
            continue
        row_term = res.term(axis, row_id)
        cells = []
        for domain, outcomes in layout:
            domain_term = res.term("outcome", domain) if domain else None
            cells += [cell_view(res, axis, row_id, o, found[o], domain_term) for o in outcomes if o in found]
        noun = evmap.AXIS_NOUNS[axis]
        template = tablequery.cell_template(axis, res.concept_iri(axis, row_id), row_term.label)
        if any(tablequery.fill(template, c.outcome_iri, c.outcome.label) != c.query.text for c in cells):
            template = ""  # a label holding a placeholder: each link carries its own query
        page = CellRowPage(
            path=path, title=f"{row_term.label}: the evidence by outcome",
            template="cell.html", section="map", breadcrumbs=(Link(map_path, "Evidence map"),),
            description=f"What the evidence found for {row_term.label} ({noun}), outcome by outcome: "
                        f"{sum(len(rows) for rows in found.values())} findings on {len(cells)} outcomes.",
            axis=axis, axis_noun=noun, row_term=row_term, cells=tuple(cells),
            map_link=Link(f"{map_path}#row-{row_id}", "Back to the map"), list_limit=res.limits.cell_claims,
            query_template=template,
            scripts=("assets/refs.js",) if any(c.refs for c in cells) else (),
        )
        page.jsonld = jsonld.collection(res, page.title, page.description)
        if res.limits.row_csv:
            add_csv(out, page, claims_csv(tuple(r for c in cells for r in c.rows)))
        out.pages.append(page)
        keep.record(path, key, out.own_csv(page))
        out.settle()
