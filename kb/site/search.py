"""The client-side search index and the SPARQL page's IRI → page map, as plain data.

The search is hand-written (``site_templates/static/search.js``): a few hundred or thousand
records need no library. Each record carries a kind, a title, the text to match and a site path; a work also
its citekey and the data script holding its downloads (:mod:`kb.site.refdata`). At 50,000 claims the
index was 37 MB, most of it text the site already ships, so claims and works refer instead of repeat:
their paths follow from their ids, a claim's statement is in ``assets/map-statements.js``, its
concepts are positions in the index (:func:`search_index`). The index keeps the
words as written; the script folds spellings (British and American), drops stop words and stems, the
same way for the index and the query, so that there is one implementation to test (in the browser).
"""

from __future__ import annotations

from kb.bibtex.load import latex_to_text
from kb.ids import SCHEMES
from kb.site.addresses import CONCEPT_FOLDERS
from kb.site.views import Resolver, short_cite

KIND_LABELS = {"claim": "Claim", "reference": "Work", "population": "Population", "setting": "Setting",
               "delivery": "Delivery", "perspective": "Perspective", "intervention": "Intervention",
               "outcome": "Outcome"}


def search_index(res: Resolver, statements: dict[str, str]) -> list[dict[str, object]]:
    """One record per concept and outcome domain, claim and work: kind ``k``, title ``t``, text
    ``x``, site path ``u``.

    Lean at scale (issue 17): the concepts come first, so that a claim lists its concepts
    (``cs``) by their position in the index; the search matches their labels and
    ``skos:altLabel``s as the claim's own words ("hospital admission" finds claims about
    hospitalisation) without repeating them in every claim. A claim carries its id ``i`` and no
    path (the script computes it, :mod:`kb.site.addresses`), and its statement as its position
    ``n`` in ``statements`` (claim id → statement, ``assets/map-statements.js``, which the search page loads too) when
    it is there; a work its citekey ``c`` and no path either. In a large KB the text of a claim
    is its source's key, not its quote (:mod:`kb.site.limits`).
    """
    records: list[dict[str, object]] = []
    position: dict[str, int] = {}
    for scheme in CONCEPT_FOLDERS:
        for concept_id in res.vocab.ids(scheme) + (res.vocab.ids(scheme, domains=True) if scheme == "outcome" else []):
            concept = res.vocab.get(scheme, concept_id)
            assert concept is not None
            definition, alt_labels = res.words(scheme, concept_id)
            position[f"{scheme}:{concept_id}"] = len(records)
            records.append({"k": "domain" if concept.is_domain else scheme, "t": concept.label,
                            "u": res.concept_path(scheme, concept_id) or "", "id": f"{scheme}:{concept_id}",
                            "a": list(alt_labels), "x": " ".join([definition, concept_id])})
    by_claim = {c.id: c for c in res.ev.claims}
    statement_at = {claim_id: n for n, claim_id in enumerate(statements)}
    for claim_id in res.analysis.claim_ids:
        claim = by_claim.get(claim_id)
        if claim is None:
            continue
        concepts = [f"{facet}:{c}" for facet in ("population", "setting", "delivery") for c in getattr(claim, facet)]
        concepts += [f"perspective:{claim.perspective}", f"intervention:{claim.intervention}"]
        concepts += [f"outcome:{f.outcome}" for f in claim.outcomes]
        record: dict[str, object] = {"k": "claim", "i": claim.id}
        if claim.id in statement_at:
            record["n"] = statement_at[claim.id]
        else:
            record["t"] = " ".join(claim.statement.split())
        record["x"] = " ".join([*claim.quote.split(), claim.source] if res.limits.search_quotes else [claim.source])
        record["cs"] = sorted({position[c] for c in concepts if c in position})
        records.append(record)
    for ref in sorted(res.every_work(), key=lambda r: r.key):
        people = " ".join(latex_to_text(p.family) for p in ref.authors)
        records.append({"k": "reference", "t": f"{short_cite(ref)}: {latex_to_text(ref.title)}",
                        "c": ref.key, "s": res.refdata.shard(ref.key),
                        "x": " ".join([people, latex_to_text(ref.get("journal")), ref.doi])})
    return records


def sparql_links(res: Resolver) -> dict[str, object]:
    """IRI → site page (and label), so that query results show labels linking to the pages of
    claims, works and concepts.

    IRIs are stored relative to the base IRI (``base``), a third of the bytes at scale. A work's or
    concept's value is ``[path, label]``. Claims are not listed (``claims``: every claim of the KB
    has its page): the page computes a claim's path from its id (:mod:`kb.site.addresses`, the
    SPARQL page loads ``resolve.js``) and labels it with its id, the IRI's last segment.
    """
    base = res.mint.base
    links: dict[str, object] = {}

    def key(iri: str) -> str:
        return iri[len(base):] if iri.startswith(base) else iri

    for work in res.work_keys():  # each work's link (its label), in references.bib's order
        links[key(res.mint.work(work))] = [res.ref_path(work), res.ref_link(work).label]
    for scheme, concepts in res.vocab.concepts.items():
        for concept in concepts.values():
            path = res.concept_path(scheme, concept.id)
            if path:
                links[key(concept.iri)] = [path, concept.label]
    for scheme in SCHEMES:
        links[key(res.mint.scheme(scheme))] = [f"method.html#scheme-{scheme}",
                                               res.vocab.scheme_labels.get(scheme, scheme)]
    return {"base": base, "claims": True, "links": links}
