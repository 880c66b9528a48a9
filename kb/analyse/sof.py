"""Summary-of-findings rows: one per outcome, built from bodies of evidence that are never merged.

A *body of evidence* is the claim-outcomes on one outcome that agree on direction and certainty;
its studies are counted once (:mod:`kb.analyse.studies`). A row holds every body on its outcome.

**The row rule.** A row's certainty and its plain-language statement come from its *lead*: the
body (or bodies) of the highest certainty. The other bodies are listed under it, each with its own
statement and certainty, never averaged or pooled into it — the claims may rest on different
studies, different comparisons or different measures, which the KB cannot pool. Where the lead
bodies point different ways at the same certainty, the row says the evidence conflicts and gives
each; where a lower-certainty body points another way than the lead, the row says so too. So the
surest evidence answers the question, and discordant evidence is reported beside it rather than
re-synthesised, as overviews of reviews do (Cochrane Handbook, chapter V).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from kb.analyse.analysis import Row, direction_rank, level_rank
from kb.analyse.studies import EvidenceCount, StudyBase

SAME, LOWER = "same_certainty", "lower_certainty"  # kinds of conflict


@dataclass(frozen=True)
class Body:
    """Claim-outcomes on one outcome agreeing on direction and certainty."""

    direction: str
    certainty: str
    rows: tuple[Row, ...]
    count: EvidenceCount

    @property
    def claim_ids(self) -> tuple[str, ...]:
        return tuple(sorted({r.claim_id for r in self.rows}))


@dataclass(frozen=True)
class SofRow:
    """One outcome (for one question, or one population × intervention on a domain page)."""

    key: tuple
    outcome: str
    bodies: tuple[Body, ...]  # lead first: highest certainty, then most works, then direction order
    count: EvidenceCount  # every work behind the row, each once

    @property
    def certainty(self) -> str:
        return self.bodies[0].certainty

    @property
    def lead(self) -> tuple[Body, ...]:
        return tuple(b for b in self.bodies if b.certainty == self.certainty)

    @property
    def others(self) -> tuple[Body, ...]:
        return tuple(b for b in self.bodies if b.certainty != self.certainty)

    @property
    def conflict(self) -> str:
        """``same_certainty`` (the lead disagrees), ``lower_certainty`` (a weaker body disagrees) or ``""``."""
        lead = {b.direction for b in self.lead}
        if len(lead) > 1:
            return SAME
        if any(b.direction not in lead for b in self.others):
            return LOWER
        return ""

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(r for b in self.bodies for r in b.rows)


def bodies(rows: Iterable[Row], base: StudyBase) -> tuple[Body, ...]:
    """The bodies of evidence among rows (all on one outcome), lead first."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.direction, row.certainty)].append(row)
    out = [Body(d, c, tuple(sorted(rs, key=lambda r: r.claim_id)), base.count(rs)) for (d, c), rs in groups.items()]
    out.sort(key=lambda b: (level_rank(b.certainty), -b.count.works, direction_rank(b.direction)))
    return tuple(out)


def sof_rows(rows: Iterable[Row], base: StudyBase,
             key: Callable[[Row], Hashable] = lambda r: (r.outcome, r.perspective)) -> list[SofRow]:
    """One row per ``key`` (by default outcome and perspective), ordered by ``key``."""
    groups: dict[Hashable, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    out = [SofRow(k if isinstance(k, tuple) else (k,), rs[0].outcome, bodies(rs, base), base.count(rs))
           for k, rs in groups.items()]
    out.sort(key=lambda r: tuple(str(part) for part in r.key))
    return out
