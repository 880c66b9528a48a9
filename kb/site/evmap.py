"""The evidence-and-gap map: populations (or interventions) × outcomes grouped by domain.

Each cell draws one mark per claim-outcome — shape and colour by direction, fill by certainty —
until it holds more than ``threshold`` marks; then it shows one tally per direction with a count,
so a corpus of thousands of claims still gives a readable, light page. The filters (JavaScript,
progressive enhancement) work on the same row indices in both modes.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from kb.analyse.analysis import DIRECTIONS, LEVELS, Row
from kb.site.grade import LEVEL_WORDS
from kb.site.pages import (
    FilterOption,
    LegendItem,
    Link,
    MapCell,
    MapColumn,
    MapFilter,
    MapGroup,
    MapRow,
    Mark,
    Tally,
    Term,
)
from kb.site.views import DIRECTION_LABELS, Resolver

MARKS_PER_CELL = 10  # above this, a cell shows counts per direction instead of one mark per finding
MARKS_PER_MAP = 3000  # above this, every cell does: thousands of marks make a slow, unreadable page

DIRECTION_LEGEND = {
    "benefit": "Triangle pointing up: the outcome got better with peer support.",
    "no_effect": "Circle: little or no difference.",
    "harm": "Triangle pointing down: the outcome got worse.",
    "mixed": "Diamond: some findings better, some not.",
    "inconclusive": "Square: the evidence cannot tell.",
    "not_reported": "Cross: no result reported (for example a trial protocol).",
    "not_applicable": "Two bars: a level or need, not a change.",
}
CERTAINTY_LEGEND = {
    "high": "Solid fill: high certainty (⊕⊕⊕⊕).",
    "moderate": "Dense fill: moderate certainty (⊕⊕⊕◯).",
    "low": "Light fill: low certainty (⊕⊕◯◯).",
    "very_low": "Outline only: very low certainty (⊕◯◯◯).",
}
AXES = {"population": "Populations", "setting": "Settings", "delivery": "Delivery modes",
        "perspective": "Perspectives", "intervention": "Interventions"}


def legend() -> tuple[tuple[LegendItem, ...], tuple[LegendItem, ...]]:
    directions = tuple(LegendItem(d, DIRECTION_LABELS[d], DIRECTION_LEGEND[d]) for d in DIRECTIONS)
    certainties = tuple(LegendItem(c, LEVEL_WORDS[c].capitalize(), CERTAINTY_LEGEND[c]) for c in LEVELS)
    return directions, certainties


def columns(resolver: Resolver) -> tuple[tuple[MapGroup, ...], tuple[MapColumn, ...]]:
    """Outcome columns grouped by domain, domains and outcomes by label."""
    vocab = resolver.vocab
    by_domain: dict[str, list[str]] = defaultdict(list)
    for outcome in vocab.ids("outcome"):
        concept = vocab.get("outcome", outcome)
        by_domain[(concept.broader if concept else None) or ""].append(outcome)
    groups, cols = [], []
    for domain in sorted(by_domain, key=lambda d: (vocab.label("outcome", d).lower(), d)):
        outcomes = sorted(by_domain[domain], key=lambda o: (vocab.label("outcome", o).lower(), o))
        groups.append(MapGroup(resolver.term("outcome", domain) if domain else Term("", "Other"), len(outcomes)))
        cols += [MapColumn(resolver.term("outcome", o), domain) for o in outcomes]
    return tuple(groups), tuple(cols)


def row_data(resolver: Resolver, rows: list[Row]) -> dict:
    """Row attributes for the filters, dictionary-encoded: each row a list of indices into ``values``.

    At ten thousand findings this keeps the embedded data a few hundred kilobytes.
    """
    fields = ["direction", "certainty", "population", "intervention", "design", "source"]
    values: dict[str, list[str]] = {f: sorted({_key(r, f) for r in rows}) for f in fields}
    index = {f: {v: i for i, v in enumerate(values[f])} for f in fields}
    return {"fields": fields, "values": values,
            "rows": [[index[f][_key(r, f)] for f in fields] for r in rows]}


def _key(row: Row, field: str) -> str:
    """A row's value for a filter; several populations form one value ("older_adults smi")."""
    return " ".join(row.values(field))


def filters(resolver: Resolver, rows: list[Row], axis: str) -> tuple[MapFilter, ...]:
    def options(values: dict[str, str]) -> tuple[FilterOption, ...]:
        ordered = sorted(values.items(), key=lambda kv: (kv[1].lower(), kv[0]))
        return tuple(FilterOption(v, label) for v, label in ordered)

    out = []
    other = "intervention" if axis != "intervention" else "population"
    out.append(MapFilter(other, "Intervention" if other == "intervention" else "Population",
                         options({_key(r, other): getattr(r, f"{other}_label") for r in rows})))
    out.append(MapFilter("design", "Study design", options({r.design: r.design_label for r in rows})))
    out.append(MapFilter("certainty", "Certainty at least", tuple(
        FilterOption(level, LEVEL_WORDS[level].capitalize()) for level in LEVELS[:-1])))
    out.append(MapFilter("source", "Source document", options({r.source: resolver.ref_link(r.source).label
                                                                for r in rows})))
    return tuple(out)


def cell_text(rows: list[Row]) -> str:
    if not rows:
        return "No evidence"
    counts = Counter(r.direction for r in rows)
    parts = [f"{counts[d]} {DIRECTION_LABELS[d].lower()}" for d in DIRECTIONS if counts[d]]
    return f"{len(rows)} finding{'s' if len(rows) != 1 else ''}: " + ", ".join(parts)


def mark_title(row: Row) -> str:
    return (f"{row.claim_id}: {DIRECTION_LABELS.get(row.direction, row.direction).lower()}, "
            f"{LEVEL_WORDS.get(row.certainty, row.certainty)} certainty ({row.design_label})")


def build_rows(resolver: Resolver, rows: list[Row], axis: str, cols: tuple[MapColumn, ...],
               threshold: int = MARKS_PER_CELL) -> tuple[MapRow, ...]:
    index = {id(r): i for i, r in enumerate(rows)}
    cells: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        for value in row.values(axis):
            cells[(value, row.outcome)].append(row)
    out = []
    ids = sorted(resolver.vocab.ids(axis), key=lambda c: (resolver.label(axis, c).lower(), c))
    for row_id in ids:
        map_cells = []
        for col in cols:
            members = sorted(cells.get((row_id, col.term.id), []),
                             key=lambda r: (DIRECTIONS.index(r.direction) if r.direction in DIRECTIONS else 9,
                                            _level(r.certainty), r.claim_id))
            link = (Link(resolver.cell_path(axis, row_id, col.term.id), cell_text(members)) if members else None)
            marks: tuple[Mark, ...] = ()
            tallies: tuple[Tally, ...] = ()
            if len(members) > threshold:
                tallies = tally(members)
            else:
                marks = tuple(Mark(index[id(r)], r.direction, r.certainty, mark_title(r)) for r in members)
            map_cells.append(MapCell(col.term.id, link, marks, tallies, tuple(index[id(r)] for r in members),
                                     cell_text(members)))
        count = sum(len(c.rows) for c in map_cells)
        out.append(MapRow(resolver.term(axis, row_id), tuple(map_cells), count))
    return tuple(out)


def tally(members: list[Row]) -> tuple[Tally, ...]:
    by_direction: dict[str, list[Row]] = defaultdict(list)
    for r in members:
        by_direction[r.direction].append(r)
    out = []
    for direction in sorted(by_direction, key=lambda d: DIRECTIONS.index(d) if d in DIRECTIONS else 9):
        group = by_direction[direction]
        best = min((r.certainty for r in group), key=_level)
        label = DIRECTION_LABELS.get(direction, direction).lower()
        out.append(Tally(direction, best, len(group),
                         f"{len(group)} {label}; best certainty {LEVEL_WORDS.get(best, best)}"))
    return tuple(out)


def _level(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
