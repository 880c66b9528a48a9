"""FHIR R5 ``Citation`` resources, one per work of references.bib, and the ids the export mints.

A Citation carries what the BibTeX entry states and nothing more: the title, the authors in order
(``contributorship.complete`` is false where the source said "et al."), the venue, volume, issue,
pages and year, the DOI and the citekey as identifiers, and — for a document whose reference list
the KB holds — one ``relatesTo`` of type ``cites`` per listed work, in reference-list order.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from kb.bibtex.display import latex_to_text
from kb.graph.iris import Minter
from kb.model import CitationList, Person, Reference

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DOI_SYSTEM = "https://doi.org"
RFC3986 = "urn:ietf:rfc:3986"
_PAGES = re.compile(r"^\s*(\S+?)\s*-+\s*(\S+)\s*$")


def fhir_id(text: str) -> str:
    """A FHIR id (``[A-Za-z0-9-.]{1,64}``) for one of our identifiers: itself where it already is
    one, else its allowed characters cut short plus a hash of the whole (distinct and stable)."""
    if FHIR_ID.match(text):
        return text
    safe = re.sub(r"[^A-Za-z0-9\-.]", "-", text)[:51]
    return f"{safe}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def concept_fhir_id(scheme: str, concept_id: str) -> str:
    """``population.older-adults``: concept ids never hold ``-``, so turning ``_`` into it is safe."""
    return fhir_id(f"{scheme.replace('_', '-')}.{concept_id.replace('_', '-')}")


def citekey_system(mint: Minter) -> str:
    return mint.base + "citekey"


def citation(ref: Reference, mint: Minter, cites: CitationList | None, known: set[str]) -> dict[str, Any]:
    """The Citation of one work; ``known`` are the citekeys that have a Citation in the bundle."""
    work = mint.work(ref.key)
    title = latex_to_text(ref.title)
    artifact: dict[str, Any] = {"identifier": _identifiers(ref, mint)}
    if title:
        artifact["title"] = [{"text": title}]
    url = ref.get("url")
    if url.startswith(("http://", "https://")) and " " not in url:
        artifact["webLocation"] = [{"url": url}]
    form = _publication_form(ref)
    if form:
        artifact["publicationForm"] = [form]
    people = _contributors(ref.authors, ref.authors_truncated)
    if people:
        artifact["contributorship"] = people
    if cites is not None:
        artifact["relatesTo"] = [{"type": "cites", "resourceReference": {"reference": f"Citation/{fhir_id(key)}"}}
                                 for key in cites.references if key in known]
    resource: dict[str, Any] = {"resourceType": "Citation", "id": fhir_id(ref.key), "url": work,
                                "identifier": [{"system": RFC3986, "value": work}], "status": "active"}
    if title:
        resource["title"] = title
    resource["citedArtifact"] = artifact
    return resource


def _identifiers(ref: Reference, mint: Minter) -> list[dict[str, str]]:
    ids = [{"system": citekey_system(mint), "value": ref.key}]
    if ref.doi:
        ids.insert(0, {"system": DOI_SYSTEM, "value": ref.doi})
    return ids


def _publication_form(ref: Reference) -> dict[str, Any]:
    form: dict[str, Any] = {}
    venue = latex_to_text(ref.get("journal") or ref.get("booktitle"))
    publisher = latex_to_text(ref.get("publisher") or ref.get("institution") or ref.get("organization")
                              or ref.get("school"))
    published_in: dict[str, Any] = {}
    if venue:
        published_in["title"] = venue
    if publisher:
        published_in["publisher"] = {"display": publisher}
    if published_in:
        form["publishedIn"] = published_in
    for field_name, element in (("volume", "volume"), ("number", "issue")):
        if ref.get(field_name):
            form[element] = latex_to_text(ref.get(field_name))
    if re.match(r"^\d{4}-\d{2}-\d{2}$", ref.get("date")):
        form["articleDate"] = ref.get("date")
    if ref.year.strip():
        form["publicationDateText"] = ref.year.strip()
    pages = ref.get("pages")
    if pages:
        match = _PAGES.match(pages)
        if match:
            form["firstPage"], form["lastPage"] = match.group(1), match.group(2)
        form["pageString"] = pages.replace("--", "–")
    return form


def _contributors(people: tuple[Person, ...], truncated: bool) -> dict[str, Any] | None:
    if not people:
        return None
    names = [latex_to_text(p.family) if p.literal or not p.given else
             f"{latex_to_text(p.family)}, {latex_to_text(p.given)}" for p in people]
    entries = []
    for rank, (person, name) in enumerate(zip(people, names, strict=True), start=1):
        entry: dict[str, Any] = {"contributor": {"display": name}}
        initials = "".join(part[0] for part in re.split(r"[\s.-]+", latex_to_text(person.given)) if part)
        if initials and not person.literal:
            entry["forenameInitials"] = initials
        entry["rankingOrder"] = rank
        entries.append(entry)
    summary = "; ".join(names) + ("; et al." if truncated else "")
    return {"complete": not truncated, "entry": entries, "summary": [{"value": summary}]}
