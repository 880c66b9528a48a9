"""What the bibliography features cost: citeproc-py's citations, the CSL-JSON and RIS exports.

``python -m bench.citations [--works N]`` times, on the real corpus (evidence/references.bib) and
on N synthetic works of the benchmark's BibTeX generator: formatting every work in APA 7 and
Vancouver (one process; one per CPU as ``kb build`` does; and a rebuild that finds every
citation in the cache), the two exports, the data
scripts behind "download these references" and the Highwire tags. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return round(time.perf_counter() - start, 3)


def synthetic_refs(works: int, seed: int = 1) -> list:
    from bench.bibgen import BibGen
    from kb.bibtex.load import load_references

    gen = BibGen(random.Random(seed), (["Adults with psychosis", "Veterans", "Young people"],
                                       ["Peer support groups", "Peer mentoring"], ["Hope", "Hospital admissions"]))
    with tempfile.TemporaryDirectory() as folder:
        bib = Path(folder) / "references.bib"
        bib.write_text("".join(gen.entry().bibtex + "\n" for _ in range(works)), encoding="utf-8")
        return load_references(bib)[0]


def measure(refs: list) -> dict[str, float]:
    from kb.export.csljson import csljson_bytes
    from kb.export.ris import ris_bytes
    from kb.site import cite
    from kb.site.highwire import highwire_tags
    from kb.site.refdata import RefData

    cite._style("apa"), cite._style("nlm-citation-sequence")  # styles loaded once per process, not timed
    one = _time(lambda: cite.format_all(refs, jobs=1))
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "citations.pickle"
        first = _time(lambda: cite.format_all(refs, cache=cache))
        cached = _time(lambda: cite.format_all(refs, cache=cache))
    return {"works": len(refs), "citeproc_1_process_s": one,
            "citeproc_ms_per_work": round(one / max(1, len(refs)) * 1000, 2),
            "citeproc_as_kb_build_s": first, "citeproc_cached_rebuild_s": cached,
            "csljson_s": _time(lambda: csljson_bytes(refs)), "ris_s": _time(lambda: ris_bytes(refs)),
            "download_scripts_s": _time(lambda: RefData(refs).scripts()),
            "highwire_s": _time(lambda: [highwire_tags(r) for r in refs])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.citations", description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=1000, help="synthetic works (default 1000)")
    args = parser.parse_args(argv)
    from kb.bibtex.load import load_references

    real = load_references(ROOT / "evidence" / "references.bib")[0]
    print(json.dumps({"real": measure(real), "synthetic": measure(synthetic_refs(args.works))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
