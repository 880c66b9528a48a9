"""The gaps page: where evidence on peer support is missing, thin, weak or unsettled — ranked.

A population × outcome cell is a gap of one of four kinds, each ranked so that the gaps that
matter come first, the rest collapsed:

* **missing where expected** — no finding, although the pair belongs together (see below);
* **primary studies but no review** — findings from trials or other primary studies, none from
  a systematic review: a review could pool them;
* **only low or very low certainty** — every finding is low or very low (very low first);
* **conflicting** — findings point different ways, or one reports mixed results.

**When do a population and an outcome belong together?** When the evidence says so, not a
hand-made table: the population has findings on *another outcome of the same domain* (it is
studied on that kind of outcome), and the outcome has findings in *another population* (it is
measured in peer support research). Readmission in serious mental illness is then a gap if
hospitalisation was studied there and readmission elsewhere; peer workers' pay in people with
schizophrenia is not, unless someone studied workforce outcomes in that group. "Population not
stated" is never a gap. Every other empty cell is listed, collapsed, by population.

Gaps count the findings that report a result (not protocols: ``finding_type: no_result``) about
peer-delivered interventions. Each list comes with the SPARQL query that produces it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from kb.analyse.analysis import DIRECTIONS, LEVELS, Row
from kb.io.tables import dicts_to_csv
from kb.site import jsonld
from kb.site import tablequery as queries
from kb.site.context import Output, add_csv
from kb.site.grade import LEVEL_WORDS
from kb.site.pages import GapCell, GapList, GapsPage, Link, TableQuery, Term
from kb.site.views import DIRECTION_LABELS, Resolver

SHOWN = 12  # gaps shown per list; the rest are one click away
CLEAR = ("benefit", "no_effect", "harm")


@dataclass
class Cells:
    """The findings that count for gaps, by (population, outcome)."""

    rows: dict[tuple[str, str], list[Row]]
    empty: list[tuple[str, str]]


def counted(rows: list[Row]) -> list[Row]:
    """Findings that report a result about a peer-delivered intervention."""
    return [r for r in rows if r.finding_type != "no_result" and r.intervention_kind == "peer_delivered"]


def cells(res: Resolver) -> Cells:
    by_cell: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in counted(res.analysis.rows):
        for population in row.population:
            by_cell[(population, row.outcome)].append(row)
    empty = [(p, o) for p in res.vocab.ids("population") for o in res.vocab.ids("outcome") if (p, o) not in by_cell]
    return Cells(dict(by_cell), empty)


def expected(res: Resolver, found: Cells) -> list[tuple[tuple[str, str], int, int]]:
    """Empty cells where the population and outcome belong together, with (findings of the
    population in the outcome's domain, populations with findings on the outcome), best first."""
    in_domain: Counter = Counter()
    populations: dict[str, set[str]] = defaultdict(set)
    for (population, outcome), rows in found.rows.items():
        in_domain[(population, _domain(res, outcome))] += len(rows)
        if population != "not_stated":
            populations[outcome].add(population)
    out = []
    for population, outcome in found.empty:
        domain = _domain(res, outcome)
        n, m = in_domain[(population, domain)], len(populations[outcome])
        if population != "not_stated" and domain and n and m:
            out.append(((population, outcome), n, m))
    return sorted(out, key=lambda g: (-g[1] * g[2], -g[1], _labels(res, g[0])))


def _domain(res: Resolver, outcome: str) -> str:
    concept = res.vocab.get("outcome", outcome)
    return (concept.broader if concept else None) or ""


def _labels(res: Resolver, key: tuple[str, str]) -> tuple[str, str]:
    return res.label("population", key[0]).lower(), res.label("outcome", key[1]).lower()


def no_review(found: Cells) -> list[tuple[tuple[str, str], int]]:
    """Cells with primary-study findings and no systematic review, most primary findings first."""
    out = []
    for key, rows in found.rows.items():
        primary = sum(r.design_group == "primary_study" for r in rows)
        if primary and not any(r.design_group == "systematic_review" for r in rows):
            out.append((key, primary))
    return sorted(out, key=lambda g: (-g[1], g[0]))


def weak(found: Cells) -> list[tuple[tuple[str, str], int]]:
    """Cells whose findings are all low or very low: only very low first, then by findings."""
    out = []
    for key, rows in found.rows.items():
        if all(r.certainty in ("low", "very_low") for r in rows):
            out.append((key, sum(r.certainty == "low" for r in rows), len(rows)))
    return [(k, n) for k, _low, n in sorted(out, key=lambda g: (g[1] > 0, -g[2], g[0]))]


def conflicting(found: Cells) -> list[tuple[tuple[str, str], int]]:
    out = [(key, len(rows)) for key, rows in found.rows.items()
           if len({r.direction for r in rows} & set(CLEAR)) > 1 or any(r.direction == "mixed" for r in rows)]
    return sorted(out, key=lambda g: (-g[1], g[0]))


def gaps_page(res: Resolver, out: Output) -> None:
    found = cells(res)
    by_cell = found.rows
    base = res.mint.base

    def cell(key: tuple[str, str], detail: str) -> GapCell:
        population, outcome = key
        link = Link(res.cell_path("population", population, outcome), "claims") if key in by_cell else None
        return GapCell(res.term("population", population), res.term("outcome", outcome), link, detail)

    def gap_list(ident: str, title: str, explanation: str, items: list[GapCell], query: TableQuery) -> GapList:
        return GapList(ident, title, explanation, tuple(items[:SHOWN]), tuple(items[SHOWN:]), query)

    def directions(key: tuple[str, str]) -> str:
        found_ = Counter(r.direction for r in by_cell[key])
        return ", ".join(f"{found_[d]} {DIRECTION_LABELS[d].lower()}" for d in DIRECTIONS if found_[d])

    def certainties(key: tuple[str, str]) -> str:
        found_ = Counter(r.certainty for r in by_cell[key])
        return ", ".join(f"{found_[c]} {LEVEL_WORDS[c]}" for c in LEVELS if found_[c])

    def designs(key: tuple[str, str]) -> str:
        return "; ".join(f"{n} × {d}" for d, n in sorted(Counter(
            r.design_label for r in by_cell[key] if r.design_group == "primary_study").items()))

    priority = expected(res, found)
    priority_keys = {k for k, _n, _m in priority}
    lists = (
        gap_list("expected", "Missing where the evidence says it belongs",
                 "No finding, although this population has findings on other outcomes of the same domain and "
                 "this outcome has findings in other populations. Ranked by how much of both there is: the "
                 "more a population is studied on this kind of outcome, and the more populations the outcome "
                 "is measured in, the more striking the gap.",
                 [cell(k, f"{n} finding{'s' if n != 1 else ''} on other "
                          f"{res.label('outcome', _domain(res, k[1])).lower()} outcomes here; the outcome has "
                          f"findings in {m} other population{'s' if m != 1 else ''}")
                  for k, n, m in priority], queries.gaps_expected(base)),
        gap_list("no-review", "Primary studies but no review",
                 "Findings from trials or other primary studies, none from a systematic review: a review could "
                 "bring them together and rate them. Most primary-study findings first.",
                 [cell(k, designs(k)) for k, _n in no_review(found)], queries.gaps_no_review(base)),
        gap_list("low-only", "Only low or very low certainty",
                 "Every finding is of low or very low certainty: the true effect may be substantially different. "
                 "Cells with only very low certainty first, then those with the most findings.",
                 [cell(k, certainties(k)) for k, _n in weak(found)], queries.gaps_weak(base)),
        gap_list("conflicting", "Conflicting findings",
                 "Findings point in different directions, or one reports mixed results: worth a closer look at "
                 "populations, settings and forms of peer support. Most findings first.",
                 [cell(k, directions(k)) for k, _n in conflicting(found)], queries.gaps_conflicting(base)),
    )
    rest: dict[str, list[Term]] = defaultdict(list)
    for population, outcome in found.empty:
        if (population, outcome) not in priority_keys:
            rest[population].append(res.term("outcome", outcome))
    grouped = tuple((res.term("population", p), tuple(sorted(ts, key=lambda t: t.label.lower())))
                    for p, ts in sorted(rest.items(), key=lambda kv: res.label("population", kv[0]).lower()))
    used = {p for r in res.analysis.rows for p in r.population} | {r.outcome for r in res.analysis.rows}
    unused = tuple(res.term(s, c) for s in ("population", "outcome") for c in res.vocab.ids(s) if c not in used)
    page = GapsPage(path="gaps.html", title="Gaps in the evidence", template="gaps.html", section="gaps",
                    description="Where evidence on peer support is missing, not yet reviewed, weak or conflicting.",
                    lists=lists, rest=grouped, rest_count=sum(len(ts) for _, ts in grouped), unused=unused,
                    counted=len(counted(res.analysis.rows)), total=len(res.analysis.rows))
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    csv_rows = [{"gap": g.id, "rank": i, "population": c.row.label, "outcome": c.outcome.label, "detail": c.detail}
                for g in lists for i, c in enumerate(g.cells + g.more, start=1)]
    csv_rows += [{"gap": "other-empty", "rank": "", "population": p.label, "outcome": o.label, "detail": ""}
                 for p, os_ in grouped for o in os_]
    add_csv(out, page, dicts_to_csv(csv_rows, ["gap", "rank", "population", "outcome", "detail"]))
    out.pages.append(page)

