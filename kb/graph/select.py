"""SELECT over a pyoxigraph store, typed: the stages' own queries always are SELECTs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyoxigraph as ox


def select(store: ox.Store, query: str) -> ox.QuerySolutions:
    """The solutions of a SELECT query (a programming error, not a user's, if it is not one)."""
    import pyoxigraph as ox

    results = store.query(query)
    if not isinstance(results, ox.QuerySolutions):
        raise TypeError("expected a SELECT query")
    return results

