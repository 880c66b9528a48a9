"""``kb stats``: the KB in numbers, as plain text for a terminal."""

from __future__ import annotations

from collections import Counter

from kb.analyse.analysis import DIRECTIONS, LEVELS, Analysis
from kb.load.evidence import Evidence

SYMBOL = {"benefit": "+", "no_effect": "=", "harm": "-", "mixed": "~", "inconclusive": "?", "not_reported": "0",
          "not_applicable": "#"}


def render_stats(evidence: Evidence, analysis: Analysis) -> str:
    vocab = evidence.vocabulary
    lines = [
        f"works: {len(evidence.references)}   claims: {len(analysis.claim_ids)}   "
        f"claim-outcomes: {len(analysis.rows)}   triples: {analysis.triples}",
        "directions: " + ", ".join(f"{d} {analysis.directions().get(d, 0)}" for d in DIRECTIONS),
        "certainty (claims): " + ", ".join(f"{c} {analysis.certainty_levels().get(c, 0)}" for c in LEVELS),
        "",
        "Evidence map: populations × outcomes (claim-outcomes per direction: "
        + " ".join(f"{s}={d}" for d, s in SYMBOL.items()) + ")",
    ]
    populations = sorted({p for r in analysis.rows for p in r.population})
    outcomes = sorted({r.outcome for r in analysis.rows},
                      key=lambda o: ((c.broader or "") if (c := vocab.get("outcome", o)) else "", o))
    header = ["population \\ outcome", *outcomes]
    table = [header]
    for population in populations:
        row = [population]
        for outcome in outcomes:
            counts: Counter = analysis.matrix.get((population, outcome), Counter())
            row.append(" ".join(f"{SYMBOL[d]}{counts[d]}" for d in DIRECTIONS if counts[d]) or ".")
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    lines += ["", "Most-cited works (claims resting on them):"]
    lines += [f"  {n:3d}  {key}" for key, n in analysis.most_cited(10)]
    isolated = analysis.isolated_claims()
    lines += ["", f"Claims resting on no cited work: {len(isolated)}"]
    lines += [f"  {c}" for c in isolated]
    gaps = analysis.gaps(vocab.ids("population"), vocab.ids("outcome"))
    lines += ["", "Gaps:",
              f"  empty cells (population × outcome): {len(gaps['empty'])}",
              f"  cells with only low or very-low certainty: {len(gaps['low_only'])}",
              f"  cells with conflicting directions: {len(gaps['conflicting'])}",
              f"  cells with primary studies but no review: {len(gaps['no_review'])}"]
    unused = [p for p in vocab.ids("population") if p not in populations]
    if unused:
        lines.append("  populations with no claim: " + ", ".join(unused))
    return "\n".join(lines)
