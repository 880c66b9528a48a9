"""What a valid identifier is: citekeys, claim ids and concept ids, and the KB's concept schemes.

Identifiers are checked when they are read (BAD_INPUTS #6, #34), before :mod:`kb.graph.iris` mints
IRIs from them: a citekey or claim id with a space, a slash or a control character never reaches
the graph, so nothing needs escaping later.
"""

from __future__ import annotations

import re

CITEKEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$")
CLAIM_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
CONCEPT_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

SCHEMES = ("population", "setting", "delivery", "perspective", "finding_type", "intervention", "intervention_kind",
           "outcome", "design", "direction", "certainty")
# The claim facets a map can use as rows, with the claim field that holds each.
FACETS = ("population", "setting", "delivery", "perspective")
NOT_STATED = "not_stated"
