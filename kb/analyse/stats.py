"""``kb stats``: the KB in numbers — a table that fits a terminal, or CSV and JSON for other tools.

The full evidence map (every population × outcome) is too wide for a terminal: at 14 populations
and 57 outcomes it was 968 characters. The table shows populations × outcome *domains*, in blocks
of as many domain columns as fit :data:`TABLE_WIDTH` characters (the way wide data frames print);
the CSV and the JSON carry every population × outcome cell.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from dataclasses import dataclass, field

from kb.analyse.analysis import DIRECTIONS, LEVELS, Analysis
from kb.io.tables import write_csv
from kb.load.evidence import Evidence

STATS_FORMATS = ("table", "csv", "json")
TABLE_WIDTH = 100
SYMBOL = {"benefit": "+", "no_effect": "=", "harm": "-", "mixed": "~", "inconclusive": "?", "not_reported": "∅",
          "not_applicable": "%"}  # ∅: no result reported yet; %: not a change (a prevalence or a need)
LEGEND = {"not_reported": "no result reported", "not_applicable": "not a change"}  # as the site says
GAP_NAMES = {"empty": "empty cells (population × outcome)",
             "low_only": "cells with only low or very-low certainty",
             "conflicting": "cells with conflicting directions",
             "no_review": "cells with primary studies but no review"}


@dataclass
class Stats:
    """What ``kb stats`` reports, whatever the format."""

    works: int
    claims: int
    claim_outcomes: int
    triples: int
    directions: dict[str, int]
    certainty: dict[str, int]
    populations: list[str]  # every population of the vocabulary
    outcomes: list[tuple[str, str]]  # every (outcome, domain) of the vocabulary, by domain then outcome
    cells: dict[tuple[str, str], Counter] = field(default_factory=dict)  # (population, outcome) → directions
    most_cited: list[tuple[str, int]] = field(default_factory=list)
    isolated: list[str] = field(default_factory=list)
    gaps: dict[str, list] = field(default_factory=dict)

    @property
    def unused_populations(self) -> list[str]:
        used = {p for p, _ in self.cells}
        return [p for p in self.populations if p not in used]


def collect(evidence: Evidence, analysis: Analysis) -> Stats:
    vocab = evidence.vocabulary
    outcomes = sorted(((o, (c.broader or "") if (c := vocab.get("outcome", o)) else "")
                       for o in vocab.ids("outcome")), key=lambda od: (od[1], od[0]))
    return Stats(
        works=len(evidence.references), claims=len(analysis.claim_ids), claim_outcomes=len(analysis.rows),
        triples=analysis.triples, directions={d: analysis.directions().get(d, 0) for d in DIRECTIONS},
        certainty={c: analysis.certainty_levels().get(c, 0) for c in LEVELS},
        populations=vocab.ids("population"), outcomes=outcomes,
        cells={k: Counter(v) for k, v in sorted(analysis.matrix.items())},
        most_cited=analysis.most_cited(len(evidence.references)),  # every work a claim rests on
        isolated=analysis.isolated_claims(),
        gaps=analysis.gaps(vocab.ids("population"), vocab.ids("outcome")),
    )


def render(stats: Stats, fmt: str = "table") -> str:
    """``stats`` as ``table`` (fits :data:`TABLE_WIDTH` columns), ``csv`` or ``json``."""
    if fmt == "csv":
        return as_csv(stats)
    if fmt == "json":
        return as_json(stats)
    if fmt == "table":
        return as_table(stats)
    raise ValueError(f"unknown stats format '{fmt}'; expected one of {', '.join(STATS_FORMATS)}")


# --- table -------------------------------------------------------------------------------------


def as_table(stats: Stats, width: int = TABLE_WIDTH) -> str:
    def wrapped(text: str) -> list[str]:
        return textwrap.wrap(text, width=width, subsequent_indent="  ", break_on_hyphens=False)

    lines = [
        f"works: {stats.works}   claims: {stats.claims}   claim-outcomes: {stats.claim_outcomes}   "
        f"triples: {stats.triples}",
        *wrapped("directions: " + ", ".join(f"{d} {n}" for d, n in stats.directions.items())),
        *wrapped("certainty (claims): " + ", ".join(f"{c} {n}" for c, n in stats.certainty.items())),
        "",
        "Evidence map: claim-outcomes per population and outcome domain, by direction",
        *wrapped("(" + ", ".join(f"{s} {LEGEND.get(d, d.replace('_', ' '))}" for d, s in SYMBOL.items()) + ")"),
        "",
        *_domain_map(stats, width),
        "",
        "Most-cited works (claims resting on them):",
        *(f"  {n:3d}  {key}" for key, n in stats.most_cited[:10]),
        "",
        f"Claims resting on no cited work: {len(stats.isolated)}",
        *(f"  {c}" for c in stats.isolated),
        "",
        "Gaps:",
        *(f"  {GAP_NAMES[name]}: {len(cells)}" for name, cells in stats.gaps.items()),
    ]
    if stats.unused_populations:
        lines += textwrap.wrap("populations with no claim: " + ", ".join(stats.unused_populations), width=width,
                               initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def _domain_map(stats: Stats, width: int) -> list[str]:
    """Populations × domains, in blocks of as many domain columns as fit ``width`` (like a wide data frame)."""
    domain_of = dict(stats.outcomes)
    cells: dict[tuple[str, str], Counter] = {}
    for (population, outcome), counts in stats.cells.items():
        cells.setdefault((population, domain_of.get(outcome, "")), Counter()).update(counts)
    populations = sorted({p for p, _ in cells})
    domains = sorted({d for _, d in cells})
    if not populations:
        return ["  (no claims yet)"]
    text = {k: " ".join(f"{SYMBOL[d]}{c[d]}" for d in DIRECTIONS if c[d]) for k, c in cells.items()}
    label_width = min(max(len("population"), *map(len, populations)), 30)
    heads = {d: _header(d) for d in domains}
    col = {d: max([len(h) for h in heads[d]] + [len(text.get((p, d), ".")) for p in populations]) for d in domains}
    blocks: list[list[str]] = [[]]
    for domain in domains:
        if blocks[-1] and label_width + sum(2 + col[d] for d in [*blocks[-1], domain]) > width:
            blocks.append([])
        blocks[-1].append(domain)
    out: list[str] = []
    for block in blocks:
        depth = max(len(heads[d]) for d in block)

        def line(first: str, values: list[str], block: list[str] = block) -> str:
            return "  ".join([_fit(first, label_width).ljust(label_width),
                              *(v.ljust(col[d]) for v, d in zip(values, block, strict=True))]).rstrip()

        if out:
            out.append("")
        out += [line("population" if i == depth - 1 else "", [([""] * depth + heads[d])[-depth:][i] for d in block])
                for i in range(depth)]
        out.append(line("-" * label_width, ["-" * col[d] for d in block]))
        out += [line(p, [text.get((p, d), ".") for d in block]) for p in populations]
    out += ["", "Per outcome rather than per domain: kb stats --format csv (one row per population and outcome)."]
    return out


def _header(domain: str, width: int = 10) -> list[str]:
    """A domain id over a few short lines, broken after its underscores (``experience_`` / ``of_care``)."""
    lines: list[str] = []
    for part in domain.split("_"):
        if lines and len(lines[-1]) + len(part) + 1 <= width:
            lines[-1] += "_" + part
        elif lines:
            lines[-1] += "_"
            lines.append(part)
        else:
            lines.append(part)
    return lines or [""]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- csv and json ------------------------------------------------------------------------------


def as_csv(stats: Stats) -> str:
    """The whole evidence map: one row per population × outcome of the vocabulary (zeros are the gaps)."""
    columns = ["population", "outcome", "domain", *DIRECTIONS, "total"]
    rows = []
    for population in stats.populations:
        for outcome, domain in stats.outcomes:
            counts = stats.cells.get((population, outcome), Counter())
            rows.append([population, outcome, domain, *(counts[d] for d in DIRECTIONS), sum(counts.values())])
    return write_csv(columns, rows)


def as_json(stats: Stats) -> str:
    domain_of = dict(stats.outcomes)
    data = {
        "works": stats.works, "claims": stats.claims, "claim_outcomes": stats.claim_outcomes,
        "triples": stats.triples, "directions": stats.directions, "certainty": stats.certainty,
        "evidence_map": [{"population": p, "outcome": o, "domain": domain_of.get(o, ""),
                          **{d: counts[d] for d in DIRECTIONS}, "total": sum(counts.values())}
                         for (p, o), counts in sorted(stats.cells.items())],
        "most_cited": [{"work": key, "claims": n} for key, n in stats.most_cited],
        "claims_resting_on_no_cited_work": stats.isolated,
        "gaps": {name: [{"population": p, "outcome": o} for p, o in cells] for name, cells in stats.gaps.items()},
        "populations_with_no_claim": stats.unused_populations,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
