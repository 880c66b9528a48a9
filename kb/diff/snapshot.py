"""A state of the KB as plain values keyed by stable identifiers, read from its graph.

Works are keyed by citekey and claims by claim id; each holds its fields as sorted, comparable
strings (concepts by their short id, authors in order), so that a reordered file is no change
and a changed value is named by the field an editor knows. Reading the graph rather than the
files lets two built sites' dumps be compared as easily as two evidence folders.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
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

# Every property a snapshot reads (besides the members of the works' author and editor lists, rdf:_1 …)
READ = frozenset({*CLAIM_FIELDS, *WORK_FIELDS, RDF + "type", PSK + "citekey", PSK + "finding", PSK + "outcome",
                  PSK + "direction", PSK + "effect", PSK + "figure", PSK + "effectText", BIBO + "authorList",
                  BIBO + "editorList", FOAF + "name", SKOS + "prefLabel", SKOS + "broader", PSK + "designGroup",
                  PSK + "interventionKind"})


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
    """The snapshot of an N-Triples dump (``.nt``, ``.nt.gz``): a built site's or a release's.

    Read in one streamed pass that keeps only the properties the snapshot reads, not loaded into a store: at
    10k/50k the store took 7.4 s and ~0.7 GB before the snapshot was read from it (the first build or check
    after a release is cut, and every one on a fresh clone, reads the release's dump)."""
    import gzip
    import zlib

    import pyoxigraph as ox

    kept: dict[str, list[tuple[str, ox.NamedNode | ox.Literal]]] = defaultdict(list)
    lists: dict[str, list[tuple[int, str]]] = defaultdict(list)
    base = None
    try:
        with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as stream:  # never held whole
            for quad in ox.parse(stream, format=ox.RdfFormat.N_TRIPLES):
                subject, predicate, obj = quad.subject, quad.predicate.value, quad.object
                if not isinstance(subject, ox.NamedNode) or not isinstance(obj, ox.NamedNode | ox.Literal):
                    continue
                if predicate in READ:
                    kept[predicate].append((subject.value, obj))
                    if base is None and predicate == PSK + "citekey" and isinstance(obj, ox.Literal):
                        base = _base(subject.value, obj.value)
                elif predicate.startswith(RDF + "_") and predicate[len(RDF) + 1:].isdigit():
                    lists[subject.value].append((int(predicate[len(RDF) + 1:]), obj.value))
    except (OSError, SyntaxError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise StateError(f"{path}: not a readable N-Triples dump ({exc})") from None
    if base is None:
        raise StateError(f"{path}: no works in this dump, so it is not a KB graph")
    return _assemble(lambda predicate: kept.get(predicate, ()),
                     lambda node: [agent for _, agent in sorted(lists.get(node.value, ()))], base)


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
        base = _base(str(quad.subject)[1:-1], quad.object.value) if isinstance(quad.object, ox.Literal) else None
        if base is not None:
            return base
    raise StateError(f"{path}: no works in this dump, so it is not a KB graph")


def _base(iri: str, key: str) -> str | None:
    """The base IRI, where ``iri`` is the work whose citekey is ``key`` (``<base>work/<key>``)."""
    return iri[: -len("work/" + key)] if iri.endswith("work/" + key) else None


def read_snapshot(store: ox.Store, base_iri: str) -> Snapshot:
    """The works, claims, findings and concept labels of a KB graph, read property by property.

    Each property the snapshot names is read through the store's index for it, and kept as text: a pass over
    every triple that kept each one's terms took 8 s and ~0.9 GB more at 10k/50k, the peak of a build with
    releases (it compares the current graph with the latest release). Only subjects under the KB's own
    works, claims, concepts and venues are read; where a property is given twice, the value kept is the
    first (a work's or venue's title, an agent's name, an effect's text) or the last (a finding's outcome,
    direction and effect, a concept's label, domain, group and kind), in the order read."""
    import pyoxigraph as ox

    def each(predicate: str) -> Iterator[tuple[str, ox.NamedNode | ox.Literal]]:
        for quad in store.quads_for_pattern(None, ox.NamedNode(predicate), None, None):
            subject, obj = quad.subject, quad.object
            if isinstance(subject, ox.NamedNode) and isinstance(obj, ox.NamedNode | ox.Literal):
                yield subject.value, obj

    return _assemble(each, lambda node: _members(store, node), base_iri)


def _assemble(triples: Callable[[str], Iterable[tuple[str, ox.NamedNode | ox.Literal]]],
              members: Callable[[ox.NamedNode], list[str]], base_iri: str) -> Snapshot:
    """The snapshot from ``triples(property)`` (subject IRI, object) and ``members(list node)``."""
    import pyoxigraph as ox

    work_prefix, claim_prefix, concept_prefix = base_iri + "work/", base_iri + "claim/", base_iri + "concept/"
    wanted = (work_prefix, claim_prefix, concept_prefix, base_iri + "venue/")

    def each(predicate: str) -> Iterator[tuple[str, ox.NamedNode | ox.Literal]]:
        return ((subject, obj) for subject, obj in triples(predicate) if subject.startswith(wanted))

    def first(predicate: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for subject, obj in each(predicate):
            found.setdefault(subject, obj.value)
        return found

    def last(predicate: str) -> dict[str, str]:
        return {subject: obj.value for subject, obj in each(predicate)}

    def own(subject: str, prefix: str) -> str:
        """The record's id where ``subject`` is a work's or claim's own IRI (not a node under it), else ""."""
        rest = subject[len(prefix):] if subject.startswith(prefix) else ""
        return rest if "/" not in rest else ""

    claims: dict[str, dict[str, list[str]]] = {}
    works: dict[str, dict[str, list[str]]] = {}
    for subject, _obj in each(RDF + "type"):
        if key := own(subject, claim_prefix):
            claims.setdefault(key, defaultdict(list))
        elif key := own(subject, work_prefix):
            works.setdefault(key, defaultdict(list))
    for predicate in sorted(set(CLAIM_FIELDS) | set(WORK_FIELDS)):
        for subject, obj in each(predicate):
            if (key := own(subject, claim_prefix)) and predicate in CLAIM_FIELDS:
                claims.setdefault(key, defaultdict(list))[CLAIM_FIELDS[predicate]].append(_value(obj))
            elif (key := own(subject, work_prefix)) and predicate in WORK_FIELDS and predicate != DCTERMS + "isPartOf":
                works.setdefault(key, defaultdict(list))[WORK_FIELDS[predicate]].append(_value(obj))

    snap = Snapshot()
    _concepts(snap, concept_prefix, last)
    text = first(PSK + "effectText")
    outcome, direction = last(PSK + "outcome"), last(PSK + "direction")
    effects: dict[str, str] = {}  # a finding's effect: the last one, as the single pass kept
    findings: dict[str, list[str]] = defaultdict(list)
    for subject, obj in each(PSK + "effect"):
        if key := own(subject, claim_prefix):
            claims.setdefault(key, defaultdict(list))["effect"].append(text.get(obj.value, ""))
        effects[subject] = text.get(obj.value, "")
    for subject, obj in each(PSK + "figure"):
        if key := own(subject, claim_prefix):
            claims.setdefault(key, defaultdict(list))["figure"].append(text.get(obj.value, ""))
    for subject, obj in each(PSK + "finding"):
        if key := own(subject, claim_prefix):
            findings[key].append(obj.value)
    for key in sorted(claims):
        values, by_outcome = claims[key], {}
        for node in findings.get(key, ()):
            found, said, effect = _local(outcome.get(node, "")), _local(direction.get(node, "")), effects.get(node, "")
            by_outcome[found] = said
            values["findings"].append(f"{found}={said}" + (f" ({effect})" if effect else ""))
        snap.findings[key] = dict(sorted(by_outcome.items()))
        snap.claims[key] = _record(key, values)

    names, titles = first(FOAF + "name"), first(DCTERMS + "title")
    for role, predicate in (("authors", BIBO + "authorList"), ("editors", BIBO + "editorList")):
        for subject, obj in each(predicate):
            if key := own(subject, work_prefix):
                agents = members(obj) if isinstance(obj, ox.NamedNode) and obj.value.startswith(wanted) else []
                works.setdefault(key, defaultdict(list))[role].append(" and ".join(names.get(a, a) for a in agents))
    for subject, obj in each(DCTERMS + "isPartOf"):
        if key := own(subject, work_prefix):
            works.setdefault(key, defaultdict(list))["journal"].append(titles.get(obj.value) or _local(obj.value))
    for key in sorted(works):
        snap.works[key] = _record(key, works[key])
    return snap


def _concepts(snap: Snapshot, prefix: str, last: Callable[[str], dict[str, str]]) -> None:
    """The concepts' labels, the outcomes' domains, the designs' groups and the interventions' kinds."""
    def concepts(predicate: str) -> Iterator[tuple[str, str, str]]:
        for subject, value in sorted(last(predicate).items()):
            if subject.startswith(prefix):
                scheme, _, cid = subject[len(prefix):].partition("/")
                yield ("outcome" if scheme == "outcome-domain" else scheme), cid, value

    for scheme, cid, value in concepts(SKOS + "prefLabel"):
        snap.labels[f"{scheme}:{cid}"] = value
    for scheme, cid, value in concepts(SKOS + "broader"):
        if scheme == "outcome":
            snap.domains[cid] = _local(value)
    for _scheme, cid, value in concepts(PSK + "designGroup"):
        snap.design_groups[cid] = value
    for _scheme, cid, value in concepts(PSK + "interventionKind"):
        snap.intervention_kinds[cid] = _local(value)


def _members(store: ox.Store, node: ox.NamedNode) -> list[str]:
    """An RDF list's members (``rdf:_1``, ``rdf:_2`` …) in order."""
    import pyoxigraph as ox

    members = sorted((int(quad.predicate.value[len(RDF) + 1:]), quad.object.value)
                     for quad in store.quads_for_pattern(node, None, None, None)
                     if quad.predicate.value.startswith(RDF + "_") and quad.predicate.value[len(RDF) + 1:].isdigit()
                     and isinstance(quad.object, ox.NamedNode | ox.Literal))
    return [agent for _, agent in members]


def _record(key: str, values: dict[str, list[str]]) -> Record:
    """A record of its fields' values; a short value (an id, a level, a name) is one string however many records
    hold it: at 50,000 claims 6 in 7 of the claims' values are repeats (146,000 distinct of 938,000); what reading
    a snapshot left in memory went 312 → 247 MB."""
    return Record(key, {k: _shared("; ".join(sorted(v))) for k, v in sorted(values.items())})


def _shared(value: str) -> str:
    return sys.intern(value) if len(value) <= 64 else value


def _value(term: object) -> str:
    """A term as the editor wrote it: a concept by its short id, a literal by its text."""
    value: str = term.value  # type: ignore[attr-defined]
    import pyoxigraph as ox

    return _local(value) if isinstance(term, ox.NamedNode) else value


def _local(iri: str) -> str:
    return iri.rstrip("/").rsplit("/", 1)[-1]
