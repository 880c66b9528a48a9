"""Turn records (claims, references, concepts, rows) into the views of :mod:`kb.site.pages`.

One ``Resolver`` knows where every page lives, so a link to a claim, a work or a concept is
built in one place and the link checker has one thing to trust.
"""

from __future__ import annotations

from collections.abc import Iterable, KeysView
from functools import cached_property

from kb.analyse.analysis import Analysis, Row
from kb.bibtex.load import latex_to_text
from kb.diff.releases import UNRELEASED, History, LastChange
from kb.graph.iris import Minter
from kb.load.evidence import Evidence
from kb.model import Claim, Effect, Reference
from kb.site import addresses
from kb.site.deps import CITED, DOI, EVERY_WORK, LINK, WHICH_WORKS, WORDS, Works, note
from kb.site.grade import LEVEL_WORDS, Summary, surest
from kb.site.limits import limits_for
from kb.site.pages import (
    CertaintyView,
    CitedWork,
    ClaimRow,
    ExternalLink,
    Fact,
    FindingView,
    Link,
    StyledCitation,
    SummaryView,
    Term,
)
from kb.site.paths import doi_url, safe_external_url
from kb.site.refdata import RefData

DIRECTION_LABELS = {"benefit": "Benefit", "no_effect": "No effect", "harm": "Harm", "mixed": "Mixed",
                    "inconclusive": "Inconclusive", "not_reported": "No result reported",
                    "not_applicable": "Not a change"}
DOWNGRADE_LABELS = {"risk_of_bias": "risk of bias", "inconsistency": "inconsistency",
                    "indirectness": "indirectness", "imprecision": "imprecision",
                    "publication_bias": "publication bias"}


class Resolver:
    """Paths, labels and links for everything the site shows."""

    def __init__(self, evidence: Evidence, analysis: Analysis, history: History | None = None,
                 styled: dict[str, tuple[StyledCitation, ...]] | None = None,
                 ref_links: dict[str, Link] | None = None) -> None:
        """``ref_links`` are the works' links (:meth:`ref_link`) a resolver of the same works made already: used, and
        filled."""
        if styled is not None:  # formatted already (kb.site.cite.styled_citations)
            self.__dict__["styled"] = Works(styled)
        self.ev = evidence
        # the works by citekey: every page reads them here, so that its input key holds the works it shows
        self.works: Works[Reference] = Works(evidence.references_by_key)
        self.analysis = analysis
        self.history = history or History()
        self.vocab = evidence.vocabulary
        self.mint = Minter(evidence.config.base_iri)
        self.limits = limits_for(len(analysis.rows))  # how long lists are (kb.site.limits)
        self._ref_links: dict[str, Link] = ref_links if ref_links is not None else {}
        self._terms: dict[tuple[str, str, bool], Term] = {}
        self._rows: dict[int, tuple[Row, ClaimRow]] = {}  # id(row) → (row, its view); rows live in analysis

    def prime(self) -> None:
        """Fill the shared lookups now, before the workers fork, so that each does not redo them."""
        for key in sorted(self.ev.references_by_key):
            self.ref_link(key)
        # every worker looks claims up by id: made here once (after the fork each made its own, ~0.2 s at 10k/50k)
        _ = self.citations, self.refdata, self.ev.claims_by_id

    # --- paths: the URL scheme of kb.site.addresses, which documents the rules --------------

    def claim_path(self, claim_id: str) -> str:
        """The claim's address: ``claims/<bucket>.html#<id>``."""
        return addresses.claim_address(claim_id)

    def ref_path(self, key: str) -> str:
        """The work's address: ``references/<bucket>.html#<citekey>``."""
        return addresses.work_address(key)

    def concept_path(self, scheme: str, concept_id: str) -> str | None:
        is_domain = scheme == "outcome" and self._is_domain(concept_id)
        return addresses.concept_address(scheme, concept_id, is_domain=is_domain)

    def concept_iri(self, scheme: str, concept_id: str) -> str:
        concept = self.vocab.get(scheme, concept_id)
        return concept.iri if concept else self.mint.concept(scheme, concept_id)

    def cell_path(self, axis: str, row_id: str, outcome: str) -> str:
        """The map cell's address: ``cells/<axis>/<row>.html#<outcome>``."""
        return addresses.cell_address(axis, row_id, outcome)

    def summary_path(self, population: str, intervention: str) -> str:
        """The summary of findings of one question (population × intervention)."""
        return f"summaries/questions/{population}--{intervention}.html"

    def domain_summary_path(self, domain: str) -> str:
        """The summary of findings of one outcome domain."""
        return f"summaries/domains/{domain}.html"

    def _is_domain(self, concept_id: str) -> bool:
        concept = self.vocab.get("outcome", concept_id)
        return bool(concept and concept.is_domain)

    # --- terms and links -------------------------------------------------------------------

    def label(self, scheme: str, concept_id: str) -> str:
        if scheme == "direction" and not self.vocab.get(scheme, concept_id):
            return DIRECTION_LABELS.get(concept_id, concept_id)
        if scheme == "certainty" and not self.vocab.get(scheme, concept_id):
            return LEVEL_WORDS.get(concept_id, concept_id).capitalize()
        return self.vocab.label(scheme, concept_id)

    def term(self, scheme: str, concept_id: str, *, link: bool = True) -> Term:
        key = (scheme, concept_id, link)
        if key not in self._terms:
            path = self.concept_path(scheme, concept_id) if link else None
            label = self.label(scheme, concept_id)
            self._terms[key] = Term(concept_id, label, Link(path, label) if path else None)
        return self._terms[key]

    def words(self, scheme: str, concept_id: str = "") -> tuple[str, tuple[str, ...]]:
        """A concept's definition and other labels; a scheme's definition (``concept_id`` ""). The pages read them only
        here, so that a page's key holds those it shows (:data:`kb.site.deps.WORDS`)."""
        note(f"{WORDS}{scheme}\0{concept_id}")
        if not concept_id:
            return self.vocab.scheme_definitions.get(scheme, ""), ()
        concept = self.vocab.get(scheme, concept_id)
        return (concept.definition, concept.alt_labels) if concept is not None else ("", ())

    def intervention_kind(self, intervention: str) -> Term:
        concept = self.vocab.get("intervention", intervention)
        return self.term("intervention_kind", (concept.kind if concept else None) or "", link=False)

    def terms(self, scheme: str, concept_ids: Iterable[str]) -> tuple[Term, ...]:
        return tuple(self.term(scheme, c) for c in concept_ids)

    def claim_link(self, claim_id: str) -> Link:
        return Link(self.claim_path(claim_id), claim_id)

    def ref_link(self, key: str) -> Link:
        note(LINK + key)  # only the link is read (kb.site.deps.Works); made once here for every page
        link = self._ref_links.get(key)
        if link is None:  # LaTeX decoding is slow; a big site links each work many times
            ref = self.ev.references_by_key.get(key)
            link = self._ref_links[key] = Link(self.ref_path(key), short_cite(ref) if ref else key)
        return link

    def every_work(self) -> list[Reference]:
        """Every work, for a page that goes through the whole bibliography (its key then holds every work)."""
        note(EVERY_WORK)
        return self.ev.references

    def doi_of(self, key: str) -> ExternalLink | None:
        """The link of work ``key``'s DOI, if it has one; a read of its DOI alone."""
        note(DOI + key)
        ref = self.ev.references_by_key.get(key)
        return self.doi_link(ref) if ref is not None else None

    def cited_by(self, key: str) -> list[tuple[str, int]]:
        """Which documents' reference lists cite work ``key``, at which numbers; a read of that alone."""
        note(CITED + key)
        return self.ev.cited_by.get(key, [])

    def link_labels(self) -> dict[str, str]:
        """Each work's link's label (:meth:`ref_link`; made for every work by :meth:`prime` already)."""
        return {key: self.ref_link(key).label for key in self.ev.references_by_key}

    def work_keys(self) -> KeysView[str]:
        """Which works there are (their citekeys, in references.bib's order): a read of which, not of any work."""
        note(WHICH_WORKS)
        return self.ev.references_by_key.keys()

    @cached_property
    def styled(self) -> Works[tuple[StyledCitation, ...]]:
        """Every work in APA 7 and Vancouver, formatted once (citeproc-py is slow: ~11 ms a work)."""
        from kb.site.cite import styled_citations

        return Works(styled_citations(self.ev))

    @cached_property
    def citations(self) -> Works[str]:
        """Every work's APA 7 reference as plain text, as lists and descriptions show it."""
        return Works({key: styles[0].text for key, styles in dict.items(self.styled)})

    @cached_property
    def refdata(self) -> RefData:
        return RefData(self.ev.references)

    # --- rows ------------------------------------------------------------------------------

    def claim_row(self, row: Row) -> ClaimRow:
        """The table row of a claim-outcome, built once: a row appears on five or six pages."""
        cached = self._rows.get(id(row))
        if cached is not None and cached[0] is row:
            note(LINK + row.source)  # the view shows its source's link, made for the page that first showed the row
            return cached[1]
        view = ClaimRow(
            claim=self.claim_link(row.claim_id), statement=row.statement,
            population=self.terms("population", row.population),
            intervention=self.term("intervention", row.intervention),
            outcome=self.term("outcome", row.outcome), direction=self.term("direction", row.direction, link=False),
            certainty=self.term("certainty", row.certainty, link=False), design=self.term("design", row.design),
            source=self.ref_link(row.source),
        )
        self._rows[id(row)] = (row, view)
        return view

    def claim_rows(self, rows: Iterable[Row]) -> tuple[ClaimRow, ...]:
        return tuple(self.claim_row(r) for r in rows)

    def summaries(self, rows: Iterable[Row]) -> tuple[tuple[SummaryView, ...], int]:
        """The surest sentences summarising ``rows`` (as many as the limits allow), and how many more there are."""
        shown = self.limits.sentences
        found, total = surest(rows, self.analysis.studies, shown)
        return tuple(self.summary(s) for s in found), max(0, total - shown)

    def summary(self, summary: Summary) -> SummaryView:
        shown = summary.claim_ids[:self.limits.sentence_claims]
        return SummaryView(summary.text, summary.direction, summary.certainty,
                           tuple(self.claim_link(c) for c in shown), len(summary.claim_ids) - len(shown))

    # --- claim page parts ------------------------------------------------------------------

    def cited_works(self, claim: Claim) -> tuple[CitedWork, ...]:
        out = []
        for key in claim.cites:
            numbers = tuple(n for doc, n in self.cited_by(key) if doc == claim.source)
            ref = self.works.get(key)
            out.append(CitedWork(self.ref_link(key), latex_to_text(ref.title) if ref else key, numbers))
        return tuple(out)

    def certainty(self, claim: Claim) -> CertaintyView:
        cert = claim.certainty
        return CertaintyView(
            level=self.term("certainty", cert.level, link=False), basis=cert.basis,
            start=self.term("certainty", cert.start, link=False) if cert.start else None,
            downgrades=tuple(DOWNGRADE_LABELS.get(d, d.replace("_", " ")) for d in cert.downgrades),
            reason=" ".join((cert.reason or "").split()), reported_as=cert.reported_as or "",
        )

    def findings(self, claim: Claim) -> tuple[FindingView, ...]:
        return tuple(FindingView(outcome=self.term("outcome", f.outcome),
                                 direction=self.term("direction", f.direction, link=False),
                                 effect=effect_text(f.effect), notes=" ".join((f.notes or "").split()))
                     for f in claim.outcomes)

    def last_changed(self, change: LastChange | None) -> str:
        """When and how a claim or cell last changed, from the release history ("" before any release)."""
        if change is None:
            latest = self.history.latest
            return f"Unchanged since release {latest.name} ({latest.date})." if latest else ""
        if change.release == UNRELEASED:
            if change.text == "added":
                return "Added since the latest release, not yet released."
            return f"Changed since the latest release, not yet released: {change.text}."
        if change.text == "added":
            return f"Added in release {change.release} ({change.date}); unchanged since."
        return f"Last changed in release {change.release} ({change.date}): {change.text}."

    def claim_facts(self, claim: Claim) -> tuple[Fact, ...]:
        facts = []
        if claim.effect:
            facts.append(Fact("Reported effect", effect_text(claim.effect)))
        if claim.figure:
            facts.append(Fact("Reported figure", effect_text(claim.figure)))
        for label, value in (("Dose", claim.dose), ("Frequency", claim.frequency), ("Duration", claim.duration),
                             ("Number of studies", claim.n_studies), ("Number of participants", claim.n_participants),
                             ("Country", claim.country)):
            if value not in (None, ""):
                facts.append(Fact(label, str(value)))
        return tuple(facts)

    # --- references ------------------------------------------------------------------------

    def doi_link(self, ref: Reference) -> ExternalLink | None:
        url = doi_url(ref.doi)
        return ExternalLink(url, f"doi:{ref.doi}") if url else None

    def url_link(self, ref: Reference) -> ExternalLink | None:
        url = safe_external_url(ref.get("url"))
        return ExternalLink(url, url) if url else None


def short_cite(ref: Reference) -> str:
    """``Shalaby & Agyapong (2020)`` / ``Chien et al. (2019)``: how a reader refers to a work."""
    people = ref.authors or ref.editors
    names = [latex_to_text(p.family) for p in people[:2]]  # no more are shown: decoding every name took twice as long
    year = latex_to_text(ref.year) or (ref.get("date")[:4] if ref.get("date") else "n.d.")
    if not names:
        title = latex_to_text(ref.title) or ref.key
        return f"{title[:60]}{'…' if len(title) > 60 else ''} ({year})"
    if len(people) == 1 and not ref.authors_truncated:
        who = names[0]
    elif len(people) == 2 and not ref.authors_truncated:
        who = f"{names[0]} & {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who} ({year})"


def effect_text(effect: Effect | None) -> str:
    return " ".join(effect.text.split()) if effect else ""


