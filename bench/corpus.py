"""Deterministic synthetic evidence folder at any scale: ``python -m bench.corpus --refs N --claims M OUT``.

Why synthetic: the real corpus has 152 works and 69 claims; the targets are for 10,000 works and
50,000 claims. The generator keeps the real corpus's shape (1.8 outcomes and 1.3 cited works per
claim, notes on most claims, a few reported certainties and effects) and its rules, so that
``kb check`` passes with 0 errors and 0 warnings and every stage does its real work: quotes are
found in an archived text per citing document (with section headings at the lines its YAML
says), cited works are in the citing document's reference list, and certainty follows the rule
(level = the design's starting level lowered once per downgrade). Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.bibgen import BibGen, Ref
from bench.vocabgen import ROOT, Vocab, vocab, write_vocab

LEVELS = ("high", "moderate", "low", "very_low")
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DIRECTIONS = (("benefit", 50), ("no_effect", 22), ("mixed", 12), ("inconclusive", 9), ("harm", 7))
OUTCOME_COUNTS = ((1, 62), (2, 19), (3, 7), (4, 7), (5, 3), (6, 2))
CITE_COUNTS = ((0, 5), (1, 57), (2, 29), (3, 6), (4, 3))
DIRECTION_WORDS = {"benefit": "improvements in", "no_effect": "no difference in", "mixed": "mixed effects on",
                   "inconclusive": "inconclusive results for", "harm": "problems with",
                   "not_reported": "no results yet for"}
FILLER = (
    "Studies in this area differ in how they define peer support and in who delivers it.",
    "Several authors note that peer workers bring experiential knowledge that clinicians lack.",
    "The quality of the included studies varied, and few reported long-term follow-up.",
    "Comparison groups usually received usual care from community mental health teams.",
    "Programmes were delivered in hospitals, community services, online forums and homes.",
    "Training, supervision and a clear job description were described as preconditions.",
    "Outcome measures were heterogeneous, which limits the pooling of results.",
    "Some programmes paid peer workers, while others relied on volunteers.",
)
SECTIONS_FIXED = ("Abstract", "Introduction", "Methods")
SECTIONS_END = ("Discussion", "Limitations", "Conclusions")


@dataclass
class CorpusInfo:
    """What was generated (recorded in the benchmark JSON as the scale)."""

    refs: int
    claims: int
    findings: int
    citing_documents: int
    claim_files: int
    citation_entries: int
    seed: int
    bytes: int


def _weighted(rng: random.Random, table: tuple[tuple[object, int], ...]) -> object:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def claims_per_file(rng: random.Random, claims: int, docs: int) -> list[int]:
    """Uneven file sizes (about 50–500 claims at the default density), summing to ``claims``."""
    weights = [rng.uniform(0.25, 2.5) for _ in range(docs)]
    total = sum(weights)
    counts = [max(1, int(claims * w / total)) for w in weights]
    i = 0
    while sum(counts) != claims:
        step = 1 if sum(counts) < claims else -1
        if counts[i % docs] + step >= 1:
            counts[i % docs] += step
        i += 1
    return counts


def citation_lists(rng: random.Random, docs: list[str], keys: list[str]) -> dict[str, list[str]]:
    """Every work is cited by at least one document; ~20% extra overlap so some are cited twice."""
    lists: dict[str, set[str]] = {d: set() for d in docs}
    others = [k for k in keys if k not in lists]
    for key in others:
        lists[rng.choice(docs)].add(key)
    for doc in docs:
        extra = max(2, len(others) // len(docs) // 5)
        lists[doc].update(rng.sample(others, min(extra, len(others))))
        if len(docs) > 1 and rng.random() < 0.3:
            lists[doc].add(rng.choice([d for d in docs if d != doc]))
        lists[doc].discard(doc)
    out = {}
    for doc, cited in lists.items():
        ordered = sorted(cited)
        rng.shuffle(ordered)
        out[doc] = ordered or [k for k in keys if k != doc][:1]
    return out


def _certainty(rng: random.Random, voc: Vocab, design: str, required: list[str]) -> dict[str, object]:
    """A certainty by the rule: ``required`` are the downgrades rule 3 demands whatever the source says."""
    if rng.random() < 0.04:
        reported = rng.choice((("moderate to limited", "low"), ("moderate levels of evidence", "moderate"),
                               ("low-quality evidence", "low"), ("high-quality evidence", "high")))
        return {"level": reported[1], "basis": "reported", "reported_as": reported[0],
                "reason": f'The source states "{reported[0]}"; mapped to the lower end of the range.'}
    start = voc.design_start[design]
    downgrades = rng.sample(DOMAINS[:4], _weighted(rng, ((0, 55), (1, 36), (2, 9))))  # type: ignore[arg-type]
    downgrades += [d for d in required if d not in downgrades]
    level = LEVELS[min(LEVELS.index(start) + len(downgrades), len(LEVELS) - 1)]
    reason = (f"The design ({voc.design_labels[design].lower()}) starts {start.replace('_', ' ')}. "
              + (f"Downgraded for {', '.join(d.replace('_', ' ') for d in downgrades)}: the source calls the "
                 "evidence mixed or limited." if downgrades else "The source raises no concern about it."))
    return {"level": level, "basis": "assigned", "start": start, "downgrades": downgrades, "reason": reason}


def _y(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _block(key: str, text: str, indent: int = 4) -> list[str]:
    pad = " " * indent
    lines = textwrap.wrap(text, 96 - indent, break_on_hyphens=False, break_long_words=False)
    return [f"{pad}{key}: >-", *(f"{pad}  {line}" for line in lines)]


class ClaimGen:
    """Claims of one citing document, the quotes they carry, and the paragraphs that hold them."""

    def __init__(self, rng: random.Random, voc: Vocab, refs: dict[str, Ref]) -> None:
        self.rng, self.voc, self.refs = rng, voc, refs
        self.pops = list(voc.populations)
        self.ints = list(voc.interventions)
        self.outs = list(voc.outcomes)
        self.designs = sorted(voc.design_start)
        self.serial = 0

    def _skewed(self, items: list[str]) -> str:
        """A few ids carry most claims, as in real evidence maps (a Zipf-like pick)."""
        return items[min(int(self.rng.paretovariate(1.2)) - 1, len(items) - 1)] if self.rng.random() < 0.6 \
            else self.rng.choice(items)

    def claim(self, doc: str, refs_list: list[str], section: str) -> tuple[list[str], str, list[str]]:
        """YAML lines of one claim, its quote, and the works it cites (for the bracket numbers)."""
        rng, voc = self.rng, self.voc
        self.serial += 1
        pop, intervention = self._skewed(self.pops), self._skewed(self.ints)
        outcomes = rng.sample(self.outs, _weighted(rng, OUTCOME_COUNTS))  # type: ignore[arg-type]
        directions = [_weighted(rng, DIRECTIONS) for _ in outcomes]
        cites = rng.sample(refs_list, min(len(refs_list), _weighted(rng, CITE_COUNTS)))  # type: ignore[arg-type]
        design = rng.choice(self.designs) if cites else "narrative_review"  # an uncited summary: the source's design
        finding_type = "no_result" if design == "protocol" else "effect"
        if finding_type == "no_result":
            directions = ["not_reported" for _ in outcomes]
        has_effect = rng.random() < 0.1
        required = (["indirectness"] if len(cites) == 1 and voc.design_groups[design] == "primary_study" else [])
        if required and not has_effect:
            required.insert(0, "imprecision")
        cid = f"{pop}-{outcomes[0]}-{self.serial:05d}".replace("_", "-")
        out_words = ", ".join(voc.outcomes[o].lower() for o in outcomes)
        n = rng.randint(2, 60)
        quote = (f"{voc.design_labels[design].lower()} of {voc.interventions[intervention].lower()} among "
                 f"{voc.populations[pop].lower()} ({n} studies, {rng.randint(40, 4000)} participants) reported "
                 f"{DIRECTION_WORDS[directions[0]]} {out_words}")
        hedge = rng.choice(("may", "appears to", "was found to", "did not clearly"))
        statement = (f"According to {doc}, {voc.interventions[intervention].lower()} {hedge} change "
                     f"{out_words} for {voc.populations[pop].lower()}, based on "
                     f"{voc.design_labels[design].lower()} evidence (claim {self.serial}).")
        lines = [f"  - id: {cid}", *_block("statement", statement), f"    section: {_y(section)}",
                 *_block("quote", quote), f"    cites: [{', '.join(cites)}]", f"    finding_type: {finding_type}",
                 f"    population: {pop}", f"    setting: {rng.choice(voc.settings)}", "    delivery: not_stated",
                 "    perspective: recipient", f"    intervention: {intervention}", "    outcomes:"]
        for outcome, direction in zip(outcomes, directions, strict=True):
            if rng.random() < 0.15:
                lines += [f"      - outcome: {outcome}", f"        direction: {direction}",
                          f"        notes: {_y('The source hedges: ' + hedge + '.')}"]
            else:
                lines.append(f"      - {{outcome: {outcome}, direction: {direction}}}")
        lines += [f"    design: {design}", "    certainty:"]
        cert = _certainty(rng, voc, design, required)
        lines += [f"      level: {cert['level']}", f"      basis: {cert['basis']}"]
        if cert["basis"] == "assigned":
            lines += [f"      start: {cert['start']}", f"      downgrades: [{', '.join(cert['downgrades'])}]"]  # type: ignore[arg-type]
        else:
            lines.append(f"      reported_as: {_y(str(cert['reported_as']))}")
        lines += _block("reason", str(cert["reason"]), 6)
        if has_effect:
            value = rng.randint(5, 60)
            lines += ["    effect:", f"      text: {_y(f'{value}% fewer readmissions at 12 months')}",
                      f"      value: {value}", "      unit: percent"]
        if rng.random() < 0.1:
            lines += [f"    n_studies: {n}", f"    dose: {_y(rng.choice(('12 sessions', 'weekly for 6 months')))}",
                      f"    country: {_y(rng.choice(('NO', 'UK', 'Canada', 'Uganda', 'Australia', 'USA')))}"]
        if not cites or rng.random() < 0.8:
            lines += _block("notes", "Design taken from the cited work's title; the source gives no sample "
                            "sizes for the other studies it mentions in the same sentence.")
        return lines, quote, cites


def _paragraph(rng: random.Random, quotes: list[tuple[str, list[int]]]) -> str:
    parts = []
    for quote, numbers in quotes:
        parts.append(rng.choice(FILLER))
        ref = f" [{', '.join(map(str, numbers))}]" if numbers else ""
        parts.append(f"In one line of work, {quote}{ref}.")
    parts.append(rng.choice(FILLER))
    return " ".join(parts)


def write_document(folder: Path, gen: ClaimGen, doc: Ref, refs_list: list[str], n_claims: int,
                   rng: random.Random) -> int:
    """claims/<doc>.yaml, sources/<doc>.txt and .yaml for one citing document; returns its findings."""
    results = sorted({gen.voc.populations[p] for p in rng.sample(gen.pops, 6)})
    sections = [*SECTIONS_FIXED, *results, *SECTIONS_END]
    position = {key: i for i, key in enumerate(refs_list, start=1)}
    claim_lines = [f"source: {doc.key}", "claims:"]
    by_section: dict[str, list[tuple[str, list[int]]]] = {s: [] for s in sections}
    findings = 0
    for _ in range(n_claims):
        section = rng.choice(sections[3:-3]) if rng.random() < 0.8 else rng.choice(sections)
        lines, quote, cites = gen.claim(doc.key, refs_list, section)
        findings += sum(1 for line in lines if line.lstrip().startswith(("- outcome:", "- {outcome:")))
        claim_lines += [*lines, ""]
        by_section[section].append((quote, sorted(position[c] for c in cites)))
    (folder / "claims" / f"{doc.key}.yaml").write_text("\n".join(claim_lines), encoding="utf-8")
    text = [doc.title, "", "A synthetic review generated for the benchmark (CC BY 4.0).", ""]
    heading_lines = []
    for section in sections:
        heading_lines.append((section, len(text) + 1))
        text += [section, ""]
        quotes = by_section[section] or [("no new findings were reported in this part", [])]
        for start in range(0, len(quotes), 3):
            para = _paragraph(rng, quotes[start:start + 3])
            text += [*textwrap.wrap(para, 100, break_on_hyphens=False, break_long_words=False), ""]
    (folder / "sources" / f"{doc.key}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    meta = [f"citekey: {doc.key}", f"title: {_y(doc.title)}", "origin: Generated by bench/corpus.py.",
            "licence: CC BY 4.0", "licence_url: https://creativecommons.org/licenses/by/4.0/",
            "attribution: Synthetic text.", "sections:"]
    meta += [f"  - {{heading: {_y(h)}, line: {line}}}" for h, line in heading_lines]
    (folder / "sources" / f"{doc.key}.yaml").write_text("\n".join(meta) + "\n", encoding="utf-8")
    return findings


def generate(folder: Path, refs: int, claims: int, seed: int = 1, density: int = 200) -> CorpusInfo:
    """Write a complete evidence folder to ``folder`` (replacing it)."""
    if refs < 4 or claims < 1:
        raise ValueError("need at least 4 references and 1 claim")
    rng = random.Random(seed)
    voc = vocab()
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("claims", "citations", "sources", "queries"):
        (folder / sub).mkdir(parents=True)
    write_vocab(folder / "vocab")
    for query in sorted((ROOT / "evidence" / "queries").glob("*.rq")):
        shutil.copyfile(query, folder / "queries" / query.name)
    settings = (ROOT / "evidence" / "kb.toml").read_text(encoding="utf-8")
    # The curated corpus's releases are not this corpus's: their dumps stay behind (the tables come last).
    settings = settings.split("\n[[releases]]", 1)[0].rstrip("\n") + "\n"
    (folder / "kb.toml").write_text(settings, encoding="utf-8")
    docs_n = max(2, min(refs // 4, math.ceil(claims / density)))
    bib = BibGen(rng, (list(voc.populations.values()), list(voc.interventions.values()), list(voc.outcomes.values())))
    entries = [bib.entry(review=i < docs_n) for i in range(refs)]
    (folder / "references.bib").write_text("\n".join(e.bibtex for e in entries), encoding="utf-8")
    by_key = {e.key: e for e in entries}
    docs = [e.key for e in entries[:docs_n]]
    lists = citation_lists(rng, docs, [e.key for e in entries])
    for doc, cited in lists.items():
        body = "\n".join(f"  - {key}" for key in cited)
        (folder / "citations" / f"{doc}.yaml").write_text(f"source: {doc}\nreferences:\n{body}\n", encoding="utf-8")
    gen = ClaimGen(rng, voc, by_key)
    findings = 0
    for doc, count in zip(docs, claims_per_file(rng, claims, docs_n), strict=True):
        findings += write_document(folder, gen, by_key[doc], lists[doc], count, rng)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return CorpusInfo(refs, claims, findings, docs_n, docs_n, sum(map(len, lists.values())), seed, size)


def edit_one_claim(folder: Path) -> Path:
    """Change one claim's statement (the incremental-rebuild benchmark); returns the file edited."""
    files = sorted((folder / "claims").glob("*.yaml"))
    path = files[len(files) // 2]
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if line.strip() == "statement: >-")
    lines[at + 1] += " (Edited for the incremental benchmark.)"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def edit_one_reference(folder: Path) -> str:
    """Change the title of the middle work of references.bib (the editors' loop after a reference edit); returns
    its citekey."""
    path = folder / "references.bib"
    text = path.read_text(encoding="utf-8")
    entries = [m.start() for m in re.finditer(r"(?m)^@\w+\{", text)]
    start = entries[len(entries) // 2]
    title = re.compile(r"(?m)^(\s*title\s*=\s*\{)").search(text, start)
    assert title is not None, "every generated entry has a title"
    path.write_text(text[:title.end()] + "(Edited for the benchmark.) " + text[title.end():], encoding="utf-8")
    return text[start:text.index(",", start)].split("{", 1)[1]


def edit_one_source(folder: Path) -> tuple[Path, str]:
    """Add a work to the reference list of the middle source (``citations/``: the editors' loop after an edited
    source file, such as a reference list completed as its claims are extracted); returns the file and the work's
    citekey. The work goes last, so no claim's bracketed numbers move."""
    files = sorted((folder / "citations").glob("*.yaml"))
    path = files[len(files) // 2]
    text = path.read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^  - (\S+)$", text))
    keys = re.findall(r"(?m)^@\w+\{([^,\s]+),", (folder / "references.bib").read_text(encoding="utf-8"))
    key = next(k for k in sorted(keys) if k not in listed and k != path.stem)
    path.write_text(text + ("" if text.endswith("\n") else "\n") + f"  - {key}\n", encoding="utf-8")
    return path, key


def edit_one_definition(folder: Path) -> tuple[Path, str]:
    """Reword the definition of the middle outcome (``vocab/outcomes.ttl``: the editors' loop after an edited
    vocabulary, such as a definition made clearer); returns the file and the definition's new start. A definition is
    shown on its concept's page, in the search index and the method page's table, in FHIR's EvidenceVariable: not on
    the pages that show the concept's label."""
    path = folder / "vocab" / "outcomes.ttl"
    text = path.read_text(encoding="utf-8")
    starts = [m.end() for m in re.finditer(r'skos:definition "', text)]
    at = starts[len(starts) // 2]
    path.write_text(text[:at] + "Reworded: " + text[at:], encoding="utf-8")
    return path, text[at:at + 40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--claims", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asdict(generate(args.out, args.refs, args.claims, args.seed)), indent=2))


if __name__ == "__main__":
    main()
