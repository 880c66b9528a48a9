"""What kind of evidence each cited work is: a review, a primary study, or another kind of work.

Claims record the design of the evidence they rest on, not of each work they cite: where a claim
cites several works, its design is that of "the work that carries most of the finding"
(evidence/README.md). So a work's kind is read, in this order, from what says most about that
work alone, and a work that nothing classifies stays ``unclassified`` rather than guessed:

1. ``inclusions/``: a source states it is a review (with or without the studies it included);
2. the claims that cite it **alone**: their design group (most common; ties go to study, then other,
   never to review, so that a tie cannot inflate the count of reviews);
3. its title names a systematic review, meta-analysis, meta-synthesis, meta-review or umbrella
   review (and not a protocol). The journal is not read: the Cochrane Database of Systematic Reviews
   publishes protocols under the reviews' titles, and the editors' guide reads designs from titles,
   never from a journal's name;
4. the claims that cite it alongside other works, when they all have a primary-study design
   (study) or all another design (other); a review design there describes some cited work, not
   necessarily this one, so it classifies nothing;
5. a review includes it (``inclusions/``): a study.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from kb.load.evidence import Evidence
from kb.load.vocab import Vocabulary
from kb.model import Claim, Reference

REVIEW, STUDY, OTHER, UNCLASSIFIED = "review", "study", "other", "unclassified"
KINDS = (REVIEW, STUDY, OTHER, UNCLASSIFIED)
GROUP_KIND = {"systematic_review": REVIEW, "primary_study": STUDY, "other": OTHER}
_TIE_ORDER = (STUDY, OTHER, REVIEW)  # on a tie, the kind that claims least
_REVIEW_TITLE = re.compile(
    r"systematic(ally)?[\s{}]+(literature[\s{}]+)?review|meta-?analy|meta-?synthes|meta-?review|umbrella[\s{}]+review",
    re.IGNORECASE)
_PROTOCOL = re.compile(r"\bprotocol\b", re.IGNORECASE)
RULES = {
    "inclusions": "a source states it is a review (inclusions/)",
    "alone": "the design of the claims that cite it alone",
    "entry": "its title",
    "alongside": "the design of the claims that cite it with other works",
    "included": "a review includes it",
    "none": "nothing in the KB says which design it has",
}


@dataclass(frozen=True)
class WorkKind:
    kind: str  # review | study | other | unclassified
    rule: str  # a key of RULES: what decided it


def entry_says_review(ref: Reference) -> bool:
    """The title names a review and not a protocol (rule 3)."""
    title = ref.title
    return bool(_REVIEW_TITLE.search(title)) and not _PROTOCOL.search(title)


@dataclass
class KindTally:
    """What the claims say of the works they cite, counted, so that a claim can be counted out again (the editors'
    loop, :mod:`kb.analyse.carry`): by citekey, the design groups of the claims that cite it alone (rule 2) and of
    those that cite it alongside other works (rule 4), each group with the number of claims."""

    alone: dict[str, Counter] = field(default_factory=dict)
    alongside: dict[str, Counter] = field(default_factory=dict)

    def count(self, claim: Claim, vocab: Vocabulary, sign: int = 1) -> list[str]:
        """Count ``claim`` in (``sign`` -1: out again); the works it cites."""
        design = vocab.get("design", claim.design)
        group = design.group if design is not None and design.group else "other"
        cited = [k for k in claim.cites if k != claim.source]
        into = self.alone if len(cited) == 1 else self.alongside
        for key in cited:
            counts = into.setdefault(key, Counter())
            counts[group] += sign
            if counts[group] <= 0:  # as though never counted: a group, a work, no claim counts
                del counts[group]
                if not counts:
                    del into[key]
        return cited


def tally(evidence: Evidence) -> KindTally:
    """Every claim counted (:class:`KindTally`)."""
    counted = KindTally()
    for claim in evidence.claims:
        counted.count(claim, evidence.vocabulary)
    return counted


def work_kinds(evidence: Evidence, counted: KindTally | None = None) -> dict[str, WorkKind]:
    """The kind of every work that a claim cites or an inclusion names, keyed by citekey; ``counted`` is the claims'
    :func:`tally` where it was made already."""
    counted = counted if counted is not None else tally(evidence)
    declared, included = inclusion_keys(evidence)
    refs = evidence.references_by_key
    return {key: kind_of(key, counted, declared, included, refs)
            for key in sorted(set(counted.alone) | set(counted.alongside) | declared | included)}


def inclusion_keys(evidence: Evidence) -> tuple[set[str], set[str]]:
    """The works ``inclusions/`` records as reviews (rule 1), and those it records a review including (rule 5)."""
    return ({inc.review for inc in evidence.inclusions},
            {key for inc in evidence.inclusions for key in inc.includes})


def kind_of(key: str, counted: KindTally, declared: set[str], included: set[str],
            refs: dict[str, Reference]) -> WorkKind:
    """The kind of the work ``key``, by the rules in this module's order."""
    alone, alongside = counted.alone.get(key), counted.alongside.get(key)
    if key in declared:
        return WorkKind(REVIEW, "inclusions")
    if alone:
        counts = Counter({GROUP_KIND[g]: n for g, n in alone.items()})
        best = max(counts.values())
        return WorkKind(next(k for k in _TIE_ORDER if counts.get(k) == best), "alone")
    if key in refs and entry_says_review(refs[key]):
        return WorkKind(REVIEW, "entry")
    if alongside is not None and set(alongside) in ({"primary_study"}, {"other"}):
        return WorkKind(GROUP_KIND[next(iter(alongside))], "alongside")
    if key in included:
        return WorkKind(STUDY, "included")
    return WorkKind(UNCLASSIFIED, "none")


def year_of(ref: Reference | None) -> int | None:
    """The publication year, from ``year`` or ``date``; ``None`` where the entry gives neither."""
    if ref is None:
        return None
    match = re.match(r"\s*(\d{4})", ref.year or ref.get("date"))
    return int(match.group(1)) if match else None
