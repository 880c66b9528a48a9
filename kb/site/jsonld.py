"""The schema.org record each page embeds as JSON-LD (search engines and harvesters read it).

Plain dicts of plain values; the template serialises them with ``tojson``, which escapes ``<``,
``>`` and ``&`` so no text can close the script element. IRIs are the KB's own, so a harvester
can join the page to the graph dump.
"""

from __future__ import annotations

from collections.abc import Iterable

from kb.bibtex.load import latex_to_text
from kb.export.formats import DATASET_DESCRIPTION, DATASET_KEYWORDS
from kb.model import Claim, Concept, Reference
from kb.site.pages import Download
from kb.site.paths import doi_url, safe_external_url
from kb.site.views import Resolver

CONTEXT = "https://schema.org"
TYPES = {"article": "ScholarlyArticle", "book": "Book", "incollection": "Chapter", "inbook": "Chapter",
         "techreport": "Report", "report": "Report", "online": "WebPage", "phdthesis": "Thesis",
         "mastersthesis": "Thesis"}


def dataset_ref(res: Resolver) -> dict:
    return {"@type": "Dataset", "@id": res.mint.dataset(), "name": res.ev.config.title}


def dataset(res: Resolver, description: str, updated: str, downloads: Iterable[Download]) -> dict:
    """The KB as a schema.org Dataset (what Google's Dataset Search and other catalogues read)."""
    config = res.ev.config
    record = {
        "@context": CONTEXT, "@type": "Dataset", "@id": res.mint.dataset(), "name": config.title,
        "description": DATASET_DESCRIPTION, "abstract": description, "keywords": list(DATASET_KEYWORDS),
        "license": safe_external_url(config.data_licence_url) or config.data_licence,
        "isAccessibleForFree": True, "inLanguage": "en", "url": "index.html",
        "isBasedOn": [{"@id": res.mint.work(c)} for c in sorted({c.source for c in res.ev.claims})],
        "distribution": [{"@type": "DataDownload", "name": d.link.label, "description": d.description,
                          "contentUrl": d.link.path, "encodingFormat": d.media_type,
                          "contentSize": f"{d.bytes} bytes"} for d in downloads],
        "subjectOf": {"@type": "WebPage", "name": "Query the KB with SPARQL (in the browser)",
                      "url": "sparql.html"},
    }
    if not record["distribution"]:
        del record["distribution"]
    if updated:
        record["dateModified"] = updated
    return record


def collection(res: Resolver, name: str, description: str) -> dict:
    return {"@context": CONTEXT, "@type": "CollectionPage", "name": name, "description": description,
            "isPartOf": dataset_ref(res)}


PREFIXES = {"claim": "claim/", "work": "work/"}  # compact IRIs on bucket pages: ``claim:<id>``, ``work:<key>``


def bucket(res: Resolver, name: str, records: list[dict]) -> dict:
    """A page of records (claims or works): the page, with each record as a part (no ``@context`` of its own).

    The context adds the prefixes ``claim:`` and ``work:`` (the KB's own IRIs, expanded by any JSON-LD
    processor) so that each part names its IRI in a few bytes: at 50,000 claims the full IRIs and
    anchors of the parts were 7 MB (issue 17). A part's anchor on the page is its IRI's last segment."""
    base = res.ev.config.base_iri
    context = [CONTEXT, {prefix: base + path for prefix, path in PREFIXES.items()}]
    return {"@context": context, "@type": "CollectionPage", "name": name, "isPartOf": dataset_ref(res),
            "hasPart": [{k: v for k, v in r.items() if k != "@context"} for r in records]}


def compact(iri: str, res: Resolver) -> str:
    """``iri`` as a compact IRI with a bucket page's prefixes (unchanged if none applies)."""
    base = res.ev.config.base_iri
    for prefix, path in PREFIXES.items():
        if iri.startswith(base + path) and "/" not in iri[len(base + path):]:
            return f"{prefix}:{iri[len(base + path):]}"
    return iri


def webpage(res: Resolver, name: str, description: str) -> dict:
    return {"@context": CONTEXT, "@type": "WebPage", "name": name, "description": description,
            "isPartOf": dataset_ref(res)}


def claim_part(res: Resolver, record: Claim) -> dict:
    """A claim as a part of its bucket page: its IRI, compact (the page shows the rest; the graph dump
    has it all; the IRI's last segment is the claim's anchor). Lean, because a page holds fifty."""
    return {"@type": "Claim", "@id": compact(res.mint.claim(record.id), res)}


def work_part(res: Resolver, ref: Reference) -> dict:
    """A work as a part of its bucket page: type, IRI, key (its anchor), title and DOI (lean: a page holds ten)."""
    record: dict = {"@type": TYPES.get(ref.entry_type, "CreativeWork"), "@id": compact(res.mint.work(ref.key), res),
                    "identifier": ref.key, "name": latex_to_text(ref.title)}
    doi = doi_url(ref.doi)
    if doi:
        record["sameAs"] = doi
    return record


def concept(res: Resolver, record: Concept) -> dict:
    definition, alt_labels = res.words(record.scheme, record.id)
    return {
        "@context": CONTEXT, "@type": "DefinedTerm", "@id": record.iri, "name": record.label,
        "description": definition, "termCode": record.id,
        "alternateName": list(alt_labels),
        "inDefinedTermSet": {"@type": "DefinedTermSet", "@id": res.mint.scheme(record.scheme),
                             "name": res.vocab.scheme_labels.get(record.scheme, record.scheme)},
    }
