"""The FHIR Bundle of a build, assembled from fragments kept by the evidence files they come from.

Building and checking 150,000 Evidence resources was 35 s of every build at 50,000 claims, though an edit changes
the resources of one claim file. A claim file's fragment — the entry lines of its claims' Evidence resources, by
claim id, and the EvidenceVariables they use — depends only on that file and on the rest of the evidence
(``kb.toml``, the releases, which concepts the vocabularies hold: :func:`kb.checks.scope.exports_context`, without
the citation lists and the sources; of references.bib only which works its claims name are in it,
:func:`kb.load.evidence.links`), so it is kept under a digest of those and of the export's code, with the concepts
its lines read and a digest of their words then: a fragment whose concepts are now worded otherwise is made again
(:class:`_Words`). The Citations depend on the context but the vocabularies alone (an edited reference makes them
again, and no claim's; the loop remakes only the edited work's). Fragments live in memory (``kb serve``'s loop) and
in ``.kb-cache/fhir/`` (one file each; those a build did not use are removed), and a fragment is stored only once
its codes passed :class:`kb.export.fhir.CodeCheck`. The Bundle is then put together in the order
:func:`kb.export.fhir.fhir_lines` gives (Citations by citekey, EvidenceVariables by id, Evidence by claim id), so
its bytes are those of :func:`~kb.export.fhir.fhir_bundle_bytes`. Resources are checked and turned into lines as
they are made: only lines are ever held, each as a :class:`~kb.export.pieces.Piece` (kept on disk apart from the
rest of its fragment, and read only where its run of the compressed Bundle changed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from kb.checks.scope import RECORD_KINDS, Inputs, exports_context
from kb.export.fhir import CodeCheck, FhirExport, bundle_chunks, bundle_head, entry
from kb.export.fhir_citation import citation
from kb.export.fragments import Fragments
from kb.export.pieces import Piece
from kb.export.works import SaidMemo, entry_said
from kb.graph.iris import Minter
from kb.load.evidence import Evidence, links_of_keys
from kb.model import Claim

Variable = tuple[str, str]  # an EvidenceVariable's concept: scheme, id
Read = tuple[str, str, str]  # a concept read (scheme, id) and what of it: "label", or "" (the concept: all its words)


class Fragment(NamedTuple):
    """A claim file's part of the Bundle, as kept."""

    lines: list[tuple[str, list[Piece]]]  # (claim id, its Evidence lines)
    variables: list[Variable]  # the EvidenceVariables they name
    used: dict[str, tuple[Variable, ...]]  # by claim id
    read: dict[str, tuple[Read, ...]]  # the concepts each claim's lines read, by claim id
    concepts: tuple[Read, ...]  # all of those, sorted
    words: bytes  # their words' digest when the lines were made (_Words)


@cache
def _code() -> bytes:
    here = Path(__file__).parent
    return b"".join((here / name).read_bytes()
                    for name in ("fhir.py", "fhir_citation.py", "fhir_terms.py", "fhir_cache.py", "stamp.py"))


def fhir_bundle_cached(evidence: Evidence, inputs: Inputs, fragments: Fragments,
                       memo: dict[str, Any] | None = None, says: SaidMemo | None = None) -> Iterator[bytes | Piece]:
    """:func:`kb.export.fhir.fhir_bundle_chunks`, with the fragments of unchanged files reused. ``memo`` (a long-running
    process's, kept between builds) is each file's last fragment and claims: in a changed file's new fragment, a claim
    that is the last build's very object (:func:`kb.load.claims.keep_unchanged_claims`) keeps its lines, the same
    pieces, which the compressed Bundle knows by their identity (:class:`kb.export.dumps.Seen`). ``says`` is what each
    work's entry says, kept by its object (the process's, ended by the caller), with ``memo`` the key of its
    Citation's kept line."""
    head = bundle_head(evidence)
    mint = Minter(evidence.config.base_iri)
    refuse = CodeCheck(evidence, head)
    shown = repr(sorted(head.items())).encode()
    # a Citation reads no concept; each work's reads the citation lists, a claim's Evidence does not
    # (kb.checks.scope.exports_context), and reads which concepts there are and the words of those it names (_Words)
    key = hashlib.sha256(_code() + b"\0" + inputs.head_context.encode() + b"\0" + shown).hexdigest()
    context_key = hashlib.sha256(_code() + b"\0" + inputs.of(*RECORD_KINDS).encode() + b"\0" + shown).hexdigest()
    base = hashlib.sha256(_code() + b"\0" + exports_context(evidence, inputs).encode() + b"\0" + shown)
    words = _Words(evidence)
    files_key = base.hexdigest()
    if memo is not None and memo.get("base") != context_key:
        memo.pop("citations", None)  # each work's Citation, kept in the context it was made in (below)
    last: dict[str, tuple[str, list[Claim], str]] = \
        memo.get("files", {}) if memo is not None and memo.get("files_base") == files_key else {}
    files: dict[str, tuple[str, list[Claim], str]] = {}
    citations = fragments.get(key)
    if citations is None:
        lists = {c.source: c for c in evidence.citations}
        known = {ref.key for ref in evidence.references}
        # each work's line as the last build made it, where the work says the same and its reference list (if it is a
        # citing document) names the same works that are in references.bib: an edited work made all ~10,000 again
        kept: dict[tuple[str, ...], Piece] = memo.get("citations", {}) if memo is not None else {}
        made: dict[tuple[str, ...], Piece] = {}
        citations = []
        for ref in sorted(evidence.references, key=lambda r: r.key):
            cites = lists.get(ref.key)
            said = (*(says.of(ref) if says is not None else entry_said(ref)),
                    links_of_keys(cites.references, known) if cites is not None else "")
            piece = kept.get(said)
            if piece is None:
                piece = Piece.of(refuse.line(entry(mint, citation(ref, mint, cites, known))))
            citations.append(piece)
            made[said] = piece
        citations = fragments.put(key, citations)
        if memo is not None:
            memo["citations"] = made
    else:
        fragments.used[key] = citations

    by_file, linked_by_file = evidence.claims_by_file, evidence.links_by_file
    findings: list[tuple[str, list[Piece]]] = []
    variables: set[tuple[str, str]] = set()
    for path, claims in sorted(by_file.items()):
        linked = linked_by_file[path]
        digest = base.copy()
        digest.update(f"\0{path}\0{inputs.claim_files.get(path, '?')}\0{linked}".encode())
        key = digest.hexdigest()
        fragment: Fragment | None = fragments.get(key) if path in inputs.claim_files else None
        if fragment is not None and not words.same(fragment):
            fragment = None  # a concept its claims name is worded otherwise now: made again
        if fragment is None:
            before = last.get(path)  # its unchanged claims' lines, while the same works are known
            fragment = _fragment(evidence, mint, claims, refuse,
                                 _unchanged(before if before is not None and before[2] == linked else None,
                                            fragments, claims, words), words)
            fragment = fragments.put(key, fragment)
        else:
            fragments.used[key] = fragment
        findings += fragment.lines
        variables.update(fragment.variables)
        files[path] = (key, claims, linked)
    if memo is not None:
        memo["base"], memo["files_base"], memo["files"] = context_key, files_key, files

    build = FhirExport(evidence)
    resources = sorted((build.variable_resource(*key) for key in variables), key=lambda r: r["id"])
    lines: list[bytes | Piece] = [*citations, *(refuse.line(entry(mint, r)) for r in resources)]
    for _claim_id, claim_lines in sorted(findings, key=lambda f: f[0]):
        lines += claim_lines
    fragments.keep()
    return bundle_chunks(head, lines)


Kept = tuple[list[Piece], tuple[Variable, ...], tuple[Read, ...]]  # a claim's lines, variables and concepts read


class _Reading:
    """The vocabularies as :class:`~kb.export.fhir.FhirExport` reads them (by :meth:`get` and :meth:`label` only),
    noting each concept it looks up: what a claim's lines read of their words."""

    def __init__(self, vocabulary: Any) -> None:
        self.vocabulary = vocabulary
        self.read: set[Read] = set()

    def get(self, scheme: str, concept_id: str) -> Any:
        self.read.add((scheme, concept_id, ""))  # the concept: all its words
        return self.vocabulary.get(scheme, concept_id)

    def label(self, scheme: str, concept_id: str) -> str:
        self.read.add((scheme, concept_id, "label"))
        return str(self.vocabulary.label(scheme, concept_id))


class _Words:
    """The words (label, definition, other labels) of the concepts a fragment's lines read, as they are now: a fragment
    whose concepts are worded as when it was made is kept (the key holds which concepts there are, not their words:
    an edited definition made all 150,000 Evidence resources again at 10k/50k, ~9 s of the editors' loop)."""

    def __init__(self, evidence: Evidence) -> None:
        self.vocabulary = evidence.vocabulary
        self.each: dict[Read, bytes] = {}

    def digest(self, reads: tuple[Read, ...]) -> bytes:
        each = self.each
        parts = []
        for read in reads:  # sorted
            found = each.get(read)
            if found is None:
                said = self.vocabulary.get(read[0], read[1])
                words = said and (said.label if read[2] else (said.label, said.definition, said.alt_labels))
                found = each[read] = repr((read, words)).encode()
            parts.append(found)
        return hashlib.blake2b(b"\0".join(parts), digest_size=16).digest()

    def same(self, fragment: Fragment) -> bool:
        return self.digest(fragment.concepts) == fragment.words


def _fragment(evidence: Evidence, mint: Minter, claims: list[Claim], refuse: CodeCheck,
              kept: dict[str, Kept], words: _Words) -> Fragment:
    """A claim file's fragment: each claim's lines, variables and the concepts they read, ``kept`` from the last
    build's where its claim is unchanged, else made (and checked)."""
    build = FhirExport(evidence)
    reading = _Reading(evidence.vocabulary)
    build.vocab = reading  # type: ignore[assignment]
    made_lines, used, read = [], {}, {}
    for claim in claims:
        found = kept.get(claim.id)
        if found is None:
            build.used, reading.read = set(), set()
            lines = [Piece.of(refuse.line(entry(mint, build.evidence(claim, finding)))) for finding in claim.outcomes]
            found = (lines, tuple(sorted(build.used)), tuple(sorted(reading.read)))
        made_lines.append((claim.id, found[0]))
        used[claim.id], read[claim.id] = found[1], found[2]
    concepts = tuple(sorted({concept for each in read.values() for concept in each}))
    return Fragment(made_lines, sorted({variable for variables in used.values() for variable in variables}), used, read,
                    concepts, words.digest(concepts))


def _unchanged(last: tuple[str, list[Claim], str] | None, fragments: Fragments,
               claims: list[Claim], words: _Words) -> dict[str, Kept]:
    """The lines, variables and concepts read of the claims that are the last build's objects, from its fragment of
    their file, where the concepts it read are worded as they were."""
    if last is None:
        return {}
    fragment: Fragment | None = fragments.get(last[0])
    if fragment is None or not words.same(fragment):
        return {}
    before = {claim.id: claim for claim in last[1]}
    lines = dict(fragment.lines)
    return {claim.id: (lines[claim.id], fragment.used[claim.id], fragment.read[claim.id]) for claim in claims
            if before.get(claim.id) is claim and claim.id in lines and claim.id in fragment.used}

