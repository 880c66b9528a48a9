"""Compare two snapshots: records added, removed, changed (which fields) or renamed, and what a
reader would notice — evidence-map cells whose direction, certainty or amount of evidence changed.

Identity is the stable identifier (citekey, claim id): reordering a file changes nothing. A record
that disappears under one id and appears under another with the same content is a rename.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
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
    concepts: RecordDiff = field(default_factory=RecordDiff)  # the vocabularies: labels, definitions, other labels

    def __bool__(self) -> bool:
        return bool(self.works or self.claims or self.cells or self.concepts)

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


def compare(old: Snapshot, new: Snapshot, before: Snapshot | None = None) -> Diff:
    """``old`` against ``new``; ``before``: an earlier state that ``new`` mostly repeats as the same record objects (the
    editors' loop's last build, :class:`kb.diff.releases.KeptReleases`), whose map cells and summary rows are carried
    where no claim of theirs changed."""
    return Diff(compare_records(old.works, new.works), compare_records(old.claims, new.claims),
                compare_cells(old, new, before), compare_questions(old, new, before),
                compare_records(old.concepts, new.concepts))


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


Members = dict[K, list[tuple[str, str]]]  # a cell's or a row's claims: (claim id, direction)
KeysOf = Callable[[Snapshot, str], list[tuple[K, str]]]  # a claim's cells or rows, each with its direction


def cells(snap: Snapshot, before: Snapshot | None = None) -> dict[tuple[str, str], Cell]:
    """Every non-empty population × outcome cell of a snapshot's evidence map (made once per snapshot; carried from
    ``before`` where it can be, :func:`compare`)."""
    return _derived(snap, "cells", _cell_keys, before)


def _cell_keys(snap: Snapshot, claim_id: str) -> list[tuple[tuple[str, str], str]]:
    findings = snap.findings[claim_id]
    return [((population, outcome), direction)
            for population in _split(snap.claims[claim_id].fields.get("population", ""))
            for outcome, direction in findings.items()]


def questions(snap: Snapshot, before: Snapshot | None = None) -> dict[tuple[str, str, str], Cell]:
    """Every summary-of-findings row (population × intervention × outcome) with an effect of a
    peer-delivered intervention: what the summary pages and the headlines are made of (made once per snapshot)."""
    return _derived(snap, "questions", _question_keys, before)


def _question_keys(snap: Snapshot, claim_id: str) -> list[tuple[tuple[str, str, str], str]]:
    record = snap.claims[claim_id]
    intervention = record.fields.get("intervention", "")
    if record.fields.get("finding_type") != "effect" or snap.intervention_kinds.get(intervention) != "peer_delivered":
        return []
    findings = snap.findings[claim_id]
    return [((population, intervention, outcome), direction)
            for population in _split(record.fields.get("population", ""))
            for outcome, direction in findings.items()]


def _derived(snap: Snapshot, name: str, keys_of: KeysOf[K], before: Snapshot | None) -> dict[K, Cell]:
    """``snap``'s cells or rows by ``keys_of``, kept in ``snap.derived``. With ``before``, so are their members (what a
    later state needs to carry them): only the cells and rows of the claims that are not ``before``'s objects are
    summarised again. Made afresh, they were most of the comparison with the release in each rebuild of the editors'
    loop at 50,000 claims."""
    made: dict[K, Cell] | None = snap.derived.get(name)
    if made is not None:
        return made
    carried = _carried(snap, name, keys_of, before) if before is not None else None
    if carried is None:
        members: Members[K] = defaultdict(list)
        for claim_id in snap.findings:
            for key, direction in keys_of(snap, claim_id):
                members[key].append((claim_id, direction))
        made = {key: _summary(snap, found) for key, found in members.items()}
    else:
        members, made = carried
    snap.derived[name] = made
    if before is not None:
        snap.derived[name + " members"] = members
    return made


def _carried(snap: Snapshot, name: str, keys_of: KeysOf[K], before: Snapshot
             ) -> tuple[Members[K], dict[K, Cell]] | None:
    """``before``'s members and cells with those of the claims that changed since made again; None where ``before``
    kept no members or its vocabulary differs (a design's group or an intervention's kind decides what is counted)."""
    kept_members: Members[K] | None = before.derived.get(name + " members")
    kept: dict[K, Cell] | None = before.derived.get(name)
    if kept_members is None or kept is None or snap.design_groups != before.design_groups \
            or snap.intervention_kinds != before.intervention_kinds:
        return None
    changed = _changed(snap, before)
    touched: set[K] = set()
    for state in (before, snap):
        for claim_id in changed:
            if claim_id in state.findings:
                touched.update(key for key, _direction in keys_of(state, claim_id))
    members = dict(kept_members)  # the lists of untouched cells are shared, never changed
    for key in touched:
        members[key] = [m for m in members.get(key, ()) if m[0] not in changed]
    for claim_id in sorted(changed):
        if claim_id in snap.findings:
            for key, direction in keys_of(snap, claim_id):
                members[key].append((claim_id, direction))
    made = dict(kept)
    for key in touched:
        if members[key]:
            made[key] = _summary(snap, members[key])
        else:
            del members[key]
            made.pop(key, None)
    return members, made


def _changed(snap: Snapshot, before: Snapshot) -> set[str]:
    """The claims whose record or findings are not ``before``'s objects, or that only one of the two has."""
    order = list(snap.claims)
    if order == list(snap.findings) == list(before.claims) == list(before.findings):
        # the same claims in the same order (as read, by id): a pass side by side, 5 against 52 ms at 50,000 claims
        pairs = zip(order, snap.claims.values(), before.claims.values(), snap.findings.values(),
                    before.findings.values(), strict=True)
        return {c for c, record, kept, found, kept_found in pairs if record is not kept or found is not kept_found}
    return {c for c in snap.claims.keys() | before.claims.keys() | snap.findings.keys() | before.findings.keys()
            if snap.claims.get(c) is not before.claims.get(c) or snap.findings.get(c) is not before.findings.get(c)}


def _summary(snap: Snapshot, found: list[tuple[str, str]]) -> Cell:
    """A cell or row of ``found`` claims, whatever their order."""
    claims = [snap.claims[c] for c, _ in found]
    studies = {w for r in claims for w in _split(r.fields.get("cites", ""))}
    reviews = {w for r in claims if snap.design_groups.get(r.fields.get("design", "")) == "systematic_review"
               for w in _split(r.fields.get("cites", ""))}
    best = min((r.fields.get("certainty", "") for r in claims),
               key=lambda lv: (LEVELS.index(lv) if lv in LEVELS else len(LEVELS), lv))
    return Cell(len(found), len(studies - reviews), len(reviews), tuple(sorted({d for _, d in found})), best)


def compare_questions(old: Snapshot, new: Snapshot, before: Snapshot | None = None) -> list[CellChange]:
    return _changes(questions(old), questions(new, before), old, new)


def compare_cells(old: Snapshot, new: Snapshot, before: Snapshot | None = None) -> list[CellChange]:
    return _changes(cells(old), cells(new, before), old, new)


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
