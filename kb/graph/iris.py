"""The one place where the KB mints IRIs. Everything else asks here.

Identifiers are checked before they become IRIs (:mod:`kb.ids`), so nothing needs escaping here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOMAIN_SCHEME_PATH = "outcome-domain"


@dataclass(frozen=True)
class Minter:
    """Mints the KB's IRIs under one base IRI (``kb.toml``'s ``base_iri``)."""

    base: str

    def work(self, citekey: str) -> str:
        return f"{self.base}work/{citekey}"

    def author_list(self, citekey: str, role: str = "author") -> str:
        return f"{self.base}work/{citekey}/{role}s"

    def agent(self, citekey: str, position: int, role: str = "author") -> str:
        return f"{self.base}work/{citekey}/{role}/{position}"

    def venue(self, slug: str) -> str:
        return f"{self.base}venue/{slug}"

    def citation(self, source: str, position: int) -> str:
        return f"{self.base}work/{source}/reference/{position}"

    def inclusion(self, source: str, review: str) -> str:
        """A source's statement of what a review included: ``work/<source>/inclusion/<review>``."""
        return f"{self.base}work/{source}/inclusion/{review}"

    def claim(self, claim_id: str) -> str:
        return f"{self.base}claim/{claim_id}"

    def finding(self, claim_id: str, outcome_id: str) -> str:
        return f"{self.base}claim/{claim_id}/outcome/{outcome_id}"

    def effect(self, owner_iri: str, kind: str = "effect") -> str:
        """A reported number of a claim or finding: ``…/effect`` (an effect size) or ``…/figure``."""
        return f"{owner_iri}/{kind}"

    def scheme(self, scheme: str) -> str:
        return f"{self.base}scheme/{scheme}"

    def concept(self, scheme: str, concept_id: str) -> str:
        return f"{self.base}concept/{scheme}/{concept_id}"

    def release(self, name: str) -> str:
        return f"{self.base}release/{name}"

    def citation_count_group(self, claims: int) -> str:
        """The works cited as evidence by exactly ``claims`` claims: ``tally/evidence-citations/<n>``."""
        return f"{self.base}tally/evidence-citations/{claims}"

    def claim_tally(self, design: str, certainty: str, basis: str) -> str:
        """The claims of one design, certainty and certainty basis: ``tally/claims/<design>/<certainty>/<basis>``."""
        return f"{self.base}tally/claims/{design}/{certainty}/{basis}"

    def dataset(self) -> str:
        return f"{self.base}dataset"


def slug(text: str) -> str:
    """A lower-case ASCII slug for venue IRIs and file names."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:80] or "untitled"
