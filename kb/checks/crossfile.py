"""Cross-file checks on the records: ids exist, quotes are found in the archived text, certainty follows the rule.

They run on the records, where every problem knows its file and line; SHACL (:mod:`kb.checks.shacl`)
then checks the graph as a consumer sees it.
"""

from __future__ import annotations

from kb.load.evidence import Evidence
from kb.load.sources import normalise_ws
from kb.model import Claim
from kb.problems import Problem, did_you_mean, error, warning

LEVELS = ("high", "moderate", "low", "very_low")

def check_evidence(evidence: Evidence) -> list[Problem]:
    """Every cross-file check: ids exist, quotes are found, certainty follows the rule."""
    problems: list[Problem] = []
    problems += _check_citation_lists(evidence)
    seen: dict[str, Claim] = {}
    unchecked_sources: set[str] = set()
    for claim in evidence.claims:
        if claim.id in seen:
            first = seen[claim.id]
            problems.append(error(claim.path, claim.line, "claim-duplicate-id",
                                  f"claim id '{claim.id}' is also used at {first.path}:{first.line}", field="id",
                                  expected="a unique id", hint="ids are stable identifiers: rename the new one"))
        seen.setdefault(claim.id, claim)
        problems += _check_claim(evidence, claim, unchecked_sources)
    for key in sorted(unchecked_sources):
        ref = evidence.references_by_key.get(key)
        problems.append(warning(ref.path if ref else evidence.config.sources_dir, ref.line if ref else None,
                                "claim-quote-unchecked", f"no archived text for '{key}': its quotes are not checked",
                                hint="archive the text under sources/ if its licence allows"))
    return problems


def _check_citation_lists(evidence: Evidence) -> list[Problem]:
    problems = []
    keys = evidence.references_by_key
    for clist in evidence.citations:
        if clist.source not in keys:
            problems.append(error(clist.path, clist.line, "citation-unknown-reference",
                                  f"citing document '{clist.source}' is not in references.bib", field="source",
                                  hint=did_you_mean(clist.source, keys)))
        for key, line in zip(clist.references, clist.item_lines, strict=True):
            if key not in keys:
                problems.append(error(clist.path, line, "citation-unknown-reference",
                                      f"'{key}' is not in references.bib", field="references",
                                      expected="a citekey of references.bib", hint=did_you_mean(key, keys)))
    cited = set(evidence.cited_by) | {c.source for c in evidence.citations} | {c.source for c in evidence.claims}
    for claim in evidence.claims:
        cited.update(claim.cites)
    for ref in evidence.references:
        if ref.key not in cited:
            problems.append(warning(ref.path, ref.line, "reference-uncited",
                                    f"'{ref.key}' is neither cited by a citation list nor a claim",
                                    hint="add it to the citing document's citations/*.yaml"))
    return problems


def _check_claim(evidence: Evidence, claim: Claim, unchecked_sources: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    keys = evidence.references_by_key
    vocab = evidence.vocabulary

    def fail(field: str, code: str, message: str, line: int | None = None, **kw: object) -> None:
        problems.append(error(claim.path, line or claim.line_of(field), code, f"claim '{claim.id}': {message}",
                              field=field, **kw))

    if claim.source not in keys:
        fail("source", "claim-unknown-reference", f"source '{claim.source}' is not in references.bib",
             hint=did_you_mean(claim.source, keys))
    stem = claim.path.rsplit("/", 1)[-1].removesuffix(".yaml")
    listed = {k for c in evidence.citations if c.source == claim.source for k in c.references}
    for key in claim.cites:
        if key not in keys:
            fail("cites", "claim-unknown-reference", f"cites '{key}', which is not in references.bib",
                 expected="a citekey of references.bib", hint=did_you_mean(key, keys))
        elif listed and key not in listed:
            problems.append(warning(claim.path, claim.line_of("cites"), "claim-cite-not-listed",
                                    f"claim '{claim.id}' cites '{key}', which is not in the reference list of "
                                    f"'{claim.source}'", field="cites"))
    if not claim.cites and not claim.notes:
        fail("cites", "claim-no-cites", "cites no reference and its notes do not say why",
             expected="at least one citekey, or 'notes' explaining why there is none")
    for field_name, scheme, value in (("population", "population", claim.population),
                                      ("intervention", "intervention", claim.intervention),
                                      ("design", "design", claim.design)):
        wrong = vocab.check_id(scheme, value)
        if wrong:
            fail(field_name, "claim-unknown-term", wrong, expected=f"an id from vocab ({scheme} scheme)")
    outcomes_seen: set[str] = set()
    for finding in claim.outcomes:
        for scheme, value in (("outcome", finding.outcome), ("direction", finding.direction)):
            wrong = vocab.check_id(scheme, value)
            if wrong:
                fail("outcomes", "claim-unknown-term", wrong, line=finding.line,
                     expected=f"an id from vocab ({scheme} scheme)")
        if finding.outcome in outcomes_seen:
            fail("outcomes", "claim-duplicate-outcome", f"outcome '{finding.outcome}' is listed twice",
                 line=finding.line, hint="a claim has one direction per outcome; split it into two claims")
        outcomes_seen.add(finding.outcome)
    problems += _check_certainty(evidence, claim)
    source = evidence.sources.get(claim.source)
    if source is None:
        unchecked_sources.add(claim.source)
    else:
        quote = normalise_ws(claim.quote)
        if quote not in source.text:
            fail("quote", "claim-quote-not-found", f"the quote is not in the archived text of '{claim.source}'",
                 expected="a verbatim passage (whitespace may differ)", hint=_quote_hint(quote, source.text))
        headings = [s.heading for s in source.sections]
        if headings and claim.section not in headings:
            fail("section", "claim-unknown-section", f"section '{claim.section}' is not a heading of the source",
                 expected="a heading listed in sources/" + claim.source + ".yaml",
                 hint=did_you_mean(claim.section, headings))
    if stem != claim.source:
        problems.append(warning(claim.path, claim.line_of("source"), "claim-file-name",
                                f"claim '{claim.id}' has source '{claim.source}' but lives in {stem}.yaml",
                                hint=f"move it to claims/{claim.source}.yaml"))
    return problems


def _check_certainty(evidence: Evidence, claim: Claim) -> list[Problem]:
    cert = claim.certainty
    out = []
    line = cert.line or claim.line_of("certainty")
    for value in (cert.level, cert.start):
        if value is not None and value not in LEVELS:
            out.append(error(claim.path, line, "claim-unknown-term", f"claim '{claim.id}': certainty '{value}' is "
                             "not a GRADE level", field="certainty", expected=", ".join(LEVELS),
                             hint=did_you_mean(value, LEVELS)))
            return out
    if cert.basis != "assigned":
        return out
    design = evidence.vocabulary.get("design", claim.design)
    if design is not None and design.starting_certainty and cert.start != design.starting_certainty:
        out.append(error(claim.path, line, "claim-certainty-start",
                         f"claim '{claim.id}': start '{cert.start}' differs from the starting level of design "
                         f"'{claim.design}'", field="certainty", expected=design.starting_certainty))
    expected = LEVELS[min(LEVELS.index(cert.start or "high") + len(cert.downgrades), len(LEVELS) - 1)]
    if cert.level != expected:
        out.append(error(claim.path, line, "claim-certainty-level",
                         f"claim '{claim.id}': level '{cert.level}' does not follow from start '{cert.start}' "
                         f"with {len(cert.downgrades)} downgrade(s)", field="certainty", expected=expected,
                         hint="one step down per GRADE domain listed in 'downgrades'"))
    return out


def _quote_hint(quote: str, text: str) -> str:
    words = quote.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # longest prefix of the quote that occurs in the text
        mid = (lo + hi + 1) // 2
        if " ".join(words[:mid]) in text:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return "not even its first word matches; check the source"
    return f"the first {lo} words match; it differs after “{' '.join(words[max(0, lo - 4):lo])}”"


# --- SHACL ------------------------------------------------------------------------------
