"""Stage 1 of the pipeline: load every file of an evidence folder into one ``Evidence`` bundle.

Each loader returns ``(records, problems)``; nothing here raises on bad input, so ``kb check``
can report every problem of every file in one run.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.config import Config
from kb.load.vocab import Vocabulary
from kb.model import CitationList, Claim, Inclusion, Reference, Release, SourceText
from kb.problems import Problem, error

if TYPE_CHECKING:
    from kb.bibtex.load import EntryMemo


@dataclass
class Evidence:
    """Everything an evidence folder says, as records."""

    config: Config
    references: list[Reference] = field(default_factory=list)
    citations: list[CitationList] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    sources: dict[str, SourceText] = field(default_factory=dict)
    releases: tuple[Release, ...] = ()  # oldest first
    inclusions: list[Inclusion] = field(default_factory=list)  # reviews and their studies, as sources state
    readme: str = ""  # the editors' rules (evidence/README.md), as read and checked here: the method page quotes them

    @cached_property
    def references_by_key(self) -> dict[str, Reference]:
        return {ref.key: ref for ref in self.references}

    @cached_property
    def claims_by_id(self) -> dict[str, Claim]:
        return {claim.id: claim for claim in self.claims}

    @cached_property
    def claims_by_file(self) -> dict[str, list[Claim]]:
        """Each claim file's claims, in the order read (files in the order of their first claim). Made once: the graph,
        the FHIR Bundle and the nanopublications are each made by claim file, and after the site's workers fork a
        pass over 50,000 claims copies the pages they lie on (~0.2 s each)."""
        by_file: dict[str, list[Claim]] = {}
        for claim in self.claims:
            by_file.setdefault(claim.path, []).append(claim)
        return by_file

    @cached_property
    def links_by_file(self) -> dict[str, str]:
        """:func:`links` of each claim file's claims. Made once: the graph memo, the FHIR fragments and the
        nanopublications each key a file by it (~50 ms at 50,000 claims, in every rebuild of the loop)."""
        known = self.references_by_key
        return {path: links(claims, known) for path, claims in self.claims_by_file.items()}

    @cached_property
    def works_digest(self) -> bytes:
        """Which works references.bib holds (their citekeys, in its order), as one digest: what the site's input keys
        read of it where they read no work's fields."""
        return hashlib.blake2b("\0".join(self.references_by_key).encode(), digest_size=16).digest()

    @cached_property
    def named_works_digest(self) -> bytes:
        """Which of the works that the claims (:attr:`links_by_file`), the citation lists and the inclusions name are
        in references.bib, as one digest: all that the records' triples, shapes and analysis read of which works
        there are (each leaves a link to an unknown work out). A work added that nothing names yet changes none of
        them, so the analysis's carry and SHACL's scope keep the claims (:func:`kb.checks.scope.records_context`)."""
        return hashlib.blake2b(b"".join(self.named_works.values()), digest_size=16).digest()

    @cached_property
    def named_works(self) -> dict[str, bytes]:
        """:attr:`named_works_digest` by what names the works: ``claims``, ``citations`` and ``inclusions`` (SHACL's
        scope reads the claims' and the inclusions' alone: :func:`kb.checks.scope.own_context`)."""
        known = self.references_by_key
        claims, citations, inclusions = (hashlib.blake2b(digest_size=16) for _ in range(3))
        for path, linked in self.links_by_file.items():
            claims.update(f"{path}\0{linked}\n".encode())
        for clist in self.citations:
            citations.update(links_of_keys((clist.source, *clist.references), known).encode() + b"\n")
        for inc in self.inclusions:
            inclusions.update(links_of_keys((inc.source, inc.review, *inc.includes), known).encode() + b"\n")
        return {"claims": claims.digest(), "citations": citations.digest(), "inclusions": inclusions.digest()}

    @cached_property
    def cited_by(self) -> dict[str, list[tuple[str, int]]]:
        """citekey → [(citing document, reference number)], from the citation lists."""
        out: dict[str, list[tuple[str, int]]] = {}
        for clist in self.citations:
            for position, key in enumerate(clist.references, start=1):
                out.setdefault(key, []).append((clist.source, position))
        return out


def links(claims: list[Claim], known: Container[str]) -> str:
    """Which works the claims name (each claim's source, then its cites) are in references.bib, as ``0``/``1``: all
    that the triples and exports made of a claim file read of references.bib (a link to an unknown work is left
    out), so what is kept of the file is kept under it (:mod:`kb.graph.memo`, the nanopublications, FHIR)."""
    return links_of_keys((key for claim in claims for key in (claim.source, *claim.cites)), known)


def links_of_keys(keys: Iterable[str], known: Container[str]) -> str:
    """Which of ``keys`` are in references.bib, as ``0``/``1`` (:func:`links` for other records)."""
    return "".join("1" if key in known else "0" for key in keys)


def load_evidence(config: Config, memory: dict[str, tuple[str, object]] | None = None, *,
                  before_fork: Callable[[], None] = lambda: None,
                  entries: EntryMemo | None = None) -> tuple[Evidence, list[Problem]]:
    """Read references, citation lists, claims, vocabularies, archived sources and reviews' inclusions.

    ``memory`` is the in-memory parse cache of a long-running process (:class:`kb.load.parsecache.ParseCache`),
    ``entries`` what each entry of references.bib became when that process last read it
    (:class:`kb.bibtex.load.EntryMemo`); ``before_fork`` runs before files are parsed in forked processes (a thread
    must be done by then).
    """
    from kb.bibtex.load import load_references
    from kb.io.procs import no_gc, usable_cpus
    from kb.load.claims import (
        keep_unchanged_claims,
        load_citation_file,
        load_citations,
        load_claim_file,
        load_claims,
    )
    from kb.load.inclusions import load_inclusions
    from kb.load.parsecache import ParseCache
    from kb.load.releases import load_releases
    from kb.load.sources import load_source_file, load_sources, source_files
    from kb.load.vocab import load_vocabulary

    cache = ParseCache(config.store_cache_dir / "parsed" if config.parse_cache else None,
                       memory if config.parse_cache else None)
    problems: list[Problem] = []
    for folder in (config.claims_dir, config.citations_dir, config.inclusions_dir, config.vocab_dir, config.sources_dir,
                   config.queries_dir):
        if folder.exists() and not folder.is_dir():  # its files would silently count as none
            problems.append(error(folder, None, "evidence-not-a-folder", f"{folder.name} is a file",
                                  expected=f"a folder {folder.name}/ of files", hint="move the file away"))
    claim_files = sorted(config.claims_dir.glob("*.yaml")) if config.claims_dir.is_dir() else []
    citation_files = sorted(config.citations_dir.glob("*.yaml")) if config.citations_dir.is_dir() else []
    described = sorted(config.sources_dir.glob("*.yaml")) if config.sources_dir.is_dir() else []
    # The BibTeX file, the claim files, the citation lists and the archived sources are independent: parsed side by
    # side, on every CPU, and kept (reading 250 citation lists and 250 sources again was ~1 s of every rebuild at
    # 10,000 works). A source's description is keyed with the text beside it.
    held = cache.memory if cache.memory is not None else {}
    last: dict[Path, Any] = {path: held[str(path)][1] for path in claim_files if str(path) in held}  # by file
    with no_gc():
        references_loader = load_references if entries is None else functools.partial(load_references, memo=entries)
        tasks: list[tuple[Path, Callable[[Path], Any]]] = [(config.references_path, references_loader),
                                                            *((p, load_claim_file) for p in claim_files),
                                                            *((p, load_citation_file) for p in citation_files),
                                                            *((p, load_source_file) for p in described)]
        sources_dir = config.sources_dir
        parsed = cache.load_all(tasks, jobs=usable_cpus(),
                                beside=lambda path: source_files(path) if path.parent == sources_dir else (),
                                before_fork=before_fork)
    read = iter(parsed)
    references, found = next(read)
    by_file = {path: next(read) for path in [*claim_files, *citation_files, *described]}  # in the tasks' order
    if cache.memory is not None:
        for path in claim_files:  # read again: each unchanged claim is the last read's object
            again = by_file[path]
            if last.get(path) is not None and again is not last[path]:
                by_file[path] = kept = keep_unchanged_claims(last[path], again)
                entry = cache.memory.get(str(path))
                if entry is not None and entry[1] is again:  # the cache remembers this read (not a file unreadable)
                    cache.memory[str(path)] = (entry[0], kept)
    problems += found
    citations, found = load_citations(config.citations_dir, by_file.__getitem__)
    problems += found
    claims, found = load_claims(config.claims_dir, by_file.__getitem__)
    problems += found
    vocabulary, found = load_vocabulary(config.vocab_dir, config.base_iri)
    problems += found
    sources, found = load_sources(config.sources_dir, by_file.__getitem__)
    problems += found
    releases, found = load_releases(config)
    problems += found
    inclusions, found = load_inclusions(config.inclusions_dir)
    problems += found
    readme, found = load_readme(config.evidence_dir / "README.md", config.max_file_bytes)
    problems += found
    evidence = Evidence(config, references, citations, claims, vocabulary, sources, releases, inclusions, readme)
    return evidence, problems


def load_readme(path: Path, max_bytes: int) -> tuple[str, list[Problem]]:
    """The editors' rules, ``""`` where the folder has none. Read with the records, not by the site's workers: a
    damaged file is a problem with its place, like any evidence file's, not a failed build."""
    from kb.load.sources import read_text

    if not path.exists():
        return "", []
    text, problems = read_text(path, max_bytes, ("evidence-readme-encoding", "evidence-readme-unreadable"),
                               "the editors' rules", hint="check its permissions, or remove it")
    return text or "", problems
