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


# What a URL may keep as written when it becomes an IRI; anything else is percent-encoded. Brackets are
# tried both ways: as written they are valid only around an IPv6 host (https://[::1]/), and elsewhere encoded.
URL_SAFE = ":/?#@!$&'()*+,;=%-._~"


def web_iri(url: str) -> str | None:
    """A BibTeX ``url`` as the IRI the graph holds, or None where it is no http(s) address an IRI can hold.

    Oxigraph's own parser is the judge: a URL it refuses (``a[1]`` in a path, ``%zz``, a second ``#``) once
    stopped every build with its SyntaxError. The site still shows such a URL as text; the check warns.
    """
    from urllib.parse import quote

    url = url.strip()
    if not re.match(r"^https?://", url, re.IGNORECASE) or any(c.isspace() for c in url):
        return None
    for safe in (URL_SAFE + "[]", URL_SAFE):
        iri = quote(url, safe=safe)
        if iri_error(iri) is None:
            return iri
    return None


def iri_error(iri: str) -> str | None:
    """Why Oxigraph's parser refuses ``iri`` ("Invalid IRI percent encoding '%zz'"), or None if it takes it."""
    import pyoxigraph as ox  # lazily: kb --help imports this module

    try:
        ox.NamedNode(iri)
    except ValueError as exc:
        return str(exc)
    return None
