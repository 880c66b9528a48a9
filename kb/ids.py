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

# What no text the KB takes in may hold (kb.problems.bad_characters): C0/C1 controls other than tab
# and newlines, invisible in editors, and bidi controls, which can make text read other than it is.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
BIDI_CONTROLS = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

SCHEMES = ("population", "setting", "delivery", "perspective", "finding_type", "intervention", "intervention_kind",
           "outcome", "design", "direction", "certainty")
# The claim facets a map can use as rows, with the claim field that holds each.
FACETS = ("population", "setting", "delivery", "perspective")
NOT_STATED = "not_stated"
