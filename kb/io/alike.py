"""How much two versions of a text share at their start and end: an edit changes what lies between.

Shared by the graph's patch (the N-Triples two builds differ by, :mod:`kb.graph.change`) and the BibTeX split of an
edited file (:func:`kb.bibtex.parse.read_bib`'s ``last``).
"""

from __future__ import annotations

from typing import AnyStr


def common_prefix(a: AnyStr, b: AnyStr) -> int:
    """How many characters (or bytes) ``a`` and ``b`` begin with alike: halving by slices, each compared in C."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def common_suffix(a: AnyStr, b: AnyStr, limit: int) -> int:
    """How many characters (or bytes), at most ``limit``, ``a`` and ``b`` end with alike."""
    low, high = 0, limit
    end_a, end_b = len(a), len(b)
    while low < high:
        mid = (low + high + 1) // 2
        if a[end_a - mid:end_a - low] == b[end_b - mid:end_b - low]:
            low = mid
        else:
            high = mid - 1
    return low
