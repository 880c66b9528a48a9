"""How much several reviews rest on the same primary studies: the corrected covered area (CCA).

Pieper D, Antoine SL, Mathes T, Neugebauer EAM, Eikermann M. Systematic review finds overlapping
reviews were not mentioned in every other overview. J Clin Epidemiol 2014;67(4):368–375:

    CCA = (N − r) / (r·c − r)

over the citation matrix of c reviews (columns) and the r distinct studies they include (rows);
N is the number of ticked cells (inclusions summed over reviews). The −r discounts each study's
first inclusion, so 0 means no study is in two reviews and 1 means every review includes every
study. Where a review *could not* have included a study, that cell cannot overlap and is taken out
of the denominator (the correction for "structural missingness", as in the GROOVE tool, Bracchiglione
et al. 2022):

    CCA = (N − r) / (r·c − r − X),  X = cells a review could not have included.

What we can know of X: only publication years. A study published after a review (a later year)
cannot be in it. A study of the same or an earlier year may still have appeared after the review's
search date, and a study outside a review's question could not have been included either; our
data records neither search dates nor review questions, so X is a lower bound and the CCA a
slight underestimate where reviews and studies are close in time.

Bands (Pieper et al.): below 5 % slight, 5 to below 10 % moderate, 10 to below 15 % high,
15 % or more very high.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

BANDS = ((5.0, "slight"), (10.0, "moderate"), (15.0, "high"))
VERY_HIGH = "very high"


@dataclass(frozen=True)
class Overlap:
    """The citation matrix's totals and its CCA (``None`` where it is not defined)."""

    reviews: tuple[str, ...]  # c
    studies: tuple[str, ...]  # r distinct studies
    inclusions: int  # N
    impossible: int  # X: cells a review could not have included
    cca: float | None  # a fraction, 0..1

    @property
    def percent(self) -> float | None:
        return None if self.cca is None else self.cca * 100

    @property
    def band(self) -> str:
        return band(self.percent) if self.percent is not None else ""

    @property
    def percent_text(self) -> str:
        """``12.5``, ``50``, ``0``: one decimal where it matters, for "CCA 12.5 %"."""
        if self.percent is None:
            return ""
        return f"{self.percent:.1f}".removesuffix(".0")


def band(percent: float) -> str:
    """Pieper et al.'s reading of a CCA in percent."""
    for upper, name in BANDS:
        if percent < upper:
            return name
    return VERY_HIGH


def corrected_covered_area(includes: Mapping[str, Iterable[str]],
                           impossible: Iterable[tuple[str, str]] = ()) -> Overlap:
    """The CCA of the reviews in ``includes`` (review → the studies it included).

    ``impossible`` holds (review, study) cells the review could not have included; cells that are
    in fact included are never counted there. Undefined (``cca=None``) with fewer than two
    reviews, no study, or no cell left that could have overlapped.
    """
    reviews = tuple(sorted(includes))
    sets = {r: frozenset(includes[r]) for r in reviews}
    studies = tuple(sorted(set().union(*sets.values()))) if sets else ()
    n = sum(len(s) for s in sets.values())
    x = len({(r, s) for r, s in impossible if r in sets and s in studies and s not in sets[r]})
    c, r = len(reviews), len(studies)
    denominator = r * c - r - x
    cca = (n - r) / denominator if c >= 2 and r and denominator > 0 else None
    return Overlap(reviews, studies, n, x, cca)


def impossible_cells(includes: Mapping[str, Iterable[str]], years: Mapping[str, int]) -> set[tuple[str, str]]:
    """(review, study) cells where the study was published in a later year than the review."""
    studies = set().union(*(set(s) for s in includes.values())) if includes else set()
    out = set()
    for review in includes:
        review_year = years.get(review)
        if review_year is None:
            continue
        for study in studies:
            year = years.get(study)
            if year is not None and year > review_year:
                out.add((review, study))
    return out


def pairwise(includes: Mapping[str, Iterable[str]],
             impossible: Iterable[tuple[str, str]] = ()) -> dict[tuple[str, str], Overlap]:
    """The CCA of every pair of reviews (for the review × review table), keyed by the sorted pair."""
    cells = set(impossible)
    return {(a, b): corrected_covered_area({a: includes[a], b: includes[b]}, cells)
            for a, b in combinations(sorted(includes), 2)}
