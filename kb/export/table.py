"""The claims table: one CSV row per claim and outcome, ordered by claim and outcome.

Populations, interventions, outcomes and designs are given by label; the other facets by their
vocabulary ids. Several values in one cell are joined with ``;``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from kb.analyse.analysis import Analysis, Row
from kb.export.fragments import Fragments
from kb.io.tables import csv_lines, write_csv
from kb.load.byrecord import ByRecord

CSV_COLUMNS = ["claim_id", "statement", "source", "cites", "finding_type", "population", "setting", "delivery",
               "perspective", "intervention", "intervention_kind", "outcome", "direction", "design", "certainty",
               "quote"]


def claims_csv(analysis: Analysis) -> bytes:
    """One row per claim-outcome."""
    return b"".join(claims_csv_lines(analysis))


def claims_csv_lines(analysis: Analysis, kept: ByRecord[bytes] | None = None) -> list[bytes]:
    """The claims table as its header's line and each row's (a row's text may hold line breaks, in quotes).

    ``kept`` holds each row's text by the row (:mod:`kb.load.byrecord`): the editors' loop keeps the rows of
    unchanged claims, so after an edit only the edited claims' rows are written (all 88,000 were ~1.3 s at 50,000
    claims), and the same text objects come back, which :func:`kb.export.dumps.compress_runs` knows by identity."""
    if kept is None:
        lines = _lines(analysis.rows)
    else:
        kept.begin("rows")  # a row's text depends on the row alone
        lines = kept.many(analysis.rows, _lines)
        kept.end()
    return [write_csv(CSV_COLUMNS, ()).encode("utf-8"), *lines]


def claims_csv_lines_by_file(analysis: Analysis, claim_paths: dict[str, str], digests: dict[str, str],
                             fragments: Fragments, context: str) -> list[bytes]:
    """:func:`claims_csv_lines`, each claim file's rows' text kept in ``fragments`` under the digest of the file's bytes
    (``digests``) and of the evidence other than the claim files and the code (``context``,
    :attr:`kb.checks.scope.Inputs.context`), on which a row's cells depend: a build without the loop's memo wrote all
    88,000 rows at 50,000 claims (~1.5 s of a site worker), though an edit changes one file's. A file's rows come in
    the order they have among all rows; ``claim_paths`` gives each claim's file (a claim it lacks, or a file without
    a digest, is written, not kept)."""
    by_file: dict[str, list[Row]] = {}
    for row in analysis.rows:
        by_file.setdefault(claim_paths.get(row.claim_id, ""), []).append(row)
    texts: dict[str, Iterator[bytes]] = {}
    for path, rows in by_file.items():
        digest = digests.get(path)
        key = hashlib.sha256(f"{context}\0{path}\0{digest}".encode()).hexdigest() if digest is not None else None
        kept = fragments.get(key) if key is not None else None
        if key is not None and isinstance(kept, list) and len(kept) == len(rows):
            fragments.used[key] = kept
        else:
            kept = _lines(rows)
            if key is not None:
                fragments.put(key, kept)
        texts[path] = iter(kept)
    fragments.keep()
    return [write_csv(CSV_COLUMNS, ()).encode("utf-8"),
            *(next(texts[claim_paths.get(row.claim_id, "")]) for row in analysis.rows)]


def _lines(rows: list[Row]) -> list[bytes]:
    return [line.encode("utf-8") for line in csv_lines(map(_cells, rows))]


def _cells(r: Row) -> tuple[str, ...]:
    """A row's cells (tuples, not dicts: 5× faster at 50k claims)."""
    return (r.claim_id, r.statement, r.source, ";".join(r.cites), r.finding_type, r.population_label,
            ";".join(r.setting), ";".join(r.delivery), r.perspective, r.intervention_label, r.intervention_kind,
            r.outcome_label, r.direction, r.design_label, r.certainty, r.quote)
