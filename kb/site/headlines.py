"""The home page's headline findings: chosen by certainty and directness, whatever the direction.

The rule (shown on the page):

1. Candidates are effects of peer-delivered interventions (``finding_type: effect``, intervention
   kind ``peer_delivered``) with a direction (benefit, no effect, harm, mixed, inconclusive).
   Peer-adjacent interventions and other kinds of finding are left out and counted.
2. Rank by certainty, then by directness (fewer of: a downgrade for indirectness, a population
   not stated, no specific outcome named), then by the number of distinct works behind them.
   The direction plays no part in the rank.
3. Take whole certainty levels, surest first, while they fit in the limit. A level that does not
   fit whole is taken in turn from each direction (most direct first, the direction with fewest
   headlines so far first), so a null or harmful finding is never cut while a benefit of the same
   certainty is shown.

This replaced a list that sorted benefits first and stopped at six, which cut the only null
finding of the same certainty.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kb.analyse.analysis import DIRECTIONS, LEVELS, Row, direction_rank, level_rank
from kb.analyse.studies import StudyBase
from kb.site.grade import EFFECT, LEVEL_WORDS, Summary, surest_levels

HEADLINES = 6
DIRECTED = ("benefit", "no_effect", "harm", "mixed", "inconclusive")
OVERALL = "overall_effectiveness"


@dataclass(frozen=True)
class Headline:
    summary: Summary
    reason: str  # "moderate certainty; direct" or "low certainty; less direct: population not stated"


@dataclass(frozen=True)
class Headlines:
    items: tuple[Headline, ...]
    explanation: str


def indirect_features(rows: Iterable[Row], downgrades: Callable[[str], tuple[str, ...]]) -> list[str]:
    """What makes a finding a less direct answer to "does peer support change this outcome for these people"."""
    rows = list(rows)
    out = []
    if any("indirectness" in downgrades(r.claim_id) for r in rows):
        out.append("downgraded for indirectness")
    if any("not_stated" in r.population for r in rows):
        out.append("population not stated")
    if rows and all(r.outcome == OVERALL for r in rows):
        out.append("no specific outcome")
    return out


def choose(rows: Iterable[Row], base: StudyBase, downgrades: Callable[[str], tuple[str, ...]],
           limit: int = HEADLINES) -> Headlines:
    """The balanced headline set, with the reason for each and for the whole choice."""
    rows = list(rows)
    candidates = [r for r in rows if r.finding_type == EFFECT and r.intervention_kind == "peer_delivered"
                  and r.direction in DIRECTED]
    left_adjacent = len({r.claim_id for r in rows
                         if r.finding_type == EFFECT and r.intervention_kind != "peer_delivered"})
    left_kinds = len({r.claim_id for r in rows if r.finding_type != EFFECT})
    by_claim: dict[str, list[Row]] = defaultdict(list)
    for row in candidates:
        by_claim[row.claim_id].append(row)
    ranked = []
    found, per_level = surest_levels(candidates, base, limit)  # the levels after the limit are only counted
    for n, summary in enumerate(found):
        members = [r for c in summary.claim_ids for r in by_claim[c] if r.direction == summary.direction]
        features = indirect_features(members, downgrades)
        ranked.append((level_rank(summary.certainty), len(features), -base.count(members).works, n, summary,
                       features))
    ranked.sort(key=lambda t: t[:4])
    levels: dict[str, list[tuple]] = defaultdict(list)
    for item in ranked:
        levels[item[4].certainty].append(item)
    chosen: list[tuple] = []
    told: list[str] = []
    for level in LEVELS:
        group = levels.get(level, [])
        room = limit - len(chosen)
        if not per_level[level] or room <= 0:
            if per_level[level]:
                told.append(f"none of the {per_level[level]} of {LEVEL_WORDS[level]} certainty")
            continue
        if len(group) <= room:
            chosen += group
            told.append(f"all {len(group)} of {LEVEL_WORDS[level]} certainty")
            continue
        picked = _in_turn(group, room, chosen)
        chosen += picked
        told.append(f"{len(picked)} of the {len(group)} of {LEVEL_WORDS[level]} certainty, taken in turn from "
                    "each direction, most direct first")
    chosen.sort(key=lambda t: t[:4])
    items = tuple(Headline(t[4], f"{LEVEL_WORDS[t[4].certainty]} certainty; "
                          + ("less direct: " + ", ".join(t[5]) if t[5] else "direct")) for t in chosen)
    left = []
    if left_adjacent:
        left.append(f"{left_adjacent} claim{'s' if left_adjacent != 1 else ''} about interventions not delivered by "
                    "peers (peer-adjacent)")
    if left_kinds:
        left.append(f"{left_kinds} claim{'s' if left_kinds != 1 else ''} that {'is' if left_kinds == 1 else 'are'} "
                    "not about effects (associations, implementation, prevalence, protocols)")
    explanation = ("Chosen by certainty, then directness, whatever the direction: " + "; ".join(told) + "."
                   if told else "No effect of a peer-delivered intervention is recorded yet.")
    if left:
        explanation += " Left out here: " + " and ".join(left) + "; the summaries of findings show them, labelled."
    return Headlines(items, explanation)


def _in_turn(group: list[tuple], room: int, chosen: list[tuple]) -> list[tuple]:
    """``room`` items of one certainty level, one direction at a time (fewest so far first)."""
    queues: dict[str, list[tuple]] = defaultdict(list)
    for item in group:
        queues[item[4].direction].append(item)
    shown = defaultdict(int, {d: sum(1 for t in chosen if t[4].direction == d) for d in DIRECTIONS})
    picked: list[tuple] = []
    while len(picked) < room and any(queues.values()):
        for direction in sorted((d for d in queues if queues[d]), key=lambda d: (shown[d], direction_rank(d))):
            if len(picked) == room:
                break
            picked.append(queues[direction].pop(0))
            shown[direction] += 1
    return picked
