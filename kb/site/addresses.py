"""The site's URL scheme: where every claim, work, concept and map cell lives, for good.

A data release fixes these addresses, so they follow rules that do not depend on what else is in
the KB: adding claims or works never moves one that is already there.

* A claim ``claim/<id>`` is ``claims/<bucket>.html#<id>``; a work ``work/<citekey>`` is
  ``references/<bucket>.html#<citekey>``. ``<bucket>`` is a fixed group of the identifier:
  the top ten bits of its 32-bit FNV-1a hash (over its UTF-8 bytes), as three lowercase hex
  digits, ``000`` to ``3ff``. 1,024 groups whatever the size of the KB: one or two records a page
  at 100 claims, about fifty at 50,000, a few hundred at half a million.
* A concept ``concept/<scheme>/<id>`` of a browsable scheme is ``<folder>/<id>.html``
  (``populations/``, ``settings/``, ``delivery/``, ``perspectives/``, ``interventions/``,
  ``outcomes/``); an outcome domain is ``outcomes/index.html#domain-<id>``; a concept of any
  other scheme (designs, directions, certainty levels, …) is ``method.html#<scheme>-<id>``.
* A map cell (a row of one axis × an outcome) is ``cells/<axis>/<row>.html#<outcome>``: one page
  per row of each map, one section per outcome.
* A summary of findings is ``summaries/questions/<population>--<intervention>.html`` or
  ``summaries/domains/<domain>.html``.

On a page that holds records (claims, works, cells), a record's anchor is its bare identifier,
and every other id on the page starts with ``_``, which no claim id, citekey or concept id can
(:mod:`kb.ids`): an anchor never clashes with the page's own ids.

The same function in JavaScript (``site_templates/static/resolve.js``) lets ``resolve.html``
turn an IRI into its page, so a persistent-identifier service such as w3id.org, which can only
rewrite with regular expressions, redirects ``claim/<id>`` to ``resolve.html#claim/<id>``
(``docs/urls.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

BUCKET_BITS = 10  # 1,024 groups; never change: every claim's and work's address depends on it
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
CONCEPT_FOLDERS = {"population": "populations", "setting": "settings", "delivery": "delivery",
                   "perspective": "perspectives", "intervention": "interventions", "outcome": "outcomes"}


def fnv1a32(text: str) -> int:
    """The 32-bit FNV-1a hash of the text's UTF-8 bytes (http://www.isthe.com/chongo/tech/comp/fnv/)."""
    value = FNV_OFFSET
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return value


@functools.cache
def bucket(identifier: str) -> str:
    """The fixed group of a claim id or citekey: ``"000"`` to ``"3ff"``. Kept per identifier: the hash is ~10 µs of
    Python, and a build asks for every claim's at least twice (its page, and each link to it)."""
    return f"{fnv1a32(identifier) >> (32 - BUCKET_BITS):03x}"


def remember(identifiers: Iterable[str]) -> None:
    """Find the buckets of ``identifiers`` now: a long-running process (``kb serve``'s loop) does so after each
    build, so that the workers the next build forks find every claim's and work's bucket already known
    (~0.5 s of a rebuild's CPU at 50,000 claims); only new identifiers are hashed."""
    for identifier in identifiers:
        bucket(identifier)


def claim_page(claim_id: str) -> str:
    return f"claims/{bucket(claim_id)}.html"


def claim_address(claim_id: str) -> str:
    return f"{claim_page(claim_id)}#{claim_id}"


def work_page(citekey: str) -> str:
    return f"references/{bucket(citekey)}.html"


def work_address(citekey: str) -> str:
    return f"{work_page(citekey)}#{citekey}"


def cell_page(axis: str, row_id: str) -> str:
    return f"cells/{axis}/{row_id}.html"


def cell_address(axis: str, row_id: str, outcome: str) -> str:
    return f"{cell_page(axis, row_id)}#{outcome}"


def concept_address(scheme: str, concept_id: str, *, is_domain: bool = False) -> str:
    folder = CONCEPT_FOLDERS.get(scheme)
    if folder is None:
        return f"method.html#{scheme}-{concept_id}"
    if scheme == "outcome" and is_domain:
        return f"outcomes/index.html#domain-{concept_id}"
    return f"{folder}/{concept_id}.html"
