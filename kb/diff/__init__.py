"""Read side, what changed: two states of the KB compared by stable identifiers (``kb diff``, releases).

A state is read from its graph (:mod:`kb.diff.snapshot`), whatever it came from — an evidence
folder, a git revision or a release's dump — so one comparison serves all of them.
"""
