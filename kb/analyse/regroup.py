"""The last build's groupings of the rows brought to this build's rows in place (the editors' loop).

At 10k/50k the site's pages group ~90,000 rows about twenty ways (:class:`kb.analyse.groups.Groups`), and an
edit changes the rows of one claim: the loop's workers grouped every row again after each edit (~2.5 s of CPU).
Making new lists from the last build's (tried before) cost as much as it saved: each list taken over increfs every
row it holds. Here the last build's lists themselves are changed: the changed claims' rows taken out and put in at
their places in each list's order, and the rows of unchanged claims that are new objects (their file was read
again) swapped for the new ones, so that the groupings hold this build's rows only. Lists are in the order of
the rows (claim, then outcome) or best first (:func:`kb.analyse.groups.best_first_key`), and dicts in the order
in which their keys first appear (as :func:`kb.analyse.groups.rows_by` makes them) or sorted (the questions).

Where a place is not certain (two rows with the same claim identifier and outcome: claims sharing an identifier,
which the checks report), :class:`Unplaced` is raised: the caller drops the groupings, which are half changed, and
groups afresh.
"""

from __future__ import annotations

import bisect
import dataclasses
import operator
from collections.abc import Callable, Iterable, MutableMapping, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.model import CLAIM_WORDS

if TYPE_CHECKING:
    from kb.analyse.analysis import Row

Key = Callable[["Row"], Any]
ROW_ORDER: Key = operator.attrgetter("claim_id", "outcome")  # the rows' own order (kb.analyse.analysis.claim_rows)


class Unplaced(Exception):
    """A row's place in a list is not certain: group afresh."""


@dataclass
class Marks:
    """What a carry did to the lists, by list id: rows taken out or put in (``moved``), or a row swapped for its
    claim's reworded one (``worded``: the same place and facets, other words); ``reworded`` are those new rows' ids."""

    moved: set[int] = field(default_factory=set)
    worded: set[int] = field(default_factory=set)
    reworded: set[int] = field(default_factory=set)


def changes(old: list[Row], new: list[Row], changed: set[str], reworded: Set[str], marks: Marks
            ) -> tuple[list[Row], list[Row], list[tuple[Row, Row]]]:
    """The rows to take out (the changed claims' in ``old``), to put in (theirs in ``new``) and to swap (old → new:
    rows of unchanged claims that are new objects, equal to the old; and the rows of ``reworded`` claims, where they
    differ from the old in their words alone, marked). :class:`Unplaced` where an unchanged claim's rows are not
    the same as before (``changed`` is wrong)."""
    old_ids, new_ids = set(map(id, old)), set(map(id, new))
    gone = [r for r in old if id(r) not in new_ids and r.claim_id not in changed]
    came = [r for r in new if id(r) not in old_ids and r.claim_id not in changed]
    if gone != came:  # the same claims' rows, in the same order, equal (dataclass equality)
        raise Unplaced("an unchanged claim's rows changed")
    swaps = list(zip(gone, came, strict=True))
    out: dict[str, list[Row]] = {}
    into: dict[str, list[Row]] = {}
    for rows, by_claim in ((old, out), (new, into)):
        for row in rows:
            if row.claim_id in changed:
                by_claim.setdefault(row.claim_id, []).append(row)
    for claim_id in reworded & out.keys() & into.keys():
        pairs = list(zip(out[claim_id], into[claim_id], strict=False))
        if len(out[claim_id]) == len(into[claim_id]) and all(
                dataclasses.replace(b, **{w: getattr(a, w) for w in CLAIM_WORDS}) == a for a, b in pairs):
            swaps += pairs
            marks.reworded.update(id(b) for _, b in pairs)
            del out[claim_id], into[claim_id]
    return [r for rows in out.values() for r in rows], [r for rows in into.values() for r in rows], swaps


def _where(rows: list[Row], row: Row, key: Key) -> int:
    """The index of ``row`` (itself) in ``rows``, ordered by ``key``."""
    k = key(row)
    i = bisect.bisect_left(rows, k, key=key)
    while i < len(rows) and key(rows[i]) == k:
        if rows[i] is row:
            return i
        i += 1
    raise Unplaced("a row is not where its order puts it")


def _put(rows: list[Row], row: Row, key: Key) -> None:
    k = key(row)
    lo = bisect.bisect_left(rows, k, key=key)
    hi = bisect.bisect_right(rows, k, lo=lo, key=key)
    if any(rows[j] is not row for j in range(lo, hi)):  # another row with the same claim identifier and outcome
        raise Unplaced("two rows share a claim identifier and an outcome")
    rows.insert(hi, row)


class _Lists:
    """One grouping's lists, changed in place: what :func:`update` does to each list, with what it did (marks)."""

    def __init__(self, key: Key, marks: Marks) -> None:
        self.key, self.marks = key, marks

    def take(self, groups: MutableMapping[Any, list[Row]], value: Any, row: Row) -> None:
        """``row`` out of ``groups[value]`` (the list removed once empty)."""
        rows = groups[value]
        del rows[_where(rows, row, self.key)]
        self.marks.moved.add(id(rows))
        if not rows:
            del groups[value]

    def put(self, groups: MutableMapping[Any, list[Row]], value: Any, row: Row) -> None:
        """``row`` into ``groups[value]`` (a new list where there is none)."""
        rows = groups.get(value)
        if rows is None:
            groups[value] = [row]
            return
        _put(rows, row, self.key)
        self.marks.moved.add(id(rows))

    def swap(self, groups: MutableMapping[Any, list[Row]], value: Any, old: Row, new: Row) -> None:
        rows = groups[value]
        rows[_where(rows, old, self.key)] = new
        if id(new) in self.marks.reworded:
            self.marks.worded.add(id(rows))


def update(rows: list[Row], key: Key, out: list[Row], into: list[Row], swaps: list[tuple[Row, Row]]) -> None:
    """One list (every row, in ``key``'s order) brought to the new rows."""
    for row in out:
        del rows[_where(rows, row, key)]
    for old, new in swaps:
        rows[_where(rows, old, key)] = new
    for row in into:
        _put(rows, row, key)


def regroup(groups: dict[Any, list[Row]], values: Callable[[Row], Iterable[Any]], key: Key, order: Callable[[Any], Any],
            out: list[Row], into: list[Row], swaps: list[tuple[Row, Row]], marks: Marks) -> dict[Any, list[Row]]:
    """A grouping (value → its rows in ``key``'s order) brought to the new rows: ``values`` gives a row's values
    (a value twice, the row twice, as :func:`kb.analyse.groups.rows_by` does). Where rows come or go, the dict is
    ordered again by ``order`` (of a value): a value may come or go, and a list's first row move."""
    lists = _Lists(key, marks)
    for row in out:
        for value in values(row):
            lists.take(groups, value, row)
    for old, new in swaps:
        for value in values(old):
            lists.swap(groups, value, old, new)
    for row in into:
        for value in values(row):
            lists.put(groups, value, row)
    if not out and not into:  # a swapped row is where the old one was: the lists' first rows are as they were
        return groups
    return {value: groups[value] for value in sorted(groups, key=order)}


def first_seen(position: Callable[[Row], int], values: Callable[[Row], tuple[Any, ...]],
               groups: dict[Any, list[Row]]) -> Callable[[Any], tuple[int, int]]:
    """The order of a dict that :func:`kb.analyse.groups.rows_by` made: by where each value first appears in the
    rows (its list's first row), then by its place among that row's values."""
    def order(value: Any) -> tuple[int, int]:
        first = groups[value][0]
        return position(first), values(first).index(value)
    return order
