"""A state of the KB as plain values keyed by stable identifiers, read from its graph.

Works are keyed by citekey, claims by claim id and concepts by ``scheme/id``; each holds its fields as
sorted, comparable strings (concepts by their short id, authors in order), so that a reordered file is no change
and a changed value is named by the field an editor knows. Reading the graph rather than the
files lets two built sites' dumps be compared as easily as two evidence folders.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

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

# Every property a record is made of (besides the members of the works' author and editor lists, rdf:_1 …)
READ = frozenset({*CLAIM_FIELDS, *WORK_FIELDS, PSK + "finding", PSK + "outcome", PSK + "direction", PSK + "effect",
                  PSK + "figure", PSK + "effectText", BIBO + "authorList", BIBO + "editorList", FOAF + "name",
                  SKOS + "prefLabel", SKOS + "broader", PSK + "designGroup", PSK + "interventionKind",
                  SKOS + "definition", SKOS + "altLabel"})
# A concept's fields, by the property that gives each (what a vocabulary file says of it, in an editor's words)
CONCEPT_FIELDS = {SKOS + "prefLabel": "label", SKOS + "altLabel": "also_called", SKOS + "definition": "definition",
                  SKOS + "broader": "domain", PSK + "designGroup": "design_group",
                  PSK + "interventionKind": "intervention_kind"}
_LINKS = ("domain", "intervention_kind")  # fields whose value is another concept, named by its id

# A record is a subject with one of these properties (a work's citekey; a concept's label or values), or typed a
# claim (:data:`CLAIM_TYPE`): not every typed node, of which the graph has ten times as many (0.55 s of a rebuild)
FOUND_BY = (PSK + "citekey", SKOS + "prefLabel", SKOS + "broader", PSK + "designGroup", PSK + "interventionKind")
CLAIM_TYPE = PSK + "Claim"


@dataclass(frozen=True, slots=True)
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
    concepts: dict[str, Record] = field(default_factory=dict)  # "scheme/id" → what the vocabulary says of it
    labels: dict[str, str] = field(default_factory=dict)  # "scheme:id" → label
    domains: dict[str, str] = field(default_factory=dict)  # outcome id → domain id
    design_groups: dict[str, str] = field(default_factory=dict)  # design id → psk:designGroup
    intervention_kinds: dict[str, str] = field(default_factory=dict)  # intervention id → psk:interventionKind
    findings: dict[str, dict[str, str]] = field(default_factory=dict)  # claim id → outcome → direction
    # what kb.diff.compare made of it (its map's cells, its summary rows): a snapshot is not changed once read, and a
    # release's is compared in every build of the editors' loop (~0.3 s each at 50,000 claims)
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def label(self, scheme: str, concept_id: str) -> str:
        return self.labels.get(f"{scheme}:{concept_id}", concept_id.replace("_", " "))


@dataclass(frozen=True)
class Pickled:
    """A release's snapshot not held until it is compared, one or two at a time: a build reads each release before
    its graph, while the process is small. Held as objects (~120 MB each at 10k/50k) while the graph was built, a
    release left ~86 MB of the heap's arenas unreturnable once freed (the graph's own objects filled their gaps),
    through the site's rendering and in every worker."""

    dump: Path  # read again where the pickle will not load (its bytes are the ones it was made from)
    cache: Path | None = None  # where its pickle is kept
    data: bytes | None = None  # or the pickle itself, where it could not be kept

    def load(self) -> Snapshot:
        try:
            data = self.data if self.data is not None else self.cache.read_bytes() if self.cache is not None else b""
        except OSError:
            data = b""
        snap = unpickled(data)
        return snap if snap is not None else read_dump(self.dump)


def unpickled(data: bytes) -> Snapshot | None:
    """The snapshot pickled in ``data``, or None where it is not one (damaged, cut short, or pickled by older code)."""
    import pickle

    try:
        snap = pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return None
    return snap if isinstance(snap, Snapshot) else None


def loaded(snap: Snapshot | Pickled) -> Snapshot:
    return snap.load() if isinstance(snap, Pickled) else snap


class StateError(ValueError):
    """A state to compare could not be read (no such folder, revision or dump)."""


def read_dump(path: Path) -> Snapshot:
    """The snapshot of an N-Triples dump (``.nt``, ``.nt.gz``): a built site's or a release's.

    Read in one streamed pass that keeps only the properties the snapshot reads, not loaded into a store: at
    10k/50k 7.9 s and a peak of 0.53 GB, where loading a store and reading it took 15.5 s and 1.6 GB (the first
    build or check after a release is cut, and every one on a fresh clone, reads the release's dump)."""
    import gzip
    import zlib

    import pyoxigraph as ox

    kept: dict[str, list[tuple[str, ox.NamedNode | ox.Literal]]] = defaultdict(list)  # subject → its properties
    typed: list[str] = []
    base = None
    try:
        with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as stream:  # never held whole
            for quad in ox.parse(cast(IO[bytes], stream), format=ox.RdfFormat.N_TRIPLES):
                subject, predicate, obj = quad.subject, quad.predicate.value, quad.object
                if not isinstance(subject, ox.NamedNode) or not isinstance(obj, ox.NamedNode | ox.Literal):
                    continue
                if predicate in READ or predicate.startswith(RDF + "_"):
                    kept[subject.value].append((sys.intern(predicate), obj))  # one string per property
                if predicate in FOUND_BY or (predicate == RDF + "type" and obj.value == CLAIM_TYPE):
                    typed.append(subject.value)
                if base is None and predicate == PSK + "citekey" and isinstance(obj, ox.Literal):
                    base = _base(subject.value, obj.value)
    except (OSError, SyntaxError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise StateError(f"{path}: not a readable N-Triples dump ({exc})") from None
    if base is None:
        raise StateError(f"{path}: no works in this dump, so it is not a KB graph")
    return _assemble(_subjects(typed, base), lambda subject: kept.get(subject, ()), base)


def _base(iri: str, key: str) -> str | None:
    """The base IRI, where ``iri`` is the work whose citekey is ``key`` (``<base>work/<key>``)."""
    return iri[: -len("work/" + key)] if iri.endswith("work/" + key) else None


def _fresh(kind: str, ids: list[str], make: Callable[[list[str]], list[Any]]) -> list[Any]:
    return make(ids)


def read_snapshot(store: ox.Store, base_iri: str, reuse: Reuse = _fresh, like: Snapshot | None = None,
                  subjects: Subjects | None = None) -> Snapshot:
    """The works, claims, findings and concept labels of a KB graph, read record by record.

    Each work, claim and concept is read with the nodes it points to (findings, effects, author lists, agents,
    venues) through the store's index by subject, and made into its record at once. At 10k/50k that is 3.8 s
    and ~0.12 GB, the snapshot itself; a pass over every triple that kept their terms until the records were
    made took 9.3 s and ~0.9 GB more at its peak, the peak of a build with releases (it compares the current
    graph with the latest release). Only subjects under the KB's own works, claims, concepts and venues are
    read; where a property is given twice, the first value counts for a title, a name or an effect's text, the
    last for a finding's outcome, direction and effect and for a concept's label, domain, group and kind, in the
    order read.

    ``reuse(kind, ids, make)`` gives the claims' (``"claims"``: each its record and findings) or the works' records
    (``"works"``), making with ``make`` those it does not keep: the editors' loop keeps them by record
    (:class:`kb.pipeline.Warm`), so that a rebuild reads only the edited file's claims.

    A record or a claim's findings equal to ``like``'s under the same id is ``like``'s object: the current graph is
    read to be compared with the latest release, which it mostly repeats, so the two snapshots are held at once
    for the price of one and its changes. ``subjects`` are the store's records where they are known
    (:func:`patched_subjects`)."""
    import pyoxigraph as ox

    terms = (ox.NamedNode, ox.Literal)

    def props(subject: str) -> Iterator[tuple[str, ox.NamedNode | ox.Literal]]:
        for quad in store.quads_for_pattern(ox.NamedNode(subject), None, None, None):
            obj = quad.object  # each access makes a new Python object of the store's term
            if isinstance(obj, terms):
                yield quad.predicate.value, obj

    return _assemble(subjects if subjects is not None else record_subjects(store, base_iri), props, base_iri, reuse,
                     like)


@dataclass(frozen=True)
class Subjects:
    """The records a graph holds: its claims' ids and works' keys (interned: one string in every snapshot, diff and
    history that names one), and its concepts' IRIs."""

    claims: frozenset[str] = frozenset()
    works: frozenset[str] = frozenset()
    concepts: frozenset[str] = frozenset()


def record_subjects(store: ox.Store, base_iri: str) -> Subjects:
    """The records of ``store``: the subjects with a property of :data:`FOUND_BY`, and the claims."""
    import pyoxigraph as ox

    return _subjects((quad.subject.value for pattern in _record_patterns()
                      for quad in store.quads_for_pattern(*pattern, None) if isinstance(quad.subject, ox.NamedNode)),
                     base_iri)


def patched_subjects(last: Subjects, store: ox.Store, base_iri: str, removed: Iterable[ox.Quad],
                     added: Iterable[ox.Quad]) -> Subjects:
    """The records of ``store`` where ``last`` were its records before ``removed`` and ``added`` (the editors' loop
    patches the last graph's store in place, :class:`kb.graph.build.StorePatch`): a subject that lost a record's
    property stays where the store still gives it one. Reading every record's subject again was ~0.3 s of each
    rebuild at 10k/50k."""
    import pyoxigraph as ox

    came = {q.subject.value for q in added if isinstance(q.subject, ox.NamedNode) and _marks_record(q)}
    lost = {q.subject.value for q in removed if isinstance(q.subject, ox.NamedNode) and _marks_record(q)} - came
    if not came and not lost:
        return last
    patterns = _record_patterns()
    still = {s for s in lost if any(next(store.quads_for_pattern(ox.NamedNode(s), p, o, None), None) is not None
                                    for _, p, o in patterns)}
    gone, new = _subjects(lost - still, base_iri), _subjects(came, base_iri)
    return Subjects((last.claims - gone.claims) | new.claims, (last.works - gone.works) | new.works,
                    (last.concepts - gone.concepts) | new.concepts)


def _record_patterns() -> list[tuple[None, ox.NamedNode, ox.NamedNode | None]]:
    import pyoxigraph as ox

    patterns: list[tuple[None, ox.NamedNode, ox.NamedNode | None]] = [
        (None, ox.NamedNode(predicate), None) for predicate in FOUND_BY]
    patterns.append((None, ox.NamedNode(RDF + "type"), ox.NamedNode(CLAIM_TYPE)))
    return patterns


def _marks_record(quad: ox.Quad) -> bool:
    """The triple makes its subject a record (:func:`record_subjects`'s patterns)."""
    import pyoxigraph as ox

    predicate = quad.predicate.value
    return predicate in FOUND_BY or (predicate == RDF + "type" and isinstance(quad.object, ox.NamedNode)
                                     and quad.object.value == CLAIM_TYPE)


def _subjects(subjects: Iterable[str], base_iri: str) -> Subjects:
    """The claims, works and concepts among record ``subjects``."""
    work_prefix, claim_prefix, concept_prefix = base_iri + "work/", base_iri + "claim/", base_iri + "concept/"
    claims, works, concepts = set(), set(), set()
    for subject in subjects:
        rest = subject[len(claim_prefix):] if subject.startswith(claim_prefix) else ""
        if rest and "/" not in rest:
            claims.add(sys.intern(rest))
        key = subject[len(work_prefix):] if subject.startswith(work_prefix) else ""
        if key and "/" not in key:
            works.add(sys.intern(key))
        if subject.startswith(concept_prefix):
            concepts.add(subject)
    return Subjects(frozenset(claims), frozenset(works), frozenset(concepts))


Props = Callable[[str], Iterable[tuple[str, "ox.NamedNode | ox.Literal"]]]
Reuse = Callable[[str, list[str], Callable[[list[str]], list[Any]]], list[Any]]


def _assemble(subjects: Subjects, props: Props, base_iri: str, reuse: Reuse = _fresh,
              like: Snapshot | None = None) -> Snapshot:
    """The snapshot of the records ``subjects``, from ``props(subject)``: its properties and objects in the order
    read; each record ``like``'s where equal."""
    work_prefix, claim_prefix, concept_prefix = base_iri + "work/", base_iri + "claim/", base_iri + "concept/"
    wanted = (work_prefix, claim_prefix, concept_prefix, base_iri + "venue/")

    def inside(subject: str) -> list[tuple[str, ox.NamedNode | ox.Literal]]:
        return list(props(subject)) if subject.startswith(wanted) else []

    snap = Snapshot()
    for subject in sorted(subjects.concepts):
        _concept(snap, subject[len(concept_prefix):], inside(subject))
    claim_ids, work_keys = sorted(subjects.claims), sorted(subjects.works)
    held = like or Snapshot()

    def claim(claim_id: str) -> tuple[Record, dict[str, str]]:
        record, findings = _claim(claim_id, inside(claim_prefix + claim_id), inside)
        return _held(held.claims, claim_id, record), _held(held.findings, claim_id, findings)

    made = reuse("claims", claim_ids, lambda ids: [claim(i) for i in ids])
    for claim_id, (record, findings) in zip(claim_ids, made, strict=True):
        snap.claims[claim_id], snap.findings[claim_id] = record, findings
    made = reuse("works", work_keys,
                 lambda keys: [_held(held.works, k, _work(k, inside(work_prefix + k), inside)) for k in keys])
    snap.works.update(zip(work_keys, made, strict=True))
    return snap


T = TypeVar("T")


def _held(held: dict[str, T], key: str, made: T) -> T:
    """``made``, or the equal value ``held`` has under ``key`` (then ``made`` is dropped at once)."""
    kept = held.get(key)
    return kept if kept is not None and kept == made else made


def _concept(snap: Snapshot, path: str, props: list[tuple[str, ox.NamedNode | ox.Literal]]) -> None:
    """A concept's label, an outcome's domain, a design's group, an intervention's kind; and its record (the same
    with its definition and other labels), which ``kb diff`` compares."""
    scheme, _, cid = path.partition("/")
    values: dict[str, list[str]] = defaultdict(list)
    for p, o in props:
        name = CONCEPT_FIELDS.get(p)
        if name is not None:
            values[name].append(_local(o.value) if name in _LINKS else " ".join(o.value.split()))
    if values:
        snap.concepts[path] = Record(path, {name: "; ".join(sorted(set(v))) for name, v in values.items()})
    scheme = "outcome" if scheme == "outcome-domain" else scheme
    for p, o in props:
        if p == SKOS + "prefLabel":
            snap.labels[f"{scheme}:{cid}"] = o.value
        elif p == SKOS + "broader" and scheme == "outcome":
            snap.domains[cid] = _local(o.value)
        elif p == PSK + "designGroup":
            snap.design_groups[cid] = o.value
        elif p == PSK + "interventionKind":
            snap.intervention_kinds[cid] = _local(o.value)


def _claim(claim_id: str, props: list[tuple[str, ox.NamedNode | ox.Literal]],
           inside: Callable[[str], list[tuple[str, ox.NamedNode | ox.Literal]]]) -> tuple[Record, dict[str, str]]:
    """The claim's record, and its findings (outcome → direction)."""
    values: dict[str, list[str]] = defaultdict(list)
    findings: dict[str, str] = {}

    def text(node: str) -> str:
        return next((o.value for p, o in inside(node) if p == PSK + "effectText"), "")

    for p, o in props:
        if p == PSK + "finding":
            outcome, direction, effect = "", "", ""
            for fp, fo in inside(o.value):
                if fp == PSK + "outcome":
                    outcome = _local(fo.value)
                elif fp == PSK + "direction":
                    direction = _local(fo.value)
                elif fp == PSK + "effect":
                    effect = text(fo.value)
            findings[outcome] = direction
            values["findings"].append(f"{outcome}={direction}" + (f" ({effect})" if effect else ""))
        elif p in (PSK + "effect", PSK + "figure"):
            values["effect" if p == PSK + "effect" else "figure"].append(text(o.value))
        elif p in CLAIM_FIELDS:
            values[CLAIM_FIELDS[p]].append(_value(o))
    return _record(claim_id, values), dict(sorted(findings.items()))


def _work(key: str, props: list[tuple[str, ox.NamedNode | ox.Literal]],
          inside: Callable[[str], list[tuple[str, ox.NamedNode | ox.Literal]]]) -> Record:
    values: dict[str, list[str]] = defaultdict(list)
    for p, o in props:
        if p == BIBO + "authorList" or p == BIBO + "editorList":
            role = "authors" if p == BIBO + "authorList" else "editors"
            members = sorted((int(sp[len(RDF) + 1:]), so.value) for sp, so in inside(o.value)
                             if sp.startswith(RDF + "_") and sp[len(RDF) + 1:].isdigit())
            names = [next((no.value for np_, no in inside(agent) if np_ == FOAF + "name"), agent)
                     for _, agent in members]
            values[role].append(" and ".join(names))  # order matters: not sorted
        elif p == DCTERMS + "isPartOf":
            venue = next((vo.value for vp, vo in inside(o.value) if vp == DCTERMS + "title"), "")
            values["journal"].append(venue or _local(o.value))
        elif p in WORK_FIELDS:
            values[WORK_FIELDS[p]].append(_value(o))
    return _record(key, values)


def _record(key: str, values: dict[str, list[str]]) -> Record:
    """A record of its fields' values; a short value (an id, a level, a name) is one string however many records
    hold it: at 50,000 claims 6 in 7 of the claims' values are repeats (146,000 distinct of 938,000)."""
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
