"""Which claims SHACL must look at: after an edit of claim files only, the claims of those files.

SHACL over the whole graph costs ~15 s at 2M triples, yet a claim's conformance depends only on its
own triples (claims, their findings and figures are closed shapes under the claim's IRI) and on the
triples of the works and concepts it points at (``pskshape:WorkRef``, the concept shapes), which
come from the files other than the claim files. So when the last check whose SHACL found nothing at
all (not even a violation hidden behind another problem) had the same other files and the same
checking code, only the claims of the claim files changed since then can violate a shape, and only
they are validated (:func:`kb.checks.shacl.shacl_violations` with ``claims``); the result is the
one a full validation gives.

The record of that clean check is ``.kb-cache/shacl-clean.json``: a digest of every evidence file
other than the claim files and of the code that builds and checks the graph, and each claim file's
digest (:mod:`kb.io.fingerprint`, so unchanged files are not read again). A claim file added since
counts as changed, a removed one needs nothing; no record, or another context or code, means
validating everything, and so does a validation that found anything (the record is removed). Where only
references.bib or the citation lists changed (or the archived sources and example queries, which make no triple),
the works are validated too, and the claims of no unchanged file (:func:`own_context`); where the vocabularies'
words changed (a label, a definition: :attr:`kb.load.vocab.Vocabulary.structure`, which no claim's shape reads), the
concepts are.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb import __version__
from kb.config import Config
from kb.graph.build import KnowledgeGraph
from kb.io.atomic import replace_cache_file
from kb.io.fingerprint import digests
from kb.load.evidence import Evidence
from kb.namespaces import PSK, RDF, SKOS
from kb.problems import Problem

RECORD = "shacl-clean.json"
INDEX = "shacl-index.json"  # kb.io.fingerprint's stat index of the evidence files
_KB = Path(__file__).resolve().parents[1]
# What turns files into triples and triples into violations: a change to any of it means a full validation.
_CODE = ("load", "bibtex", "graph", "checks", "model.py", "namespaces.py", "config.py", "ids.py", "problems.py")
PACKAGE = ("",)  # the whole of kb


@functools.cache
def code_digest(parts: tuple[str, ...] = _CODE) -> str:
    """The kb version and the code (and shipped Turtle) under ``parts`` of the package, by name and bytes:
    a cache made by that code is stale once the digest changes."""
    digest = hashlib.sha256(f"kb {__version__}\n".encode())
    for name in parts:
        path = _KB / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and file.suffix in (".py", ".ttl"):
                digest.update(str(file.relative_to(_KB)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Inputs:
    """The evidence as SHACL sees it: each claim file's digest, and one digest per kind of other file (:data:`KINDS`).

    Each reader is keyed by the kinds it reads (:meth:`of`), and of the vocabularies by what it reads of them, known
    once they are loaded (:attr:`kb.load.vocab.Vocabulary.structure`: which concepts there are; ``labelled``: and
    their labels):

    * :attr:`context`: every kind: what reads the whole evidence besides the claim files;
    * :attr:`head_context`: all but the vocabularies: the graph's text before the claims (:mod:`kb.graph.memo`), the
      FHIR Citations;
    * :func:`records_context`: not references.bib, of which the claims' records read only whether the works they name
      are in it (:func:`kb.load.evidence.links`), and the vocabularies' structure: a claim's own checks;
    * :func:`own_context`: nor the citation lists, the archived sources or the example queries: SHACL's verdict on a
      claim (the structure) and the analysis's rows (the labels); the base of the pages' input keys reads the same
      kinds and the labels (:mod:`kb.site.deps`). Of those files SHACL sees only the citation lists, as triples of the
      citing works, which a changed context has validated; the analysis reads them only as the network's ``cites``
      links, which it makes again in every build (:mod:`kb.analyse.carry`); a page reads them by work or as those
      links;
    * :func:`exports_context`: nor the reviews' inclusions: what a claim's nanopublication and FHIR Evidence read
      besides its file (``kb.toml``, the releases, the structure; FHIR keeps each file's lines while the words they
      read are the same, :mod:`kb.export.fhir_cache`).

    A reference list one work longer made every claim's exports, rows and pages again and validated the whole graph
    (~19, ~10, ~20 and ~9 s of CPU): at 10k/50k the editors' loop rebuilt it in 57–59 s, now 12–14 s (an archived
    source or an example query: 7.6–7.8 s), and a fresh ``kb build`` in 69–71 s, now ~25 s. A reworded definition
    made them all again too, and the graph was parsed whole (62–68 s in the loop, now ~4.5 s). The claims' own checks
    still read the lists and sources (:func:`records_context`: a claim's quote is found in its source's text)."""

    claim_files: dict[str, str]  # path (as the claims carry it) → digest
    parts: dict[str, str]  # kind (KINDS) → the digest of its files
    head: str  # the code and the base IRI

    def of(self, *kinds: str, vocab: str | None = None) -> str:
        """The digest of the files of ``kinds``, and of ``vocab``: what a reader reads of the vocabularies, whose
        files the kinds then leave out."""
        assert vocab is None or "vocab" not in kinds, "the vocabularies' files or what is read of them, not both"
        text = self.head + "".join(f"{kind}\0{self.parts[kind]}\n" for kind in kinds)
        if vocab is not None:
            text += f"vocab read\0{vocab}\n"
        return hashlib.sha256(text.encode()).hexdigest()

    @functools.cached_property
    def context(self) -> str:
        return self.of(*KINDS)

    @functools.cached_property
    def head_context(self) -> str:
        return self.of(*(kind for kind in KINDS if kind != "vocab"))


# The kinds of evidence file besides the claim files, in the order their digests are composed: each context above
# leaves out some of them
KINDS = ("references", "citations", "sources", "inclusions", "queries", "vocab", "rest")
# What a claim's records read besides references.bib, the vocabularies aside (records_context; a work's FHIR Citation
# reads these too: its reference list), and what its rows and SHACL verdict read (own_context; the pages' base too)
RECORD_KINDS = tuple(kind for kind in KINDS[1:] if kind != "vocab")
OWN_KINDS = ("inclusions", "rest")


def _kind(config: Config, file: Path) -> str:
    if file == config.references_path:
        return "references"
    for kind, folder in (("citations", config.citations_dir), ("sources", config.sources_dir),
                         ("inclusions", config.inclusions_dir), ("queries", config.queries_dir),
                         ("vocab", config.vocab_dir)):
        if file.is_relative_to(folder):
            return kind
    return "rest"


def inputs(config: Config) -> Inputs:
    folder = config.evidence_dir
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".")
                                                                          for part in p.relative_to(folder).parts))
    claims_dir = config.claims_dir
    hashed = digests(files, config.store_cache_dir / INDEX)
    parts = {kind: hashlib.sha256() for kind in KINDS}
    claim_files = {}
    for file in files:
        if file.parent == claims_dir and file.suffix == ".yaml":
            claim_files[str(file)] = hashed[file]
        else:
            parts[_kind(config, file)].update(f"{file.relative_to(folder)}\0{hashed[file]}\0".encode())
    return Inputs(claim_files, {kind: part.hexdigest() for kind, part in parts.items()},
                  f"{code_digest()}\n{config.base_iri}\n")


def own_context(evidence: Evidence, now: Inputs, *, labels: bool) -> str:
    """What SHACL's verdict on the claims and the analysis's rows, claims' links and tallies read of the evidence other
    than the claim files (the inclusions, ``kb.toml``, the releases, the vocabularies), and which of the works the
    claims and the inclusions name references.bib holds. The citation lists are the citing works' triples alone: where
    they changed, the context did, and :func:`changed_claim_files` has the works validated (in the editors' loop, those
    whose triples changed: :func:`patched_works`). Of the vocabularies, the rows read the labels (``labels``), a claim's
    shapes no word at all: an edited definition keeps both, and :func:`shacl_problems` validates the concepts again."""
    named = evidence.named_works
    vocab = evidence.vocabulary.labelled if labels else evidence.vocabulary.structure
    return f"{now.of(*OWN_KINDS, vocab=vocab)}\n{named['claims'].hex()}\n{named['inclusions'].hex()}"


def records_context(evidence: Evidence, now: Inputs) -> str:
    """The evidence other than the claim files and references.bib, with the vocabularies' structure in place of their
    files, and which of the works the records name references.bib holds
    (:attr:`~kb.load.evidence.Evidence.named_works_digest`): all that a claim's own checks read of the rest
    (:mod:`kb.checks.crossfile`: which concepts there are, not what they say), and a work's reading in the current
    graph besides its entry (:func:`kb.pipeline._works_context`). An edited work, or a new one nothing names yet,
    leaves it as it was; so does an edited label or definition."""
    return f"{now.of(*RECORD_KINDS, vocab=evidence.vocabulary.structure)}\n{evidence.named_works_digest.hex()}"


def exports_context(evidence: Evidence, now: Inputs) -> str:
    """``kb.toml``, the releases and the vocabularies' structure: what a claim's nanopublication reads besides its file
    (its concepts by IRI, none of their words), and its FHIR Evidence besides the words it reads."""
    return now.of("rest", vocab=evidence.vocabulary.structure)


def patched_works(graph: KnowledgeGraph, base_iri: str) -> frozenset[str]:
    """The works (IRIs) whose triples ``graph``'s store patch changed (:class:`kb.graph.build.StorePatch`: the
    editors' loop brings the last good graph's store to this one), and the works that include one of them (their
    shape reads its citekey). The last good graph passed SHACL, so every other work still does: validating all
    10,000 works again was ~1.5 s of a rebuild after an edited reference."""
    import pyoxigraph as ox

    patch = graph.patch
    assert patch is not None
    prefix = base_iri + "work/"
    touched = {prefix + quad.subject.value[len(prefix):].split("/", 1)[0]
               for quad in itertools.chain(patch.removed, patch.added)
               if isinstance(quad.subject, ox.NamedNode) and quad.subject.value.startswith(prefix)}
    includes = ox.NamedNode(PSK + "includesStudy")
    return frozenset(touched | {quad.subject.value for work in touched
                                for quad in graph.store.quads_for_pattern(None, includes, ox.NamedNode(work), None)
                                if isinstance(quad.subject, ox.NamedNode)})


def typed(graph: KnowledgeGraph, cls: str) -> list[str]:
    """The IRIs of ``cls``'s instances in ``graph``, sorted."""
    import pyoxigraph as ox

    return sorted({quad.subject.value for quad in graph.store.quads_for_pattern(None, ox.NamedNode(RDF + "type"),
                                                                                  ox.NamedNode(cls), None)
                   if isinstance(quad.subject, ox.NamedNode)})


def changed_claim_files(config: Config, now: Inputs, records: str | None = None
                        ) -> tuple[set[str], bool, bool] | None:
    """The claim files changed since the last clean check, whether the works must be validated too (references.bib
    or the citation lists changed, but not which of the works the claims and inclusions name it holds: ``records`` is
    :func:`own_context`), and whether the concepts must (the vocabularies' files changed, but not what the claims'
    shapes read of them); None when everything must be."""
    try:
        record = json.loads((config.store_cache_dir / RECORD).read_text(encoding="utf-8"))
        if not isinstance(record.get("claim_files"), dict):
            return None
        works = record.get("context") != now.head_context
        concepts = record.get("vocab") != now.parts["vocab"]
        if (works or concepts) and (records is None or record.get("records") != records):
            return None
        before = record["claim_files"]
    except (OSError, ValueError):
        return None
    return {path for path, digest in now.claim_files.items() if before.get(path) != digest}, works, concepts


def remember_clean(config: Config, now: Inputs, records: str | None = None) -> None:
    """Record that SHACL found nothing on ``now`` (a cache: failing to write it only costs time)."""
    body = json.dumps({"context": now.head_context, "vocab": now.parts["vocab"], "records": records,
                       "claim_files": now.claim_files}, sort_keys=True)
    with contextlib.suppress(OSError):
        config.store_cache_dir.mkdir(parents=True, exist_ok=True)
        replace_cache_file(config.store_cache_dir / RECORD, body.encode("utf-8"))


def forget_clean(config: Config) -> None:
    """A validation found something: the next one validates everything."""
    with contextlib.suppress(OSError):
        (config.store_cache_dir / RECORD).unlink()


def stable_inputs(config: Config, before: Inputs | None) -> Inputs | None:
    """The inputs now, if they are still ``before`` (taken before loading): else the records just loaded
    may be of other bytes than the digests say, and no cache keyed by them may be used or kept."""
    try:
        now = inputs(config)
    except OSError:
        return None  # a file that cannot be read: loading has reported it
    return now if now == before else None


def shacl_problems(evidence: Evidence, graph: KnowledgeGraph, known: list[Problem], now: Inputs | None,
                   engine: str = "sparql", progress: Callable[[str], None] = lambda _: None) -> list[Problem]:
    """SHACL's problems (:func:`kb.checks.shacl.shacl_problems`): of the claims of the changed claim files
    only, when the last clean validation allows it; else of the whole graph. ``now`` are the inputs
    the evidence was loaded from (:func:`stable_inputs`; None: validate everything, record nothing)."""
    from kb.checks import shacl
    from kb.graph.iris import Minter

    config = evidence.config
    now = now if engine == "sparql" else None
    records = own_context(evidence, now, labels=False) if now is not None else None
    scope = changed_claim_files(config, now, records) if now is not None else None
    claims: list[str] | None = None
    works: bool | frozenset[str] = False
    concepts: list[str] = []
    if scope is not None:
        changed, works, words = scope
        claims = sorted({Minter(config.base_iri).claim(c.id) for c in evidence.claims if c.path in changed})
        if words:  # the vocabularies' words changed, which no claim's shape reads: their concepts' shapes do
            concepts = typed(graph, SKOS + "Concept")
        if works and graph.patch is not None:
            works = patched_works(graph, config.base_iri)
        progress(f"validating with SHACL: the {len(claims)} claims of {len(changed)} changed file(s)"
                 + ("" if not works else " and every work" if works is True else f" and {len(works)} work(s)")
                 + (f" and {len(concepts)} concepts" if concepts else ""))
    else:
        progress("validating with SHACL")
    violations = shacl.shacl_violations(graph, config.base_iri, engine, claims=claims, works=works, concepts=concepts)
    if now is not None and violations:
        forget_clean(config)
    elif now is not None:
        remember_clean(config, now, records)
    return shacl.shacl_problems(evidence, graph, known, engine, violations)
