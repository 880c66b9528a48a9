"""The named records that flow through the pipeline: references, citation lists, claims, concepts.

Loaders produce them (with the file and line each came from); the graph stage turns them into RDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    """A BibTeX name. ``literal`` names (braced corporate authors) have only ``family``."""

    family: str
    given: str = ""
    literal: bool = False

    @property
    def display(self) -> str:
        return self.family if self.literal or not self.given else f"{self.family}, {self.given}"


@dataclass(frozen=True)
class Reference:
    """One BibTeX entry, with raw values kept for faithful display and download.

    ``fields`` holds lower-case field names → values with macros resolved and outer braces removed
    (LaTeX kept as written); ``raw`` is the entry's exact source text.
    """

    key: str
    entry_type: str
    fields: dict[str, str]
    authors: tuple[Person, ...] = ()
    editors: tuple[Person, ...] = ()
    authors_truncated: bool = False  # the source said "et al" (BibTeX "and others")
    path: str = ""
    line: int = 0
    field_lines: dict[str, int] = field(default_factory=dict)
    raw: str = ""

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    @property
    def title(self) -> str:
        return self.get("title")

    @property
    def year(self) -> str:
        return self.get("year")

    @property
    def doi(self) -> str:
        return self.get("doi")

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, self.line)


@dataclass(frozen=True)
class CitationList:
    """The ordered reference list of a citing document: position N (1-based) is reference [N]."""

    source: str
    references: tuple[str, ...]
    path: str = ""
    line: int = 0
    item_lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Effect:
    """A figure as the source reports it: the verbatim text, and number and unit where given."""

    text: str
    value: float | None = None
    value_max: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class OutcomeFinding:
    """One outcome of a claim with the direction of the effect of peer support on it."""

    outcome: str
    direction: str
    effect: Effect | None = None
    notes: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Certainty:
    """A GRADE level, reported by the source or assigned by editors with a documented rule."""

    level: str
    basis: str  # "assigned" | "reported"
    start: str | None = None
    downgrades: tuple[str, ...] = ()
    reason: str | None = None
    reported_as: str | None = None
    line: int = 0


# A claim's words, which its rows carry too: only the pages that list the claim show them, so the other pages are keyed
# without them (kb.site.deps), and the editors' loop swaps the rows of a claim whose words alone changed in place
# (kb.analyse.regroup).
CLAIM_WORDS = frozenset({"statement", "quote", "section"})


@dataclass(frozen=True)
class Claim:
    """A finding stated by a source document, linked to what it is about and what it rests on.

    The facets keep apart what a policymaker must tell apart: who receives peer support
    (``population``), where (``setting``), how (``delivery``) and whose outcome it is
    (``perspective``). Population, setting and delivery may name several concepts.
    """

    id: str
    statement: str
    source: str
    section: str
    quote: str
    cites: tuple[str, ...]
    finding_type: str
    population: tuple[str, ...]
    setting: tuple[str, ...]
    delivery: tuple[str, ...]
    perspective: str
    intervention: str
    outcomes: tuple[OutcomeFinding, ...]
    design: str
    certainty: Certainty
    comparator: str | None = None
    effect: Effect | None = None  # an effect size, as reported
    figure: Effect | None = None  # another reported number: a prevalence, a count, a cost
    dose: str | None = None  # verbatim: "12 sessions"
    frequency: str | None = None  # verbatim: "weekly"
    duration: str | None = None  # verbatim: "over a 6-month period"
    n_studies: int | None = None
    n_participants: int | None = None
    country: str | None = None
    notes: str | None = None
    path: str = ""
    line: int = 0
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, self.line)


@dataclass(frozen=True)
class Inclusion:
    """A source's statement that a cited work is a review, and which studies it included.

    Editors record only what the source states (``quote``): a review's full list of included
    studies is rarely given, so ``includes`` may be partial or empty (the review is known to be a
    review, its studies are not).
    """

    source: str  # the document that states it
    review: str
    includes: tuple[str, ...]
    quote: str
    section: str
    notes: str | None = None
    path: str = ""
    line: int = 0
    include_lines: tuple[int, ...] = ()
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, self.line)


@dataclass(frozen=True)
class Concept:
    """A SKOS concept of one of the KB's schemes, addressed in claim files by its short id."""

    scheme: str
    id: str
    iri: str
    label: str
    definition: str = ""
    alt_labels: tuple[str, ...] = ()
    broader: str | None = None  # id of the broader concept (outcome domains)
    starting_certainty: str | None = None  # designs only
    group: str | None = None  # designs only: systematic_review | primary_study | other (psk:designGroup)
    kind: str | None = None  # interventions only: peer_delivered | peer_adjacent | comparator
    core_area: str | None = None  # outcome domains only: the COMET core area
    chime: str | None = None  # personal-recovery outcomes only: the CHIME process
    is_domain: bool = False
    path: str = ""
    line: int = 0


@dataclass(frozen=True)
class Release:
    """A named, dated state of the evidence, kept as a compressed dump so it can be cited for good."""

    name: str
    date: str  # YYYY-MM-DD
    notes: str
    dump: str  # path of its N-Triples dump (``releases/<name>/kb.nt.gz`` in the evidence folder)
    path: str = ""  # kb.toml
    line: int = 0


@dataclass(frozen=True)
class Section:
    heading: str
    line: int
    parent: str | None = None
    inferred: bool = False


@dataclass(frozen=True)
class SourceText:
    """An archived source document (where its licence allows) for verifying quotes."""

    citekey: str
    text: str
    title: str = ""
    licence: str = ""
    licence_url: str = ""
    attribution: str = ""
    origin: str = ""
    sections: tuple[Section, ...] = ()
    path: str = ""
