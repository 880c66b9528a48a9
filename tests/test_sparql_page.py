"""The SPARQL page at scale: usable at once, the examples answered before the engine has loaded the graph
(answers computed at build time, labelled, then replaced by the live ones), and those answers equal
to the live engine's. Headless Chromium from file://, as tests/test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_browser import browser, expected_rows, open_page, site, url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

# A Web Worker that never answers: the engine never becomes ready, so only the build's answers can show.
NO_ENGINE = """window.Worker = function () {
  this.postMessage = function () {};
  this.terminate = function () {};
};"""


def select_examples(site) -> list:  # type: ignore[no-untyped-def]  # noqa: F811
    from kb.query.sparql import guard, load_examples

    return [e for e in load_examples(site.checked.evidence.config.queries_dir) if guard(e.text) in ("SELECT", "ASK")]


def shown_rows(page) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return page.locator("#sparql-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.term || c.textContent))")


def answer_file(site, name: str) -> dict:  # type: ignore[no-untyped-def]  # noqa: F811
    text = (site.out_dir / "data" / "answers" / f"{name}.js").read_text(encoding="utf-8")
    return json.loads(re.search(r"\] = (\{.*\});\n$", text, re.DOTALL).group(1))


def test_examples_answer_before_the_engine_has_loaded_the_graph(browser, site) -> None:  # noqa: F811
    examples = select_examples(site)
    assert examples
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(NO_ENGINE)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url(site, "sparql.html"))
        page.wait_for_selector("html[data-sparql-interactive]")
        assert page.locator("#sparql-run").is_enabled()
        assert "in the background" in page.inner_text("#engine-status")
        for example in examples:
            page.click(f"button.run-example[data-example='{example.name}']")
            page.wait_for_function(f"document.getElementById('sparql-query').value.startsWith({json.dumps(example.text[:40])})")
            page.wait_for_selector("#sparql-table, #sparql-results .ask-result")
            note = page.locator("#sparql-note")
            note.wait_for(state="visible")
            assert "Computed when the site was built" in note.inner_text()
            expected = expected_rows(site, example.text)
            shown = shown_rows(page)
            assert shown == expected[:1000], example.name
            assert ("of " + str(len(expected)) + " rows") in note.inner_text() or len(expected) <= 1000
        assert not page.locator("html[data-sparql-ready]").count()
        page.fill("#sparql-query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        page.click("#sparql-run")
        page.wait_for_function("document.getElementById('sparql-summary').textContent.includes('when the graph has loaded')")
        assert page.locator("#sparql-table").count() == 0
        assert not errors, errors
    finally:
        context.close()


def test_build_answers_equal_the_live_engines(browser, site) -> None:  # noqa: F811
    """Each example's answer file holds what the live engine answers: the same rows (in the same order),
    the same terms, and the total."""
    examples = select_examples(site)
    with open_page(browser, url(site, "sparql.html"), viewport={"width": 1280, "height": 900}) as page:
        page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
        for example in examples:
            stored = answer_file(site, example.name)
            assert stored["query"] == example.text
            page.click(f"button.run-example[data-example='{example.name}']")
            page.wait_for_function("document.getElementById('sparql-summary').textContent.includes(' ms)')")
            href = page.get_attribute("#download-json", "href")
            live = json.loads(page.evaluate("async href => (await fetch(href)).text()", href))
            if "boolean" in live:
                assert stored["results"]["boolean"] == live["boolean"], example.name
                continue
            assert stored["total"] == len(live["results"]["bindings"]), example.name
            assert stored["results"]["head"] == live["head"], example.name
            assert canonical(stored["results"]["results"]["bindings"]) == \
                canonical(live["results"]["bindings"][:1000]), example.name
            page.fill("#sparql-query", "")  # the next example's summary must be its own


def canonical(bindings: list[dict]) -> list[dict]:
    """Bindings with GROUP_CONCAT's parts sorted (SPARQL leaves their order to the engine)."""
    out = []
    for row in bindings:
        out.append({k: (dict(v, value="; ".join(sorted(v["value"].split("; ")))) if "; " in v["value"] else v)
                    for k, v in row.items()})
    return out


def test_answer_files_are_written_for_select_examples_only(site) -> None:  # noqa: F811
    names = {p.stem for p in (site.out_dir / "data" / "answers").glob("*.js")}
    assert names == {e.name for e in select_examples(site)}
    page = (site.out_dir / "sparql.html").read_text(encoding="utf-8")
    sources = json.loads(re.search(r'<script type="application/json" id="sparql-sources">(.*?)</script>', page).group(1))
    assert set(sources["answers"]) == names
    for name, href in sources["answers"].items():
        assert (site.out_dir / href).resolve() == (site.out_dir / "data" / "answers" / f"{name}.js").resolve()
    assert all((site.out_dir / sources[k]).is_file() for k in ("wasm", "dump", "links"))
    glue = Path(site.out_dir / "assets" / "oxigraph.js").read_text(encoding="utf-8")
    assert "\nglobalThis.KB_OXIGRAPH_GLUE = function () {" in glue  # the worker's source
