"""Plain-language summaries of claims in the wording style of GRADE.

GRADE's standard statements tie the verb to the certainty: high "improves", moderate "probably
improves", low "may improve", very low "we are uncertain whether … improves". A policymaker reads
one sentence per (intervention, outcome, population, direction, certainty), with the distinct
works the claims rest on, each counted once: "Peer support services may improve hope in serious
mental illness (low certainty; 1 review)". Summary-of-findings tables use GRADE guidance 26's
informative statements instead (:func:`sof_statement`: "results in", "likely results in", "may
result in", "we are very uncertain whether"). A finding that is not an effect (an association, an
implementation finding, a prevalence, a study without results) is never given a causal verb: its
sentence is the editors' own statement, as in the summary-of-findings tables ("Mobile phone-based
peer support was found to be feasible and acceptable …", not "may improve feasibility"). A
population the source does not state is left out of the sentence, as the tables leave it out. The
sentences are plain text; templates escape them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kb.analyse.analysis import LEVELS, Row, direction_rank, level_rank
from kb.analyse.studies import StudyBase
from kb.ids import NOT_STATED

EFFECT = "effect"  # the kind of finding that GRADE's effect statements are for
LEVEL_WORDS = {"high": "high", "moderate": "moderate", "low": "low", "very_low": "very low"}

# direction → (singular subject, plural subject) per certainty band; very low has its own form.
_VERBS: dict[str, dict[str, tuple[str, str]]] = {
    "benefit": {"high": ("improves", "improve"), "moderate": ("probably improves", "probably improve"),
                "low": ("may improve", "may improve")},
    "no_effect": {"high": ("makes little or no difference to", "make little or no difference to"),
                  "moderate": ("probably makes little or no difference to",
                               "probably make little or no difference to"),
                  "low": ("may make little or no difference to", "may make little or no difference to")},
    "harm": {"high": ("worsens", "worsen"), "moderate": ("probably worsens", "probably worsen"),
             "low": ("may worsen", "may worsen")},
    "mixed": {"high": ("has mixed effects on", "have mixed effects on"),
              "moderate": ("probably has mixed effects on", "probably have mixed effects on"),
              "low": ("may have mixed effects on", "may have mixed effects on")},
}
_VERY_LOW: dict[str, tuple[str, str]] = {
    "benefit": ("improves", "improve"),
    "no_effect": ("makes any difference to", "make any difference to"),
    "harm": ("worsens", "worsen"),
}
_HEAD_STOP = re.compile(r"\b(for|with|of|in|by|through|to|from|on|at|added|alone|including)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Summary:
    """One sentence, and the claims it summarises (ids, in order)."""

    text: str
    direction: str
    certainty: str
    claim_ids: tuple[str, ...]


@functools.lru_cache(maxsize=4096)  # a few hundred labels, asked about per row
def lower_first(label: str) -> str:
    """Lower-case a label's first letter for use mid-sentence, unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


@functools.lru_cache(maxsize=4096)  # a few hundred labels, asked about per row
def is_plural(label: str) -> bool:
    """A rough test of whether a label names a plural subject ("Peer navigators", "… groups")."""
    words = label.split()
    if not words or words[0].lower().endswith("ing"):
        return False  # a gerund ("Working as a peer support worker") is singular
    head = _HEAD_STOP.split(label, maxsplit=1)[0]
    return any(w.lower().endswith("s") and not w.lower().endswith(("ss", "us", "is"))
               for w in re.findall(r"[A-Za-z-]+", head))


@functools.lru_cache(maxsize=4096)  # a few hundred labels, asked about per row
def sentence(intervention: str, outcome: str, population: str, direction: str, certainty: str,
             perspective: str = "recipient") -> str:
    """The GRADE-style statement (without the bracketed certainty and designs).

    Findings from the peer workers' side say what workers experience, never that the role harms:
    "peer support workers report problems with pay in working as a peer support worker".
    """
    plural = is_plural(intervention)
    subject_mid = lower_first(intervention)
    where = in_populations(population)
    outcome = lower_first(outcome)  # (already lower-cased when several are joined)
    if direction == "not_reported":
        verb = "change" if plural else "changes"
        return f"No result is reported yet on whether {subject_mid} {verb} {outcome}{where}"
    if direction == "not_applicable":
        return f"The source reports how common {outcome} is{where}, which {subject_mid} may address"
    if perspective == "peer_worker" and direction in ("harm", "benefit", "mixed"):
        experience = {"harm": "report problems with", "benefit": "report gains in",
                      "mixed": "report mixed experiences of"}
        hedge = "" if certainty in ("high", "moderate") else "some "
        return f"{hedge.capitalize()}{'p' if hedge else 'P'}eer support workers {experience[direction]} {outcome} " \
               f"({lower_first(intervention)})"
    if direction == "inconclusive":
        return f"The evidence is inconclusive about whether {subject_mid} {'change' if plural else 'changes'} " \
               f"{outcome}{where}"
    if certainty == "very_low":
        if direction == "mixed":
            return f"We are uncertain about the effect of {subject_mid} on {outcome}{where}: the findings are mixed"
        verb = _VERY_LOW[direction][1 if plural else 0]
        return f"We are uncertain whether {subject_mid} {verb} {outcome}{where}"
    verb = _VERBS[direction][certainty][1 if plural else 0]
    return f"{intervention} {verb} {outcome}{where}"


# GRADE guidance 26 (Santesso et al., J Clin Epidemiol 2020): the statement's verb carries the
# certainty. (singular, plural) per direction; high, moderate, low in that order.
_SOF: dict[str, tuple[tuple[str, str], ...]] = {
    "benefit": (("results in an improvement in", "result in an improvement in"),
                ("likely results in an improvement in", "likely result in an improvement in"),
                ("may result in an improvement in", "may result in an improvement in")),
    "no_effect": (("results in little to no difference in", "result in little to no difference in"),
                  ("likely results in little to no difference in", "likely result in little to no difference in"),
                  ("may result in little to no difference in", "may result in little to no difference in")),
    "harm": (("results in a worsening of", "result in a worsening of"),
             ("likely results in a worsening of", "likely result in a worsening of"),
             ("may result in a worsening of", "may result in a worsening of")),
    "mixed": (("has mixed effects on", "have mixed effects on"),
              ("likely has mixed effects on", "likely have mixed effects on"),
              ("may have mixed effects on", "may have mixed effects on")),
}
_SOF_VERY_LOW = {"benefit": ("improves", "improve"), "no_effect": ("makes any difference to", "make any difference to"),
                 "harm": ("worsens", "worsen")}


@functools.lru_cache(maxsize=4096)
def sof_statement(intervention: str, outcome: str, population: str, direction: str, certainty: str,
                  whose: str = "") -> str:
    """A summary-of-findings statement in GRADE guidance 26's words, ending with a full stop.

    High "results in", moderate "likely results in", low "may result in", very low "we are very
    uncertain whether"; no difference is "little to no difference in". ``whose`` names the people
    whose outcome it is when they are not the recipients ("for peer support workers").
    """
    plural = is_plural(intervention)
    subject = lower_first(intervention)
    where = in_populations(population)
    outcome = lower_first(outcome) + (f" {whose}" if whose else "")
    if direction in ("not_reported", "not_applicable"):
        return sentence(intervention, outcome, population, direction, certainty) + "."
    if direction == "inconclusive" or direction not in _SOF:
        return f"It is not known whether {subject} {'change' if plural else 'changes'} {outcome}{where}: " \
               "the results reported do not point one way."
    if certainty == "very_low":
        if direction == "mixed":
            return f"We are very uncertain about the effect of {subject} on {outcome}{where}: the findings are mixed."
        return f"We are very uncertain whether {subject} {_SOF_VERY_LOW[direction][plural]} {outcome}{where}."
    verb = _SOF[direction][level_rank(certainty) if certainty in LEVELS[:3] else 2][plural]
    return f"{intervention} {verb} {outcome}{where}."


def summarise(rows: Iterable[Row], base: StudyBase) -> list[Summary]:
    """One sentence per (intervention, population, direction, certainty, claims), surest first.

    Outcomes that share all of these are named together ("may improve hope and recovery"), so a
    review reporting on five outcomes reads as one finding, not five. The bracket counts the
    distinct works behind the sentence (``base``), never the claims: two claims resting on one
    review are "1 review".
    """
    return surest(rows, base, None)[0]


def surest(rows: Iterable[Row], base: StudyBase, limit: int | None) -> tuple[list[Summary], int]:
    """The first ``limit`` sentences of :func:`summarise` (all for ``None``), and how many there are in all.

    A page shows two of a concept's hundreds of thousands of sentences at 50,000 claims: only the
    sentences of the surest certainty levels that can reach the first ``limit`` are counted, ordered
    and worded (certainty leads the order, so the rest cannot come first).
    """
    found, per_level = _surest(rows, base, limit, limit)
    return found, sum(per_level.values())


def surest_levels(rows: Iterable[Row], base: StudyBase, limit: int | None) -> tuple[list[Summary], Counter[str]]:
    """Every sentence of the surest whole certainty levels that reach ``limit`` sentences (all for ``None``), in
    :func:`summarise`'s order, and how many sentences each certainty has in all.

    The home page's headlines take whole levels, surest first, until the limit (:mod:`kb.site.headlines`); the
    levels after it are only counted, which at 50,000 claims spares wording and counting the works of tens of
    thousands of sentences.
    """
    return _surest(rows, base, limit, None)


def _surest(rows: Iterable[Row], base: StudyBase, limit: int | None,
            worded: int | None) -> tuple[list[Summary], Counter[str]]:
    """The sentences of the levels that reach ``limit``, the first ``worded`` of them worded (all for None)."""
    per_outcome: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        population = stated(row.population, row.population_label)
        per_outcome[(row.intervention_label, row.outcome_label, population, row.direction,
                     row.certainty, row.perspective, row.finding_type)].append(row)
    merged: dict[tuple, list[str]] = defaultdict(list)
    members: dict[tuple, list[Row]] = {}
    for (intervention, outcome, population, direction, certainty, perspective, kind), group in per_outcome.items():
        claims = tuple(sorted({r.claim_id for r in group}))
        key = (intervention, population, direction, certainty, perspective, claims, kind)
        merged[key].append(outcome)
        members.setdefault(key, group)
    keys = list(merged)
    per_level = Counter(key[3] for key in keys)
    if limit is not None and len(keys) > limit:
        by_level: dict[int, list[tuple]] = defaultdict(list)
        for key in keys:
            by_level[level_rank(key[3])].append(key)
        keys = []
        for level in sorted(by_level):
            if len(keys) >= limit:
                break
            keys += by_level[level]

    behind = {key: base.count(members[key]) for key in keys}  # a claim cites the same works per outcome

    def order(key: tuple) -> tuple:
        intervention, population, direction, certainty, perspective, _claims, kind = key
        return (level_rank(certainty), -behind[key].works, direction_rank(direction),
                sorted(o.lower() for o in merged[key]), population, intervention, perspective, kind)

    out = []
    for key in sorted(keys, key=order)[:worded]:
        intervention, population, direction, certainty, perspective, claim_ids, kind = key
        if kind == EFFECT:
            said = sentence(intervention, join_words(sorted(merged[key], key=str.lower)), population, direction,
                            certainty, perspective)
        else:
            said = own_words(members[key])
        text = f"{said} ({LEVEL_WORDS.get(certainty, certainty)} certainty; {behind[key].phrase()})."
        out.append(Summary(text, direction, certainty, claim_ids))
    return out, per_level


def statements(rows: Iterable[Row]) -> str:
    """The statements of the rows' claims, once each, in the rows' order: the editors' own words for a finding
    that is not an effect (never a causal verb), here and in the summary-of-findings tables."""
    return " ".join(dict.fromkeys(" ".join(r.statement.split()) for r in rows))


def own_words(rows: Iterable[Row]) -> str:
    """:func:`statements` in claim order, without the last full stop (a bracket follows)."""
    said = statements(sorted(rows, key=lambda r: r.claim_id))
    return said[:-1] if said.endswith(".") else said


def in_populations(population: str) -> str:
    """" in serious mental illness and schizophrenia" for the joined labels (empty for none). Where a label holds
    "and" itself, each is named with its own "in": "in people using mental health and addiction services and in
    addiction and substance use", not a list that reads as three or four groups."""
    if not population:
        return ""
    labels = population.split("; ")
    if len(labels) > 1 and any(" and " in label for label in labels):
        return " " + join_words([f"in {lower_first(label)}" for label in labels])
    return f" in {join_words(labels)}"


def stated(populations: tuple[str, ...], label: str) -> str:
    """``label``, or nothing where the source states no population: a sentence never says "in population not
    stated" (the concept pages' sentences and the summary-of-findings statements alike)."""
    return "" if set(populations) <= {NOT_STATED} else label


def join_words(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` — each lower-cased where it is not an acronym."""
    words = [lower_first(w) for w in words]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
