"""The per-file parse cache: unchanged files are not parsed again, changed ones always are."""

from __future__ import annotations

import kb.load.claims as claims_module
from kb.config import load_config
from kb.load.evidence import load_evidence


def _count(monkeypatch, module, name: str, calls: list[str], prefix: str = "") -> None:
    """Replace the loader ``module.name`` by one that records the name of each file it parses in ``calls``."""
    real = getattr(module, name)

    def counting(path):
        calls.append(prefix + path.name)
        return real(path)

    monkeypatch.setattr(module, name, counting)


def test_unchanged_files_come_from_the_cache(evidence_copy, monkeypatch):
    config = load_config(evidence_copy)
    first, problems = load_evidence(config)
    assert problems == [] and (config.store_cache_dir / "parsed").is_dir()
    calls: list[str] = []
    _count(monkeypatch, claims_module, "load_claim_file", calls)
    _count(monkeypatch, claims_module, "load_citation_file", calls, "citations/")
    second, _ = load_evidence(config)
    assert calls == [], "an unchanged claim file or citation list is not parsed again"
    assert second.claims == first.claims and second.references == first.references
    assert second.citations == first.citations and first.citations

    path = evidence_copy / "claims" / "shalaby2020peer.yaml"
    path.write_text(path.read_text().replace("A single trial (imprecision)", "One trial (imprecision)"))
    third, _ = load_evidence(config)
    assert calls == ["shalaby2020peer.yaml"], "an edited file is parsed again"
    assert third.claims_by_id["addiction-network-support-abstinence"].certainty.reason.startswith("One trial (imprecision)")
    kept = len(list((config.store_cache_dir / "parsed").glob("*.pickle")))
    assert kept == 4, "one entry per file: references.bib, the claim file, the citation list, the archived source"


def test_a_corrupt_entry_is_rebuilt(evidence_copy):
    config = load_config(evidence_copy)
    first, _ = load_evidence(config)
    for entry in (config.store_cache_dir / "parsed").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    second, problems = load_evidence(config)
    assert problems == [] and second.claims == first.claims


def test_problems_are_cached_too(evidence_copy):
    path = evidence_copy / "claims" / "shalaby2020peer.yaml"
    path.write_text(path.read_text().replace("    country: Canada", "    country: NO"))
    config = load_config(evidence_copy)
    for _ in range(2):
        _, problems = load_evidence(config)
        assert [p.code for p in problems] == ["yaml-type-trap"]


def test_parsing_in_several_processes_gives_the_same_records_and_problems(evidence_copy, monkeypatch):
    import kb.io.procs

    broken = evidence_copy / "claims" / "zz-broken.yaml"
    broken.write_text("source: shalaby2020peer\nclaims:\n  - id: a\n    id: b\n")
    config = load_config(evidence_copy, parse_cache=False)
    results = []
    for cpus in (1, 2):
        monkeypatch.setattr(kb.io.procs, "usable_cpus", lambda cpus=cpus: cpus)
        results.append(load_evidence(config))
    (serial, serial_problems), (parallel, parallel_problems) = results
    assert parallel.claims == serial.claims and parallel.references == serial.references
    assert parallel_problems == serial_problems
    assert any(p.code == "yaml-duplicate-key" and p.path.endswith("zz-broken.yaml") for p in parallel_problems)


def test_before_the_parsers_fork_the_caller_is_told_and_only_then(evidence_copy, monkeypatch):
    """kb build parses the kept graph text in a thread while the records load; no thread may be alive at a fork, so
    the loader says when it is about to fork its parsers (and a load from the cache never forks)."""
    import kb.io.procs

    monkeypatch.setattr(kb.io.procs, "usable_cpus", lambda: 2)
    config = load_config(evidence_copy)
    told = []
    load_evidence(config, before_fork=lambda: told.append("fork"))
    assert told == ["fork"]
    load_evidence(config, before_fork=lambda: told.append("again"))
    assert told == ["fork"]


def test_an_archived_source_is_kept_with_its_text_and_read_again_when_the_text_changes(evidence_copy, monkeypatch):
    """A source's description is keyed with the text beside it: a changed text is read again, though the
    description is the same bytes (the quote checks read the text)."""
    import kb.load.sources as sources_module

    config = load_config(evidence_copy)
    first, _ = load_evidence(config)
    calls: list[str] = []
    _count(monkeypatch, sources_module, "load_source_file", calls)
    second, _ = load_evidence(config)
    assert calls == [] and second.sources == first.sources and first.sources
    text = evidence_copy / "sources" / "shalaby2020peer.txt"
    text.write_text(text.read_text(encoding="utf-8") + "\nAn added line.\n", encoding="utf-8")
    third, _ = load_evidence(config)
    assert calls == ["shalaby2020peer.yaml"]
    assert third.sources["shalaby2020peer"].text.endswith("An added line.")
