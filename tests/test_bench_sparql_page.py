"""``python -m bench.sparql_page`` at a tiny scale (the fixture site), so that it cannot rot: it runs,
writes every key, and its numbers are positive. Never a timed test: no timing is asserted."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from kb.io import gz

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not installed
    sys.path.insert(0, str(ROOT))

from bench import sparql_page  # noqa: E402

pytestmark = pytest.mark.browser

FIXTURE = ROOT / "tests" / "data" / "evidence"


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kb.config import load_config
    from kb.pipeline import build

    out = tmp_path_factory.mktemp("bench-page") / "a site"
    build(load_config(FIXTURE, out_dir=out))
    return out


def test_bench_sparql_page_measures_the_fixture_site(fixture_site: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if not sparql_page.CHROMIUM.is_file():
        pytest.fail(f"{sparql_page.CHROMIUM} is missing: run ./install.sh; browser tests never skip")
    out = tmp_path / "page.json"
    assert sparql_page.main([str(fixture_site), "--runs", "1", "--warmup", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    for key in ("ready_ms", "empty_dump_ready_ms", "trivial_page_ms", "ratio_to_trivial", "ratio_to_empty_dump",
                "script_bytes_total", "page_bytes_total", "triples", "interactive_ms", "first_result_ms",
                "clicked_ms"):
        assert _positive(result[key]), (key, result[key])
    assert result["status"] in ("PASS", "MISS") and result["first_result_status"] in ("PASS", "MISS")
    assert result["interactive_ms"] <= result["first_result_ms"] and result["longest_task_after_interactive_ms"] >= 0
    assert result["triples"] == len([x for x in gz.read(fixture_site / "data" / "kb.nt.gz").splitlines() if x])
    assert set(result["script_bytes"]) >= {"assets/oxigraph.js", "assets/oxigraph-wasm.js", "data/kb.nt.js",
                                           "assets/sparql.js"}
    assert "triples loaded" in result["engine_status"]
    assert {"engine", "loaded", "ready"} <= set(result["phases_ms"])
    assert "ready" in capsys.readouterr().out


def test_bench_sparql_page_reports_a_missing_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sparql_page.main([str(tmp_path / "nowhere")]) == 1
    assert "build the site first" in capsys.readouterr().err


# --- the dump the page loads -------------------------------------------------------------------

NT = b"""<http://ex.org/a/x> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://ex.org/ns#T> .
<http://ex.org/a/x> <http://ex.org/ns#p> "one \\" . \\n two"@en .
<http://ex.org/a/x> <http://ex.org/ns#p> "2"^^<http://www.w3.org/2001/XMLSchema#integer> .
<http://ex.org/a/x> <http://ex.org/ns#q> <http://ex.org/a/needs.escaping> .
<http://ex.org/a/y> <http://ex.org/ns#p> <http://ex.org/a/> .
<http://ex.org/a/y> <http://ex.org/ns#p> "caf\\u00E9 \xc3\xa9" .
_:b1 <http://ex.org/ns#q> <http://ex.org/a/1-2_3> .
"""


def test_the_dump_script_holds_the_graph_in_subject_blocks(fixture_site: Path) -> None:
    """The page splits the dump after lines ending " ." (sparql.js blockEnd): check that is safe."""
    import base64
    import zlib

    import pyoxigraph as ox

    script = (fixture_site / "data" / "kb.nt.js").read_bytes()
    payload = re.search(rb'KB_DUMP_DEFLATE = "([^"]+)"', script).group(1)
    ttl = zlib.decompress(base64.b64decode(payload), -15)
    nt = gz.read(fixture_site / "data" / "kb.nt.gz")
    assert set(ox.parse(ttl, format=ox.RdfFormat.TURTLE)) == set(ox.parse(nt, format=ox.RdfFormat.N_TRIPLES))
    assert b"KB_DUMP_TRIPLES = %d;" % nt.count(b"\n") in script
    body = ttl[ttl.index(b"\n<"):].lstrip(b"\n")  # after the @prefix lines
    blocks = [b + b" .\n" for b in body.split(b" .\n") if b]
    for block in blocks:  # each piece is a whole subject block, parseable on its own
        assert not block.startswith(b"\t")
        assert list(ox.parse(ttl[:ttl.index(b"\n<") + 1] + block, format=ox.RdfFormat.TURTLE))
