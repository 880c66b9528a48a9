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
from collections import Counter, defaultdict
from dataclasses import dataclass

from kb.load.evidence import Evidence
from kb.model import Reference

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


def work_kinds(evidence: Evidence) -> dict[str, WorkKind]:
    """The kind of every work that a claim cites or an inclusion names, keyed by citekey."""
    vocab = evidence.vocabulary
    alone: dict[str, Counter] = defaultdict(Counter)
    alongside: dict[str, set[str]] = defaultdict(set)
    for claim in evidence.claims:
        design = vocab.get("design", claim.design)
        group = design.group if design is not None and design.group else "other"
        cited = [k for k in claim.cites if k != claim.source]
        for key in cited:
            if len(cited) == 1:
                alone[key][group] += 1
            else:
                alongside[key].add(group)
    declared = {inc.review for inc in evidence.inclusions}
    included = {key for inc in evidence.inclusions for key in inc.includes}
    refs = evidence.references_by_key
    out: dict[str, WorkKind] = {}
    for key in sorted(set(alone) | set(alongside) | declared | included):
        if key in declared:
            out[key] = WorkKind(REVIEW, "inclusions")
        elif alone.get(key):
            counts = Counter({GROUP_KIND[g]: n for g, n in alone[key].items()})
            best = max(counts.values())
            out[key] = WorkKind(next(k for k in _TIE_ORDER if counts.get(k) == best), "alone")
        elif key in refs and entry_says_review(refs[key]):
            out[key] = WorkKind(REVIEW, "entry")
        elif alongside.get(key) in ({"primary_study"}, {"other"}):
            out[key] = WorkKind(GROUP_KIND[next(iter(alongside[key]))], "alongside")
        elif key in included:
            out[key] = WorkKind(STUDY, "included")
        else:
            out[key] = WorkKind(UNCLASSIFIED, "none")
    return out


def year_of(ref: Reference | None) -> int | None:
    """The publication year, from ``year`` or ``date``; ``None`` where the entry gives neither."""
    if ref is None:
        return None
    match = re.match(r"\s*(\d{4})", ref.year or ref.get("date"))
    return int(match.group(1)) if match else None
