"""Cross-file checks on the records: ids exist, quotes are found in the archived text, certainty follows the rule.

They run on the records, where every problem knows its file and line; SHACL (:mod:`kb.checks.shacl`)
then checks the graph as a consumer sees it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import operator
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kb.checks.inclusions import check_inclusions
from kb.ids import NOT_STATED
from kb.io.atomic import replace_cache_entry
from kb.load.byrecord import ByRecord
from kb.load.evidence import Evidence
from kb.load.sources import check_passage
from kb.load.vocab import Vocabulary
from kb.model import Claim
from kb.problems import Problem, did_you_mean, error, warning

if TYPE_CHECKING:
    from kb.checks.scope import Inputs

LEVELS = ("high", "moderate", "low", "very_low")
UNKNOWN_WORK = "claim-unknown-reference"  # a claim names a work references.bib does not hold
_ID, _SOURCE = operator.attrgetter("id"), operator.attrgetter("source")

def check_evidence(evidence: Evidence, kept: ByRecord[list[Problem]] | KeptChecks | None = None) -> list[Problem]:
    """Every cross-file check: ids exist, quotes are found, certainty follows the rule, inclusions hold. ``kept``
    holds each claim's own problems from the last build of this process (:mod:`kb.load.byrecord`), or of the last
    build into the same cache (:class:`KeptChecks`)."""
    problems: list[Problem] = []
    problems += _check_citation_lists(evidence)
    seen: dict[str, Claim] = {}
    unchecked_sources: set[str] = set()
    listed: dict[str, set[str]] = {}  # each citing document's reference list (once, not once per claim: 1 s at 50k)
    for clist in evidence.citations:
        listed.setdefault(clist.source, set()).update(clist.references)
    claims = evidence.claims
    if isinstance(kept, ByRecord) and kept.context is not None and \
            len(set(map(_ID, claims))) == len(claims):  # no id twice: no problem between the claims' own
        # the editors' loop: the claims' own problems, kept by identity, in loops in C (a loop in Python over 50,000
        # claims was ~0.15 s of every rebuild, before the graph is patched)
        made = kept.many(claims, lambda fresh: [_check_claim(evidence, c, listed.get(c.source, set())) for c in fresh])
        problems += itertools.chain.from_iterable(made)
        kept.forget(claim for claim, found in zip(itertools.compress(claims, made), itertools.compress(made, made),
                                                  strict=True) if _names_unknown_work(found))
        unchecked_sources.update(set(map(_SOURCE, claims)) - evidence.sources.keys())
    else:
        for claim in claims:
            if claim.id in seen:
                first = seen[claim.id]
                problems.append(error(claim.path, claim.line, "claim-duplicate-id",
                                      f"claim id '{claim.id}' is also used at {first.path}:{first.line}", field="id",
                                      expected="a unique id", hint="ids are stable identifiers: rename the new one"))
            seen.setdefault(claim.id, claim)
            check = functools.partial(_check_claim, evidence, claim, listed.get(claim.source, set()))
            problems += check() if kept is None else kept.get(claim, check)
            if claim.source not in evidence.sources:
                unchecked_sources.add(claim.source)
    problems += check_inclusions(evidence, unchecked_sources)
    for key in sorted(unchecked_sources):
        ref = evidence.references_by_key.get(key)
        problems.append(warning(ref.path if ref else evidence.config.sources_dir, ref.line if ref else None,
                                "claim-quote-unchecked", f"no archived text for '{key}': its quotes are not checked",
                                hint="archive the text under sources/ if its licence allows"))
    return problems


class KeptChecks:
    """Each claim's own problems (:func:`_check_claim`) as the last build found them, kept on disk by claim file:
    a fresh ``kb build`` or ``kb check`` checked all 50,000 claims again at 10k/50k (~1.8 s on the main thread, the
    graph stage's longest path) where one file had changed. A claim's checks read the claim, the evidence other
    than the claim files and references.bib, which of the works it names references.bib holds (and the code):
    :func:`kb.checks.scope.records_context`, which names the file, as it names :class:`kb.load.byrecord.ByRecord`'s
    values in the editors' loop, so an edited or added work keeps them. A claim naming a work references.bib does not
    hold is checked again each time (the hint suggests a citekey from all of them). Within the context a claim is
    known by its file's path and digest and its place among the file's claims. :meth:`save` keeps the current files'
    problems only; a file that cannot be read or written costs the checking, nothing else."""

    def __init__(self, folder: Path, inputs: Inputs, records: str) -> None:
        self.folder = folder
        self.name = f"crossfile-{hashlib.sha256(records.encode()).hexdigest()[:16]}.pickle"
        self.files = inputs.claim_files
        self.kept: dict[tuple[str, str], dict[int, list[Problem] | None]] = {}
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            loaded = pickle.loads((folder / self.name).read_bytes())
            if isinstance(loaded, dict):
                self.kept = loaded
        # by file, each claim's (where it has any; None where they are not kept: it names an unknown work)
        self.found: dict[tuple[str, str], dict[int, list[Problem] | None]] = {}
        self.places: dict[tuple[str, str], int] = {}  # the claims of each file asked for so far
        self.made = 0  # claims checked here, not found kept

    def get(self, claim: Claim, make: Callable[[], list[Problem]]) -> list[Problem]:
        """The claim's problems, kept or made; asked for each claim once, in the evidence's order."""
        digest = self.files.get(claim.path)
        if digest is None:  # not read from a claim file the inputs know: checked, not kept
            return make()
        key = (claim.path, digest)
        place = self.places[key] = self.places.get(key, -1) + 1
        kept = self.kept.get(key)
        if kept is not None:
            self.found[key] = kept
            problems = kept.get(place, [])
            return make() if problems is None else problems
        self.made += 1
        problems = make()
        found = self.found.setdefault(key, {})
        if problems:
            found[place] = None if _names_unknown_work(problems) else problems
        return problems

    def save(self) -> None:
        """Keep what this build found, where it differs from what was kept (other contexts' files removed)."""
        if not self.made and self.found.keys() == self.kept.keys():
            return
        with contextlib.suppress(OSError):
            replace_cache_entry(self.folder / self.name, pickle.dumps(self.found, protocol=pickle.HIGHEST_PROTOCOL),
                                "crossfile-*.pickle")


def _names_unknown_work(problems: list[Problem]) -> bool:
    """Whether a claim's problems say it names a work references.bib does not hold: their hint suggests a citekey
    from all of them, so they read more of references.bib than which of the works the claim names are in it."""
    return any(p.code == UNKNOWN_WORK for p in problems)



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
    for inc in evidence.inclusions:
        cited.update((inc.source, inc.review, *inc.includes))
    for ref in evidence.references:
        if ref.key not in cited:
            problems.append(warning(ref.path, ref.line, "reference-uncited",
                                    f"'{ref.key}' is neither cited by a citation list nor a claim",
                                    hint="add it to the citing document's citations/*.yaml"))
    return problems


def _check_claim(evidence: Evidence, claim: Claim, listed: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    keys = evidence.references_by_key
    vocab = evidence.vocabulary

    def fail(field: str, code: str, message: str, line: int | None = None, **kw: object) -> None:
        problems.append(error(claim.path, line or claim.line_of(field), code, f"claim '{claim.id}': {message}",
                              field=field, **kw))

    def unknown_term(field: str, message: str, line: int | None = None, **kw: object) -> None:
        """An id its scheme lacks; not said while the vocabulary is incomplete (a file that cannot be read, a scheme
        with no concepts: every term of those schemes would be unknown, ~100 errors before the one that says why; the
        vocabulary says once that terms are unchecked)."""
        if not vocab.incomplete:
            fail(field, "claim-unknown-term", message, line, **kw)

    if claim.source not in keys:
        fail("source", UNKNOWN_WORK, f"source '{claim.source}' is not in references.bib",
             hint=did_you_mean(claim.source, keys))
    stem = claim.path.rsplit("/", 1)[-1].removesuffix(".yaml")
    for key in claim.cites:
        if key not in keys:
            fail("cites", UNKNOWN_WORK, f"cites '{key}', which is not in references.bib",
                 expected="a citekey of references.bib", hint=did_you_mean(key, keys))
        elif listed and key not in listed:
            problems.append(warning(claim.path, claim.line_of("cites"), "claim-cite-not-listed",
                                    f"claim '{claim.id}' cites '{key}', which is not in the reference list of "
                                    f"'{claim.source}'", field="cites"))
    if not claim.cites and not claim.notes:
        fail("cites", "claim-no-cites", "cites no reference and its notes do not say why",
             expected="at least one citekey, or 'notes' explaining why there is none")
    for field_name, value in (("finding_type", claim.finding_type), ("perspective", claim.perspective),
                              ("intervention", claim.intervention), ("design", claim.design),
                              *((facet, v) for facet in ("population", "setting", "delivery")
                                for v in getattr(claim, facet))):
        wrong = vocab.check_id(field_name, value)
        if wrong:
            unknown_term(field_name, wrong, expected=_expected_id(vocab, field_name))
    for facet in ("population", "setting", "delivery"):
        values = getattr(claim, facet)
        if NOT_STATED in values and len(values) > 1:
            fail(facet, "claim-facet-contradiction", f"{facet} lists '{NOT_STATED}' beside other ids",
                 expected=f"either '{NOT_STATED}' alone or the ids the source states")
    _check_kinds(evidence, claim, fail)
    outcomes_seen: set[str] = set()
    for finding in claim.outcomes:
        for scheme, value in (("outcome", finding.outcome), ("direction", finding.direction)):
            wrong = vocab.check_id(scheme, value)
            if wrong:
                unknown_term("outcomes", wrong, line=finding.line, expected=_expected_id(vocab, scheme))
        if finding.outcome in outcomes_seen:
            fail("outcomes", "claim-duplicate-outcome", f"outcome '{finding.outcome}' is listed twice",
                 line=finding.line, hint="a claim has one direction per outcome; split it into two claims")
        outcomes_seen.add(finding.outcome)
    problems += _check_certainty(evidence, claim)
    source = evidence.sources.get(claim.source)
    if source is not None:
        check_passage(claim.source, source, claim.quote, claim.section, fail,
                      codes=("claim-quote-not-found", "claim-unknown-section"),
                      quote_expected="a verbatim passage (whitespace may differ)")
    if stem != claim.source:
        problems.append(warning(claim.path, claim.line_of("source"), "claim-file-name",
                                f"claim '{claim.id}' has source '{claim.source}' but lives in {stem}.yaml",
                                hint=f"move it to claims/{claim.source}.yaml"))
    return problems


def _check_kinds(evidence: Evidence, claim: Claim, fail: Callable[..., None]) -> None:
    """Interventions by kind, directions by kind of finding: the combinations that say what they mean."""
    vocab = evidence.vocabulary
    intervention = vocab.get("intervention", claim.intervention)
    if intervention is not None and intervention.kind == "comparator":
        fail("intervention", "claim-comparator-as-intervention",
             f"'{claim.intervention}' is a comparator, not an intervention",
             expected="the intervention studied; name the comparator in 'comparator'")
    if claim.comparator is not None:
        wrong = vocab.check_id("intervention", claim.comparator)
        comparator = vocab.get("intervention", claim.comparator)
        if wrong and not vocab.incomplete:  # as unknown_term
            fail("comparator", "claim-unknown-term", wrong, expected="an id from vocab (intervention scheme)")
        elif comparator is not None and comparator.kind != "comparator":
            fail("comparator", "claim-not-a-comparator", f"'{claim.comparator}' is not marked as a comparator",
                 expected="an intervention whose psk:interventionKind is comparator (e.g. usual_care)")
    directions = {f.direction for f in claim.outcomes}
    if claim.finding_type == "no_result" and directions != {"not_reported"}:
        fail("outcomes", "claim-direction-kind", "a finding with no result reported has a direction",
             expected="direction not_reported on every outcome")
    elif claim.finding_type != "no_result" and "not_reported" in directions:
        fail("finding_type", "claim-direction-kind", "an outcome has no result reported but the finding is "
             f"of kind '{claim.finding_type}'", expected="finding_type no_result, or a direction")
    if "not_applicable" in directions and claim.finding_type != "prevalence":
        fail("outcomes", "claim-direction-kind", "direction not_applicable is only for prevalence or need",
             expected="finding_type prevalence, or a direction such as benefit or no_effect")


def _expected_id(vocab: Vocabulary, scheme: str, few: int = 12) -> str:
    """A short scheme's ids in full (every direction code); a long one's by pointing at ``kb vocab``."""
    ids = vocab.ids(scheme)
    if 0 < len(ids) <= few:
        return f"one of {', '.join(ids)} (vocab, {scheme} scheme)"
    return f"an id from vocab ({scheme} scheme; `kb vocab {scheme}` lists them)"


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
    for domain, why in required_downgrades(evidence, claim):
        if domain not in cert.downgrades:
            out.append(error(claim.path, line, "claim-certainty-missing-downgrade",
                             f"claim '{claim.id}': {why}, so '{domain}' must be among the downgrades",
                             field="certainty", expected=f"downgrades listing {domain}",
                             hint="see 'How certainty is set' in evidence/README.md (rule 3)"))
    if not claim.cites and design is not None and design.group == "primary_study":
        out.append(error(claim.path, claim.line_of("design"), "claim-uncited-design",
                         f"claim '{claim.id}' cites no work but has the primary-study design '{claim.design}'",
                         field="design", expected="the design of the source itself (e.g. narrative_review)",
                         hint="an uncited summary by a source's authors takes the source's own design"))
    expected = LEVELS[min(LEVELS.index(cert.start or "high") + len(cert.downgrades), len(LEVELS) - 1)]
    if cert.level != expected:
        out.append(error(claim.path, line, "claim-certainty-level",
                         f"claim '{claim.id}': level '{cert.level}' does not follow from start '{cert.start}' "
                         f"with {len(cert.downgrades)} downgrade(s)", field="certainty", expected=expected,
                         hint="one step down per GRADE domain listed in 'downgrades'"))
    return out


def required_downgrades(evidence: Evidence, claim: Claim) -> list[tuple[str, str]]:
    """The downgrades the rule demands whatever the source says (rule 3 of the editors' guide).

    One primary study known only from a citing document's summary is imprecise until the source
    gives its effect estimate, and indirect until it gives the study's size and result as well:
    so a single trial cannot reach "high" on a title and one sentence.
    """
    design = evidence.vocabulary.get("design", claim.design)
    if design is None or design.group != "primary_study" or len(claim.cites) != 1 or claim.source in claim.cites:
        return []
    if claim.n_studies is not None and claim.n_studies > 1:
        return []
    out = []
    if claim.effect is None:
        out.append(("imprecision", "it rests on one primary study and reports no effect estimate"))
    if claim.effect is None or claim.n_participants is None:
        out.append(("indirectness", "it rests on one primary study known only from the citing document's summary"))
    return out


# --- SHACL ------------------------------------------------------------------------------
