"""A diff in words (for editors and release notes) and as JSON (for tools)."""

from __future__ import annotations

import json
from collections.abc import Callable

from kb.diff.compare import Cell, Diff, RecordChange, RecordDiff
from kb.diff.snapshot import Snapshot

CLAIM_FIELD_WORDS = {"finding_type": "kind of finding", "certainty_start": "starting certainty",
                     "certainty_basis": "certainty basis", "certainty_reason": "certainty reason",
                     "n_studies": "number of studies", "n_participants": "number of participants"}


def words(diff: Diff, old: Snapshot, new: Snapshot, old_name: str, new_name: str) -> str:
    """The diff as plain sentences, most consequential first."""
    lines = [f"Changes from {old_name} to {new_name}"]
    if not diff:
        return lines[0] + ": none.\n"
    if diff.questions:
        lines += ["", "What readers will notice in the summaries of findings (effects of peer support):"]
        lines += [f"  {c.text}." for c in diff.questions]
    if diff.cells:
        lines += ["", "What readers will notice on the evidence map:"]
        lines += [f"  {c.text}." for c in diff.cells]
    lines += _records("Claims", diff.claims, old, new, _claim_title, claim_change_text)
    lines += _records("Works", diff.works, old, new, _work_title, _work_change)
    lines += _records("Vocabulary", diff.concepts, old, new, _concept_title, _concept_change)
    return "\n".join(lines) + "\n"


def to_json(diff: Diff, old: Snapshot, new: Snapshot, old_name: str, new_name: str) -> str:
    def records(rd: RecordDiff) -> dict:
        return {"added": rd.added, "removed": rd.removed,
                "renamed": [{"old": r.old, "new": r.new} for r in rd.renamed],
                "changed": [{"id": c.id, "fields": [{"field": f.field, "old": f.old, "new": f.new}
                                                   for f in c.changes]} for c in rd.changed]}

    def cell(c: Cell | None) -> dict | None:
        return None if c is None else {"findings": c.findings, "studies": c.studies, "reviews": c.reviews,
                                       "directions": list(c.directions), "certainty": c.certainty}

    payload = {"old": old_name, "new": new_name, "changed": bool(diff),
               "works": records(diff.works), "claims": records(diff.claims), "concepts": records(diff.concepts),
               "cells": [{"population": c.population, "outcome": c.outcome, "old": cell(c.old), "new": cell(c.new),
                          "text": c.text} for c in diff.cells],
               "questions": [{"population": c.population, "intervention": c.intervention, "outcome": c.outcome,
                              "old": cell(c.old), "new": cell(c.new), "text": c.text} for c in diff.questions]}
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _records(title: str, rd: RecordDiff, old: Snapshot, new: Snapshot, name: Callable[[Snapshot, str], str],
             describe: Callable[[Snapshot, Snapshot, RecordChange], str]) -> list[str]:
    if not rd:
        return []
    counts = [f"{len(xs)} {word}" for xs, word in ((rd.added, "added"), (rd.removed, "removed"),
                                                     (rd.changed, "changed"), (rd.renamed, "renamed")) if xs]
    lines = ["", f"{title}: {', '.join(counts)}"]
    lines += [f"  + {key}: {name(new, key)}" for key in rd.added]
    lines += [f"  - {key}: {name(old, key)}" for key in rd.removed]
    lines += [f"  > {r.old} is now {r.new} (renamed; the content is the same)" for r in rd.renamed]
    for change in rd.changed:
        lines.append(f"  ~ {change.id}: {describe(old, new, change)}")
    return lines


def _claim_title(snap: Snapshot, key: str) -> str:
    return _short(snap.claims[key].fields.get("statement", ""))


def _work_title(snap: Snapshot, key: str) -> str:
    f = snap.works[key].fields
    return f"{_short(f.get('title', ''))} ({f.get('year', 'n.d.') or 'n.d.'})"


def claim_change_text(old: Snapshot, new: Snapshot, change: RecordChange) -> str:
    """What changed in one claim, in words ("direction for hospitalisation no effect → benefit")."""
    parts = []
    for fc in change.changes:
        if fc.field == "findings":
            before, after = old.findings.get(change.id, {}), new.findings.get(change.id, {})
            entries_before, entries_after = _by_outcome(fc.old), _by_outcome(fc.new)
            for outcome in sorted(set(before) | set(after)):
                label = _lower(new.label("outcome", outcome) if outcome in after else old.label("outcome", outcome))
                if outcome not in before:
                    parts.append(f"{label} added ({new.label('direction', after[outcome]).lower()})")
                elif outcome not in after:
                    parts.append(f"{label} removed")
                elif before[outcome] != after[outcome]:
                    parts.append(f"direction for {label} {old.label('direction', before[outcome]).lower()} → "
                                 f"{new.label('direction', after[outcome]).lower()}")
                elif entries_before.get(outcome) != entries_after.get(outcome):
                    parts.append(f"reported effect for {label} changed")
        elif fc.field in ("certainty", "certainty_start"):
            parts.append(f"{CLAIM_FIELD_WORDS.get(fc.field, fc.field)} {_level(fc.old)} → {_level(fc.new)}")
        elif fc.field in ("statement", "quote", "notes", "certainty_reason"):
            parts.append(f"{CLAIM_FIELD_WORDS.get(fc.field, fc.field)} reworded")
        else:
            parts.append(f"{CLAIM_FIELD_WORDS.get(fc.field, fc.field)} {fc.old or '—'} → {fc.new or '—'}")
    return "; ".join(dict.fromkeys(parts))


def _by_outcome(findings: str) -> dict[str, str]:
    """``outcome=direction (effect)`` entries of a snapshot's findings field, by outcome."""
    return {entry.split("=", 1)[0]: entry for entry in findings.split("; ") if entry}


def _work_change(_old: Snapshot, _new: Snapshot, change: RecordChange) -> str:
    return "changed " + ", ".join(change.fields)


def _concept_title(snap: Snapshot, key: str) -> str:
    return snap.concepts[key].fields.get("label", key)


CONCEPT_FIELD_WORDS = {"also_called": "other labels", "design_group": "design group",
                       "intervention_kind": "kind of intervention"}


def _concept_change(_old: Snapshot, _new: Snapshot, change: RecordChange) -> str:
    """"label 'A' → 'B'", "definition reworded": a definition is long, so it is named, not quoted."""
    parts = []
    for c in change.changes:
        name = CONCEPT_FIELD_WORDS.get(c.field, c.field)
        if c.field == "definition":
            parts.append("definition " + ("added" if not c.old else "removed" if not c.new else "reworded"))
        else:
            parts.append(f"{name} {c.old!r} → {c.new!r}" if c.old and c.new else
                         f"{name} {'added' if c.new else 'removed'}: {c.new or c.old!r}")
    return "; ".join(parts)


def _level(level: str) -> str:
    return level.replace("_", " ") if level else "—"


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _lower(label: str) -> str:
    return label[0].lower() + label[1:] if len(label) > 1 and not label[1].isupper() else label
