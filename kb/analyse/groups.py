"""The rows grouped as the site's pages read them (by concept, by map cell, by question), once per build.

The site's ~90,000 rows at 10k/50k are grouped about twenty ways; :class:`Groups` makes each grouping once and
shares it, a fresh build makes them while its graph is parsed (:func:`kb.site.prime_groups`), and the editors' loop
brings the last build's to the new rows in place (:meth:`Groups.carry`, :mod:`kb.analyse.regroup`).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

from kb.analyse import regroup
from kb.analyse.analysis import Row, direction_rank, level_rank

_SEVERAL = frozenset(f.name for f in dataclasses.fields(Row) if str(f.type).startswith("tuple"))  # facets of tuples


def rows_by(rows: list[Row], facet: str) -> defaultdict[str, list[Row]]:
    """The rows under each of their concept ids on ``facet`` (:meth:`Row.values`), each list in the rows' order: the
    pages of concepts and map rows group ~90,000 rows on five facets, and a method call per row and facet was ~1 s."""
    out: defaultdict[str, list[Row]] = defaultdict(list)
    values = map(operator.attrgetter(facet), rows)
    if facet in _SEVERAL:
        for row, ids in zip(rows, values, strict=True):
            for concept_id in ids:
                out[concept_id].append(row)
    else:
        for row, concept_id in zip(rows, values, strict=True):
            out[concept_id].append(row)
    return out


def questions(rows: Iterable[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows by (population, intervention): a claim about two populations answers both questions."""
    out: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        for population in row.population:
            out[(population, row.intervention)].append(row)
    return dict(sorted(out.items()))


def best_first_key(row: Row) -> tuple[int, int, str, str]:
    """Highest certainty first, then by direction and claim: what a reader of a long list wants first."""
    return level_rank(row.certainty), direction_rank(row.direction), row.claim_id, row.outcome


class Groups:
    """The rows grouped as the site's pages read them, each grouping made once per build and shared: the site's
    workers grouped ~90,000 rows about twenty ways once they had forked (~2.5 s of CPU at 10k/50k). A fresh build
    makes what it can in the main process while the graph is still being parsed (:func:`kb.site.prime_groups`),
    and the workers inherit it. What it gives is shared: callers must not change it."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self._made: dict[tuple[str, str, bool], Any] = {}

    @functools.cached_property
    def ranked(self) -> list[Row]:
        """Every row, best first (:func:`best_first_key`), sorted once: a group's rows taken from it in this order
        are the group sorted, so that the best few of hundreds of groups need no sort of their own."""
        return sorted(self.rows, key=best_first_key)

    def by(self, facet: str, *, ranked: bool = False) -> Mapping[str, list[Row]]:
        """:func:`rows_by` of the rows (``ranked``: best first) on ``facet``."""
        key = ("by", facet, ranked)
        if key not in self._made:
            self._made[key] = dict(rows_by(self.ranked if ranked else self.rows, facet))
        made: Mapping[str, list[Row]] = self._made[key]
        return made

    def questions(self) -> Mapping[tuple[str, str], list[Row]]:
        """:func:`questions` of the rows: the summaries' pages."""
        key = ("questions", "", False)
        if key not in self._made:
            self._made[key] = questions(self.rows)
        made: Mapping[tuple[str, str], list[Row]] = self._made[key]
        return made

    def lists(self) -> Iterable[list[Row]]:
        """Every list of rows the groupings made so far hold (the lists the site's pages read)."""
        for (kind, _facet, _ranked), made in self._made.items():
            for value in made.values():
                if kind == "cells":
                    yield from value.values()
                else:
                    yield value

    def carry(self, last: Groups, changed: set[str], reworded: Set[str] = frozenset()) -> regroup.Marks | None:
        """Take ``last``'s groupings over (those not made here yet), brought in place to these rows
        (:mod:`kb.analyse.regroup`): ``changed`` are the claims whose rows may differ from ``last``'s (any other
        claim's rows must be equal), ``reworded`` those of them whose rows may differ in their words alone. Gives
        what was done to which lists (:class:`kb.analyse.regroup.Marks`), or ``None`` where a row's place was not
        certain: then nothing is taken, and ``last`` is left with nothing (its lists were half changed)."""
        made, ranked = last._made, last.__dict__.pop("ranked", None)
        last._made = {}
        made = {name: grouping for name, grouping in made.items() if name not in self._made}  # else made here already
        if "ranked" in self.__dict__:
            ranked = None
        marks = regroup.Marks()
        try:
            out, into, swaps = regroup.changes(last.rows, self.rows, changed, reworded, marks)
            if ranked is not None:
                regroup.update(ranked, best_first_key, out, into, swaps)
                self.__dict__["ranked"] = ranked
            places: dict[bool, dict[int, int]] = {}  # made where a dict is ordered again (rows came or went)

            def position(in_ranked: bool) -> Callable[[Row], int]:
                def at(row: Row) -> int:
                    if in_ranked not in places:
                        places[in_ranked] = {id(r): n for n, r in enumerate(self.ranked if in_ranked else self.rows)}
                    return places[in_ranked][id(row)]
                return at

            for (kind, facet, in_ranked), grouping in made.items():
                key = best_first_key if in_ranked else regroup.ROW_ORDER
                if kind == "questions":
                    self._made[(kind, facet, in_ranked)] = dict(sorted(regroup.regroup(
                        grouping, _question_of, key, lambda q: q, out, into, swaps, marks).items()))
                elif kind == "by":
                    values = _values_of(facet)
                    self._made[(kind, facet, in_ranked)] = regroup.regroup(
                        grouping, values, key, regroup.first_seen(position(in_ranked), values, grouping),
                        out, into, swaps, marks)
                else:
                    self._made[(kind, facet, in_ranked)] = _recell(grouping, facet, key, position(in_ranked),
                                                                   out, into, swaps, marks)
        except regroup.Unplaced:
            for taken in made:
                self._made.pop(taken, None)
            if ranked is not None:
                self.__dict__.pop("ranked", None)
            return None
        return marks

    def cells(self, axis: str, *, ranked: bool = False) -> Mapping[str, Mapping[str, list[Row]]]:
        """The rows by their concept on ``axis``, then by outcome: a map's cells."""
        key = ("cells", axis, ranked)
        if key not in self._made:
            self._made[key] = {value: dict(rows_by(rows, "outcome"))
                               for value, rows in self.by(axis, ranked=ranked).items()}
        made: Mapping[str, Mapping[str, list[Row]]] = self._made[key]
        return made


def _values_of(facet: str) -> Callable[[Row], tuple[str, ...]]:
    """A row's values on ``facet`` as :func:`rows_by` groups them (:meth:`Row.values`; a carry calls it for a few
    rows, where :func:`rows_by` avoids the call for every row)."""
    return operator.methodcaller("values", facet)


def _question_of(row: Row) -> list[tuple[str, str]]:
    return [(population, row.intervention) for population in row.population]


def _recell(cells: dict[str, dict[str, list[Row]]], axis: str, key: Callable[[Row], Any],
            position: Callable[[Row], int], out: list[Row], into: list[Row], swaps: list[tuple[Row, Row]],
            marks: regroup.Marks) -> dict[str, dict[str, list[Row]]]:
    """:meth:`Groups.cells`' grouping brought to the new rows (:func:`kb.analyse.regroup.regroup` on each row of the
    map, and on the map's rows where a row comes or goes)."""
    values, outcome = _values_of(axis), _values_of("outcome")
    gone: dict[str, list[Row]] = defaultdict(list)
    came: dict[str, list[Row]] = defaultdict(list)
    swapped: dict[str, list[tuple[Row, Row]]] = defaultdict(list)
    for row in out:
        for value in values(row):
            gone[value].append(row)
    for row in into:
        for value in values(row):
            came[value].append(row)
    for pair in swaps:
        for value in values(pair[0]):
            swapped[value].append(pair)
    for value in {*gone, *came, *swapped}:
        inner = cells.get(value, {})
        inner = regroup.regroup(inner, outcome, key, regroup.first_seen(position, outcome, inner),
                                gone.get(value, []), came.get(value, []), swapped.get(value, []), marks)
        if inner:
            cells[value] = inner
        else:
            cells.pop(value, None)
    if not out and not into:
        return cells

    def first(value: str) -> tuple[int, int]:
        row = min((rows[0] for rows in cells[value].values()), key=position)
        return position(row), values(row).index(value)
    return {value: cells[value] for value in sorted(cells, key=first)}
