"""The FHIR Bundle of a build, assembled from fragments kept by the evidence files they come from.

Building and checking 150,000 Evidence resources was 35 s of every build at 50,000 claims, though
an edit changes the resources of one claim file. A claim file's fragment — the entry lines of its
claims' Evidence resources, by claim id, and the EvidenceVariables they use — depends only on that
file and on the rest of the evidence (vocabularies, references, ``kb.toml``: the context of
:func:`kb.checks.scope.inputs`), so it is kept under a digest of both and of the export's code; the
Citations depend on the context alone. Fragments live in memory (``kb serve``'s loop) and in
``.kb-cache/fhir/`` (one file each; those a build did not use are removed), and a fragment is
stored only once its codes passed :class:`kb.export.fhir.CodeCheck`. The Bundle is then
put together in the order :func:`kb.export.fhir.fhir_lines` gives (Citations by citekey,
EvidenceVariables by id, Evidence by claim id), so its bytes are those of
:func:`~kb.export.fhir.fhir_bundle_bytes`. Resources are checked and turned into lines as they are made:
only lines are ever held, each as a :class:`~kb.export.pieces.Piece` (kept on disk apart from the rest of its
fragment, and read only where its run of the compressed Bundle changed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from kb.checks.scope import Inputs
from kb.export.fhir import CodeCheck, FhirExport, bundle_chunks, bundle_head, entry
from kb.export.fhir_citation import citation
from kb.export.fragments import Fragments
from kb.export.pieces import Piece
from kb.graph.iris import Minter
from kb.load.evidence import Evidence

Fragment = tuple[list[tuple[str, list[Piece]]], list[tuple[str, str]]]  # [(claim id, lines)], variables used


@cache
def _code() -> bytes:
    here = Path(__file__).parent
    return b"".join((here / name).read_bytes()
                    for name in ("fhir.py", "fhir_citation.py", "fhir_terms.py", "fhir_cache.py", "stamp.py"))


def fhir_bundle_cached(evidence: Evidence, inputs: Inputs, fragments: Fragments) -> Iterator[bytes | Piece]:
    """:func:`kb.export.fhir.fhir_bundle_chunks`, with the fragments of unchanged files reused."""
    head = bundle_head(evidence)
    mint = Minter(evidence.config.base_iri)
    refuse = CodeCheck(evidence, head)
    base = hashlib.sha256(_code() + b"\0" + inputs.context.encode() + b"\0" + repr(sorted(head.items())).encode())
    key = base.hexdigest()
    citations = fragments.get(key)
    if citations is None:
        lists = {c.source: c for c in evidence.citations}
        known = {ref.key for ref in evidence.references}
        citations = [Piece.of(refuse.line(entry(mint, citation(ref, mint, lists.get(ref.key), known))))
                     for ref in sorted(evidence.references, key=lambda r: r.key)]
        fragments.put(key, citations)
    else:
        fragments.used[key] = citations

    by_file = evidence.claims_by_file
    findings: list[tuple[str, list[Piece]]] = []
    variables: set[tuple[str, str]] = set()
    for path, claims in sorted(by_file.items()):
        digest = base.copy()
        digest.update(f"\0{path}\0{inputs.claim_files.get(path, '?')}".encode())
        key = digest.hexdigest()
        fragment: Fragment | None = fragments.get(key) if path in inputs.claim_files else None
        if fragment is None:
            build = FhirExport(evidence)
            made_lines = []
            for claim in claims:
                made_lines.append((claim.id, [Piece.of(refuse.line(entry(mint, build.evidence(claim, finding))))
                                              for finding in claim.outcomes]))
            fragment = (made_lines, sorted(build.variables))
            fragments.put(key, fragment)
        else:
            fragments.used[key] = fragment
        findings += fragment[0]
        variables.update(fragment[1])

    build = FhirExport(evidence)
    resources = sorted((build.variables.get(k) or _variable(build, k) for k in variables), key=lambda r: r["id"])
    lines: list[bytes | Piece] = [*citations, *(refuse.line(entry(mint, r)) for r in resources)]
    for _claim_id, claim_lines in sorted(findings, key=lambda f: f[0]):
        lines += claim_lines
    fragments.keep()
    return bundle_chunks(head, lines)


def _variable(build: FhirExport, key: tuple[str, str]) -> dict[str, Any]:
    build.variable(*key)
    return build.variables[key]
