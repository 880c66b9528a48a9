"""Regenerate the golden files after an intended change: ``python -m tests.regenerate_golden``.

Review the diff before committing: the golden graph is what the isomorphism test holds us to, and
each import account (``expected/bib-import/``) is the per-entry outcome of ``kb add`` on one corpus
file; xampl.bib's was checked entry by entry by hand (issue 12).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.conftest import DATA, FIXTURE

CORPUS = DATA / "bib-corpus"
ACCOUNTS = DATA / "expected" / "bib-import"
ENCODINGS = {"nasty/bibtexparser_v2_gbk_test.bib": "gbk", "nasty/biber/encoding1.bib": "iso-8859-15"}


def expected_graph_bytes() -> bytes:
    from kb.config import load_config
    from kb.export.rdf import graph_bytes
    from kb.pipeline import check

    checked = check(load_config(FIXTURE), shacl=False)
    return graph_bytes(checked.graph, "ttl")


def corpus_files() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.bib"))


def account_path(name: str) -> Path:
    return ACCOUNTS / (name.replace("/", "__") + ".txt")


def import_account(name: str) -> str:
    """Every entry's outcome and every problem of a dry-run ``kb add`` of one corpus file into
    tests/data/bib/valid.bib (paths shortened to the file names)."""
    from kb.edit.add import AddOptions, run_add

    with tempfile.TemporaryDirectory() as tmp:
        evidence = Path(tmp) / "evidence"
        evidence.mkdir()
        (evidence / "references.bib").write_bytes((DATA / "bib" / "valid.bib").read_bytes())
        result = run_add([CORPUS / name], AddOptions(evidence_dir=evidence, dry_run=True,
                                                     encoding=ENCODINGS.get(name)))
        lines = [f"# kb add --dry-run {name} into tests/data/bib/valid.bib: {len(result.outcomes)} entries, "
                 f"{result.count('added')} added, {result.count('present')} already present, "
                 f"{result.count('reported')} reported"]
        lines += [f"{o.line}:{o.col} {o.kind} {o.key}: {o.message}" for o in result.outcomes]
        lines.append("# problems")
        lines += [p.format() for p in result.problems]
        text = "\n".join(lines) + "\n"
        return text.replace(str(CORPUS / name), name).replace(str(evidence / "references.bib"), "references.bib")


if __name__ == "__main__":
    target = DATA / "expected" / "fixture-graph.ttl"
    target.write_bytes(expected_graph_bytes())
    print(f"wrote {target}")
    ACCOUNTS.mkdir(parents=True, exist_ok=True)
    for name in corpus_files():
        account_path(name).write_text(import_account(name), encoding="utf-8")
    print(f"wrote {len(corpus_files())} import accounts to {ACCOUNTS}")
