"""A state of the KB as plain values keyed by stable identifiers, read from its graph.

Works are keyed by citekey and claims by claim id; each holds its fields as sorted, comparable
strings (concepts by their short id, authors in order), so that a reordered file is no change
and a changed value is named by the field an editor knows. Reading the graph rather than the
files lets two built sites' dumps be compared as easily as two evidence folders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.namespaces import BIBO, CITO, DCTERMS, FOAF, PROV, PSK, RDF, SKOS

if TYPE_CHECKING:
    import pyoxigraph as ox

# Graph property → the field name an editor knows (claim files and BibTeX).
CLAIM_FIELDS = {
    PSK + "statement": "statement", PSK + "quote": "quote", PSK + "section": "section",
    PROV + "wasQuotedFrom": "source", CITO + "citesAsEvidence": "cites", PSK + "findingType": "finding_type",
    PSK + "population": "population", PSK + "setting": "setting", PSK + "deliveryMode": "delivery",
    PSK + "perspective": "perspective", PSK + "intervention": "intervention", PSK + "comparator": "comparator",
    PSK + "design": "design", PSK + "certainty": "certainty", PSK + "startingCertainty": "certainty_start",
    PSK + "downgrade": "downgrades", PSK + "certaintyBasis": "certainty_basis",
    PSK + "certaintyReason": "certainty_reason", PSK + "reportedCertainty": "reported_as",
    PSK + "dose": "dose", PSK + "frequency": "frequency", PSK + "duration": "duration",
    PSK + "numberOfStudies": "n_studies", PSK + "numberOfParticipants": "n_participants",
    PSK + "country": "country", SKOS + "editorialNote": "notes",
}
WORK_FIELDS = {
    PSK + "bibtexType": "type", DCTERMS + "title": "title", DCTERMS + "issued": "year", DCTERMS + "date": "date",
    BIBO + "volume": "volume", BIBO + "issue": "number", BIBO + "pages": "pages", BIBO + "doi": "doi",
    BIBO + "shortTitle": "shortjournal", BIBO + "edition": "edition", DCTERMS + "publisher": "publisher",
    "https://schema.org/url": "url", PSK + "accessed": "urldate", SKOS + "editorialNote": "annote",
    SKOS + "note": "note", DCTERMS + "isPartOf": "journal",
}
# Fields that do not change what a claim says (a reworded reason is still reported, but separately).
CONTENT_FIELDS = ("statement", "quote", "source", "cites", "finding_type", "population", "setting", "delivery",
                  "perspective", "intervention", "comparator", "design", "certainty", "findings")


@dataclass(frozen=True)
class Record:
    """One work or claim: field → value (several values joined, sorted, with ``; ``)."""

    id: str
    fields: dict[str, str]

    def content(self) -> tuple[tuple[str, str], ...]:
        """What the record says, without its identifier: equal content under two ids is a rename."""
        return tuple(sorted(self.fields.items()))


@dataclass
class Snapshot:
    """Works and claims by identifier, and the labels to name concepts in words."""

    works: dict[str, Record] = field(default_factory=dict)
    claims: dict[str, Record] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # "scheme:id" → label
    domains: dict[str, str] = field(default_factory=dict)  # outcome id → domain id
    design_groups: dict[str, str] = field(default_factory=dict)  # design id → psk:designGroup
    intervention_kinds: dict[str, str] = field(default_factory=dict)  # intervention id → psk:interventionKind
    findings: dict[str, dict[str, str]] = field(default_factory=dict)  # claim id → outcome → direction

    def label(self, scheme: str, concept_id: str) -> str:
        return self.labels.get(f"{scheme}:{concept_id}", concept_id.replace("_", " "))


class StateError(ValueError):
    """A state to compare could not be read (no such folder, revision or dump)."""


def read_dump(path: Path) -> Snapshot:
    """The snapshot of an N-Triples dump (``.nt``, ``.nt.gz``): a built site's or a release's."""
    store = load_dump(path)
    return read_snapshot(store, base_of(store, path))


def load_dump(path: Path) -> ox.Store:
    """A dump (``.nt``, ``.nt.gz``) in a fresh in-memory store."""
    import gzip

    import pyoxigraph as ox

    store = ox.Store()
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        store.bulk_load(data, format=ox.RdfFormat.N_TRIPLES)
    except (OSError, SyntaxError, EOFError) as exc:
        raise StateError(f"{path}: not a readable N-Triples dump ({exc})") from None
    return store


def base_of(store: ox.Store, path: Path) -> str:
    """The base IRI of a dump: a work's IRI minus ``work/<citekey>``."""
    import pyoxigraph as ox

    for quad in store.quads_for_pattern(None, ox.NamedNode(PSK + "citekey"), None, None):
        iri, key = str(quad.subject)[1:-1], quad.object
        if isinstance(key, ox.Literal) and iri.endswith("work/" + key.value):
            return iri[: -len("work/" + key.value)]
    raise StateError(f"{path}: no works in this dump, so it is not a KB graph")


def read_snapshot(store: ox.Store, base_iri: str) -> Snapshot:
    """The works, claims, findings and concept labels of a KB graph (one pass over its triples)."""
    work_prefix, claim_prefix, concept_prefix = base_iri + "work/", base_iri + "claim/", base_iri + "concept/"
    wanted = (work_prefix, claim_prefix, concept_prefix, base_iri + "venue/")
    by_subject: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for quad in store.quads_for_pattern(None, None, None, None):
        subject = str(quad.subject)[1:-1]  # <iri>: the KB has no blank nodes or quoted triples
        if subject.startswith(wanted):
            by_subject[subject].append((quad.predicate.value, quad.object))
    snap = Snapshot()
    for subject, props in by_subject.items():
        if subject.startswith(concept_prefix):
            scheme, _, cid = subject[len(concept_prefix):].partition("/")
            scheme = "outcome" if scheme == "outcome-domain" else scheme
            for p, o in props:
                if p == SKOS + "prefLabel":
                    snap.labels[f"{scheme}:{cid}"] = o.value  # type: ignore[attr-defined]
                elif p == SKOS + "broader" and scheme == "outcome":
                    snap.domains[cid] = _local(o.value)  # type: ignore[attr-defined]
                elif p == PSK + "designGroup":
                    snap.design_groups[cid] = o.value  # type: ignore[attr-defined]
                elif p == PSK + "interventionKind":
                    snap.intervention_kinds[cid] = _local(o.value)  # type: ignore[attr-defined]
    for subject, props in by_subject.items():
        rest = subject[len(claim_prefix):] if subject.startswith(claim_prefix) else ""
        if rest and "/" not in rest:
            snap.claims[rest] = _claim(rest, subject, props, by_subject, snap)
        key = subject[len(work_prefix):] if subject.startswith(work_prefix) else ""
        if key and "/" not in key:
            snap.works[key] = _work(key, subject, props, by_subject)
    return snap


def _claim(claim_id: str, subject: str, props: list, by_subject: dict, snap: Snapshot) -> Record:
    values: dict[str, list[str]] = defaultdict(list)
    findings: dict[str, str] = {}
    for p, o in props:
        if p == PSK + "finding":
            outcome, direction, effect = "", "", ""
            for fp, fo in by_subject.get(o.value, []):
                if fp == PSK + "outcome":
                    outcome = _local(fo.value)
                elif fp == PSK + "direction":
                    direction = _local(fo.value)
                elif fp == PSK + "effect":
                    effect = next((eo.value for ep, eo in by_subject.get(fo.value, []) if ep == PSK + "effectText"), "")
            findings[outcome] = direction
            values["findings"].append(f"{outcome}={direction}" + (f" ({effect})" if effect else ""))
        elif p in (PSK + "effect", PSK + "figure"):
            text = next((eo.value for ep, eo in by_subject.get(o.value, []) if ep == PSK + "effectText"), "")
            values["effect" if p == PSK + "effect" else "figure"].append(text)
        elif p in CLAIM_FIELDS:
            values[CLAIM_FIELDS[p]].append(_value(o))
    snap.findings[claim_id] = dict(sorted(findings.items()))
    return Record(claim_id, {k: "; ".join(sorted(v)) for k, v in sorted(values.items())})


def _work(key: str, subject: str, props: list, by_subject: dict) -> Record:
    values: dict[str, list[str]] = defaultdict(list)
    for p, o in props:
        if p == BIBO + "authorList" or p == BIBO + "editorList":
            role = "authors" if p == BIBO + "authorList" else "editors"
            members = sorted((int(sp.rsplit("_", 1)[1]), so.value) for sp, so in by_subject.get(o.value, [])
                             if sp.startswith(RDF + "_"))
            names = [next((no.value for np_, no in by_subject.get(agent, []) if np_ == FOAF + "name"), agent)
                     for _, agent in members]
            values[role].append(" and ".join(names))  # order matters: not sorted
        elif p == DCTERMS + "isPartOf":
            venue = next((vo.value for vp, vo in by_subject.get(o.value, []) if vp == DCTERMS + "title"), "")
            values["journal"].append(venue or _local(o.value))
        elif p in WORK_FIELDS:
            values[WORK_FIELDS[p]].append(_value(o))
    return Record(key, {k: "; ".join(sorted(v)) for k, v in sorted(values.items())})


def _value(term: object) -> str:
    """A term as the editor wrote it: a concept by its short id, a literal by its text."""
    value: str = term.value  # type: ignore[attr-defined]
    import pyoxigraph as ox

    return _local(value) if isinstance(term, ox.NamedNode) else value


def _local(iri: str) -> str:
    return iri.rstrip("/").rsplit("/", 1)[-1]
