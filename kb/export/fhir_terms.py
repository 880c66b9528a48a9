"""The FHIR code systems the FHIR export uses, vendored, and a check that every code is in them.

``fhir.resources`` validates structure, not terminology: it accepts a made-up role or rating code.
:func:`check_codes` walks a Bundle and refuses any coding of a system listed here whose code is not
in it, any coding of a KB scheme whose code is not a concept of that scheme, and any required-binding
``code`` element outside its value set. Only the codes this export can emit are kept (with their
displays); each table names where it was copied from. Nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# FHIR R5 (5.0.0) CodeSystem study-design (http://hl7.org/fhir/ValueSet/study-design, the
# extensible binding of Evidence.studyDesign), copied from
# https://hl7.org/fhir/R5/codesystem-study-design.html — SEVCO terms (https://fevir.net/sevco).
STUDY_DESIGN = "http://hl7.org/fhir/study-design"
STUDY_DESIGN_CODES = {
    "SEVCO:01001": "Interventional research",
    "SEVCO:01002": "Observational research",
    "SEVCO:01003": "randomized assignment",
    "SEVCO:01005": "Non-randomized assignment",
    "SEVCO:01010": "Comparative study design",
    "SEVCO:01011": "Parallel cohort design",
    "SEVCO:01015": "Cluster as unit of allocation",
    "SEVCO:01016": "Uncontrolled cohort design",
    "SEVCO:01017": "Case report",
    "SEVCO:01019": "Before and after comparison",
    "SEVCO:01023": "Non-comparative study design",
    "SEVCO:01027": "Cross sectional data collection",
    "SEVCO:01028": "Longitudinal data collection",
    "SEVCO:01087": "Qualitative analysis",
}

# HL7 Terminology (THO), as the EBM-on-FHIR IG (http://hl7.org/fhir/uv/ebm) uses them; the same codes
# are published in R5 core as http://hl7.org/fhir/certainty-type and …/certainty-rating.
# https://terminology.hl7.org/CodeSystem-certainty-type.html
CERTAINTY_TYPE = "http://terminology.hl7.org/CodeSystem/certainty-type"
CERTAINTY_TYPE_CODES = {
    "Overall": "Overall certainty",
    "RiskOfBias": "Risk of bias",
    "Inconsistency": "Inconsistency",
    "Indirectness": "Indirectness",
    "Imprecision": "Imprecision",
    "PublicationBias": "Publication bias",
    "DoseResponseGradient": "Dose response gradient",
    "PlausibleConfounding": "Plausible confounding",
    "LargeEffect": "Large effect",
}
# https://terminology.hl7.org/CodeSystem-certainty-rating.html
CERTAINTY_RATING = "http://terminology.hl7.org/CodeSystem/certainty-rating"
CERTAINTY_RATING_CODES = {
    "high": "High quality",
    "moderate": "Moderate quality",
    "low": "Low quality",
    "very-low": "Very low quality",
    "no-concern": "no serious concern",
    "serious-concern": "serious concern",
    "very-serious-concern": "very serious concern",
    "extremely-serious-concern": "extremely serious concern",
    "present": "present",
    "absent": "absent",
    "no-change": "no change to rating",
    "downcode1": "reduce rating: -1",
    "downcode2": "reduce rating: -2",
    "downcode3": "reduce rating: -3",
    "upcode1": "increase rating: +1",
    "upcode2": "increase rating: +2",
}
# https://terminology.hl7.org/CodeSystem-variable-role.html (Evidence.variableDefinition.variableRole)
VARIABLE_ROLE = "http://terminology.hl7.org/CodeSystem/variable-role"
VARIABLE_ROLE_CODES = {
    "population": "population",
    "subpopulation": "subpopulation",
    "exposure": "exposure",
    "referenceExposure": "reference exposure",
    "measuredVariable": "measured variable",
    "confounder": "confounder",
}
# https://terminology.hl7.org/CodeSystem-usage-context-type.html (UsageContext.code, extensible)
USAGE_CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"
USAGE_CONTEXT_TYPE_CODES = {"venue": "Clinical Venue", "focus": "Clinical Focus", "program": "Program"}

CODE_SYSTEMS: dict[str, dict[str, str]] = {
    STUDY_DESIGN: STUDY_DESIGN_CODES,
    CERTAINTY_TYPE: CERTAINTY_TYPE_CODES,
    CERTAINTY_RATING: CERTAINTY_RATING_CODES,
    VARIABLE_ROLE: VARIABLE_ROLE_CODES,
    USAGE_CONTEXT_TYPE: USAGE_CONTEXT_TYPE_CODES,
}

# Required bindings on plain `code` elements, by (resource or datatype, element):
# Bundle.type (bundle-type), *.status (publication-status), RelatedArtifact.type (related-artifact-type)
# and Citation.citedArtifact.relatesTo.type (related-artifact-type-all), from the R5 spec pages
# https://hl7.org/fhir/R5/valueset-bundle-type.html, valueset-publication-status.html,
# valueset-related-artifact-type.html.
BUNDLE_TYPES = frozenset({"document", "message", "transaction", "transaction-response", "batch",
                          "batch-response", "history", "searchset", "collection", "subscription-notification"})
PUBLICATION_STATUS = frozenset({"draft", "active", "retired", "unknown"})
RELATED_ARTIFACT_TYPES = frozenset({
    "documentation", "justification", "citation", "predecessor", "successor", "derived-from", "depends-on",
    "composed-of", "part-of", "amends", "amended-with", "appends", "appended-with", "cites", "cited-by",
    "comments-on", "comment-in", "contains", "contained-in", "corrects", "correction-in", "replaces",
    "replaced-with", "retracts", "retracted-by", "signs", "similar-to", "supports", "supported-with",
    "transforms", "transformed-into", "transformed-with", "documents", "specification-of", "created-with",
    "cite-as"})


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, path)


def check_codes(bundle: dict[str, Any], kb_systems: dict[str, set[str]]) -> list[str]:
    """Every coded value of ``bundle`` that is not in its code system or value set, as messages.

    ``kb_systems`` maps the KB's own code systems (a concept scheme's IRI) to their concept ids.
    A coding whose system is neither vendored here nor one of the KB's is reported too: the export
    must only use systems someone can check.
    """
    problems = bundle_type_problems(bundle)
    for entry in bundle.get("entry", []):
        problems += entry_problems(entry, kb_systems)
    return problems


def bundle_type_problems(bundle: dict[str, Any]) -> list[str]:
    """The Bundle's own coded value (its type), as :func:`check_codes` reports it."""
    if bundle.get("type") not in BUNDLE_TYPES:
        return [f"Bundle.type: '{bundle.get('type')}' is not a bundle-type code"]
    return []


def entry_problems(entry: dict[str, Any], kb_systems: dict[str, set[str]]) -> list[str]:
    """One entry's coded values that are not in their code system or value set (see :func:`check_codes`).

    Every entry of an export is checked, and almost all are right: :func:`_codes_ok` says so without the paths
    that only a message needs (building them for ~50 objects an entry was half of the FHIR export's time)."""
    if _codes_ok(entry.get("resource", {}), kb_systems):
        return []
    return _entry_problems(entry, kb_systems)


_CONTAINERS = (dict, list)  # what _codes_ok walks into


def _codes_ok(resource: dict[str, Any], kb_systems: dict[str, set[str]]) -> bool:
    """Whether :func:`_entry_problems` finds nothing: the same tests, each object known by the key it is under (a
    list's items by the list's), which is all of its path the tests read. Written as plain loops over one stack
    (comprehensions of pairs were twice as slow)."""
    if resource.get("status") not in PUBLICATION_STATUS:
        return False
    stack: list[tuple[Any, str]] = [(resource, "")]
    pop, push = stack.pop, stack.append
    while stack:
        node, key = pop()
        if isinstance(node, list):
            for item in node:
                if isinstance(item, _CONTAINERS):
                    push((item, key))
            continue
        if key in ("relatedArtifact", "relatesTo") and node.get("type") not in RELATED_ARTIFACT_TYPES:
            return False
        if "system" in node and "code" in node and key != "identifier":
            system, code = node["system"], node["code"]
            known = CODE_SYSTEMS.get(system)
            if known is not None:
                if code not in known or node.get("display") not in (None, known[code]):
                    return False
            elif code not in kb_systems.get(system, ()):
                return False
        for name, value in node.items():
            if isinstance(value, _CONTAINERS):
                push((value, name))
    return True


def _entry_problems(entry: dict[str, Any], kb_systems: dict[str, set[str]]) -> list[str]:
    problems: list[str] = []
    resource = entry.get("resource", {})
    where = f"{resource.get('resourceType')}/{resource.get('id')}"
    if resource.get("status") not in PUBLICATION_STATUS:
        problems.append(f"{where}.status: '{resource.get('status')}' is not a publication-status code")
    for path, node in _walk(resource, where):
        key = path.rsplit(".", 1)[1] if path != where else ""  # the resource's id may hold dots: not a key
        if key in ("relatedArtifact", "relatesTo") and node.get("type") not in RELATED_ARTIFACT_TYPES:
            problems.append(f"{path}.type: '{node.get('type')}' is not a related-artifact-type code")
        if "system" in node and "code" in node and key != "identifier":
            system, code = node["system"], node["code"]
            known = CODE_SYSTEMS.get(system)
            if known is not None:
                if code not in known:
                    problems.append(f"{path}: '{code}' is not a code of {system}")
                elif node.get("display") not in (None, known[code]):
                    problems.append(f"{path}: display '{node['display']}' of {system}#{code}; "
                                    f"the code system says '{known[code]}'")
            elif system in kb_systems:
                if code not in kb_systems[system]:
                    problems.append(f"{path}: '{code}' is not a concept of {system}")
            else:
                problems.append(f"{path}: code system {system} is neither vendored nor the KB's")
    return problems
