"""The KB as a FHIR R5 Bundle in the shape of HL7's EBM-on-FHIR: Citation, EvidenceVariable, Evidence.

* a ``Citation`` per work (:mod:`kb.export.fhir_citation`);
* an ``EvidenceVariable`` per population, intervention (comparators included) and outcome concept
  that a claim uses, coded with the concept's IRI and id; an intervention says who delivers it;
* an ``Evidence`` per claim and outcome: the variables (population, exposure, referenceExposure
  for a stated comparator, measuredVariable), the study design (SEVCO codes where one fits), the
  GRADE certainty with one subcomponent per downgrade, the direction and any reported figure,
  the quote and section, and the source and cited works as related artifacts.

Settings become ``useContext`` of type ``venue``; delivery modes, perspective, kind of finding and
direction of effect have no R5 element, so they are coded in extensions under the KB's base IRI
(``…/fhir/StructureDefinition/…``). Ids and fullUrls derive from citekeys, claim and concept ids;
the Bundle's timestamp is the date of the data (:mod:`kb.export.stamp`), never the clock. One entry
per line keeps the file diff-friendly; every coded value is checked (:mod:`kb.export.fhir_terms`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from kb.export.fhir_citation import RFC3986, citation, concept_fhir_id, fhir_id
from kb.export.fhir_terms import (
    CERTAINTY_RATING,
    CERTAINTY_RATING_CODES,
    CERTAINTY_TYPE,
    CERTAINTY_TYPE_CODES,
    STUDY_DESIGN,
    STUDY_DESIGN_CODES,
    USAGE_CONTEXT_TYPE,
    USAGE_CONTEXT_TYPE_CODES,
    VARIABLE_ROLE,
    VARIABLE_ROLE_CODES,
    bundle_type_problems,
    entry_problems,
)
from kb.export.stamp import data_timestamp
from kb.graph.iris import Minter
from kb.ids import NOT_STATED

if TYPE_CHECKING:
    from kb.load.evidence import Evidence
    from kb.load.vocab import Vocabulary
    from kb.model import Claim, Effect, OutcomeFinding

# Our designs → SEVCO study-design codes of FHIR R5 (Evidence.studyDesign). For a review the codes
# say how the reviewed studies were designed (as the EBM IG does); the review itself has no code.
# Designs missing here have no fitting code: they are given as our own coding and text only.
DESIGN_SEVCO: dict[str, tuple[str, ...]] = {
    "systematic_review_rct": ("SEVCO:01003",),
    "cochrane_review": ("SEVCO:01003",),
    "qualitative_evidence_synthesis": ("SEVCO:01087",),
    "rct": ("SEVCO:01003",),
    "cluster_rct": ("SEVCO:01003", "SEVCO:01015"),
    "pilot_rct": ("SEVCO:01003",),
    "controlled_study": ("SEVCO:01010",),
    "cohort": ("SEVCO:01002", "SEVCO:01010", "SEVCO:01028"),
    "cross_sectional": ("SEVCO:01027",),
    "survey": ("SEVCO:01002",),
    "before_after": ("SEVCO:01019",),
    "observational_study": ("SEVCO:01002",),
    "qualitative": ("SEVCO:01087",),
}
RATING = {"high": "high", "moderate": "moderate", "low": "low", "very_low": "very-low"}
DOWNGRADE_TYPE = {"risk_of_bias": "RiskOfBias", "inconsistency": "Inconsistency", "indirectness": "Indirectness",
                  "imprecision": "Imprecision", "publication_bias": "PublicationBias"}


class FhirExport:
    """Builds the resources of one Bundle from the checked evidence."""

    def __init__(self, evidence: Evidence) -> None:
        self.ev = evidence
        self.vocab: Vocabulary = evidence.vocabulary
        self.mint = Minter(evidence.config.base_iri)
        self.used: set[tuple[str, str]] = set()  # the variables asked for (kb.export.fhir_cache: by claim)

    # --- codes ------------------------------------------------------------------------------------

    def coding(self, scheme: str, concept_id: str) -> dict[str, str]:
        return {"system": self.mint.scheme(scheme), "code": concept_id, "display": self.vocab.label(scheme, concept_id)}

    def concept(self, scheme: str, concept_id: str) -> dict[str, Any]:
        return {"coding": [self.coding(scheme, concept_id)], "text": self.vocab.label(scheme, concept_id)}

    def extension(self, name: str, scheme: str, concept_id: str) -> dict[str, Any]:
        return {"url": f"{self.mint.base}fhir/StructureDefinition/{name}",
                "valueCodeableConcept": self.concept(scheme, concept_id)}

    @staticmethod
    def hl7(system: str, table: dict[str, str], code: str) -> dict[str, Any]:
        return {"coding": [{"system": system, "code": code, "display": table[code]}]}

    # --- EvidenceVariable -------------------------------------------------------------------------

    def variable(self, scheme: str, concept_id: str) -> str:
        """The id of the concept's EvidenceVariable, noted as used. The resource is made apart
        (:meth:`variable_resource`): an Evidence names it by id and reads none of its words
        (:mod:`kb.export.fhir_cache` keeps an Evidence's lines while the words it reads are the same)."""
        self.used.add((scheme, concept_id))
        return concept_fhir_id(scheme, concept_id)

    def variable_resource(self, scheme: str, concept_id: str) -> dict[str, Any]:
        """The concept's EvidenceVariable."""
        concept = self.vocab.get(scheme, concept_id)
        characteristic: list[dict[str, Any]] = [{"definitionCodeableConcept": self.concept(scheme, concept_id)}]
        notes = []
        if concept is not None and concept.kind:
            characteristic.append({"description": "Who delivers it",
                                   "definitionCodeableConcept": self.concept("intervention_kind", concept.kind)})
        if concept is not None and concept.broader:
            notes.append(f"Outcome domain: {self.vocab.label(scheme, concept.broader)}")
            domain = self.vocab.get(scheme, concept.broader)
            if domain is not None and domain.core_area:
                notes.append(f"COMET core area: {domain.core_area}")
        if concept is not None and concept.chime:
            notes.append(f"CHIME process: {concept.chime}")
        resource: dict[str, Any] = {"resourceType": "EvidenceVariable", "id": concept_fhir_id(scheme, concept_id),
                                    "url": concept.iri if concept else self.mint.concept(scheme, concept_id),
                                    "status": "active", "title": self.vocab.label(scheme, concept_id)}
        if concept is not None and concept.definition:
            resource["description"] = concept.definition
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        resource["characteristic"] = characteristic
        return resource

    def definition(self, role: str, scheme: str, concept_id: str, description: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if description:
            out["description"] = description
        out["variableRole"] = self.hl7(VARIABLE_ROLE, VARIABLE_ROLE_CODES, role)
        if concept_id == NOT_STATED:
            out["description"] = f"{self.vocab.label(scheme, concept_id)}: the source does not say"
        else:
            out["observed"] = {"reference": f"EvidenceVariable/{self.variable(scheme, concept_id)}",
                               "display": self.vocab.label(scheme, concept_id)}
        return out

    # --- Evidence ---------------------------------------------------------------------------------

    def evidence(self, claim: Claim, finding: OutcomeFinding) -> dict[str, Any]:
        refs = self.ev.references_by_key
        resource: dict[str, Any] = {
            "resourceType": "Evidence", "id": fhir_id(f"{claim.id}.{finding.outcome.replace('_', '-')}"),
            "extension": self.extensions(claim, finding),
            "url": self.mint.finding(claim.id, finding.outcome),
            "identifier": [{"system": RFC3986, "value": self.mint.claim(claim.id)}],
            "title": f"{self.vocab.label('outcome', finding.outcome)} — {claim.id}", "status": "active",
        }
        if claim.source in refs:
            resource["citeAsReference"] = {"reference": f"Citation/{fhir_id(claim.source)}"}
        if any(s != NOT_STATED for s in claim.setting):
            venue = {"system": USAGE_CONTEXT_TYPE, "code": "venue", "display": USAGE_CONTEXT_TYPE_CODES["venue"]}
            resource["useContext"] = [{"code": venue, "valueCodeableConcept": self.concept("setting", s)}
                                      for s in claim.setting if s != NOT_STATED]
        resource["description"] = " ".join(claim.statement.split())
        resource["note"] = [{"text": text} for text in self.notes(claim, finding)]
        related = []
        if claim.source in refs:
            related.append({"type": "derived-from",
                            "resourceReference": {"reference": f"Citation/{fhir_id(claim.source)}"}})
        related += [{"type": "cites", "resourceReference": {"reference": f"Citation/{fhir_id(key)}"}}
                    for key in dict.fromkeys(claim.cites) if key in refs]
        if related:
            resource["relatedArtifact"] = related
        resource["variableDefinition"] = (
            [self.definition("population", "population", p) for p in claim.population]
            + [self.definition("exposure", "intervention", claim.intervention)]
            + ([self.definition("referenceExposure", "intervention", claim.comparator, "Comparator")]
               if claim.comparator else [])
            + [self.definition("measuredVariable", "outcome", finding.outcome)])
        resource["studyDesign"] = [self.design(claim.design)]
        resource["statistic"] = self.statistics(claim, finding)
        resource["certainty"] = [self.certainty(claim)]
        return resource

    def extensions(self, claim: Claim, finding: OutcomeFinding) -> list[dict[str, Any]]:
        out = [self.extension("direction-of-effect", "direction", finding.direction),
               self.extension("finding-type", "finding_type", claim.finding_type),
               self.extension("perspective", "perspective", claim.perspective)]
        out += [self.extension("delivery-mode", "delivery", d) for d in claim.delivery if d != NOT_STATED]
        return out

    def notes(self, claim: Claim, finding: OutcomeFinding) -> list[str]:
        notes = [f"Quote ({claim.section}): \u201c{' '.join(claim.quote.split())}\u201d"]
        extra = (("Dose", claim.dose), ("Frequency", claim.frequency), ("Duration", claim.duration),
                 ("Country", claim.country), ("Outcome note", finding.notes), ("Editors' note", claim.notes))
        for label, value in extra:
            if value:
                notes.append(f"{label}: {' '.join(value.split())}")
        return notes

    def design(self, design: str) -> dict[str, Any]:
        codings = [{"system": STUDY_DESIGN, "code": code, "display": STUDY_DESIGN_CODES[code]}
                   for code in DESIGN_SEVCO.get(design, ())]
        return {"coding": [*codings, self.coding("design", design)], "text": self.vocab.label("design", design)}

    def statistics(self, claim: Claim, finding: OutcomeFinding) -> list[dict[str, Any]]:
        direction = self.vocab.get("direction", finding.direction)
        words = f"Direction of effect: {self.vocab.label('direction', finding.direction)}"
        if direction is not None and direction.definition:
            words += f" ({direction.definition})"
        main: dict[str, Any] = {"description": words}
        effect = finding.effect or claim.effect
        if effect is not None:
            _figure(main, effect)
        if claim.n_studies is not None or claim.n_participants is not None:
            size: dict[str, int] = {}
            if claim.n_studies is not None:
                size["numberOfStudies"] = claim.n_studies
            if claim.n_participants is not None:
                size["numberOfParticipants"] = claim.n_participants
            main["sampleSize"] = size
        out = [main]
        if claim.figure is not None:
            out.append(_figure({"description": "Reported figure"}, claim.figure))
        return out

    def certainty(self, claim: Claim) -> dict[str, Any]:
        cert = claim.certainty
        if cert.basis == "reported":
            description = f"Reported by the source as \u201c{cert.reported_as}\u201d, mapped to GRADE"
            rater = "the source document"
        else:
            start = self.vocab.label("certainty", cert.start) if cert.start else "?"
            steps = ", ".join(d.replace("_", " ") for d in cert.downgrades) or "none"
            design = self.vocab.label("design", claim.design)
            description = (f"Assigned by the KB's rule: starts {start} ({design}), "
                           f"one step down for each downgrade: {steps}")
            rater = "the KB's editors"
        reason = [{"text": " ".join(cert.reason.split())}] if cert.reason else []
        out: dict[str, Any] = {"description": description}
        if reason:
            out["note"] = reason
        out["type"] = self.hl7(CERTAINTY_TYPE, CERTAINTY_TYPE_CODES, "Overall")
        out["rating"] = self.hl7(CERTAINTY_RATING, CERTAINTY_RATING_CODES, RATING[cert.level])
        out["rater"] = rater
        subs = []
        for domain in cert.downgrades:
            sub: dict[str, Any] = {}
            if reason:
                sub["note"] = reason
            sub["type"] = self.hl7(CERTAINTY_TYPE, CERTAINTY_TYPE_CODES, DOWNGRADE_TYPE[domain])
            sub["rating"] = self.hl7(CERTAINTY_RATING, CERTAINTY_RATING_CODES, "downcode1")
            subs.append(sub)
        if subs:
            out["subcomponent"] = subs
        return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _figure(statistic: dict[str, Any], figure: Effect) -> dict[str, Any]:
    """A reported number: its words as a note, its value (or range) and unit as the source gives them."""
    statistic["note"] = [{"text": " ".join(figure.text.split())}]
    unit = {"unit": figure.unit} if figure.unit else {}
    if figure.value is not None and figure.value_max is not None:
        statistic["attributeEstimate"] = [{"description": "Range as reported",
                                           "range": {"low": {"value": _number(figure.value), **unit},
                                                     "high": {"value": _number(figure.value_max), **unit}}}]
    elif figure.value is not None:
        statistic["quantity"] = {"value": _number(figure.value), **unit}
    return statistic


def fhir_lines(evidence: Evidence, head: dict[str, Any]) -> list[bytes]:
    """The Bundle's entries, one line of JSON (UTF-8) each: Citations (by citekey), EvidenceVariables (by id), then
    Evidence (by claim id, outcome order); refuses a code outside its value set.

    Each resource is checked and written out as it is made: as dicts, the 150,000 resources of 50,000
    claims held 4 GB at once; as UTF-8 lines, a tenth of that (as ``str``, a quote's one curly
    apostrophe doubles its line).
    """
    build = FhirExport(evidence)
    refuse = CodeCheck(evidence, head)
    lists = {c.source: c for c in evidence.citations}
    known = {ref.key for ref in evidence.references}

    def lines(resources: Iterable[dict[str, Any]]) -> list[bytes]:
        return [refuse.line(entry(build.mint, resource)) for resource in resources]

    citations = lines(citation(ref, build.mint, lists.get(ref.key), known)
                      for ref in sorted(evidence.references, key=lambda r: r.key))
    findings = lines(build.evidence(claim, finding)
                     for claim in sorted(evidence.claims, key=lambda c: c.id) for finding in claim.outcomes)
    variables = lines(sorted((build.variable_resource(*key) for key in build.used), key=lambda r: r["id"]))
    return citations + variables + findings


def fhir_bundle_bytes(evidence: Evidence) -> bytes:
    """The Bundle as JSON, one entry per line; refuses to write a code outside its value set."""
    return b"".join(fhir_bundle_chunks(evidence))


def fhir_bundle_chunks(evidence: Evidence) -> Iterator[bytes]:
    """:func:`fhir_bundle_bytes` in pieces, for a writer that never needs the whole file at once."""
    head = bundle_head(evidence)
    return bundle_chunks(head, fhir_lines(evidence, head))


def bundle_head(evidence: Evidence) -> dict[str, Any]:
    mint = Minter(evidence.config.base_iri)
    head: dict[str, Any] = {"resourceType": "Bundle", "id": "peer-support-kb",
                            "identifier": {"system": RFC3986, "value": mint.dataset()}, "type": "collection"}
    stamp = data_timestamp(evidence.config)
    if stamp:
        head["timestamp"] = stamp
    return head


def entry(mint: Minter, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{mint.base}fhir/{resource['resourceType']}/{resource['id']}", "resource": resource}


def entry_line(item: dict[str, Any]) -> bytes:
    """An entry as its line of the Bundle, compact JSON in UTF-8: by orjson, the bytes of ``json.dumps(item,
    ensure_ascii=False, separators=(",", ":"))`` for resources of strings, integers and booleans (the only values
    made here; a float would be written in orjson's shortest form) at ~3.6× its speed: 4.1 → 1.1 s of a cold build
    at 10k/50k."""
    import orjson

    return orjson.dumps(item)


class CodeCheck:
    """Refuses (``ValueError``) a coded value outside its code system or value set: the Bundle's own once,
    then each entry as it is made."""

    def __init__(self, evidence: Evidence, head: dict[str, Any]) -> None:
        mint = Minter(evidence.config.base_iri)
        self.systems = {mint.scheme(s): set(ids) for s, ids in evidence.vocabulary.concepts.items()}
        self._refuse(bundle_type_problems(head))

    def line(self, item: dict[str, Any]) -> bytes:
        """The entry as its line of the Bundle (UTF-8), once its codes are checked."""
        self._refuse(entry_problems(item, self.systems))
        return entry_line(item)

    @staticmethod
    def _refuse(problems: list[str]) -> None:
        if problems:
            raise ValueError("FHIR export: codes outside their value sets:\n" + "\n".join(problems[:20]))


Line = TypeVar("Line")  # an entry's line: bytes, or a kept piece (kb.export.pieces.Piece)


def bundle_chunks(head: dict[str, Any], lines: Iterable[Line]) -> Iterator[bytes | Line]:
    """The Bundle's JSON in pieces: its head, then the entries, one per line (bytes, or pieces kept with what is
    known of them, :mod:`kb.export.fhir_cache`)."""
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    yield f'{opening},"entry":[\n'.encode()
    separator = b""
    for line in lines:
        yield separator
        yield line
        separator = b",\n"
    yield b"\n]}\n"
