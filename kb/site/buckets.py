"""The record pages: claims and works, grouped into the fixed buckets of :mod:`kb.site.addresses`.

A bucket page holds every claim (or work) whose identifier falls in its bucket, each in a section
anchored by the identifier, in identifier order: ``claims/<bucket>.html#<claim id>``,
``references/<bucket>.html#<citekey>``. A claim never moves when others are added, and a site of
50,000 claims is 1,024 pages rather than 50,000 (and no CSV per claim: ``data/claims.csv.gz`` holds
them all). A work's entry shows its citations, its BibTeX, buttons for its RIS, CSL-JSON and BibTeX (from
the shared scripts of :mod:`kb.site.refdata`: no file per work), every claim it states, and the
claims that rest on it up to a limit, with the query for all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from kb.analyse.analysis import Row
from kb.bibtex.load import latex_to_text
from kb.bibtex.values import drop_field
from kb.model import Claim, Reference
from kb.site import addresses, jsonld, tablequery
from kb.site.context import Output, curation_note
from kb.site.highwire import coins, highwire_tags
from kb.site.pages import (
    CitingDoc,
    ClaimBucketPage,
    ClaimItem,
    ClaimList,
    ClaimView,
    Fact,
    Link,
    ReferenceBucketPage,
    ReferenceView,
    TableQuery,
)
from kb.site.views import Resolver, short_cite


def _buckets(ids: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for ident in sorted(ids):
        out[addresses.bucket(ident)].append(ident)
    return dict(sorted(out.items()))


# --- claims ------------------------------------------------------------------------------------


def claim_view(res: Resolver, claim: Claim) -> ClaimView:
    return ClaimView(
        claim_id=claim.id, statement=" ".join(claim.statement.split()),
        quote=" ".join(claim.quote.split()), quote_section=claim.section, source=res.ref_link(claim.source),
        source_doi=res.doi_of(claim.source) if res.limits.source_doi else None, cites=res.cited_works(claim),
        finding_type=res.term("finding_type", claim.finding_type, link=False),
        population=res.terms("population", claim.population), setting=res.terms("setting", claim.setting),
        delivery=res.terms("delivery", claim.delivery), perspective=res.term("perspective", claim.perspective),
        intervention=res.term("intervention", claim.intervention),
        intervention_kind=res.intervention_kind(claim.intervention),
        comparator=res.term("intervention", claim.comparator) if claim.comparator else None,
        design=res.term("design", claim.design),
        findings=res.findings(claim), certainty=res.certainty(claim), facts=res.claim_facts(claim),
        notes=" ".join((claim.notes or "").split()),
        refs=res.refdata.ref_list(f"claim-{claim.id}-works", claim.cites),
        changed=res.last_changed(res.history.claims.get(claim.id)), curation=curation_note(claim.notes),
    )


def claim_pages(res: Resolver, out: Output) -> None:
    by_id = res.ev.claims_by_id
    keep = out.keeper
    for bucket, ids in _buckets(by_id).items():
        path = addresses.claim_page(ids[0])
        key = keep.key(path, keep.claims(ids))  # a claim's view reads its own record and the build's inputs
        if keep.reuse(path, key):
            continue
        views = tuple(claim_view(res, by_id[i]) for i in ids)
        page = ClaimBucketPage(
            path=path, template="claim.html", section="claims",
            title=f"Claim: {ids[0]}" if len(ids) == 1 else _several("Claims", bucket, ids),
            description=_describe("claims", [v.statement for v in views]),
            breadcrumbs=(Link("claims/index.html", "Claims"),), bucket=bucket, claims=views,
            scripts=("assets/refs.js",) if any(v.refs for v in views) else (),
        )
        page.jsonld = jsonld.bucket(res, page.title, [jsonld.claim_part(res, by_id[i]) for i in ids])
        out.pages.append(page)
        keep.record(path, key)
        out.settle()


def _several(kind: str, bucket: str, names: list[str]) -> str:
    """The title of a page of several records: their names while few, else the count and the group."""
    return f"{kind}: {', '.join(names)}" if len(names) <= 3 else f"{len(names)} {kind.lower()} (group {bucket})"


def _describe(kind: str, texts: list[str], limit: int = 300) -> str:
    """The meta description: the one record's text, or the first few of several, cut at ``limit``."""
    text = texts[0] if len(texts) == 1 else f"{len(texts)} {kind}: " + " · ".join(texts)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# --- works -------------------------------------------------------------------------------------


def _items(res: Resolver, rows: list[Row], total_query: TableQuery, limit: int | None,
           compact: bool = False) -> ClaimList:
    """The claims of ``rows`` (one item per claim, best evidence first), up to ``limit``; ``compact``:
    listed by identifier (each statement is on its claim's page)."""
    by_claim: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_claim[row.claim_id].append(row)
    rank = {"high": 0, "moderate": 1, "low": 2, "very_low": 3}
    order = sorted(by_claim, key=lambda c: (rank.get(by_claim[c][0].certainty, 4), c))
    items = []
    for claim_id in order[:limit]:
        found = by_claim[claim_id]
        items.append(ClaimItem(Link(res.claim_path(claim_id), found[0].statement),
                               res.term("certainty", found[0].certainty, link=False), claim_id))
    return ClaimList(tuple(items), len(order), total_query if len(order) > len(items) else None, compact)


def reference_view(res: Resolver, ref: Reference, stated: list[Row], resting: list[Row], *,
                   several: bool) -> ReferenceView:
    cited_by: dict[str, list[int]] = defaultdict(list)
    for doc, n in res.cited_by(ref.key):
        cited_by[doc].append(n)
    facts = [Fact("Type", ref.entry_type), Fact("Citation key", ref.key)]
    for name, label in (("year", "Year"), ("date", "Date"), ("journal", "Journal"), ("booktitle", "In"),
                        ("volume", "Volume"), ("number", "Issue"), ("pages", "Pages"),
                        ("publisher", "Publisher"), ("institution", "Institution"),
                        ("organization", "Organisation"), ("urldate", "Accessed")):
        if ref.get(name):
            facts.append(Fact(label, latex_to_text(ref.get(name))))
    title = short_cite(ref)
    iri = res.mint.work(ref.key)
    bibtex = ref.raw.rstrip("\n")
    shown = bibtex if res.limits.bibtex_abstract else drop_field(bibtex, "abstract")
    return ReferenceView(
        key=ref.key, title=title, entry_type=ref.entry_type, citation=res.citations[ref.key],
        styled=res.styled[ref.key], refs=res.refdata.ref_list(ref.key, [ref.key]), doi=res.doi_link(ref),
        url=res.url_link(ref),
        facts=tuple(facts) if res.limits.work_facts else (), bibtex=shown, abstract_left_out=shown != bibtex,
        cited_by=tuple(CitingDoc(res.ref_link(doc), tuple(sorted(ns))) for doc, ns in sorted(cited_by.items())),
        stated=_items(res, stated, tablequery.work_claims(iri, title), limit=None,
                      compact=not res.limits.stated_statements),
        resting=_items(res, resting, tablequery.resting_claims(iri, title), res.limits.work_claims),
        note=latex_to_text(ref.get("annote") or ref.get("note")), coins=coins(ref) if several else "",
    )


def reference_pages(res: Resolver, out: Output) -> None:
    # the rows each work states and those resting on it: groupings the loop carries, and the digests of their lists
    # with them (kb.site.deps.KeyMemo); made afresh, their ~400,000 claim keys were joined again (~0.3 s at 10k/50k)
    stated, resting = res.analysis.groups.by("source"), res.analysis.groups.by("cites")
    refs = res.works
    shared = tablequery.resting_template(res.mint)
    keep = out.keeper
    for bucket, keys in _buckets(refs).items():
        path = addresses.work_page(keys[0])
        # a work's entry reads its reference (the build's inputs) and the claims that state it or rest on it
        key = keep.key(path, *(part for k in keys for part in (k, keep.rows(stated.get(k, ())),
                                                                keep.rows(resting.get(k, ())))))
        if keep.reuse(path, key):
            continue
        several = len(keys) > 1
        views = tuple(reference_view(res, refs[k], stated.get(k, []), resting.get(k, []), several=several)
                      for k in keys)
        one = None if several else views[0]
        queries = [(v, v.resting.query) for v in views if v.resting.query]
        template = shared
        if not queries or any(tablequery.fill_work(template, v.key, v.title) != q.text for v, q in queries):
            template = ""  # no link needs it, or a label holds a placeholder: each link carries its own query
        page = ReferenceBucketPage(
            path=path, template="reference.html", section="references",
            title=one.title if one else _several("Works", bucket, [v.title for v in views]),
            description=_describe("works", [v.citation for v in views]),
            breadcrumbs=(Link("references/index.html", "Bibliography"),), bucket=bucket, works=views,
            scripts=("assets/refs.js",), marks=False, query_template=template,
        )
        page.jsonld = jsonld.bucket(res, page.title, [jsonld.work_part(res, refs[k]) for k in keys])
        if one is not None:
            page.meta = highwire_tags(refs[one.key])  # one work: Zotero and Google Scholar read the page as it
        out.pages.append(page)
        keep.record(path, key)
        out.settle()
