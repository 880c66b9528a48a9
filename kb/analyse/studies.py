"""The unit of evidence is the study, not the claim: count distinct reviews and studies behind any set of findings.

Two claims that rest on the same review are one review; two reviews that include the same trials
are two reviews but not twice the trials. A count says "2 reviews (overlap very high, CCA 50 %),
5 unique studies": the studies are those cited directly plus those the cited reviews included (as
``inclusions/`` records them), each once. How a cited work's kind is known is
:mod:`kb.load.kinds`; the overlap measure is :mod:`kb.analyse.overlap`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.analyse.overlap import Overlap, corrected_covered_area, impossible_cells, pairwise
from kb.load.evidence import Evidence
from kb.load.kinds import OTHER, REVIEW, STUDY, UNCLASSIFIED, KindTally, WorkKind, work_kinds, year_of

if TYPE_CHECKING:
    from kb.analyse.analysis import Row


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class EvidenceCount:
    """The distinct works behind a set of findings, by kind, and the overlap of its reviews."""

    reviews: tuple[str, ...] = ()
    studies: tuple[str, ...] = ()  # distinct primary studies: cited directly, or included in a cited review
    cited_studies: tuple[str, ...] = ()  # the studies claims cite directly
    others: tuple[str, ...] = ()  # narrative reviews, opinion, reports, protocols, web pages
    unclassified: tuple[str, ...] = ()  # works whose design nothing in the KB states
    unrecorded: tuple[str, ...] = ()  # reviews whose included studies no source states
    overlap: Overlap | None = None  # among the reviews whose inclusions are recorded (two or more)
    uncited: tuple[str, ...] = ()  # sources with findings that cite no work (their own summary)

    @property
    def works(self) -> int:
        return len(self.reviews) + len(self.studies) + len(self.others) + len(self.unclassified)

    def reviews_phrase(self) -> str:
        """``1 review``, ``2 reviews (overlap high, CCA 12 %)``, ``2 reviews (overlap unknown)``."""
        if not self.reviews:
            return ""
        text = plural(len(self.reviews), "review")
        if len(self.reviews) < 2:
            return text
        o = self.overlap
        if o is None or o.cca is None:
            return text + " (overlap unknown)"
        among = "" if len(o.reviews) == len(self.reviews) else f" between {len(o.reviews)} of them"
        return text + f" (overlap {o.band}{among}, CCA {o.percent_text} %)"

    def studies_phrase(self) -> str:
        """``1 study``, ``3 studies``; ``3 unique studies`` where reviews' inclusions were merged in."""
        n = len(self.studies)
        if not n:
            return ""
        merged = len(self.reviews) > len(self.unrecorded)  # some review's studies were merged in
        return plural(n, "unique study", "unique studies") if merged and n > 1 else plural(n, "study", "studies")

    def phrase(self) -> str:
        """The whole count in words: ``2 reviews (overlap high, CCA 12 %), 3 unique studies, 1 other work``."""
        parts = [self.reviews_phrase(), self.studies_phrase(),
                 plural(len(self.others), "other work") if self.others else "",
                 plural(len(self.unclassified), "work of unstated design", "works of unstated design")
                 if self.unclassified else ""]
        parts = [p for p in parts if p]
        if not parts:
            return "no cited work (the source's own summary)" if self.uncited else "no cited work"
        if self.uncited:
            parts.append("the source's own summary")
        return ", ".join(parts)


# What a reader of a study base is told it read (StudyBase.noted): a work's kind or year, as the mark and the citekey
KIND_READ, YEAR_READ = "\3", "\4"
CountKey = tuple[frozenset[str], frozenset[str]]  # the works counted, and the sources whose findings cite none
Counted = tuple[EvidenceCount, tuple[str, ...]]  # a count, and the kinds and years it read


@dataclass
class StudyBase:
    """Every cited work's kind, the reviews' recorded inclusions and the works' years.

    ``noted``, where set, is told of every kind and year an answer read (:data:`KIND_READ` or :data:`YEAR_READ` and
    the citekey), a remembered count's too, all of an answer's in one call (a question page's counts read ~100,000 at
    10k/50k): the site keys each page by the works' kinds and years it read (:mod:`kb.site.deps`), so that a work
    cited for the first time remakes the pages that count it, not every page.
    """

    kinds: dict[str, WorkKind] = field(default_factory=dict)
    includes: dict[str, frozenset[str]] = field(default_factory=dict)  # review → studies (recorded only)
    years: dict[str, int] = field(default_factory=dict)
    # each count made, and the kinds and years it read
    _cache: dict[CountKey, Counted] = field(default_factory=dict, repr=False)
    noted: Callable[[Iterable[str]], None] | None = field(default=None, repr=False, compare=False)
    # The counts made here since take_made, where another process keeps them (a site worker's, for the editors' loop;
    # None: not recorded)
    made: dict[CountKey, Counted] | None = field(default=None, repr=False, compare=False)

    def kind(self, key: str) -> str:
        if self.noted is not None:
            self.noted((KIND_READ + key,))
        return self._kind(key)

    def _kind(self, key: str) -> str:
        found = self.kinds.get(key)
        return found.kind if found else UNCLASSIFIED

    def count(self, rows: Iterable[Row]) -> EvidenceCount:
        """The count behind claim-outcome rows: the works they cite, each once."""
        works: set[str] = set()
        uncited: set[str] = set()
        for row in rows:
            cites = [k for k in row.cites if k != row.source]
            works.update(cites)
            if not cites:
                uncited.add(row.source)
        return self.count_works(works, uncited)

    def count_works(self, works: Iterable[str], uncited: Iterable[str] = ()) -> EvidenceCount:
        key = (frozenset(works), frozenset(uncited))
        made = self._cache.get(key)
        if made is None:
            made = self._cache[key] = self._count(*key)
            if self.made is not None:
                self.made[key] = made
        if self.noted is not None:
            self.noted(made[1])
        return made[0]

    def take_made(self) -> dict[CountKey, Counted]:
        """The counts made here since the last call (:attr:`made`), for :meth:`keep_made` in another process."""
        made, self.made = self.made or {}, ({} if self.made is not None else None)
        return made

    def keep_made(self, made: dict[CountKey, Counted]) -> None:
        """Remember counts another process made of this same base (:meth:`take_made`)."""
        self._cache.update(made)

    def keep_counts(self, last: StudyBase) -> None:
        """Take ``last``'s counts that read no kind or year that differs here (the editors' loop, whose next build
        has a new base: recounting, the edited claim's summary pages spent 0.33–0.40 s in ``sof_rows`` at 10k/50k, and
        0.21–0.26 s with the counts carried). A count reads the inclusions of the reviews it counts too, so none is
        taken where they differ."""
        if not last._cache or last.includes != self.includes:
            return
        changed = {KIND_READ + key for key in last.kinds.keys() | self.kinds.keys()
                   if last._kind(key) != self._kind(key)}
        changed.update(YEAR_READ + key for key in last.years.keys() | self.years.keys()
                       if last.years.get(key) != self.years.get(key))
        self._cache = {key: made for key, made in last._cache.items() if changed.isdisjoint(made[1])} \
            if changed else dict(last._cache)

    def _count(self, works: frozenset[str], uncited: frozenset[str]) -> Counted:
        """The count, and the kinds and years it read."""
        by_kind: dict[str, set[str]] = defaultdict(set)
        for key in works:
            by_kind[self._kind(key)].add(key)
        reviews = by_kind[REVIEW]
        recorded = {r: self.includes[r] for r in reviews if self.includes.get(r)}
        listed = {s for studies in recorded.values() for s in studies}
        included = {s for s in listed if self._kind(s) != REVIEW}
        studies = by_kind[STUDY] | included
        reads = [KIND_READ + key for key in works | listed]
        if len(recorded) >= 2:
            reads += [YEAR_READ + key for key in recorded.keys() | listed]
        count = EvidenceCount(
            reviews=tuple(sorted(reviews)), studies=tuple(sorted(studies)),
            cited_studies=tuple(sorted(by_kind[STUDY])), others=tuple(sorted(by_kind[OTHER] - studies)),
            unclassified=tuple(sorted(by_kind[UNCLASSIFIED] - studies)),
            unrecorded=tuple(sorted(set(reviews) - set(recorded))),
            overlap=self.overlap(recorded) if len(recorded) >= 2 else None, uncited=tuple(sorted(uncited)),
        )
        return count, tuple(reads)

    def overlap(self, includes: dict[str, frozenset[str]]) -> Overlap:
        """The overlap of these reviews' recorded inclusions (it reads their years and their studies')."""
        return corrected_covered_area(includes, impossible_cells(includes, self._years(includes)))

    def pairwise(self, reviews: Iterable[str]) -> dict[tuple[str, str], Overlap]:
        """The CCA of each pair of these reviews whose inclusions are recorded."""
        includes = {r: self.includes[r] for r in reviews if self.includes.get(r)}
        return pairwise(includes, impossible_cells(includes, self._years(includes)))

    def _years(self, includes: dict[str, frozenset[str]]) -> dict[str, int]:
        """The years the overlap of ``includes`` reads (the reviews' and their studies'), noted."""
        keys = includes.keys() | {s for studies in includes.values() for s in studies}
        if self.noted is not None:
            self.noted([YEAR_READ + key for key in keys])
        return {key: self.years[key] for key in keys if key in self.years}

    def could_not_include(self, review: str, study: str) -> bool:
        """The study appeared in a later year than the review (the one thing our data can tell)."""
        if self.noted is not None:
            self.noted((YEAR_READ + review, YEAR_READ + study))
        ry, sy = self.years.get(review), self.years.get(study)
        return ry is not None and sy is not None and sy > ry


def study_base(evidence: Evidence, counted: KindTally | None = None) -> StudyBase:
    """Kinds, inclusions (merged over the sources that state them) and years, from the records; ``counted`` is the
    claims' :func:`kb.load.kinds.tally` where it was made already."""
    kinds = work_kinds(evidence, counted)
    includes: dict[str, set[str]] = defaultdict(set)
    for inc in evidence.inclusions:
        includes[inc.review].update(k for k in inc.includes if k != inc.review)
    merged = {r: frozenset(s) for r, s in sorted(includes.items())}
    return StudyBase(kinds, merged, years_of(evidence, kinds, merged))


def years_of(evidence: Evidence, kinds: dict[str, WorkKind], includes: dict[str, frozenset[str]]) -> dict[str, int]:
    """The years of the works with a kind or inclusions, where their entries give one."""
    years = {}
    for key in sorted(set(kinds) | set(includes)):
        year = year_of(evidence.references_by_key.get(key))
        if year is not None:
            years[key] = year
    return years


__all__ = ["KIND_READ", "OTHER", "REVIEW", "STUDY", "UNCLASSIFIED", "YEAR_READ", "EvidenceCount", "StudyBase", "plural",
           "study_base"]
