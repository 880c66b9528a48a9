"""Whole-graph tallies written into the graph at build time, so the questions they answer are lookups.

A SPARQL engine answers "how many claims rest on each work?" by visiting every claim (Oxigraph
binding by binding: 145 ms at 50k claims, Virtuoso 13 ms). The answers change only when the
evidence does, so the graph states them, as linked data every reader of the dumps gets:

- on each work, ``psk:evidenceCitations``: how many claims cite it as evidence (``cito:citesAsEvidence``),
  and ``psk:citationCountGroup``: the group of works cited by that many claims
  (``psk:CitationCountGroup``, with ``psk:workCount`` and ``psk:worksCitedMore``, the number of works
  cited by more claims: a work's rank among the most cited is that plus one), and ``psk:documentCitations``: how
  many documents list it in their reference lists (``cito:cites``), which finds the works cited by several
  documents without grouping every citation (Oxigraph 117 → 80 ms at 10k works);
- on each effect-direction concept, ``psk:findingCount``: how many outcome findings point that way;
- a ``psk:ClaimTally`` per design × certainty × certainty basis that claims use, with ``psk:claimCount``.

:mod:`kb.graph.build` hands over each triple to be counted as it writes it (one pass over the
records), as sets of the same (subject, object) pairs the graph will hold, so a repeated claim id
or outcome counts as the one node it becomes: every count equals what a SPARQL ``COUNT`` over the
same graph says (tests check both ways). The groups keep an edit local: a work changing count
changes itself and at most three groups, never every work's rank, so the dumps' chunks
(:mod:`kb.export.dumps`) stay reusable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import product
from urllib.parse import quote

from kb.graph.iris import Minter
from kb.load.evidence import Evidence
from kb.namespaces import PSK, RDF, XSD


def _int(n: int) -> str:
    return f'"{n}"^^<{XSD}integer>'


@dataclass
class Tallies:
    """What the claims' triples say, gathered while :mod:`kb.graph.build` writes them."""

    cites: set[tuple[str, str]] = field(default_factory=set)  # (claim, work) of each cito:citesAsEvidence
    directions: set[tuple[str, str]] = field(default_factory=set)  # (finding, direction) of each psk:direction
    # (claim, design, certainty, basis) of each claim; design and certainty None where not linked
    grades: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)

    def lines(self, evidence: Evidence, mint: Minter) -> list[str]:
        """The tallies as N-Triples lines (unsorted; the dumps sort)."""
        return (self._works(evidence, mint) + self._directions(evidence)
                + self._claim_tallies(mint))

    def _works(self, evidence: Evidence, mint: Minter) -> list[str]:
        per_work = dict.fromkeys(sorted({mint.work(key) for key in evidence.references_by_key}), 0)
        for _, work in self.cites:
            per_work[work] += 1
        # the documents citing each work: cito:cites, which kb.graph.build writes for each listed work references.bib
        # holds (a work listed twice by one document is cited by it once)
        documents = {mint.work(key): len({doc for doc, _ in cited}) for key, cited in evidence.cited_by.items()
                     if key in evidence.references_by_key}
        works_with = Counter(per_work.values())
        lines, more = [], 0
        for n in sorted(works_with, reverse=True):
            group = mint.citation_count_group(n)
            lines += [f"<{group}> <{RDF}type> <{PSK}CitationCountGroup> .\n",
                      f"<{group}> <{PSK}evidenceCitations> {_int(n)} .\n",
                      f"<{group}> <{PSK}workCount> {_int(works_with[n])} .\n",
                      f"<{group}> <{PSK}worksCitedMore> {_int(more)} .\n"]
            more += works_with[n]
        for work, n in per_work.items():
            lines += [f"<{work}> <{PSK}evidenceCitations> {_int(n)} .\n",
                      f"<{work}> <{PSK}citationCountGroup> <{mint.citation_count_group(n)}> .\n",
                      f"<{work}> <{PSK}documentCitations> {_int(documents.get(work, 0))} .\n"]
        return lines

    def _directions(self, evidence: Evidence) -> list[str]:
        per_direction = Counter(direction for _, direction in self.directions)
        return [f"<{concept.iri}> <{PSK}findingCount> {_int(per_direction[concept.iri])} .\n"
                for concept in evidence.vocabulary.concepts.get("direction", {}).values() if not concept.is_domain]

    def _claim_tallies(self, mint: Minter) -> list[str]:
        tallies: Counter[tuple[str, str, str]] = Counter()
        if len({grade[0] for grade in self.grades}) == len(self.grades):  # every claim id once: the usual case
            tallies.update((design, level, basis) for _, design, level, basis in self.grades
                           if design is not None and level is not None)
        else:  # a repeated claim id is one node with every value of each
            per_claim: dict[str, list[tuple[str | None, str | None, str]]] = {}
            for claim, *grade in self.grades:
                per_claim.setdefault(claim, []).append(tuple(grade))  # type: ignore[arg-type]
            for grades in per_claim.values():
                designs, levels, bases = ({g[i] for g in grades if g[i] is not None} for i in range(3))
                tallies.update(product(designs, levels, bases))  # type: ignore[arg-type]
        from kb.graph.build import text  # the one literal writer (that module imports this one)

        lines = []
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
