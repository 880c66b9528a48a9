"""The records' analysis carried from one build of a process to the next (the editors' loop).

:func:`kb.analyse.analysis.from_records` walks every claim: its rows, its links in the evidence network, what it
says of the kinds of the works it cites. After an edit most claims are the very objects the last build read (the
loop keeps an unchanged file's records, :class:`kb.pipeline.Warm`), and while the evidence other than the claim
files is unchanged (:attr:`kb.checks.scope.Inputs.context`, the same rule as :mod:`kb.load.byrecord`'s) such a claim
makes what it made last time. So the last build's rows and links are spliced: the changed and removed claims' taken
out, the changed and new claims' put in at their places (both lists are sorted by claim id). The works' kinds are
counted again only for the works those claims cite. At 10k/50k walking every claim was ~0.6 s of each rebuild,
before the site's workers fork; the splice is a few bisections and list copies. The result equals a fresh
:func:`~kb.analyse.analysis.from_records`'s, order and the unchanged claims' row objects included (the tests hold them
equal after random edits). The study base's counts of reviews and studies are carried too, those that read no kind,
year or inclusion that changed (:meth:`~kb.analyse.studies.StudyBase.keep_counts`), with those the site's workers
made (:meth:`~kb.analyse.studies.StudyBase.take_made`).
"""

from __future__ import annotations

import bisect
import dataclasses
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, TypeVar

from kb.analyse.analysis import (
    _CLAIM_LINKS,
    FromRecords,
    Row,
    citation_links,
    citations_end,
    claim_rows,
    link_maker,
    network_links,
    row_maker,
)
from kb.analyse.studies import StudyBase, study_base, years_of
from kb.load.evidence import Evidence
from kb.load.kinds import KindTally, inclusion_keys, kind_of, tally
from kb.model import Claim

T = TypeVar("T")
Link = tuple[str, str, str]


@dataclass
class _Last:
    """What the last build made of its records, and from which claims (no two sharing an id)."""

    context: str
    records: str  # the context the rows, links and tallies were made in (KeptRows.records)
    claims: list[Claim]  # held, so that no other object takes one's id while ``held`` names it
    held: set[int]  # the claims' ids (id()): whether a claim is the same object is known without reading it
    rows: list[Row]
    links: list[Link]
    counted: KindTally
    studies: StudyBase


@dataclass
class KeptRows:
    """What :func:`kb.analyse.analysis.from_records` keeps between the builds of one process."""

    context: str | None = None  # this build's (Warm.begin); None: nothing is kept
    # The same without references.bib, the reference lists, the archived sources and the example queries, but with
    # which of the works the claims and inclusions name references.bib holds: all that a claim's rows, links and
    # tallies read of them (kb.checks.scope.own_context; the lists' links are made again in each build). After an
    # edited work or reference list, or a new work nothing names yet, the rows are carried (the same objects: the
    # site's groupings of them are kept too), and only the works' kinds and years are made again (a remade analysis
    # made every row a new object, and carrying the groupings over to ~90,000 new rows was ~5 s of the editors'
    # loop; ~10 s after an edited reference list at 10k/50k, where it was remade).
    records: str | None = None
    last: _Last | None = field(default=None, repr=False)

    def begin(self, context: str | None, records: str | None = None) -> None:
        self.context, self.records = context, records

    def carry(self, evidence: Evidence) -> FromRecords:
        """The analysis of ``evidence``'s records: the last build's carried over where it can be, else made afresh;
        kept for the next build where the context is known and no two claims share an id."""
        last, self.last = self.last, None  # until this build's is whole: a failure below keeps nothing
        unique = len(evidence.claims_by_id) == len(evidence.claims)
        if last is not None and unique and self.context is not None and last.context == self.context:
            made = _carried(last, evidence)
        elif (last is not None and unique and self.context is not None and self.records is not None
              and last.records == self.records):
            made = _carried(last, evidence)  # the works changed: their kinds and years are decided again
            studies = study_base(evidence, made.counted)
            studies.keep_counts(last.studies)
            made = dataclasses.replace(made, context=self.context, studies=studies)
        else:
            counted = tally(evidence)
            made = _Last(self.context or "", self.records or "", evidence.claims, set(map(id, evidence.claims)),
                         claim_rows(evidence), network_links(evidence), counted, study_base(evidence, counted))
        if unique and self.context is not None:
            self.last = made
        return FromRecords(made.rows, made.studies, made.links)


def _carried(last: _Last, evidence: Evidence) -> _Last:
    """``last`` brought to ``evidence``'s claims (same context, ids unique in both)."""
    claims = evidence.claims
    held = set(map(id, claims))
    # the claims not among the last build's objects, and the last build's not among these (removed or replaced):
    # found by identity in loops in C, which read no claim (reading 50,000 scattered claims' ids was ~0.1 s)
    came = sorted(compress(claims, map(operator.not_, map(last.held.__contains__, map(id, claims)))), key=_ID)
    went = list(compress(last.claims, map(operator.not_, map(held.__contains__, map(id, last.claims)))))
    out = sorted({c.id for c in went})
    rows_of, links_of = row_maker(evidence), link_maker(evidence)
    rows = splice(last.rows, _CLAIM_ID, out, [(c.id, rows_of(c)) for c in came])
    made_links = [(c.id, links_of(c)) for c in came]
    links = splice(last.links, _KIND_CLAIM, [(kind, cid) for kind in _CLAIM_LINKS for cid in out],
                   [((kind, cid), of_claim[n]) for n, kind in enumerate(_CLAIM_LINKS) for cid, of_claim in made_links])
    # the reference lists' links, first, made again: the rows' context leaves the lists out (kb.checks.scope)
    links[:citations_end(links)] = citation_links(evidence)
    counted = last.counted  # counted over again in place: last is dropped whatever happens
    touched: set[str] = set()
    for claim in went:
        touched.update(counted.count(claim, evidence.vocabulary, -1))
    for claim in came:
        touched.update(counted.count(claim, evidence.vocabulary))
    return _Last(last.context, last.records, claims, held, rows, links, counted,
                 _studies(last.studies, evidence, counted, touched))


def _studies(last: StudyBase, evidence: Evidence, counted: KindTally, touched: set[str]) -> StudyBase:
    """``last`` with the kinds of the ``touched`` works decided again (the inclusions and references are unchanged)."""
    declared, included = inclusion_keys(evidence)
    refs = evidence.references_by_key
    kinds = dict(last.kinds)
    came = False
    for key in sorted(touched):
        if key in counted.alone or key in counted.alongside or key in declared or key in included:
            came = came or key not in kinds
            kinds[key] = kind_of(key, counted, declared, included, refs)
        else:
            kinds.pop(key, None)  # no claim cites it any more, and no inclusion names it
    if came:  # in key order, as work_kinds makes them
        kinds = dict(sorted(kinds.items()))
    same = len(kinds) == len(last.kinds) and not came
    years = dict(last.years) if same else years_of(evidence, kinds, last.includes)
    studies = StudyBase(kinds, dict(last.includes), years)
    studies.keep_counts(last)
    return studies


def splice(items: Sequence[T], key: Callable[[T], Any], out: Sequence[Any], put: Sequence[tuple[Any, list[T]]]
           ) -> list[T]:
    """``items`` (sorted by ``key``) without the items of the keys ``out``, with each of ``put``'s lists at its key's
    place: the items of one key are contiguous, so each is a slice found by bisection."""
    cuts: dict[Any, list[T]] = {k: [] for k in out}  # keys of one list: they compare with each other
    for k, values in put:
        cuts.setdefault(k, []).extend(values)
    spliced: list[T] = []
    at = 0
    for k in sorted(cuts):
        lo = bisect.bisect_left(items, k, lo=at, key=key)
        hi = bisect.bisect_right(items, k, lo=lo, key=key)
        spliced += items[at:lo]
        spliced += cuts[k]
        at = hi
    spliced += items[at:]
    return spliced


_ID = operator.attrgetter("id")
_CLAIM_ID = operator.attrgetter("claim_id")
_KIND_CLAIM = operator.itemgetter(0, 1)
