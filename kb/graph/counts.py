"""Whole-graph tallies written into the graph at build time, so the questions they answer are lookups.

A SPARQL engine answers "how many claims rest on each work?" by visiting every claim (Oxigraph
binding by binding: 145 ms at 50k claims, Virtuoso 13 ms). The answers change only when the
evidence does, so the graph states them, as linked data every reader of the dumps gets:

- on each work, ``psk:evidenceCitations``: how many claims cite it as evidence (``cito:citesAsEvidence``),
  and ``psk:citationCountGroup``: the group of works cited by that many claims
  (``psk:CitationCountGroup``, with ``psk:workCount`` and ``psk:worksCitedMore``, the number of works
  cited by more claims: a work's rank among the most cited is that plus one);
- on each effect-direction concept, ``psk:findingCount``: how many outcome findings point that way;
- a ``psk:ClaimTally`` per design × certainty × certainty basis that claims use, with ``psk:claimCount``.

Counted from the records in one pass, by the rules :mod:`kb.graph.build` uses to write the triples
they count (only known works and concepts are linked; a repeated claim id or outcome is one node),
so every count equals what a SPARQL ``COUNT`` over the same graph says (tests check both ways).
The groups keep an edit local: a work changing count changes itself and at most three groups,
never every work's rank, so the dumps' chunks (:mod:`kb.export.dumps`) stay reusable.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from urllib.parse import quote

from kb.graph.build import text
from kb.graph.iris import Minter
from kb.load.evidence import Evidence
from kb.namespaces import PSK, RDF, XSD


def _int(n: int) -> str:
    return f'"{n}"^^<{XSD}integer>'


def count_lines(evidence: Evidence, mint: Minter) -> list[str]:
    """The tallies as N-Triples lines (unsorted; the dumps sort)."""
    vocab = evidence.vocabulary
    known = evidence.references_by_key

    def concept(scheme: str, concept_id: str) -> str | None:
        return vocab.concepts[scheme][concept_id].iri if vocab.check_id(scheme, concept_id) is None else None

    cites: dict[str, set[str]] = defaultdict(set)  # claim IRI → works it cites as evidence
    findings: dict[str, set[str]] = defaultdict(set)  # finding IRI → its directions
    grades: dict[str, tuple[set[str], set[str], set[str]]] = {}  # claim IRI → designs, certainties, bases
    for claim in evidence.claims:
        iri = mint.claim(claim.id)
        cites[iri].update(mint.work(key) for key in claim.cites if key in known)
        for finding in claim.outcomes:
            direction = concept("direction", finding.direction)
            if direction is not None:
                findings[mint.finding(claim.id, finding.outcome)].add(direction)
        designs, levels, bases = grades.setdefault(iri, (set(), set(), set()))
        design, level = concept("design", claim.design), concept("certainty", claim.certainty.level)
        designs.update([design] if design else [])
        levels.update([level] if level else [])
        bases.add(claim.certainty.basis)

    lines: list[str] = []
    per_work = dict.fromkeys(sorted({mint.work(key) for key in known}), 0)  # every work, cited or not
    for works in cites.values():
        for work in works:
            per_work[work] += 1
    works_with: Counter[int] = Counter(per_work.values())
    more = 0
    for n in sorted(works_with, reverse=True):
        group = mint.citation_count_group(n)
        lines += [f"<{group}> <{RDF}type> <{PSK}CitationCountGroup> .\n",
                  f"<{group}> <{PSK}evidenceCitations> {_int(n)} .\n",
                  f"<{group}> <{PSK}workCount> {_int(works_with[n])} .\n",
                  f"<{group}> <{PSK}worksCitedMore> {_int(more)} .\n"]
        more += works_with[n]
    for work, n in per_work.items():
        lines += [f"<{work}> <{PSK}evidenceCitations> {_int(n)} .\n",
                  f"<{work}> <{PSK}citationCountGroup> <{mint.citation_count_group(n)}> .\n"]

    per_direction = Counter(d for directions in findings.values() for d in directions)
    for known_direction in vocab.concepts.get("direction", {}).values():
        if not known_direction.is_domain:
            iri = known_direction.iri
            lines.append(f"<{iri}> <{PSK}findingCount> {_int(per_direction[iri])} .\n")

    tallies: Counter[tuple[str, str, str]] = Counter(
        (design, level, basis) for designs, levels, bases in grades.values()
        for design in designs for level in levels for basis in bases)
    for (design, level, basis), n in tallies.items():
        tally = mint.claim_tally(_local(design), _local(level), quote(basis, safe=""))
        lines += [f"<{tally}> <{RDF}type> <{PSK}ClaimTally> .\n",
                  f"<{tally}> <{PSK}tallyDesign> <{design}> .\n",
                  f"<{tally}> <{PSK}tallyCertainty> <{level}> .\n",
                  f"<{tally}> <{PSK}tallyCertaintyBasis> {text(basis)} .\n",
                  f"<{tally}> <{PSK}claimCount> {_int(n)} .\n"]
    return lines


def _local(concept_iri: str) -> str:
    """A concept's id: the last segment of its IRI."""
    return concept_iri.rsplit("/", 1)[1]
