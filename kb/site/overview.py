"""Page contexts for the KB as a whole: home, gaps, network, SPARQL, data, search and method."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kb.analyse.analysis import DIRECTIONS
from kb.config import check_updated
from kb.export.formats import data_files
from kb.graph.select import select
from kb.ids import SCHEMES
from kb.io.tables import dicts_to_csv
from kb.namespaces import PREFIXES, sparql_prologue
from kb.query.sparql import load_examples
from kb.site import jsonld
from kb.site.addresses import CONCEPT_FOLDERS
from kb.site.answers import Answer
from kb.site.context import Output, add_csv
from kb.site.grade import LEVEL_WORDS
from kb.site.headlines import choose
from kb.site.living import citation
from kb.site.markdown import section
from kb.site.network import COLUMN_HEADINGS, COLUMN_X, KINDS, layout, project
from kb.site.pages import (
    DataPage,
    Download,
    ExampleView,
    Fact,
    HomePage,
    Link,
    MethodPage,
    NavItem,
    NetGroup,
    NetworkPage,
    OntologyTerm,
    ResolvePage,
    SchemeView,
    SearchPage,
    SiteInfo,
    SparqlPage,
    Term,
)
from kb.site.paths import safe_external_url
from kb.site.views import DIRECTION_LABELS, Resolver

NAV = (("index.html", "Home", "home"), ("map.html", "Evidence map", "map"),
       ("summaries/index.html", "Summaries", "summaries"),
       ("outcomes/index.html", "Outcomes", "outcomes"),
       ("populations/index.html", "Populations", "populations"),
       ("interventions/index.html", "Interventions", "interventions"), ("claims/index.html", "Claims", "claims"),
       ("references/index.html", "Bibliography", "references"), ("gaps.html", "Gaps", "gaps"),
       ("network.html", "Network", "network"), ("sparql.html", "SPARQL", "sparql"), ("data.html", "Data", "data"),
       ("method.html", "Method", "method"))  # search: the box in every page's masthead


def site_info(res: Resolver) -> SiteInfo:
    config = res.ev.config
    updated = config.extra.get("updated", "")
    check_updated(config.evidence_dir / "kb.toml", updated)
    if hasattr(updated, "isoformat"):  # TOML reads a bare date as a date
        updated = updated.isoformat()
    updated = str(updated or "")
    return SiteInfo(config.title, updated, config.data_licence, safe_external_url(config.data_licence_url),
                    config.base_iri, tuple(NavItem(key, Link(p, label)) for p, label, key in NAV))


def home_page(res: Resolver, site: SiteInfo, out: Output) -> None:
    rows, ev, vocab = res.analysis.rows, res.ev, res.vocab
    claims = ev.claims_by_id
    headlines = choose(rows, res.analysis.studies, lambda c: claims[c].certainty.downgrades)
    behind = res.analysis.studies.count(rows)
    counts = (
        Fact("Claims", str(len(res.analysis.claim_ids))), Fact("Claim-outcome findings", str(len(rows))),
        Fact("Reviews the claims rest on", str(len(behind.reviews))),
        Fact("Primary studies the claims rest on", str(len(behind.studies))),
        Fact("Other cited works", str(len(behind.others) + len(behind.unclassified))),
        Fact("Works in the bibliography", str(len(res.work_keys()))),
        Fact("Source documents", str(len({r.source for r in rows}))),
        Fact("Outcomes with evidence", f"{len({r.outcome for r in rows})} of {len(vocab.ids('outcome'))}"),
        Fact("Populations with evidence",
             f"{len({p for r in rows for p in r.population})} of {len(vocab.ids('population'))}"),
        Fact("Triples in the graph", str(res.analysis.triples)),
    )
    directions = Counter(r.direction for r in rows)
    page = HomePage(
        path="index.html", title=site.title, template="index.html", section="home",
        description="What research says about peer support in mental health: every finding traceable to a quote.",
        counts=counts, headlines=tuple(res.summary(h.summary) for h in headlines.items),
        headline_reasons=tuple(h.reason for h in headlines.items), headline_note=headlines.explanation,
        directions=tuple(Fact(DIRECTION_LABELS[d], str(directions[d])) for d in DIRECTIONS),
        citation=citation(res, site),
        sources=tuple(res.ref_link(k) for k in sorted({c.source for c in ev.claims})),
    )
    page.jsonld = jsonld.dataset(res, page.description, site.updated, ())
    out.pages.append(page)


def network_page(res: Resolver, out: Output) -> None:
    def label(node: str) -> str:
        kind, ident = node.split(":", 1)
        if kind == "doc":  # a work's link's label (its short citation: an edited title keeps the page)
            return res.ref_link(ident).label
        if kind == "claim":
            return ident
        return res.label(kind, ident)

    def link(node: str) -> str | None:
        kind, ident = node.split(":", 1)
        if kind == "doc":
            return res.ref_path(ident) if ident in res.work_keys() else None
        if kind == "claim":
            return res.claim_path(ident)
        return res.concept_path(kind, ident)

    network, claims_drawn = project(res.analysis.network)
    drawn = layout(network, label, link)
    headings = COLUMN_HEADINGS if claims_drawn else (*COLUMN_HEADINGS[:2], "(claims not drawn)", COLUMN_HEADINGS[3])
    order = ("source", "work", "claim", "population", "intervention", "outcome")
    groups = tuple(NetGroup(k, tuple(sorted((n for n in drawn.nodes if n.kind == k.code),
                                            key=lambda n: (-n.degree, n.label.lower(), n.id))))
                   for k in sorted(KINDS, key=lambda k: order.index(k.code) if k.code in order else len(order)))
    page = NetworkPage(
        path="network.html", title="The evidence network", template="network.html", section="network",
        description="Which documents state which claims, what the claims rest on, and what they are about.",
        width=drawn.width, height=drawn.height, nodes=tuple(drawn.nodes), edges=tuple(drawn.edges),
        columns=tuple(zip(headings, COLUMN_X, strict=True)), kinds=KINDS,
        groups=tuple(g for g in groups if g.nodes),
        claims_drawn=claims_drawn, scripts=("assets/network.js",),
    )
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    add_csv(out, page, dicts_to_csv([{"node": n.id, "kind": n.kind, "label": n.label, "links": n.degree, "x": n.x,
                                     "y": n.y} for n in drawn.nodes], ["node", "kind", "label", "links", "x", "y"]))
    out.pages.append(page)


def sparql_page(res: Resolver, out: Output, answers: Iterable[Answer] = ()) -> None:
    """The SPARQL page, with the examples' ``answers`` (:mod:`kb.site.answers`) for it to show before the engine
    is ready."""
    queries = load_examples(res.ev.config.queries_dir)
    examples = tuple(ExampleView(e.name, e.title, e.description, e.text) for e in queries)
    default = examples[0].text if examples else "SELECT ?claim ?statement WHERE {\n  ?c a psk:Claim ; " \
        "dcterms:identifier ?claim ; psk:statement ?statement .\n}\nORDER BY ?claim\nLIMIT 20\n"
    answers = list(answers)
    for answer in answers:
        out.files[answer.path] = answer.script
    page = SparqlPage(
        path="sparql.html", title="Query the KB with SPARQL", template="sparql.html", section="sparql",
        description="Run SPARQL over the whole graph in your browser; nothing is sent anywhere.",
        examples=examples, prefixes=tuple(sorted(PREFIXES.items())), prologue=sparql_prologue(),
        default_query=default, answers=tuple((a.name, a.path) for a in answers),
        # The engine, the graph and the IRI → page map are loaded by sparql.js once the page is usable.
        scripts=("assets/resolve.js", "assets/oxigraph.js", "assets/sparql.js"),
    )
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    out.pages.append(page)


def data_page(res: Resolver, site: SiteInfo, out: Output, target: Path, pages: Iterable[Any]) -> None:
    """The downloads, and the CSV of each listed table page (``pages``: anything with template, title, csv)."""
    downloads = tuple(Download(Link(f"data/{f.name}", f.name), f"{f.label}, gzip" if f.compressed else f.label,
                               f.description, human_size(target / "data" / f.name),
                               "application/gzip" if f.compressed else f.media_type,
                               (target / "data" / f.name).stat().st_size, f.download_name)
                      for f in data_files(res.ev) if (target / "data" / f.name).is_file())
    listed = ("claims.html", "bibliography.html", "gaps.html", "network.html", "method.html")  # in this order
    csvs: dict[str, Link] = {}
    for p in sorted((p for p in pages if p.template in listed), key=lambda p: listed.index(p.template)):
        if p.csv is not None:
            csvs.setdefault(p.csv.path, Link(p.csv.path, p.title))
    tables = tuple(csvs.values())
    page = DataPage(path="data.html", title="Download the data", template="data.html", section="data",
                    description="The graph, the claims and the bibliography, in open formats.",
                    downloads=downloads, tables=tables)
    page.jsonld = jsonld.dataset(res, page.description, site.updated, downloads)
    out.pages.append(page)


def resolve_page(res: Resolver, out: Output) -> None:
    """The page a persistent-identifier service sends an IRI to: its script finds the IRI's page."""
    import json

    from kb.site.addresses import CONCEPT_FOLDERS

    base = res.mint.base
    config = {"base": base, "folders": CONCEPT_FOLDERS, "domains": sorted(res.vocab.ids("outcome", domains=True))}
    # the first claim and work by identifier (sorting 50,000 claims for one was ~0.6 s of a worker's CPU)
    claims = [min(res.ev.claims_by_id)] if res.ev.claims_by_id else []
    refs = [min(res.work_keys())] if res.work_keys() else []
    examples = tuple((res.mint.claim(claim_id), res.claim_link(claim_id)) for claim_id in claims)
    examples += tuple((res.mint.work(key), Link(res.ref_path(key), key)) for key in refs)
    page = ResolvePage(path="resolve.html", title="Find a claim, work or concept by its identifier",
                       template="resolve.html", section="search",
                       description="Turns an identifier of the KB (an IRI) into the page that shows it.",
                       config=json.dumps(config, sort_keys=True, separators=(",", ":")), examples=examples,
                       scripts=("assets/resolve.js",))
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    out.pages.append(page)


def search_page(res: Resolver, out: Output) -> None:
    page = SearchPage(path="search.html", title="Search", template="search.html", section="search",
                      description="Search claims, works and concepts.",
                      browse=(Link("claims/index.html", "all claims"),
                              Link("references/index.html", "the bibliography"),
                              Link("outcomes/index.html", "outcomes"), Link("populations/index.html", "populations"),
                              Link("interventions/index.html", "interventions")),
                      scripts=("assets/resolve.js", "assets/map-statements.js", "assets/search-index.js",
                               "assets/search.js"))
    page.refs = res.refdata.chosen_in_browser("search-results", "#search-results li")
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    out.pages.append(page)


def method_page(res: Resolver, out: Output, ontology: list[OntologyTerm]) -> None:
    vocab = res.vocab
    rule = section(res.ev.readme, r"certainty") if res.ev.readme else ()
    schemes = []
    for scheme in SCHEMES:
        concepts = sorted(vocab.concepts.get(scheme, {}).values(), key=lambda c: (not c.is_domain, c.label.lower()))
        items = []
        for c in concepts:
            notes = []
            if c.is_domain:
                notes.append(f"Outcome domain; COMET core area: {c.core_area}" if c.core_area else "Outcome domain")
            elif c.broader:
                notes.append(f"Domain: {vocab.label(scheme, c.broader)}")
            if c.chime:
                notes.append(f"CHIME: {c.chime}")
            if c.kind:
                notes.append(vocab.label("intervention_kind", c.kind))
            if c.starting_certainty:
                notes.append(f"GRADE starting level: {LEVEL_WORDS.get(c.starting_certainty, c.starting_certainty)}")
            if c.group:
                notes.append(f"Group: {c.group.replace('_', ' ')}")
            note = "; ".join(notes)
            term = Term(c.id, c.label, Link(res.concept_path(scheme, c.id) or "", c.label)
                        if scheme in CONCEPT_FOLDERS else None)
            items.append((term, *res.words(scheme, c.id), note))
        schemes.append(SchemeView(scheme, vocab.scheme_labels.get(scheme, scheme), res.words(scheme)[0], tuple(items)))
    page = MethodPage(path="method.html", title="Method", template="method.html", section="method",
                      description="How claims are extracted, how certainty is rated, and the vocabularies.",
                      certainty_rule=rule, schemes=tuple(schemes), ontology=tuple(ontology))
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    add_csv(out, page, dicts_to_csv([{"scheme": s.id, "id": t.id, "label": t.label, "definition": d,
                                     "alt_labels": "; ".join(alts), "note": note}
                                    for s in schemes for t, d, alts, note in s.concepts],
                                   ["scheme", "id", "label", "definition", "alt_labels", "note"]))
    out.pages.append(page)


def ontology_terms() -> list[OntologyTerm]:
    """Classes and properties of the shipped ontology, for the method page."""
    import pyoxigraph as ox

    from kb.graph.shipped import schema_bytes
    from kb.namespaces import PSK

    store = ox.Store()
    store.load(schema_bytes("ontology.ttl"), format=ox.RdfFormat.TURTLE)
    query = sparql_prologue() + """
    SELECT ?term ?type (SAMPLE(?l) AS ?label) (SAMPLE(?c) AS ?comment) WHERE {
      ?term a ?type . FILTER(?type IN (owl:Class, owl:ObjectProperty, owl:DatatypeProperty))
      OPTIONAL { ?term rdfs:label ?l } OPTIONAL { ?term rdfs:comment ?c }
    } GROUP BY ?term ?type ORDER BY ?type ?term"""
    kinds = {"Class": "class", "ObjectProperty": "object property", "DatatypeProperty": "data property"}
    out = []
    for s in select(store, query):
        iri = s["term"].value
        name = "psk:" + iri[len(PSK):] if iri.startswith(PSK) else iri
        out.append(OntologyTerm(name, kinds[s["type"].value.rsplit("#", 1)[1]],
                                s["label"].value if s["label"] else "", s["comment"].value if s["comment"] else ""))
    return out


def human_size(path: Path) -> str:
    size = path.stat().st_size
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
