"""The built site in a real browser, used as a person would: Debian's Chromium, headless.

The site is built once per corpus (the fixture, and the real corpus in evidence/) and opened
from file://. Every page a test opens must log no console error and request nothing outside the
site: every request is routed, and anything but file:, data:, blob: or 127.0.0.1 fails the test.
Chromium and node_modules are installed by ./install.sh; when missing these tests fail, loudly.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kb.config import load_config
from kb.pipeline import build

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "evidence"
REAL = ROOT / "evidence"
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
CORPORA = {"fixture": FIXTURE, "real": REAL}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run ./install.sh (apt-get install chromium); browser tests never skip")
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run ./install.sh (npm ci)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module", params=list(CORPORA))
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The site built from one corpus, inside a sub-folder (it must work from any path)."""
    evidence = CORPORA[request.param]
    if request.param == "real" and not any((evidence / "claims").glob("*.yaml")):
        pytest.fail("the real corpus has no claims: evidence/claims/*.yaml")
    out = tmp_path_factory.mktemp(f"browser-{request.param}") / "deep path" / "site"
    result = build(load_config(evidence, out_dir=out))
    result.corpus = request.param  # type: ignore[attr-defined]
    return result


class Guard:
    """Records console errors, page errors and any request that would leave the site."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []

    def route(self, route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def check(self) -> None:
        assert not self.outside, f"requests left the site: {self.outside}"
        assert not self.errors, f"console errors: {self.errors}"


@contextmanager
def open_page(browser, url: str, **options) -> Iterator:  # type: ignore[no-untyped-def]
    guard = Guard()
    context = browser.new_context(**options)
    context.route("**/*", guard.route)
    page = context.new_page()
    page.on("console", lambda m: guard.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: guard.errors.append(str(e)))
    page.goto(url)
    try:
        yield page
        guard.check()
    finally:
        context.close()


def url(site, path: str) -> str:
    return (site.out_dir / path).as_uri()


def visible_marks(page) -> int:  # type: ignore[no-untyped-def]
    """Marks drawn and not hidden, plus the counts of aggregated cells."""
    return page.evaluate("""() => {
      const marks = [...document.querySelectorAll('#evmap svg.mk[data-r]')].filter(m => !m.hasAttribute('hidden'));
      const counts = [...document.querySelectorAll('#evmap .tally:not([hidden]) .n')].map(n => Number(n.textContent));
      return marks.length + counts.reduce((a, b) => a + b, 0);
    }""")


# --- the evidence map --------------------------------------------------------------------------


def test_map_has_one_mark_per_claim_outcome_and_a_filter_changes_it(browser, site) -> None:
    rows = site.analysis.rows
    marks = sum(len(r.population) for r in rows)  # a claim about two populations has a mark in each row
    with open_page(browser, url(site, "map.html"), viewport={"width": 1280, "height": 900}) as page:
        assert visible_marks(page) == marks
        assert page.locator("#map-filters").is_visible()
        intervention = sorted({r.intervention for r in rows}, key=lambda i: sum(r.intervention == i for r in rows))[0]
        page.select_option("#filter-intervention", intervention)
        expected = sum(r.intervention == intervention for r in rows)
        assert visible_marks(page) == sum(len(r.population) for r in rows if r.intervention == intervention)
        assert f"Showing {expected} of {len(rows)} findings" in page.inner_text("#map-status")
        page.check("#filter-compact")
        shown_rows = page.locator("#evmap tbody tr:not([hidden])").count()
        assert shown_rows == len({p for r in rows if r.intervention == intervention for p in r.population})
        page.click("button[type=reset]")
        page.wait_for_function(f"document.getElementById('map-status').textContent.includes('all {len(rows)}')")
        assert visible_marks(page) == marks
        if site.corpus == "real":
            ARTIFACTS.mkdir(exist_ok=True)
            page.set_viewport_size({"width": 1440, "height": 1200})
            page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=False)
        else:
            page.screenshot(path=str(ARTIFACTS / "map-fixture.png"), full_page=True)


def test_map_status_counts_findings_not_marks_of_claims_with_two_populations(browser, site) -> None:
    """Regression: after a filter, the status counted marks, so a finding with two populations counted twice."""
    rows = site.analysis.rows
    multi = [r for r in rows if len(r.population) > 1]
    if site.corpus == "real":
        assert multi, "the real corpus has claims about two populations (older adults with SMI)"
    with open_page(browser, url(site, "map.html"), viewport={"width": 1280, "height": 900}) as page:
        page.select_option("#filter-certainty", "low")
        page.select_option("#filter-certainty", "")  # every finding matches again, counted by the script
        page.wait_for_function("document.getElementById('map-status').textContent.includes('all')")
        assert page.inner_text("#map-status") == f"Showing all {len(rows)} findings."
        if multi:
            page.select_option("#filter-intervention", multi[0].intervention)
            expected = sum(r.intervention == multi[0].intervention for r in rows)
            assert visible_marks(page) > expected
            assert f"Showing {expected} of {len(rows)} findings" in page.inner_text("#map-status")


def test_interventions_map_has_the_same_marks(browser, site) -> None:
    with open_page(browser, url(site, "map-interventions.html")) as page:
        assert visible_marks(page) == len(site.analysis.rows)


def test_clicking_a_cell_lists_its_claims(browser, site) -> None:
    with open_page(browser, url(site, "map.html")) as page:
        cell = page.locator("#evmap a.cell-link").first
        described = cell.inner_text()
        cell.click()
        page.wait_for_url("**/cells/population/*.html")
        population, outcome = Path(urlsplit(page.url).path).stem.split("--")
        expected = {r.claim_id for r in site.analysis.rows if population in r.population and r.outcome == outcome}
        links = page.locator("#cell-claims tbody td:first-child a")
        shown = {Path(h).stem for h in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")}
        assert shown == expected and expected
        assert str(len(expected)) in described


# --- search, tables, keyboard ------------------------------------------------------------------


def test_search_finds_a_known_claim(browser, site) -> None:
    claim = site.checked.evidence.claims[0]
    words = " ".join(claim.statement.split()[:6])
    with open_page(browser, url(site, "index.html")) as page:
        page.fill("#site-search-q", words)
        page.press("#site-search-q", "Enter")
        page.wait_for_url("**/search.html?q=*")
        page.wait_for_selector("#search-results li")
        hrefs = page.locator("#search-results a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert f"claims/{claim.id}.html" in hrefs
        page.locator(f"#search-results a[href='claims/{claim.id}.html']").click()
        page.wait_for_url(f"**/claims/{claim.id}.html")
        assert " ".join(claim.quote.split())[:60] in page.inner_text("blockquote")


def test_bibliography_filters_and_sorts(browser, site) -> None:
    refs = site.checked.evidence.references
    with open_page(browser, url(site, "references/index.html")) as page:
        assert page.locator("#bibliography tbody tr").count() == len(refs)
        page.fill("#bibliography-filter", refs[0].key)
        visible = page.locator("#bibliography tbody tr:not([hidden])")
        assert 1 <= visible.count() < len(refs) or len(refs) == 1
        page.fill("#bibliography-filter", "")
        page.click("#bibliography thead th:nth-child(2) button")
        assert page.get_attribute("#bibliography thead th:nth-child(2)", "aria-sort") == "ascending"


def test_skip_link_is_first_and_moves_focus_to_main(browser, site) -> None:
    with open_page(browser, url(site, "index.html")) as page:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"


def test_pages_fit_a_phone_screen(browser, site) -> None:
    claim = site.checked.evidence.claims[0].id
    paths = ("index.html", f"claims/{claim}.html", "map.html", "sparql.html")
    with open_page(browser, url(site, paths[0]), viewport={"width": 375, "height": 740}, is_mobile=True) as page:
        for path in paths:
            page.goto(url(site, path))
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"


# --- SPARQL in the browser ---------------------------------------------------------------------


def expected_rows(site, text: str) -> list[list[str]]:
    """What `kb query` answers on the same KB, as the page shows it (prefixed names, plain values)."""
    from kb.namespaces import PREFIXES
    from kb.query.sparql import run_query, term_text

    results = run_query(site.checked.graph.store, text)
    names = [v.value for v in results.variables]
    return [[term_text(s[n], PREFIXES) for n in names] for s in results]


def run_example(page, name: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    page.click(f"button.run-example[data-example='{name}']")
    page.wait_for_selector("#sparql-table, #sparql-error:not([hidden])")
    assert page.locator("#sparql-error").is_hidden(), page.inner_text("#sparql-error")
    return page.locator("#sparql-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def test_sparql_runs_the_examples_like_kb_query(browser, site) -> None:
    from kb.query.sparql import load_examples

    examples = [e for e in load_examples(site.checked.evidence.config.queries_dir)
                if e.text.lstrip().upper().find("SELECT") != -1]
    assert examples
    with open_page(browser, url(site, "sparql.html"), viewport={"width": 1280, "height": 900}) as page:
        page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
        assert "triples loaded" in page.inner_text("#engine-status")
        for example in examples:
            shown = run_example(page, example.name)
            assert sorted(shown) == sorted(expected_rows(site, example.text)), example.name
        assert page.locator("#download-csv").get_attribute("href").startswith("blob:")
        with page.expect_download() as download:
            page.click("#download-csv")
        lines = Path(download.value.path()).read_text(encoding="utf-8").strip().splitlines()
        assert len(lines) == len(shown) + 1
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "sparql.png"), full_page=False)
        page.fill("#sparql-query", "SELECT ?s WHERE {\n  ?s ?p \n")
        page.click("#sparql-run")
        error = page.locator("#sparql-error")
        error.wait_for(state="visible")
        assert "Syntax error at line 2" in error.inner_text() or "line 3" in error.inner_text()
        page.fill("#sparql-query", "DELETE WHERE { ?s ?p ?o }")
        page.click("#sparql-run")
        assert "read-only" in page.inner_text("#sparql-error")


def test_sparql_page_becomes_ready_and_reports_its_time(browser, site) -> None:
    """The page loads the whole dump and says so; its start-up time is reported, never asserted
    (timings belong to ``python -m bench.sparql_page``)."""
    with open_page(browser, url(site, "sparql.html")) as page:
        page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
        marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
            .filter(m => m.name.startsWith('kb-sparql:')).map(m => [m.name.slice(10), Math.round(m.startTime)]))""")
        triples = int(page.inner_text("#engine-status").split("Ready: ", 1)[1].split(" ", 1)[0])
    lines = [line for line in (site.out_dir / "data" / "kb.nt").read_bytes().splitlines() if line.strip()]
    assert triples == len(lines)
    assert {"start", "engine", "dump-decoded", "loaded", "ready"} <= set(marks), marks
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"corpus": site.corpus, "triples": triples, "ready_ms": marks["ready"], "phases_ms": marks}
    (ARTIFACTS / f"sparql-ready-{site.corpus}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nSPARQL page ready in {marks['ready']} ms ({triples} triples, {site.corpus}): {marks}")


def test_sparql_without_webassembly_explains_kb_query(browser, site) -> None:
    guard = Guard()
    context = browser.new_context()
    context.route("**/*", guard.route)
    context.add_init_script("delete globalThis.WebAssembly;")
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: guard.errors.append(str(e)))
        page.goto(url(site, "sparql.html"))
        assert "kb query" in page.inner_text("#engine-status")
        assert page.locator("#sparql-run").is_disabled()
        guard.check()
    finally:
        context.close()


def test_pages_work_without_javascript(browser, site) -> None:
    with open_page(browser, url(site, "map.html"), java_script_enabled=False) as page:
        assert page.locator("#evmap svg.mk[data-r]").count() + sum(
            int(n) for n in page.locator("#evmap .tally .n").all_inner_texts()) == sum(
            len(r.population) for r in site.analysis.rows)  # a mark in each population row of a finding
        assert page.locator("#map-filters").is_hidden()  # no dead controls
        page.locator("#evmap a.cell-link").first.click()
        page.wait_for_url("**/cells/**")


def test_sparql_works_over_http_from_a_sub_path(browser, site) -> None:
    from kb.site.serve import make_server

    server = make_server(site.out_dir.parent.parent, 0)  # the site is two folders down
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"http://127.0.0.1:{server.server_port}/deep%20path/site/sparql.html"
        with open_page(browser, address) as page:
            page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
            page.fill("#sparql-query", "SELECT (COUNT(*) AS ?n) WHERE { ?c a psk:Claim }")
            page.click("#sparql-run")
            page.wait_for_selector("#sparql-table")
            assert page.inner_text("#sparql-table tbody td") == str(len(site.checked.evidence.claims))
    finally:
        server.shutdown()
        server.server_close()


# --- reference downloads -----------------------------------------------------------------------


def downloaded(page, click) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    """The name and bytes of the file a click saves."""
    with page.expect_download() as info:
        click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def exports(refs) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    from kb.export.bibtex import bibtex_bytes
    from kb.export.csljson import csljson_bytes
    from kb.export.ris import ris_bytes

    return {"ris": ris_bytes(refs), "csljson": csljson_bytes(refs), "bibtex": bibtex_bytes(refs)}


def test_a_claims_works_download_as_ris_csljson_and_bibtex(browser, site) -> None:
    evidence = site.checked.evidence
    claim = max(sorted(evidence.claims, key=lambda c: c.id), key=lambda c: len(set(c.cites)))
    expected = exports([evidence.references_by_key[k] for k in set(claim.cites)])
    with open_page(browser, url(site, f"claims/{claim.id}.html")) as page:
        for fmt, ext in (("ris", "ris"), ("csljson", "json"), ("bibtex", "bib")):
            name, data = downloaded(page, lambda fmt=fmt: page.click(f".ref-download button[data-format={fmt}]"))
            assert name == f"claim-{claim.id}-works.{ext}"
            assert data == expected[fmt], fmt
        assert "saved as BibTeX" in page.inner_text(".ref-download-status")


@contextmanager
def served(site) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The site over HTTP on 127.0.0.1 (Chromium saves <a download> links from file:// pages only
    when they are data: or blob: URLs; a web server is where the file links are used)."""
    from kb.site.serve import make_server

    server = make_server(site.out_dir, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_bibliography_downloads_all_works_or_the_filtered_ones(browser, site) -> None:
    refs = site.checked.evidence.references
    with served(site) as base, open_page(browser, base + "references/index.html") as page:
        for label, name in (("RIS", "references.ris"), ("CSL-JSON", "references.json"), ("BibTeX", "references.bib")):
            saved, data = downloaded(page, lambda label=label: page.click(f".ref-files a:text-is('{label}')"))
            assert saved == name and data == (site.out_dir / "data" / name).read_bytes()
    with open_page(browser, url(site, "references/index.html")) as page:
        _name, data = downloaded(page, lambda: page.click(".ref-download button[data-format=csljson]"))
        assert data == (site.out_dir / "data" / "references.json").read_bytes()
        page.fill("#bibliography-filter", refs[0].key)
        shown = page.locator("#bibliography tbody tr:not([hidden])").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-ref'))")
        assert 1 <= len(shown) < len(refs) or len(refs) == 1
        _name, data = downloaded(page, lambda: page.click(".ref-download button[data-format=ris]"))
        assert data == exports([r for r in refs if r.key in shown])["ris"]


def test_search_results_download_their_works(browser, site) -> None:
    refs = site.checked.evidence.references
    with open_page(browser, url(site, "search.html") + "?q=peer") as page:
        page.wait_for_selector("#search-results li")
        keys = page.locator("#search-results li[data-ref]").evaluate_all(
            "items => items.map(i => i.getAttribute('data-ref'))")
        assert keys
        _name, data = downloaded(page, lambda: page.click(".ref-download button[data-format=bibtex]"))
        assert data == exports([r for r in refs if r.key in keys])["bibtex"]


def test_reference_page_files_and_data_page_links_resolve(browser, site) -> None:
    from kb.export.csljson import item_text, join_items
    from kb.export.formats import DATA_FILES
    from kb.export.ris import ris_record

    ref = site.checked.evidence.references_by_key[site.checked.evidence.claims[0].source]
    with served(site) as base, open_page(browser, base + f"references/{ref.key}.html") as page:
        assert page.locator(".citations dd").count() == 2
        for label, expected in (("RIS", ris_record(ref).encode()), ("CSL-JSON", join_items([item_text(ref)]).encode()),
                                ("BibTeX", ref.raw.rstrip("\n").encode() + b"\n")):
            _name, data = downloaded(page, lambda label=label: page.click(f".ref-files a:text-is('{label}')"))
            assert data == expected, label
        if site.corpus == "real":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "reference.png"), full_page=True)
    with served(site) as base, open_page(browser, base + "data.html") as page:
        links = page.locator("table.data a[download]")
        assert links.count() == len(DATA_FILES)
        for i in range(links.count()):
            if i % 5 == 4:
                page.reload()  # Chromium stops a page's downloads after ten in a row
            name, data = downloaded(page, links.nth(i).click)
            assert data == (site.out_dir / "data" / name).read_bytes(), name
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "data.png"), full_page=True)


# --- accessibility -----------------------------------------------------------------------------


def page_types(site) -> list[str]:
    """One page of every type; on the real corpus, the types whose size grows with the data."""
    ev, rows = site.checked.evidence, site.analysis.rows
    row = rows[0]
    pages = ["index.html", "map.html", "map-interventions.html",
             f"cells/population/{row.population[0]}--{row.outcome}.html", f"claims/{row.claim_id}.html",
             "claims/index.html", f"references/{ev.claims[0].source}.html", "references/index.html",
             f"outcomes/{row.outcome}.html", "outcomes/index.html", f"populations/{row.population[0]}.html",
             "gaps.html", "network.html", "sparql.html", "data.html", "search.html?q=peer", "method.html"]
    if site.corpus == "real":  # every type is covered on the fixture; keep the module fast
        pages = ["map.html", f"claims/{row.claim_id}.html", "gaps.html", "sparql.html"]
    return pages


AXE_RUN = """() => axe.run(document, {resultTypes: ['violations'], preload: false})
  .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target)})))"""


def test_axe_finds_no_serious_violations_on_any_page_type(browser, site) -> None:
    axe = AXE.read_text(encoding="utf-8")
    report = {}
    first, *rest = page_types(site)
    with open_page(browser, url(site, first)) as page:
        for path in [first, *rest]:
            name, _, query = path.partition("?")
            page.goto(url(site, name) + (f"?{query}" if query else ""))
            if name == "sparql.html":
                page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
            page.add_script_tag(content=axe)
            report[path] = page.evaluate(AXE_RUN)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{site.corpus}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    assert not any(report.values()), json.dumps({k: v for k, v in report.items() if v}, indent=1)


def test_chromium_missing_fails_loudly_not_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    """The browser fixture calls pytest.fail (never skip) without Chromium: CI must not pass silently."""
    import inspect

    source = inspect.getsource(browser.__wrapped__ if hasattr(browser, "__wrapped__") else browser)
    assert "pytest.fail" in source and "pytest.skip" not in source
    assert shutil.which("chromium") or CHROMIUM.is_file()


# --- issue 12, item 4: the SPARQL page's CSV download neutralises formulas like kb query ------------------


@pytest.fixture(scope="module")
def evil_site(tmp_path_factory: pytest.TempPathFactory):
    """A site whose evidence carries formulas in a BibTeX title, an author and a claim statement."""
    from tests.test_csv_injection import evil_evidence

    evidence = evil_evidence(tmp_path_factory.mktemp("browser-evil") / "evidence")
    result = build(load_config(evidence, out_dir=evidence.parent / "site"))
    result.corpus = "evil"  # type: ignore[attr-defined]
    return result


def page_csv(page, query: str) -> str:  # type: ignore[no-untyped-def]
    """Run ``query`` on the SPARQL page and return the CSV its download link offers."""
    page.fill("#sparql-query", query)
    page.click("#sparql-run")
    page.wait_for_selector("#sparql-table, #sparql-error:not([hidden])")
    assert page.locator("#sparql-error").is_hidden(), page.inner_text("#sparql-error")
    with page.expect_download() as download:
        page.click("#download-csv")
    return Path(download.value.path()).read_bytes().decode("utf-8")


def test_item4_sparql_page_csv_download_neutralises_formulas_byte_for_byte_as_kb_query(browser, evil_site) -> None:
    from kb.io.tables import write_csv
    from kb.query.sparql import format_results, run_query
    from tests.test_csv_injection import EVIL_STATEMENT, EVIL_TITLE

    store = evil_site.checked.graph.store
    titles = "SELECT ?key ?title WHERE { ?w psk:citekey ?key ; dcterms:title ?title } ORDER BY ?key"
    statements = "SELECT ?id ?statement WHERE { ?c a psk:Claim ; dcterms:identifier ?id ; psk:statement ?statement } ORDER BY ?id"
    values = ["=1+1", "+SUM(A1)", "-A1", "@cmd", "\tx", "\rx", "'quoted", "-0.5", "+3", "1e-3", "plain", "a,\"b\"", ""]
    literal = " ".join('"' + v.replace("\t", "\\t").replace("\r", "\\r").replace('"', '\\"') + '"' for v in values)
    rule = f"SELECT ?v WHERE {{ VALUES ?v {{ {literal} }} }}"
    with open_page(browser, url(evil_site, "sparql.html"), viewport={"width": 1280, "height": 900}) as page:
        page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
        for query in (titles, statements):
            downloaded = page_csv(page, query)
            assert downloaded == bytes(format_results(run_query(store, query), "csv")).decode("utf-8"), query
        assert f'"\'{EVIL_TITLE.replace(chr(34), chr(34) * 2)}"' in page_csv(page, titles)
        assert f"'{EVIL_STATEMENT.split(',')[0].replace(chr(34), chr(34) * 2)}" in page_csv(page, statements)
        assert page_csv(page, rule) == write_csv(["v"], [[v] for v in values], line_end="\r\n")
