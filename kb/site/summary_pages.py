"""The template contract of the summary-of-findings pages and of the evidence-base blocks.

Like :mod:`kb.site.pages`: plain-text fields and site paths only; the templates escape and link.
A summary page is a GRADE summary-of-findings table, layered as interactive SoF tables are: the
statement first, then (in ``details`` elements that work without JavaScript) the claims, their
quotes and the studies.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.site.pages import Link, Page, TableQuery, Term


@dataclass(frozen=True)
class WorkView:
    """A cited work in an evidence list: what kind it is, and how it came into the count."""

    link: Link
    kind: str  # review | study | other | unclassified
    kind_label: str
    year: str
    note: str  # "cited directly", "included in Alpha et al. (2020)", …


@dataclass(frozen=True)
class MatrixRow:
    """A row of a matrix: its label and one cell per column (``code`` for CSS, ``text`` to read)."""

    head: Link
    cells: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OverlapView:
    """The corrected covered area of the reviews, its parts, and the matrices behind it."""

    cca: str  # "50"
    band: str  # "very high"
    reviews: int  # c
    studies: int  # r
    inclusions: int  # N
    impossible: int  # cells a review could not have included (a later study)
    columns: tuple[Link, ...]  # the reviews
    pairs: tuple[MatrixRow, ...]  # review × review: CCA of each pair (empty when too many reviews to show)
    citations: tuple[MatrixRow, ...]  # study × review: included / could not have been / not included (empty: too big)
    query: TableQuery | None = None  # the SPARQL behind the citation matrix


@dataclass(frozen=True)
class EvidenceBaseView:
    """Every distinct work behind a set of findings, each once, with the reviews' overlap."""

    phrase: str  # "2 reviews (overlap very high, CCA 50 %), 5 unique studies"
    works: tuple[WorkView, ...]  # reviews, then studies, then the rest (the first ones of a long list)
    unrecorded: tuple[Link, ...]  # reviews whose included studies no source states
    overlap: OverlapView | None
    uncited: tuple[Link, ...]  # sources whose findings here cite no work
    more: int = 0  # works not listed


@dataclass(frozen=True)
class Footnote:
    label: str  # "a", "b", …
    text: str
    claims: tuple[Link, ...]  # the first ones
    more: int = 0  # claims not linked


@dataclass(frozen=True)
class BodyClaim:
    """A claim in a body of evidence: the layers below the statement."""

    link: Link
    statement: str
    quote: str
    section: str
    source: Link
    design: str
    effect: str
    participants: str


@dataclass(frozen=True)
class BodyView:
    """Claims on one outcome agreeing on direction and certainty, with their own statement."""

    statement: str
    direction: Term
    certainty: Term
    footnotes: tuple[str, ...]
    count: str
    claims: tuple[BodyClaim, ...]  # the first ones (a body of a big KB rests on hundreds)
    ids: tuple[str, ...] = ()  # every claim of the body (for the CSV)

    @property
    def total(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class SofRowView:
    """One row of a summary-of-findings table."""

    id: str  # anchor
    outcome: Term
    question: str  # on domain pages: "Serious mental illness · Peer support services"; else ""
    kind: Term | None  # the kind of finding, in the table of other kinds
    statement: str  # the row's answer (or, in conflict, that there is no single one)
    conflict: str  # "" or why the bodies are not merged
    conflict_kind: str  # "" | same_certainty | lower_certainty (see kb.analyse.sof)
    direction: Term
    certainty: Term
    footnotes: tuple[str, ...]
    count: str  # every work behind the lead (the certainty's evidence), each once
    count_all: str  # every work behind the row when other bodies add to the lead's, else ""
    participants: str
    effect: str
    bodies: tuple[BodyView, ...]  # the lead first, then the others
    listed: tuple[BodyView, ...]  # listed under the statement: every body in a conflict, else those after the lead
    base: EvidenceBaseView
    cell: Link | None = None  # the map cell holding every claim, when the row lists only the first ones
    more_bodies: int = 0  # bodies of evidence not listed (a large KB)


@dataclass(frozen=True)
class SofTable:
    id: str
    caption: str
    note: str  # what this table holds and leaves out
    rows: tuple[SofRowView, ...]
    empty: tuple[Term, ...] = ()  # outcomes of the domain with no finding here
    grouped: bool = False  # rows grouped by outcome (domain pages)
    more: tuple[tuple[Term, int], ...] = ()  # grouped tables of a large KB: questions left out, per outcome


@dataclass(kw_only=True)
class SummaryPage(Page):
    """A summary of findings for one question (population × intervention) or one outcome domain."""

    kind: str  # question | domain
    lede: str
    facts: tuple[tuple[str, Term | str], ...]  # what the page is about
    label: str  # "Peer-delivered" or a warning that the intervention is not delivered by peers
    tables: tuple[SofTable, ...]
    footnotes: tuple[Footnote, ...]
    base: EvidenceBaseView
    related: tuple[Link, ...]
    claims_query: TableQuery | None = None  # the claim-outcomes the tables rest on, as SPARQL


@dataclass(frozen=True)
class SummaryEntry:
    link: Link
    count: str
    outcomes: int
    note: str = ""


@dataclass(kw_only=True)
class SummariesIndexPage(Page):
    domains: tuple[SummaryEntry, ...]
    questions: tuple[tuple[Term, tuple[SummaryEntry, ...]], ...]  # by population, peer-delivered
    adjacent: tuple[SummaryEntry, ...]  # questions about peer-adjacent interventions
