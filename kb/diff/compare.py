"""Compare two snapshots: records added, removed, changed (which fields) or renamed, and what a
reader would notice — evidence-map cells whose direction, certainty or amount of evidence changed.

Identity is the stable identifier (citekey, claim id): reordering a file changes nothing. A record
that disappears under one id and appears under another with the same content is a rename.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from kb.diff.snapshot import Record, Snapshot

LEVELS = ("high", "moderate", "low", "very_low")
K = TypeVar("K", tuple[str, str], tuple[str, str, str])  # a map cell's or a summary row's key


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class RecordChange:
    id: str
    changes: tuple[FieldChange, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.changes)


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str


@dataclass
class RecordDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[RecordChange] = field(default_factory=list)
    renamed: list[Rename] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.renamed)


@dataclass(frozen=True, slots=True)
class Cell:
    """What a map cell (population × outcome) shows: findings, distinct studies and reviews, the
    directions found and the best certainty."""

    findings: int
    studies: int
    reviews: int
    directions: tuple[str, ...]
    certainty: str


@dataclass(frozen=True, slots=True)
class CellChange:
    population: str
    outcome: str
    old: Cell | None
    new: Cell | None
    text: str
    intervention: str = ""  # set for a summary-of-findings row (population × intervention × outcome)


@dataclass
class Diff:
    works: RecordDiff
    claims: RecordDiff
    cells: list[CellChange]  # evidence-map cells: population × outcome, every kind of finding
    questions: list[CellChange] = field(default_factory=list)  # summary-of-findings rows: effects of peer support

    def __bool__(self) -> bool:
        return bool(self.works or self.claims or self.cells)

    def generated(self) -> set[str]:
        """Claims the new state has in a new or changed form: added, changed, renamed to."""
        return set(self.claims.added) | {c.id for c in self.claims.changed} | {r.new for r in self.claims.renamed}

    def invalidated(self) -> set[str]:
        """Claims of the old state that are gone: removed, renamed from."""
        return set(self.claims.removed) | {r.old for r in self.claims.renamed}

    def touched(self, old: Snapshot, new: Snapshot) -> dict[str, set[str]]:
        """The outcome domains and populations whose evidence changed (for per-topic feeds)."""
        out: dict[str, set[str]] = {"domain": set(), "population": set()}
        for snap, claim_ids in ((new, self.generated()), (old, self.invalidated())):
            for claim_id in claim_ids:
                record = snap.claims.get(claim_id)
                if record is None:
                    continue
                out["population"].update(_split(record.fields.get("population", "")))
                out["domain"].update(snap.domains.get(o, o) for o in snap.findings.get(claim_id, {}))
        for change in self.cells:
            out["population"].add(change.population)
            out["domain"].add(new.domains.get(change.outcome) or old.domains.get(change.outcome, change.outcome))
        return out


def compare(old: Snapshot, new: Snapshot) -> Diff:
    return Diff(compare_records(old.works, new.works), compare_records(old.claims, new.claims),
                compare_cells(old, new), compare_questions(old, new))


def compare_records(old: dict[str, Record], new: dict[str, Record]) -> RecordDiff:
    diff = RecordDiff()
    gone = sorted(set(old) - set(new))
    came = sorted(set(new) - set(old))
    by_content: dict[tuple, list[str]] = defaultdict(list)
    for key in came:
        by_content[new[key].content()].append(key)
    for key in gone:
        twins = by_content.get(old[key].content())
        if twins:
            diff.renamed.append(Rename(key, twins.pop(0)))
    renamed_old = {r.old for r in diff.renamed}
    renamed_new = {r.new for r in diff.renamed}
    diff.removed = [k for k in gone if k not in renamed_old]
    diff.added = [k for k in came if k not in renamed_new]
    for key in sorted(set(old) & set(new)):
        if old[key] is new[key]:  # read as the release's own record (kb.diff.snapshot.read_snapshot's like)
            continue
        a, b = old[key].fields, new[key].fields
        changes = tuple(FieldChange(f, a.get(f, ""), b.get(f, "")) for f in sorted(set(a) | set(b))
                        if a.get(f, "") != b.get(f, ""))
        if changes:
            diff.changed.append(RecordChange(key, changes))
    return diff


def cells(snap: Snapshot) -> dict[tuple[str, str], Cell]:
    """Every non-empty population × outcome cell of a snapshot's evidence map (made once per snapshot)."""
    made: dict[tuple[str, str], Cell] | None = snap.derived.get("cells")
    if made is None:
        made = snap.derived["cells"] = _cells(snap)
    return made


def _cells(snap: Snapshot) -> dict[tuple[str, str], Cell]:
    members: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)  # → (claim id, direction)
    for claim_id, findings in snap.findings.items():
        record = snap.claims[claim_id]
        for population in _split(record.fields.get("population", "")):
            for outcome, direction in findings.items():
                members[(population, outcome)].append((claim_id, direction))
    return _summarise(snap, members)


def questions(snap: Snapshot) -> dict[tuple[str, str, str], Cell]:
    """Every summary-of-findings row (population × intervention × outcome) with an effect of a
    peer-delivered intervention: what the summary pages and the headlines are made of (made once per snapshot)."""
    made: dict[tuple[str, str, str], Cell] | None = snap.derived.get("questions")
    if made is None:
        made = snap.derived["questions"] = _questions(snap)
    return made


def _questions(snap: Snapshot) -> dict[tuple[str, str, str], Cell]:
    members: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for claim_id, findings in snap.findings.items():
        record = snap.claims[claim_id]
        intervention = record.fields.get("intervention", "")
        if record.fields.get("finding_type") != "effect" or snap.intervention_kinds.get(intervention) != \
                "peer_delivered":
            continue
        for population in _split(record.fields.get("population", "")):
            for outcome, direction in findings.items():
                members[(population, intervention, outcome)].append((claim_id, direction))
    return _summarise(snap, members)


def _summarise(snap: Snapshot, members: dict[K, list[tuple[str, str]]]) -> dict[K, Cell]:
    out = {}
    for key, found in members.items():
        claims = [snap.claims[c] for c, _ in found]
        studies = {w for r in claims for w in _split(r.fields.get("cites", ""))}
        reviews = {w for r in claims if snap.design_groups.get(r.fields.get("design", "")) == "systematic_review"
                   for w in _split(r.fields.get("cites", ""))}
        levels = [r.fields.get("certainty", "") for r in claims]
        best = min(levels, key=lambda lv: LEVELS.index(lv) if lv in LEVELS else len(LEVELS))
        out[key] = Cell(len(found), len(studies - reviews), len(reviews), tuple(sorted({d for _, d in found})), best)
    return out


def compare_questions(old: Snapshot, new: Snapshot) -> list[CellChange]:
    return _changes(questions(old), questions(new), old, new)


def compare_cells(old: Snapshot, new: Snapshot) -> list[CellChange]:
    return _changes(cells(old), cells(new), old, new)


def _changes(before: dict[K, Cell], after: dict[K, Cell], old: Snapshot, new: Snapshot) -> list[CellChange]:
    """The cells (or summary rows) whose findings, directions, certainty or amount of evidence moved."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        population, outcome = key[0], key[-1]
        intervention = key[1] if len(key) == 3 else ""
        snap = new if b else old
        outcome_label, population_label = snap.label("outcome", outcome), _lower(snap.label("population", population))
        head = (f"{snap.label('intervention', intervention)} and {_lower(outcome_label)} in {population_label}"
                if intervention else f"{outcome_label} in {population_label}")
        out.append(CellChange(population, outcome, a, b, _change_text(snap, head, a, b), intervention))
    return out


def _change_text(snap: Snapshot, head: str, a: Cell | None, b: Cell | None) -> str:
    if a is None and b is not None:
        return f"{head}: new evidence — {_cell_words(snap, b)}"
    if b is None and a is not None:
        return f"{head}: no evidence any more (was {_cell_words(snap, a)})"
    assert a is not None and b is not None
    parts = []
    if a.certainty != b.certainty:
        parts.append(f"certainty {_level(a.certainty)} → {_level(b.certainty)}")
    if a.directions != b.directions:
        parts.append(f"direction {_directions(snap, a)} → {_directions(snap, b)}")
    amounts = [_delta(b.reviews - a.reviews, "review"), _delta(b.studies - a.studies, "study", "studies"),
               _delta(b.findings - a.findings, "finding")]
    amount = ", ".join(x for x in amounts if x)
    if amount:
        parts.append(f"({amount})" if parts else amount)
    return f"{head}: " + " ".join(parts) if parts else head


def _cell_words(snap: Snapshot, cell: Cell) -> str:
    amount = ", ".join(x for x in (_count(cell.reviews, "review"), _count(cell.studies, "study", "studies")) if x)
    return f"{_directions(snap, cell)}, {_level(cell.certainty)} certainty" + (f" ({amount})" if amount else "")


def _directions(snap: Snapshot, cell: Cell) -> str:
    return ", ".join(_lower(snap.label("direction", d)) for d in cell.directions)


def _level(level: str) -> str:
    return level.replace("_", " ")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}" if n else ""


def _delta(n: int, one: str, many: str | None = None) -> str:
    if not n:
        return ""
    word = one if abs(n) == 1 else (many or one + "s")
    return f"{abs(n)} {word} {'added' if n > 0 else 'removed'}"


def _lower(label: str) -> str:
    return label[0].lower() + label[1:] if len(label) > 1 and not label[1].isupper() else label


def _split(value: str) -> list[str]:
    return [v for v in value.split("; ") if v]
