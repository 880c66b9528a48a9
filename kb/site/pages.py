"""The template contract: one typed context per page type, and the small views they share.

Templates receive ``page`` (one of the ``*Page`` classes below) and ``site`` (``SiteInfo``), and
nothing else. Every string is plain text — templates escape it; no field holds HTML. Paths are
site paths from the site root (``claims/x.html#quote``); templates turn them into relative links
with ``href()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.site.summary_pages import EvidenceBaseView

# --- shared views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    path: str  # site path from the root
    label: str


@dataclass(frozen=True)
class ExternalLink:
    url: str  # checked: http(s) only
    label: str


@dataclass(frozen=True)
class NavItem:
    key: str  # compared with ``Page.section``
    link: Link


@dataclass(frozen=True)
class SiteInfo:
    title: str
    updated: str  # YYYY-MM-DD from kb.toml's `updated`, or "" when not recorded
    licence: str
    licence_url: str | None
    base_iri: str
    nav: tuple[NavItem, ...]


@dataclass(frozen=True)
class Term:
    """A vocabulary concept as shown in tables: its code (for CSS and filters) and label."""

    id: str
    label: str
    link: Link | None = None


@dataclass(frozen=True)
class ClaimRow:
    """One claim-outcome in a table of claims."""

    claim: Link
    statement: str
    population: tuple[Term, ...]
    intervention: Term
    outcome: Term
    direction: Term
    certainty: Term
    design: Term
    source: Link


@dataclass(frozen=True)
class SummaryView:
    text: str
    direction: str
    certainty: str
    claims: tuple[Link, ...]  # the first ones (a summary of a crowded cell rests on hundreds)
    more: int = 0  # claims not linked


@dataclass(frozen=True)
class CitedWork:
    link: Link
    title: str  # the work's title (its full reference is on its own entry)
    numbers: tuple[int, ...]  # the bracketed numbers of the work in the source's reference list


@dataclass(frozen=True)
class CertaintyView:
    level: Term
    basis: str  # assigned | reported
    start: Term | None
    downgrades: tuple[str, ...]
    reason: str
    reported_as: str


@dataclass(frozen=True)
class FindingView:
    outcome: Term
    direction: Term
    effect: str
    notes: str


@dataclass(frozen=True)
class TableQuery:
    """The SPARQL query that produces a table (see :mod:`kb.site.tablequery`); templates link it with
    the ``as_query`` macro to ``sparql.html#query=…``, which runs it on load."""

    text: str  # without the prologue: the SPARQL page and `kb query` predeclare the prefixes


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class StyledCitation:
    """A work formatted in one citation style (by citeproc-py): ``(kind, text)`` spans, kind "" plain,
    "i" italic, "b" bold, "sc" small caps, "sup"/"sub"; nested kinds space-separated."""

    style: str  # apa | vancouver
    label: str
    spans: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return "".join(text for _kind, text in self.spans)


@dataclass(frozen=True)
class FileLink:
    """A file to download (a site path), with the name to save it under."""

    label: str
    filename: str
    path: str


@dataclass(frozen=True)
class RefList:
    """The works of a list page, for its "download these references" buttons (``refs.js``).

    ``keys`` are citekeys, ``shards`` the numbers of the data scripts holding them (the page
    writes the numbers, not the paths: a bucket page has fifty such lists); a list whose
    rows are chosen in the browser (filtered bibliography, search results) has no keys and reads
    ``data-ref``/``data-shard`` from its rows, loading scripts from ``base``.
    """

    name: str  # the downloaded file's name, without extension
    keys: tuple[str, ...] = ()
    shards: tuple[int, ...] = ()  # the numbers of the data scripts holding them (``assets/refs/<n>.js``)
    rows: str = ""  # CSS selector of the rows, for lists chosen in the browser
    base: str = ""  # site path of the folder of the data scripts


# --- pages -----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Page:
    path: str
    title: str
    template: str
    section: str  # the nav entry this page belongs to
    description: str = ""
    breadcrumbs: tuple[Link, ...] = ()
    jsonld: dict = field(default_factory=dict)
    csv: Link | None = None
    query: TableQuery | None = None  # the query behind the page's main table
    scripts: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()  # extra <meta name content> (Highwire citation_* tags)
    refs: RefList | None = None  # the works this page lists, for "download these references"
    marks: bool = True  # draws the marks of direction and certainty (the page carries their SVG symbols)


@dataclass(kw_only=True)
class HomePage(Page):
    counts: tuple[Fact, ...]
    headlines: tuple[SummaryView, ...]
    directions: tuple[Fact, ...]
    citation: str
    sources: tuple[Link, ...]
    headline_reasons: tuple[str, ...] = ()  # why each headline was chosen (certainty, directness)
    headline_note: str = ""  # the rule of the choice, and what it leaves out


@dataclass(frozen=True)
class Mark:
    row: int  # index into the map's finding data (assets/map-data.js), for the filters
    direction: str
    certainty: str
    title: str  # the outcome, direction, certainty and design, then the claim's statement


@dataclass(frozen=True)
class Tally:
    """An aggregated mark: one per direction, used when a cell holds more marks than the threshold."""

    direction: str
    certainty: str  # the highest certainty among them (sets the fill)
    count: int
    title: str


@dataclass(frozen=True)
class MapCell:
    """One cell of the map: a row × an outcome, or a row × a whole outcome domain."""

    key: str  # the outcome's or the domain's id
    link: Link | None  # the cell's page (outcome cells with findings)
    marks: tuple[Mark, ...]
    tallies: tuple[Tally, ...]  # non-empty only for aggregated cells
    count: int
    text: str  # the counts in words, for screen readers and the list view


@dataclass(frozen=True)
class MapRowGroup:
    domain: MapCell  # the domain's summary cell, shown while the domain is collapsed
    cells: tuple[MapCell, ...]  # one per outcome of the domain


@dataclass(frozen=True)
class MapRow:
    term: Term
    groups: tuple[MapRowGroup, ...]  # in the order of MapPage.groups
    count: int


@dataclass(frozen=True)
class MapColumn:
    term: Term
    domain: str
    count: int


@dataclass(frozen=True)
class MapGroup:
    """An outcome domain: one column while collapsed, its outcomes' columns once expanded."""

    term: Term
    columns: tuple[MapColumn, ...]
    count: int


@dataclass(frozen=True)
class FilterOption:
    value: str
    label: str
    count: int  # findings with this value, before any filter
    selected: bool  # part of the default view


@dataclass(frozen=True)
class MapFilter:
    name: str  # also the name of its parameter in the map's URL
    label: str
    options: tuple[FilterOption, ...]


@dataclass(frozen=True)
class LegendItem:
    code: str
    label: str
    text: str


@dataclass(kw_only=True)
class MapPage(Page):
    axis: str  # population | setting | delivery | perspective | intervention
    axis_label: str  # "Populations"
    axis_noun: str  # "population"
    views: tuple[Link, ...]  # the maps, for the toggle
    groups: tuple[MapGroup, ...]
    rows: tuple[MapRow, ...]
    filters: tuple[MapFilter, ...]
    directions: tuple[LegendItem, ...]
    certainties: tuple[LegendItem, ...]
    threshold: int
    total: int


@dataclass(frozen=True)
class CellView:
    """One cell of a map row (the row × one outcome), a section of its row's page, anchored by the outcome."""

    outcome: Term
    domain: Term | None
    text: str  # the cell in words ("3 findings: 2 benefit, …")
    summaries: tuple[SummaryView, ...]  # the surest ones
    more_summaries: int  # sentences not shown
    rows: tuple[ClaimRow, ...]  # the first ones, best evidence first (all of them in a small cell)
    more: int  # findings not listed (a crowded cell)
    base: EvidenceBaseView | None
    query: TableQuery
    refs: RefList | None
    changed: str = ""  # "last changed" (the living map's releases), empty until something sets it
    outcome_iri: str = ""  # what the page's query template needs to make ``query`` (site.js)


@dataclass(kw_only=True)
class CellRowPage(Page):
    """Every cell of one row of one map: ``cells/<axis>/<row>.html#<outcome>``."""

    axis: str
    axis_noun: str  # "population"
    row_term: Term
    cells: tuple[CellView, ...]
    map_link: Link
    list_limit: int  # rows listed per cell at most
    query_template: str = ""  # every cell's query, with OUTCOME_IRI and OUTCOME_LABEL for its outcome's (site.js)


@dataclass(kw_only=True)
class ConceptPage(Page):
    scheme: str
    scheme_label: str
    concept: Term
    definition: str
    alt_labels: tuple[str, ...]
    broader: Term | None
    iri: str
    summaries: tuple[SummaryView, ...]  # the surest ones
    rows: tuple[ClaimRow, ...]  # the first ones, best evidence first (all of them for a concept with few)
    more: int = 0  # findings not listed: the cells hold them
    more_summaries: int = 0  # summary sentences not shown
    cells: tuple[tuple[Link, int], ...] = ()  # the map cells of the concept's findings, with their counts
    siblings: tuple[tuple[Term, int], ...] = ()  # outcomes: the other outcomes of the domain, with findings
    domain_summary: Link | None = None  # outcomes: the domain's summary of findings
    questions: tuple[Link, ...] = ()  # populations and interventions: their summaries of findings
    base: EvidenceBaseView | None = None  # the distinct works behind the findings


@dataclass(frozen=True)
class ConceptGroup:
    term: Term | None
    items: tuple[tuple[Term, int], ...]  # concept and its number of claim-outcomes
    summary: Link | None = None  # outcome domains: their summary of findings


@dataclass(kw_only=True)
class ConceptIndexPage(Page):
    scheme: str
    intro: str
    groups: tuple[ConceptGroup, ...]


@dataclass(frozen=True)
class ClaimView:
    """One claim, as a section of its bucket page (``claims/<bucket>.html#<claim id>``)."""

    claim_id: str
    statement: str
    quote: str
    quote_section: str
    source: Link
    source_doi: ExternalLink | None
    cites: tuple[CitedWork, ...]
    finding_type: Term
    population: tuple[Term, ...]
    setting: tuple[Term, ...]
    delivery: tuple[Term, ...]
    perspective: Term
    intervention: Term
    intervention_kind: Term
    comparator: Term | None
    design: Term
    findings: tuple[FindingView, ...]
    certainty: CertaintyView
    facts: tuple[Fact, ...]
    notes: str
    refs: RefList | None  # its cited works, for "download these references"
    changed: str = ""  # "last changed" (the living map's releases), empty until something sets it
    curation: str = ""  # the claim's own curation note ("Curation: …"), why it reads as it does


@dataclass(frozen=True)
class ReleaseView:
    name: str
    date: str
    notes: str
    iri: str
    citation: str
    changes: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, lines) from the release's diff in words
    dump: Link | None
    dump_size: str


@dataclass(kw_only=True)
class WhatsNewPage(Page):
    releases: tuple[ReleaseView, ...]  # newest first
    unreleased: tuple[tuple[str, tuple[str, ...]], ...]  # changes since the latest release
    feeds: tuple[Link, ...]
    citation: str


@dataclass(frozen=True)
class FeedEntry:
    id: str  # stable across builds: the release's IRI, with the topic as fragment
    title: str
    updated: str  # RFC 3339
    link: str  # a site path
    summary: str


@dataclass(kw_only=True)
class FeedPage(Page):
    """An Atom feed (``feed.atom``): rendered like a page, but XML, with no site chrome."""

    feed_id: str
    label: str  # short, for lists of feeds ("Population: Older adults")
    updated: str
    entries: tuple[FeedEntry, ...]
    alternate: str  # the site page the feed is about


@dataclass(kw_only=True)
class ClaimBucketPage(Page):
    """The claims of one fixed bucket (:mod:`kb.site.addresses`), each anchored by its id."""

    bucket: str
    claims: tuple[ClaimView, ...]


@dataclass(kw_only=True)
class ClaimsIndexPage(Page):
    rows: tuple[ClaimRow, ...]  # every claim-outcome, while there are few enough to list on one page
    sources: tuple[tuple[Link, int], ...] = ()  # else the source documents, each with its number of claims
    claims: int = 0


@dataclass(frozen=True)
class CitingDoc:
    link: Link
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class ClaimItem:
    """A claim in a short list: its link (the statement) and its certainty (the rest is on its page)."""

    link: Link  # label: the statement
    certainty: Term
    claim_id: str = ""


@dataclass(frozen=True)
class ClaimList:
    """A list of claims shown up to a limit, with the number left out and the query for all of them."""

    items: tuple[ClaimItem, ...]
    total: int
    query: TableQuery | None = None
    compact: bool = False  # by identifier, not statement (a large KB's sources state hundreds each)


@dataclass(frozen=True)
class ReferenceView:
    """One work, as a section of its bucket page (``references/<bucket>.html#<citekey>``)."""

    key: str
    title: str  # "Lloyd-Evans et al. (2014)"
    entry_type: str
    citation: str
    styled: tuple[StyledCitation, ...]  # APA 7 and Vancouver
    refs: RefList | None  # the work's RIS, CSL-JSON and BibTeX, for refs.js's buttons
    doi: ExternalLink | None
    url: ExternalLink | None
    facts: tuple[Fact, ...]
    bibtex: str
    cited_by: tuple[CitingDoc, ...]
    stated: ClaimList  # claims this document states
    resting: ClaimList  # claims that rest on this work
    note: str
    coins: str = ""  # the work as COinS, when the page holds several works (else Highwire tags in <head>)
    abstract_left_out: bool = False  # the BibTeX shown has no abstract (a large KB's; its downloads have it)


@dataclass(kw_only=True)
class ReferenceBucketPage(Page):
    """The works of one fixed bucket (:mod:`kb.site.addresses`), each anchored by its citekey."""

    bucket: str
    works: tuple[ReferenceView, ...]
    query_template: str = ""  # tablequery.resting_template, which site.js fills in for each work's link


@dataclass(frozen=True)
class BibRow:
    link: Link
    key: str
    shard: int  # the data script holding the work's downloads (refs.js)
    citation: str
    year: str
    entry_type: str
    cited_by: int
    claims: int


@dataclass(kw_only=True)
class BibliographyPage(Page):
    rows: tuple[BibRow, ...]
    types: tuple[str, ...]
    everything: tuple[FileLink, ...] = ()  # the whole bibliography's files (data/references.*)


@dataclass(frozen=True)
class GapCell:
    row: Term
    outcome: Term
    link: Link | None
    detail: str


@dataclass(frozen=True)
class GapList:
    id: str
    title: str
    explanation: str
    cells: tuple[GapCell, ...]  # the first ones, ranked
    more: tuple[GapCell, ...]  # the rest, collapsed
    query: TableQuery


@dataclass(kw_only=True)
class GapsPage(Page):
    lists: tuple[GapList, ...]
    rest: tuple[tuple[Term, tuple[Term, ...]], ...]  # the other empty cells, by population
    rest_count: int
    unused: tuple[Term, ...]
    counted: int  # findings that count for gaps (a result, a peer-delivered intervention)
    total: int


@dataclass(frozen=True)
class NetNode:
    id: str
    kind: str
    label: str
    x: float
    y: float
    r: float
    link: Link | None
    degree: int


@dataclass(frozen=True)
class NetEdge:
    kind: str
    x1: float
    y1: float
    x2: float
    y2: float
    width: float = 0.8  # thicker for edges that stand for many claims (large networks)
    a: str = ""  # the nodes it joins (ids), so that the page can show a node with its neighbours
    b: str = ""


@dataclass(frozen=True)
class NetGroup:
    """The nodes of one kind, for the network as a list."""

    kind: LegendItem
    nodes: tuple[NetNode, ...]


@dataclass(kw_only=True)
class NetworkPage(Page):
    width: int
    height: int
    nodes: tuple[NetNode, ...]
    edges: tuple[NetEdge, ...]
    columns: tuple[tuple[str, float], ...]  # heading and its x
    kinds: tuple[LegendItem, ...]
    claims_drawn: bool  # False when there are too many claims to draw one node each
    groups: tuple[NetGroup, ...]  # every node drawn, by kind, most connected first: the text alternative


@dataclass(frozen=True)
class ExampleView:
    name: str
    title: str
    description: str
    text: str


@dataclass(kw_only=True)
class SparqlPage(Page):
    examples: tuple[ExampleView, ...]
    prefixes: tuple[tuple[str, str], ...]
    prologue: str
    default_query: str
    answers: tuple[tuple[str, str], ...] = ()  # (example name, site path of its answer computed at build time)


@dataclass(frozen=True)
class Download:
    link: Link
    format: str
    description: str
    size: str
    media_type: str = ""
    bytes: int = 0
    filename: str = ""  # the name a browser saves it under (the download attribute)


@dataclass(kw_only=True)
class DataPage(Page):
    downloads: tuple[Download, ...]
    tables: tuple[Link, ...]


@dataclass(kw_only=True)
class ResolvePage(Page):
    """``resolve.html``: an IRI of the KB → its page (the URL scheme, in ``assets/resolve.js``)."""

    config: str  # JSON for the script: the base IRI, the concept folders, the outcome domains
    examples: tuple[tuple[str, Link], ...]  # (IRI, where it is) for the rule's worked examples


@dataclass(kw_only=True)
class SearchPage(Page):
    browse: tuple[Link, ...]


@dataclass(frozen=True)
class Block:
    """A block of a Markdown section: heading, paragraph, list or code; ``spans`` are (kind, text)."""

    kind: str  # h | p | ul | table | pre
    spans: tuple[tuple[str, str], ...] = ()
    items: tuple[tuple[tuple[str, str], ...], ...] = ()
    text: str = ""
    rows: tuple[tuple[tuple[tuple[str, str], ...], ...], ...] = ()  # table: the header row first, cells as spans


@dataclass(frozen=True)
class SchemeView:
    id: str
    label: str
    definition: str
    concepts: tuple[tuple[Term, str, tuple[str, ...], str], ...]  # term, definition, alt labels, note


@dataclass(frozen=True)
class OntologyTerm:
    name: str
    kind: str
    label: str
    comment: str


@dataclass(kw_only=True)
class MethodPage(Page):
    certainty_rule: tuple[Block, ...]
    schemes: tuple[SchemeView, ...]
    ontology: tuple[OntologyTerm, ...]
