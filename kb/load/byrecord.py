"""What later stages make from each record, kept between the builds of one process (the editors' loop).

The loop keeps the records of unchanged files as the same objects (:class:`kb.pipeline.Warm`'s ``parsed``), so
after an edit only the edited file's claims are new. What the checks and the analysis make from a claim depends on
the claim and on the evidence other than the claim files (references, citation lists, vocabularies, archived
sources, settings) and the code, which :attr:`kb.checks.scope.Inputs.context` names: while that is unchanged, a
claim that is the same object gets what it got last time. At 10k/50k that was ~4 s of every rebuild of the loop
(the checks across files, the analysis's rows and links), on the critical path once the store is patched in place
rather than parsed (:func:`kb.graph.build.build_graph`). The checks and the claims table's rows are kept here; the
analysis's rows and links are carried by the same rule, but spliced whole (:mod:`kb.analyse.carry`). The checks and
the analysis are kept by a narrower context, which holds of references.bib only which of the works the records name
are in it (:func:`kb.checks.scope.records_context`): an edited or a new work keeps them.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")
_NONE: tuple[Any, Any] = (None, None)  # no value kept: no record is None
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


class ByRecord(Generic[T]):
    """Values made from records, by the record's identity, while the context is the one they were made in.

    Each build calls :meth:`begin` with its context (None: keep nothing), gets every value with :meth:`get`, and
    ends with :meth:`end`, which drops the values of records this build did not ask for (removed or edited ones).
    A record is held beside its value, so that its id cannot be another object's while the value is kept."""

    def __init__(self) -> None:
        self.context: str | None = None
        self.kept: dict[int, tuple[object, T]] = {}
        self.asked: dict[int, tuple[object, T]] = {}

    def begin(self, context: str | None) -> None:
        if context is None or context != self.context:
            self.kept = {}
        self.context = context
        self.asked = {}

    def get(self, record: object, make: Callable[[], T]) -> T:
        """The value of ``record``: the one kept, or ``make()`` (and kept, where the context is known)."""
        if self.context is None:
            return make()
        hit = self.kept.get(id(record))
        if hit is not None and hit[0] is record:
            self.asked[id(record)] = hit
            return hit[1]
        value = make()
        self.asked[id(record)] = (record, value)
        return value

    def many(self, records: Sequence[R], make: Callable[[list[R]], list[T]]) -> list[T]:
        """The values of ``records``, in order: those kept, and the others made by one call of ``make`` (with them,
        in order), where making them together is cheaper. Which are kept is found by identity in loops in C: at
        50,000 claims and 88,000 rows a loop in Python over them was ~0.2 s of every rebuild, for a few new ones."""
        if self.context is None:
            return make(list(records))
        ids = list(map(id, records))
        hits = list(map(self.kept.get, ids, itertools.repeat(_NONE)))
        missing = list(itertools.compress(range(len(ids)), map(operator.is_not, map(_FIRST, hits), records)))
        for at, value in zip(missing, make([records[i] for i in missing]), strict=True):
            hits[at] = (records[at], value)
        self.asked.update(zip(ids, hits, strict=True))
        return list(map(_SECOND, hits))

    def forget(self, records: Iterable[object]) -> None:
        """Keep nothing of these records for the next build: their values read more than the context names."""
        for record in records:
            self.asked.pop(id(record), None)

    def end(self) -> None:
        self.kept, self.asked = self.asked, {}
