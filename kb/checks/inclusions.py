"""Checks on the reviews' inclusions: keys exist, no review includes itself or its own includer,
the quote is the source's, and no claim contradicts that the work is a review.

Inclusions feed the overlap measure (:mod:`kb.analyse.overlap`): a wrong one makes two reviews look
more or less alike, so each is held to the same standard as a claim — a verbatim quote of the
source that states it.
"""

from __future__ import annotations

from collections import defaultdict

from kb.load.evidence import Evidence
from kb.load.kinds import GROUP_KIND, year_of
from kb.load.sources import check_passage
from kb.model import Inclusion
from kb.problems import Problem, did_you_mean, error, warning


def check_inclusions(evidence: Evidence, unchecked_sources: set[str]) -> list[Problem]:
    """Every problem of every review entry; sources without archived text are added to ``unchecked_sources``."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Inclusion] = {}
    for inc in evidence.inclusions:
        first = seen.setdefault((inc.source, inc.review), inc)
        if first is not inc:
            problems.append(error(inc.path, inc.line, "inclusion-duplicate",
                                  f"review '{inc.review}' is already recorded for '{inc.source}' at "
                                  f"{first.path}:{first.line}", field="review",
                                  expected="one entry per review and source", hint="merge the two entries' includes"))
        problems += _check_entry(evidence, inc, unchecked_sources)
    problems += _check_cycles(evidence)
    problems += _check_contradicting_claims(evidence)
    return problems


def _check_entry(evidence: Evidence, inc: Inclusion, unchecked_sources: set[str]) -> list[Problem]:
    out: list[Problem] = []
    keys = evidence.references_by_key

    def fail(field: str, code: str, message: str, line: int | None = None, **kw: object) -> None:
        out.append(error(inc.path, line or inc.line_of(field), code, f"review '{inc.review}': {message}",
                         field=field, **kw))

    for field, key in (("source", inc.source), ("review", inc.review)):
        if key not in keys:
            fail(field, "inclusion-unknown-reference", f"'{key}' is not in references.bib",
                 expected="a citekey of references.bib", hint=did_you_mean(key, keys))
    listed = {k for c in evidence.citations if c.source == inc.source for k in c.references}
    review_year = year_of(keys.get(inc.review))
    counted: set[str] = set()
    for key, line in zip(inc.includes, inc.include_lines, strict=True):
        if key == inc.review:
            fail("includes", "inclusion-self", "a review cannot include itself", line=line,
                 expected="the citekeys of the studies it included")
        elif key in counted:
            fail("includes", "inclusion-duplicate", f"'{key}' is listed twice", line=line, expected="each study once")
        elif key not in keys:
            fail("includes", "inclusion-unknown-reference", f"includes '{key}', which is not in references.bib",
                 line=line, expected="a citekey of references.bib", hint=did_you_mean(key, keys))
        else:
            study_year = year_of(keys[key])
            if review_year is not None and study_year is not None and study_year > review_year:
                out.append(warning(inc.path, line, "inclusion-later-study",
                                   f"review '{inc.review}' ({review_year}) includes '{key}' ({study_year}), "
                                   "published after it", field="includes",
                                   hint="check both years; a review cannot include a later study"))
        counted.add(key)
    for key in (inc.review, *inc.includes):
        if listed and key in keys and key not in listed:
            out.append(warning(inc.path, inc.line_of("review"), "inclusion-not-listed",
                               f"'{key}' is not in the reference list of '{inc.source}'", field="review",
                               hint="an inclusion is stated by a source about works it cites"))
    source = evidence.sources.get(inc.source)
    if source is None:
        unchecked_sources.add(inc.source)
        return out
    check_passage(inc.source, source, inc.quote, inc.section, fail,
                  codes=("inclusion-quote-not-found", "inclusion-unknown-section"),
                  quote_expected="a verbatim passage that states the inclusion")
    return out


def _check_cycles(evidence: Evidence) -> list[Problem]:
    """A review that includes, directly or through other reviews, a review that includes it."""
    graph: dict[str, set[str]] = defaultdict(set)
    first: dict[str, Inclusion] = {}
    for inc in evidence.inclusions:
        graph[inc.review].update(k for k in inc.includes if k != inc.review)
        first.setdefault(inc.review, inc)
    out: list[Problem] = []
    reported: set[frozenset[str]] = set()
    for start in sorted(graph):
        path = _cycle_from(graph, start)
        if path and frozenset(path) not in reported:
            reported.add(frozenset(path))
            inc = first[start]
            out.append(error(inc.path, inc.line_of("includes"), "inclusion-cycle",
                             "reviews include each other: " + " → ".join([*path, path[0]]), field="includes",
                             expected="a review includes only works published before it",
                             hint="one of these inclusions is wrong; check the source"))
    return out


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str]:
    """The first cycle back to ``start`` (depth first, sorted, so stable), or ``[]``."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ()), reverse=True):
            if nxt == start:
                return path
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return []


def _check_contradicting_claims(evidence: Evidence) -> list[Problem]:
    """A work recorded as a review that a claim citing it alone describes with a non-review design."""
    reviews = {inc.review: inc for inc in evidence.inclusions}
    out: list[Problem] = []
    if not reviews:  # nothing to contradict: no pass over every claim (~0.06 s at 50,000 claims)
        return out
    for claim in evidence.claims:
        cited = [k for k in claim.cites if k != claim.source]
        design = evidence.vocabulary.get("design", claim.design)
        if len(cited) != 1 or cited[0] not in reviews or design is None:
            continue
        if GROUP_KIND.get(design.group or "") not in (None, "review"):
            inc = reviews[cited[0]]
            out.append(error(inc.path, inc.line_of("review"), "inclusion-not-a-review",
                             f"'{inc.review}' is recorded as a review, but claim '{claim.id}' "
                             f"({claim.path}:{claim.line}) cites it alone with the design '{claim.design}'",
                             field="review", expected="a review design on the claim, or no review entry",
                             hint="one of the two is wrong; check what the source says the work is"))
    return out
