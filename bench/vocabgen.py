"""Synthetic SKOS vocabularies of realistic size for the benchmark corpus.

Real KBs of this kind grow to ~50 populations, ~40 interventions and ~80 outcomes in ~8 domains;
vocabulary size drives the evidence map (populations × outcomes) and the concept pages, so the
benchmark uses those sizes rather than the 15/27/68 of today's corpus. Designs, directions and
certainty levels are the real schemes, copied from ``evidence/vocab`` (the certainty rule reads
the designs' starting levels from there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_VOCAB = ROOT / "evidence" / "vocab"
COPIED_SCHEMES = ("designs.ttl", "directions.ttl", "certainty.ttl", "settings.ttl", "delivery.ttl",
                  "perspectives.ttl", "finding-types.ttl", "intervention-kinds.ttl")

CONDITIONS = (
    ("smi", "serious mental illness"), ("depression", "depression"), ("anxiety", "anxiety disorders"),
    ("psychosis", "psychosis"), ("first_episode", "first-episode psychosis"), ("bipolar", "bipolar disorder"),
    ("schizophrenia", "schizophrenia"), ("substance_use", "substance use problems"),
    ("alcohol", "alcohol use disorder"), ("opioids", "opioid use disorder"), ("eating", "eating disorders"),
    ("ptsd", "post-traumatic stress"), ("personality", "personality disorder"),
    ("perinatal", "perinatal mental health problems"), ("self_harm", "self-harm"),
    ("suicidal_crisis", "suicidal crisis"), ("homelessness", "homelessness and mental illness"),
    ("forensic", "contact with forensic services"), ("veterans", "military service"),
    ("students", "university study and distress"), ("refugees", "forced migration"),
    ("dementia_carers", "caring for a relative with dementia"), ("autism", "autism"),
    ("chronic_illness", "long-term physical illness"), ("discharge", "recent psychiatric discharge"),
)
GROUPS = (("", "Adults with {}"), ("_youth", "Young people with {}"))

INTERVENTIONS = (
    ("peer_support_services", "peer support services"), ("one_to_one", "one-to-one peer support"),
    ("peer_groups", "peer support groups"), ("self_management", "peer-led self-management"),
    ("peer_navigation", "peer navigation"), ("peer_mentoring", "peer mentoring"),
    ("crisis_houses", "peer-run crisis houses"), ("recovery_colleges", "recovery colleges"),
    ("case_management", "peer specialists in case management"), ("inpatient_peers", "peer workers on wards"),
    ("discharge_support", "peer support after discharge"), ("family_peers", "family peer support"),
    ("mutual_aid", "mutual aid groups"), ("peer_coaching", "peer health coaching"),
    ("housing_first", "peer support in housing first"), ("employment", "peer employment support"),
    ("open_dialogue", "peer-supported open dialogue"), ("peer_advocacy", "peer advocacy"),
    ("warmlines", "peer warmlines"), ("peer_work_role", "the peer worker role"),
)
DELIVERY = (("", "{}"), ("_online", "{} delivered online"))

DOMAINS = {
    "personal_recovery": ("Personal recovery", ("hope", "recovery", "empowerment", "self_efficacy", "quality_of_life",
                          "wellbeing", "meaning_in_life", "self_esteem", "identity", "autonomy")),
    "clinical": ("Clinical outcomes", ("symptoms", "depressive_symptoms", "anxiety_symptoms", "psychotic_symptoms",
                 "substance_use", "abstinence", "relapse", "suicidal_ideation", "functioning", "sleep")),
    "service_use": ("Use of services", ("hospitalisation", "readmission", "length_of_stay", "emergency_visits",
                    "engagement", "attendance", "outpatient_use", "crisis_use", "medication_adherence",
                    "continuity_of_care")),
    "social": ("Social outcomes", ("social_support", "loneliness", "social_inclusion", "stigma", "employment",
               "housing_stability", "education", "family_relations", "community_participation",
               "criminal_justice_contact")),
    "experience_of_care": ("Experience of care", ("satisfaction_with_care", "therapeutic_alliance",
                           "trust_in_services", "shared_decision_making", "feeling_understood", "safety",
                           "dignity", "information_needs", "access_to_care", "cultural_fit")),
    "workforce": ("Peer workforce", ("role_clarity", "job_satisfaction", "burnout", "pay_and_conditions",
                  "supervision", "career_progression", "workplace_discrimination", "training", "disclosure",
                  "staff_attitudes")),
    "implementation": ("Implementation", ("feasibility", "acceptability", "fidelity", "reach", "adoption",
                       "sustainability", "uptake", "retention_in_programme", "organisational_readiness",
                       "integration")),
    "economic": ("Costs and economics", ("costs", "cost_effectiveness", "bed_days", "productivity",
                 "benefits_receipt", "service_costs", "carer_costs", "return_on_investment", "budget_impact",
                 "workforce_costs")),
}


@dataclass(frozen=True)
class Vocab:
    """The ids the claim generator may use, with the labels it writes into statements and quotes."""

    populations: dict[str, str]
    interventions: dict[str, str]
    outcomes: dict[str, str]  # leaf outcome id → label
    design_start: dict[str, str]  # design id → starting certainty (from the real designs.ttl)
    design_labels: dict[str, str]
    design_groups: dict[str, str]  # design id → psk:designGroup (the certainty rule reads it)
    settings: tuple[str, ...]  # the real settings' ids (not_stated included)


def _label(concept_id: str) -> str:
    return concept_id.replace("_", " ").capitalize()


def populations() -> dict[str, str]:
    return {f"{cid}{suffix}": pattern.format(name) for cid, name in CONDITIONS for suffix, pattern in GROUPS}


def interventions() -> dict[str, str]:
    out = {f"{cid}{suffix}": pattern.format(name) for cid, name in INTERVENTIONS for suffix, pattern in DELIVERY}
    return {k: v[0].upper() + v[1:] for k, v in out.items()}


def real_designs() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Design id → starting level, → label and → group, read from the real designs.ttl."""
    text = (REAL_VOCAB / "designs.ttl").read_text(encoding="utf-8")
    starts, labels, groups = {}, {}, {}
    for block in text.split("\n\n"):
        found = re.search(r"^design:(\w+) a skos:Concept", block, re.MULTILINE)
        if found:
            starts[found.group(1)] = re.search(r"startingCertainty <concept/certainty/(\w+)>", block).group(1)
            labels[found.group(1)] = re.search(r'skos:prefLabel "([^"]+)"', block).group(1)
            groups[found.group(1)] = re.search(r'psk:designGroup "(\w+)"', block).group(1)
    return starts, labels, groups


def vocab() -> Vocab:
    starts, labels, groups = real_designs()
    outcomes = {oid: _label(oid) for _, (_, ids) in DOMAINS.items() for oid in ids}
    settings = tuple(re.findall(r"^setting:(\w+) a skos:Concept", (REAL_VOCAB / "settings.ttl").read_text(),
                                re.MULTILINE))
    return Vocab(populations(), interventions(), outcomes, starts, labels, groups, settings)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _concept(prefix: str, cid: str, scheme: str, label: str, definition: str, alt: list[str],
             extra: str = "") -> str:
    alts = "".join(f' ; skos:altLabel "{_esc(a)}"@en' for a in alt)
    return (f"{prefix}:{cid} a skos:Concept ; skos:inScheme scheme:{scheme} ;{extra}\n"
            f'    skos:notation "{cid}" ; skos:prefLabel "{_esc(label)}"@en{alts} ;\n'
            f'    skos:definition "{_esc(definition)}"@en .\n')


def _header(prefix: str, path: str, extra: str = "") -> str:
    return ("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
            "@prefix psk:  <https://w3id.org/peer-support-kb/ontology#> .\n"
            f"@prefix scheme: <scheme/> .\n@prefix {prefix}: <concept/{path}/> .\n{extra}\n")


def write_vocab(vocab_dir: Path) -> None:
    """Write the six scheme files: three generated, three copied from the real corpus."""
    vocab_dir.mkdir(parents=True, exist_ok=True)
    pops = [_header("population", "population"),
            'scheme:population a skos:ConceptScheme ;\n    skos:prefLabel "Populations and contexts"@en ;\n'
            '    skos:definition "Who a finding is about."@en .\n']
    for cid, label in populations().items():
        pops.append(_concept("population", cid, "population", label,
                             f"{label}, as the citing source describes them, across settings and countries.",
                             [label.lower().replace("adults with ", "people with ")]))
    (vocab_dir / "populations.ttl").write_text("\n".join(pops), encoding="utf-8")
    ints = [_header("intervention", "intervention"),
            'scheme:intervention a skos:ConceptScheme ;\n    skos:prefLabel "Interventions"@en ;\n'
            '    skos:definition "Forms of peer support and the roles that deliver them."@en .\n']
    for cid, label in interventions().items():
        ints.append(_concept("intervention", cid, "intervention", label,
                             f"{label}: support given by people with lived experience of mental health problems "
                             "to others in a similar situation, in the form the source names.", [label.lower()],
                             " psk:interventionKind <concept/intervention_kind/peer_delivered> ;"))
    (vocab_dir / "interventions.ttl").write_text("\n".join(ints), encoding="utf-8")
    outs = [_header("outcome", "outcome", "@prefix domain: <concept/outcome-domain/> .\n"),
            'scheme:outcome a skos:ConceptScheme ;\n    skos:prefLabel "Outcomes"@en ;\n'
            '    skos:definition "What peer support may change, grouped into domains."@en .\n']
    for domain, (label, ids) in DOMAINS.items():
        outs.append(_concept("domain", domain, "outcome", label, f"{label}: a group of related outcomes.", [],
                             " skos:topConceptOf scheme:outcome ;"))
        for oid in ids:
            outs.append(_concept("outcome", oid, "outcome", _label(oid),
                                 f"{_label(oid)} as measured or reported by the study.",
                                 [_label(oid).lower() + " scores"], f" skos:broader domain:{domain} ;"))
    (vocab_dir / "outcomes.ttl").write_text("\n".join(outs), encoding="utf-8")
    for name in COPIED_SCHEMES:
        (vocab_dir / name).write_bytes((REAL_VOCAB / name).read_bytes())
