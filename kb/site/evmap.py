"""The evidence-and-gap map: populations (or settings, delivery modes, perspectives,
interventions) × outcomes, the outcomes collapsed into their domains until a reader opens one.

Each cell draws one mark per finding (claim-outcome) — shape and colour by direction, fill by
certainty — until it holds more than ``threshold`` marks; then it shows one tally per direction
with a count, so a corpus of thousands of claims still gives a readable, light page. A domain's
column summarises its outcomes the same way.

The filters (``site_templates/static/map.js``, progressive enhancement) read one data script
shared by every map page, :func:`map_data`: the findings, dictionary-encoded, with every facet
multi-valued where the claim is (a claim about older adults with serious mental illness counts
for both). By default the map shows effects of peer-delivered interventions; the other kinds of
finding and peer-adjacent interventions are one filter away.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from kb.analyse.analysis import DIRECTIONS, LEVELS, Row, direction_rank, level_rank
from kb.site.grade import LEVEL_WORDS
from kb.site.limits import LARGE_KB
from kb.site.pages import (
    FilterOption,
    LegendItem,
    Link,
    MapCell,
    MapColumn,
    MapFilter,
    MapGroup,
    MapRow,
    MapRowGroup,
    Mark,
    Tally,
    Term,
)
from kb.site.views import DIRECTION_LABELS, Resolver

MARKS_PER_CELL = 10  # above this, a cell shows counts per direction instead of one mark per finding
MARKS_PER_MAP = LARGE_KB  # above this, every cell does: thousands of marks make a slow, unreadable page

DIRECTION_LEGEND = {
    "benefit": "Triangle pointing up: the outcome got better with peer support.",
    "no_effect": "Circle: little or no difference.",
    "harm": "Triangle pointing down: the outcome got worse, or a problem the people concerned face.",
    "mixed": "Diamond: some findings better, some not.",
    "inconclusive": "Square: the evidence cannot tell.",
    "not_reported": "Cross: no result reported (for example a trial protocol).",
    "not_applicable": "Two bars: a level or need, not a change.",
}
CERTAINTY_LEGEND = {
    "high": "Solid: high certainty (⊕⊕⊕⊕).",
    "moderate": "Densely hatched: moderate certainty (⊕⊕⊕◯).",
    "low": "Sparsely hatched: low certainty (⊕⊕◯◯).",
    "very_low": "Dashed outline, empty: very low certainty (⊕◯◯◯).",
}
AXES = {"population": "Populations", "setting": "Settings", "delivery": "Delivery modes",
        "perspective": "Perspectives", "intervention": "Interventions"}
AXIS_NOUNS = {"population": "population", "setting": "setting", "delivery": "delivery mode",
              "perspective": "perspective", "intervention": "intervention"}
# COMET's core areas, in the taxonomy's order; the domains outside COMET follow.
CORE_AREAS = ("Death", "Physiological or clinical", "Life impact", "Resource use", "Adverse events")
FINDING_TYPES = ("effect", "association", "prevalence", "implementation", "no_result")

# (field, label, default selection): the map's filters, in the order they are shown. A field
# is also the name of its URL parameter.
FILTERS = (
    ("finding_type", "Kind of finding", ("effect",)),
    ("intervention_kind", "Who delivers it", ("peer_delivered",)),
    ("direction", "Direction", ()),
    ("certainty", "Certainty", ()),
    ("population", "Population", ()),
    ("setting", "Setting", ()),
    ("delivery", "Delivery", ()),
    ("perspective", "Perspective", ()),
    ("intervention", "Intervention", ()),
    ("design", "Study design", ()),
    ("source", "Source document", ()),
)
# Per-claim fields of the map data (a finding adds its outcome and direction); the schemes of
# the concept fields, for their IRIs.
CLAIM_FIELDS = ("finding_type", "intervention_kind", "intervention", "population", "setting", "delivery",
                "perspective", "design", "certainty", "source")
SCHEME_OF = {"finding_type": "finding_type", "intervention_kind": "intervention_kind", "intervention": "intervention",
             "population": "population", "setting": "setting", "delivery": "delivery", "perspective": "perspective",
             "design": "design", "certainty": "certainty", "direction": "direction", "outcome": "outcome"}


def legend() -> tuple[tuple[LegendItem, ...], tuple[LegendItem, ...]]:
    directions = tuple(LegendItem(d, DIRECTION_LABELS[d], DIRECTION_LEGEND[d]) for d in DIRECTIONS)
    certainties = tuple(LegendItem(c, LEVEL_WORDS[c].capitalize(), CERTAINTY_LEGEND[c]) for c in LEVELS)
    return directions, certainties


def domains(resolver: Resolver) -> list[tuple[str, list[str]]]:
    """Outcome domains in COMET's order (then the others by label), each with its outcomes by label."""
    vocab = resolver.vocab
    by_domain: dict[str, list[str]] = defaultdict(list)
    for outcome in vocab.ids("outcome"):
        concept = vocab.get("outcome", outcome)
        by_domain[(concept.broader if concept else None) or ""].append(outcome)

    def order(domain: str) -> tuple:
        concept = vocab.get("outcome", domain)
        area = concept.core_area if concept else None
        return (CORE_AREAS.index(area) if area in CORE_AREAS else len(CORE_AREAS), domain == "",
                vocab.label("outcome", domain).lower(), domain)

    return [(d, sorted(by_domain[d], key=lambda o: (vocab.label("outcome", o).lower(), o)))
            for d in sorted(by_domain, key=order)]


def axis_ids(resolver: Resolver, axis: str) -> list[str]:
    """The rows of a map: every concept of the axis by label, "not stated" last."""
    return sorted(resolver.vocab.ids(axis), key=lambda c: (c == "not_stated", resolver.label(axis, c).lower(), c))


def build(resolver: Resolver, rows: list[Row], axis: str,
          threshold: int = MARKS_PER_CELL) -> tuple[tuple[MapGroup, ...], tuple[MapRow, ...]]:
    """The map's column groups and rows; every row and outcome of the vocabularies, with or without findings."""
    index = {id(r): i for i, r in enumerate(rows)}
    by_cell: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        for value in row.values(axis):
            by_cell[(value, row.outcome)].append(row)
    outcome_counts = Counter(r.outcome for r in rows for _ in r.values(axis))
    layout = domains(resolver)
    groups = []
    for domain, outcomes in layout:
        cols = tuple(MapColumn(resolver.term("outcome", o), domain, outcome_counts[o]) for o in outcomes)
        term = resolver.term("outcome", domain) if domain else Term("", "Other")
        groups.append(MapGroup(term, cols, sum(c.count for c in cols)))
    out = []
    for row_id in axis_ids(resolver, axis):
        row_groups, total = [], 0
        for domain, outcomes in layout:
            cells = []
            for outcome in outcomes:
                members = by_cell.get((row_id, outcome), [])
                link = Link(resolver.cell_path(axis, row_id, outcome), cell_text(members)) if members else None
                cells.append(_cell(outcome, link, members, index, threshold))
            pooled = [r for outcome in outcomes for r in by_cell.get((row_id, outcome), [])]
            row_groups.append(MapRowGroup(_cell(domain, None, pooled, index, threshold), tuple(cells)))
            total += len(pooled)
        out.append(MapRow(resolver.term(axis, row_id), tuple(row_groups), total))
    return tuple(groups), tuple(out)


def _ordered(members: list[Row]) -> list[Row]:
    return sorted(members, key=lambda r: (direction_rank(r.direction), level_rank(r.certainty), r.claim_id, r.outcome))


def _cell(key: str, link: Link | None, members: list[Row], index: dict[int, int], threshold: int) -> MapCell:
    """A cell: its marks in order up to ``threshold`` findings, else counts (which need no order: most of
    a large map's cells, so their findings are not sorted)."""
    if len(members) > threshold:
        return MapCell(key, link, (), tally(members), len(members), cell_text(members))
    marks = tuple(Mark(index[id(r)], r.direction, r.certainty, mark_title(r)) for r in _ordered(members))
    return MapCell(key, link, marks, (), len(members), cell_text(members))


def cell_text(rows: list[Row]) -> str:
    """A cell in words, as the map's script writes it too: "2 findings: 1 benefit, 1 no effect;
    certainty 1 moderate, 1 very low"."""
    if not rows:
        return "No evidence"
    counts = Counter(r.direction for r in rows)
    levels = Counter(r.certainty for r in rows)
    parts = [f"{counts[d]} {DIRECTION_LABELS[d].lower()}" for d in DIRECTIONS if counts[d]]
    sure = [f"{levels[c]} {LEVEL_WORDS[c]}" for c in LEVELS if levels[c]]
    return f"{len(rows)} finding{'s' if len(rows) != 1 else ''}: " + ", ".join(parts) + "; certainty " + ", ".join(sure)


def mark_title(row: Row) -> str:
    """What a mark's tooltip says: the finding in words, then the claim's statement."""
    return (f"{row.outcome_label} — {DIRECTION_LABELS.get(row.direction, row.direction).lower()}, "
            f"{LEVEL_WORDS.get(row.certainty, row.certainty)} certainty ({row.design_label}): {row.statement}")


def tally(members: list[Row]) -> tuple[Tally, ...]:
    by_direction: dict[str, list[Row]] = defaultdict(list)
    for r in members:
        by_direction[r.direction].append(r)
    def first(r: Row) -> tuple:  # the order of _ordered within a direction
        return level_rank(r.certainty), r.claim_id, r.outcome

    def rank(direction: str) -> tuple:  # directions outside DIRECTIONS share a rank: their first finding decides
        n = direction_rank(direction)
        return (n, first(min(by_direction[direction], key=first))) if n == len(DIRECTIONS) else (n,)

    out = []
    for direction in sorted(by_direction, key=rank):
        group = by_direction[direction]
        best = min(group, key=first).certainty
        label = DIRECTION_LABELS.get(direction, direction).lower()
        out.append(Tally(direction, best, len(group),
                         f"{len(group)} {label}; best certainty {LEVEL_WORDS.get(best, best)}"))
    return tuple(out)


# --- filters and the shared data ---------------------------------------------------------------


def filters(resolver: Resolver, rows: list[Row]) -> tuple[MapFilter, ...]:
    """Every filter with the values the findings have, their counts, and the default selection."""
    out = []
    for name, label, default in FILTERS:
        counts = Counter(v for r in rows for v in _field_values(r, name))
        options = [FilterOption(v, _label(resolver, name, v), counts[v], v in default) for v in counts]
        out.append(MapFilter(name, label, tuple(sorted(options, key=lambda o: _option_order(name, o)))))
    return tuple(out)


def _label(resolver: Resolver, field: str, value: str) -> str:
    if field == "source":
        return resolver.ref_link(value).label
    if field == "intervention_kind" and not value:
        return "Not recorded"
    return resolver.label(SCHEME_OF[field], value)


def _option_order(field: str, option: FilterOption) -> tuple:
    fixed = {"direction": DIRECTIONS, "certainty": LEVELS, "finding_type": FINDING_TYPES}.get(field)
    if fixed:
        return (fixed.index(option.value) if option.value in fixed else len(fixed), option.value)
    return (option.value == "not_stated", option.label.lower(), option.value)


def map_data(resolver: Resolver, rows: list[Row]) -> dict:
    """The findings for the map's script, dictionary-encoded (a few hundred kilobytes at 10,000 claims).

    ``claims`` holds one list per claim (``claimFields``: indices into ``values``, lists of them
    for the facets that may hold several), ``rows`` one ``[claim, outcome, direction]`` per
    finding in the order of the marks' ``data-r``. ``labels`` and ``iris`` serve the CSV (the claims
    CSV, filtered) and the map's SPARQL query.
    """
    claim_order = sorted({r.claim_id for r in rows})
    claim_index = {c: i for i, c in enumerate(claim_order)}
    fields = (*CLAIM_FIELDS, "outcome", "direction", "domain")
    values = {f: sorted({v for r in rows for v in _field_values(r, f)}) for f in fields}
    position = {f: {v: i for i, v in enumerate(values[f])} for f in fields}
    first: dict[str, Row] = {}
    for row in rows:
        first.setdefault(row.claim_id, row)
    claims = []
    for claim_id in claim_order:
        row = first[claim_id]
        entry: list = [claim_id]
        for f in CLAIM_FIELDS:
            ids = [position[f][v] for v in _field_values(row, f)]
            entry.append(ids if f in ("population", "setting", "delivery") else ids[0])
        claims.append(entry)
    labels = {f: [_label(resolver, f, v) if f not in ("domain", "outcome") else resolver.label("outcome", v)
                  for v in values[f]] for f in fields}
    base = resolver.mint.base
    iris = {f: f"{base}concept/{SCHEME_OF[f]}/" for f in SCHEME_OF}
    iris["source"] = f"{base}work/"
    domain_of = [position["domain"][_domain(resolver, o)] for o in values["outcome"]]
    return {
        "claimFields": ["id", *CLAIM_FIELDS], "claims": claims, "values": values, "labels": labels, "iris": iris,
        "domainOf": domain_of,
        "defaults": {name: [v for v in default if v in position[name]] for name, _, default in FILTERS if default},
        "rows": [[claim_index[r.claim_id], position["outcome"][r.outcome], position["direction"][r.direction]]
                 for r in rows],
    }


def map_statements(rows: list[Row]) -> dict[str, str]:
    """The claims' statements by id, in the order of :func:`map_data`'s ``claims`` (their ids,
    sorted): ``assets/map-statements.js`` holds the values, loaded when a reader downloads the
    filtered findings as CSV and by the search page (:func:`kb.site.search.search_index` refers to
    a claim's statement by its position)."""
    statements: dict[str, str] = {}
    for row in rows:
        statements.setdefault(row.claim_id, row.statement)
    return {c: statements[c] for c in sorted(statements)}


def _field_values(row: Row, field: str) -> Iterable[str]:
    if field == "source":
        return (row.source,)
    if field == "domain":
        return (row.domain,)
    return row.values(field)


def _domain(resolver: Resolver, outcome: str) -> str:
    concept = resolver.vocab.get("outcome", outcome)
    return (concept.broader if concept else None) or ""
