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
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

from kb.config import load_config
from kb.io import gz
from kb.pipeline import build
from kb.site.addresses import cell_address, claim_address, claim_page, work_address

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
    """A page's file: URL; a query string (?…) and a fragment (#…) in ``path`` are kept as such."""
    path, hash_, fragment = path.partition("#")
    path, mark, query = path.partition("?")
    return (site.out_dir / path).as_uri() + mark + query + hash_ + fragment


def visible_marks(page, part: str = "td[class*=' o-']") -> int:  # type: ignore[no-untyped-def]
    """Marks not hidden by the filters, plus the counts of aggregated cells, in the map's outcome
    cells (``part``: the domain cells ``td.dom-cell`` and the list ``li.list-cell`` repeat them)."""
    return page.evaluate("""(part) => {
      const marks = [...document.querySelectorAll(part + ' svg.mk[data-r]')].filter(m => !m.hasAttribute('hidden'));
      const counts = [...document.querySelectorAll(part + ' .tally:not([hidden]) .n')].map(n => Number(n.textContent));
      return marks.length + counts.reduce((a, b) => a + b, 0);
    }""", part)


def default_rows(site) -> list:
    """The findings the map shows by default: effects of peer-delivered interventions."""
    return [r for r in site.analysis.rows if r.finding_type == "effect" and r.intervention_kind == "peer_delivered"]


def tick(page, name: str, values: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Tick exactly ``values`` in one of the map's multi-select filters."""
    page.click(f"details[data-filter='{name}'] > summary")
    for box in page.locator(f"input[name='{name}']").all():
        box.set_checked(box.get_attribute("value") in values)
    page.click(f"details[data-filter='{name}'] > summary")


# --- the evidence map --------------------------------------------------------------------------


def test_map_shows_effects_by_default_and_filters_multi_select(browser, site) -> None:
    rows = site.analysis.rows
    shown = default_rows(site)
    with open_page(browser, url(site, "map.html"), viewport={"width": 1366, "height": 768}) as page:
        assert visible_marks(page) == sum(len(r.population) for r in shown)
        assert visible_marks(page, "td.dom-cell") == visible_marks(page)
        assert f"Showing {len(shown)} of {len(rows)} findings" in page.inner_text("#map-status")
        tick(page, "finding_type", [])  # nothing ticked: any kind
        tick(page, "intervention_kind", [])
        assert visible_marks(page) == sum(len(r.population) for r in rows)
        directions = sorted({r.direction for r in rows})[:2]
        tick(page, "direction", directions)
        expected = [r for r in rows if r.direction in directions]
        assert visible_marks(page) == sum(len(r.population) for r in expected)
        assert f"Showing {len(expected)} of {len(rows)} findings" in page.inner_text("#map-status")
        page.check("#filter-compact")
        assert page.locator("#evmap tbody tr:not([hidden])").count() == len({p for r in expected for p in r.population})
        page.click("button[type=reset]")
        assert visible_marks(page) == sum(len(r.population) for r in shown)
        if site.corpus == "real":
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator("#map-wrap").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=False)


def test_map_fits_a_laptop_screen_with_domains_collapsed(browser, site) -> None:
    """Issue 14: at 1366 × 768 the whole map, no inner horizontal scroll; sticky headings; full labels."""
    groups = {c.broader for c in site.checked.evidence.vocabulary.concepts["outcome"].values() if c.broader}
    with open_page(browser, url(site, "map.html"), viewport={"width": 1366, "height": 768}) as page:
        box = page.evaluate("(() => { const s = document.querySelector('.map-scroll'); return [s.scrollWidth, s.clientWidth]; })()")
        assert box[0] <= box[1], f"the map scrolls sideways: {box}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert page.locator("#evmap thead th.dom-head").count() == len(groups)
        assert page.locator("#evmap thead th.outcome:visible").count() == 0
        assert page.evaluate("getComputedStyle(document.querySelector('#evmap thead th')).position") == "sticky"
        assert page.evaluate("getComputedStyle(document.querySelector('#evmap tbody th')).position") == "sticky"
        clipped = page.evaluate("""[...document.querySelectorAll('#evmap thead a, #evmap tbody th a')]
          .filter(a => a.offsetParent && (a.scrollWidth > a.clientWidth + 1 || a.scrollHeight > a.clientHeight + 1)
                       && getComputedStyle(a).display !== 'inline').map(a => a.textContent)""")
        assert not clipped, f"labels cut off: {clipped}"
        titles = page.locator("#evmap thead th.dom-head a").evaluate_all("els => els.map(e => e.title)")
        assert all(titles)
        domain = page.locator("#evmap input.open-domain").first.get_attribute("value")
        page.check(f"#open-{domain}")
        outcomes = page.locator(f"#evmap thead th.o-{domain}")
        assert outcomes.count() and outcomes.first.is_visible()
        assert f"open={domain}" in page.url


def test_map_marks_tell_certainty_apart_and_name_the_statement(browser, site) -> None:
    with open_page(browser, url(site, "map.html")) as page:
        styles = page.evaluate("""['high', 'moderate', 'low', 'very_low'].map(c => {
          const el = document.querySelector('.legend svg.mk.c-' + c);
          const cs = getComputedStyle(el);
          return [cs.getPropertyValue('--mk-mask').trim(), cs.getPropertyValue('--mk-dash').trim(), cs.getPropertyValue('--mk-fill').trim()];
        })""")
        assert len({tuple(s) for s in styles}) == 4, styles  # four different looks, not four shades
        assert styles[3][1] and not styles[2][1]  # very low: dashed outline; low: solid outline, hatched
        assert "⊕⊕◯◯" in page.inner_text(".legend") and "⊕◯◯◯" in page.inner_text(".legend")
        mark = page.locator("#evmap td[class*=' o-'] svg.mk[data-r]").first
        index = int(mark.get_attribute("data-r"))
        title = mark.locator("title").text_content()
        row = site.analysis.rows[index]
        assert row.statement in title and row.claim_id not in title


def test_map_filters_live_in_the_url_survive_a_reload_and_shape_the_csv(browser, site) -> None:
    import csv as csvlib
    import io

    rows = site.analysis.rows
    with open_page(browser, url(site, "map.html"), viewport={"width": 1366, "height": 900}) as page:
        kinds = sorted({r.finding_type for r in rows})
        tick(page, "finding_type", kinds)
        levels = sorted({r.certainty for r in rows})[:2]
        tick(page, "certainty", levels)
        expected = [r for r in rows if r.intervention_kind == "peer_delivered" and r.certainty in levels]
        shown = visible_marks(page)
        assert shown == sum(len(r.population) for r in expected)
        assert "certainty=" in page.url and "finding_type=" in page.url
        caption = page.inner_text("#map-caption")
        assert f"{len(expected)} of {len(rows)} findings" in caption
        counts = page.locator("#evmap tbody .row-count").all_inner_texts()
        assert sum(int(c.strip("()")) for c in counts) == shown
        page.reload()
        assert visible_marks(page) == shown
        assert sorted(page.locator("input[name='certainty']:checked").evaluate_all("els => els.map(e => e.value)")) == levels
        with page.expect_download() as download:
            page.click("#map-csv")
        got = Path(download.value.path()).read_text(encoding="utf-8")
        whole = (site.out_dir / "claims" / "index.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        wanted = {(r.claim_id, r.outcome_label) for r in expected}
        kept = [line for line in whole[1:] if tuple(next(csvlib.reader(io.StringIO(line)))[i] for i in (0, 4)) in wanted]
        assert got == whole[0] + "".join(kept)
        other = page.locator(".view-toggle a").nth(4).get_attribute("href")
        assert "certainty=" in other  # the other maps open with the same view


def test_map_reads_as_a_list_on_a_phone(browser, site) -> None:
    shown = default_rows(site)
    with open_page(browser, url(site, "map.html"), viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        assert page.locator("#map-list").is_visible() and page.locator(".map-scroll").is_hidden()
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        assert visible_marks(page, "li.list-cell") == sum(len(r.population) for r in shown)
        visible = page.locator(".list-row:not([hidden]) h3").all_inner_texts()
        assert len(visible) == len({p for r in shown for p in r.population})
        first = page.locator(".list-row:not([hidden]) .list-cell:not([hidden]) a").first
        assert "finding" in first.inner_text()
        if site.corpus == "real":
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator("#map-list").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "map-phone.png"))
        first.click()
        page.wait_for_url("**/cells/population/*.html#*")


def test_map_status_counts_findings_not_marks_of_claims_with_two_populations(browser, site) -> None:
    """Regression: after a filter, the status counted marks, so a finding with two populations counted twice."""
    rows = site.analysis.rows
    multi = [r for r in rows if len(r.population) > 1]
    if site.corpus == "real":
        assert multi, "the real corpus has claims about two populations (older adults with SMI)"
    with open_page(browser, url(site, "map.html?finding_type=&intervention_kind="), viewport={"width": 1280, "height": 900}) as page:
        tick(page, "certainty", ["low"])
        tick(page, "certainty", [])  # every finding matches again, counted by the script
        assert page.inner_text("#map-status") == f"Showing all {len(rows)} findings."
        if multi:
            tick(page, "intervention", [multi[0].intervention])
            expected = sum(r.intervention == multi[0].intervention for r in rows)
            assert visible_marks(page) > expected
            assert f"Showing {expected} of {len(rows)} findings" in page.inner_text("#map-status")


def test_interventions_map_has_the_same_marks(browser, site) -> None:
    with open_page(browser, url(site, "map-interventions.html")) as page:
        assert visible_marks(page) == len(default_rows(site))


def test_clicking_a_cell_lists_its_claims(browser, site) -> None:
    with open_page(browser, url(site, "map.html?open=all&finding_type=&intervention_kind=")) as page:
        cell = page.locator("#evmap td[class*=' o-'] a.cell-link").first
        described = cell.inner_text()
        cell.click()
        page.wait_for_url("**/cells/population/*.html#*")
        population, outcome = Path(urlsplit(page.url).path).stem, urlsplit(page.url).fragment
        expected = {r.claim_id for r in site.analysis.rows if population in r.population and r.outcome == outcome}
        section = page.locator(f"section[id='{outcome}']")
        assert section.is_visible() and section.locator("h2").inner_text().startswith(
            next(r.outcome_label for r in site.analysis.rows if r.outcome == outcome))
        links = section.locator("table.claims tbody td:first-child a")
        shown = {urlsplit(h).fragment for h in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")}
        assert shown == expected and expected
        assert str(len(expected)) in described


@pytest.fixture(scope="module")
def two_population_site(tmp_path_factory: pytest.TempPathFactory):
    """The fixture with one claim about two populations (older adults with serious mental illness)."""
    evidence = tmp_path_factory.mktemp("two-populations") / "evidence"
    shutil.copytree(FIXTURE, evidence)
    claims = evidence / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text(encoding="utf-8")
    claims.write_text(text.replace("    population: smi\n", "    population: [smi, addiction]\n", 1), encoding="utf-8")
    result = build(load_config(evidence, out_dir=evidence.parent / "site"))
    assert any(len(r.population) == 2 for r in result.analysis.rows)
    return result


def test_map_filters_a_claim_about_two_populations_under_either(browser, two_population_site) -> None:
    """Regression (issue 14): several populations were one filter value ("addiction smi")."""
    site = two_population_site
    rows = site.analysis.rows
    both = next(r for r in rows if len(r.population) == 2)
    with open_page(browser, url(site, "map.html?finding_type=&intervention_kind=")) as page:
        assert visible_marks(page) == sum(len(r.population) for r in rows)
        tick(page, "population", ["addiction"])
        expected = [r for r in rows if "addiction" in r.population]
        assert both in expected
        assert f"Showing {len(expected)} of {len(rows)} findings" in page.inner_text("#map-status")
        marks = page.locator(f"#evmap td[class*=' o-'] svg.mk[data-r='{rows.index(both)}']:not([hidden])")
        assert marks.count() == 2  # in the smi row and in the addiction row
        options = page.locator("input[name='population']").evaluate_all("els => els.map(e => e.value)")
        assert "addiction" in options and not any(" " in o for o in options)


# --- search, tables, keyboard ------------------------------------------------------------------


def test_search_finds_a_known_claim(browser, site) -> None:
    claim = site.checked.evidence.claims[0]
    words = " ".join(claim.statement.split()[:6])
    address = claim_address(claim.id)
    with open_page(browser, url(site, "index.html")) as page:
        page.fill("#_q", words)
        page.press("#_q", "Enter")
        page.wait_for_url("**/search.html?q=*")
        page.wait_for_selector("#search-results li")
        hrefs = page.locator("#search-results a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert address in hrefs
        page.locator(f"#search-results a[href='{address}']").click()
        page.wait_for_url(f"**/{address}")
        assert " ".join(claim.quote.split())[:60] in page.inner_text(f"article[id='{claim.id}'] blockquote")


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
        assert page.evaluate("document.activeElement.id") == "_main"


def test_pages_fit_a_phone_screen(browser, site) -> None:
    claim = site.checked.evidence.claims[0].id
    paths = ("index.html", claim_page(claim), "map.html", "sparql.html")
    with open_page(browser, url(site, paths[0]), viewport={"width": 375, "height": 740}, is_mobile=True) as page:
        for path in paths:
            page.goto(url(site, path))
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"


def test_search_folds_spellings_and_answers_a_question(browser, site) -> None:
    rows = site.analysis.rows
    with open_page(browser, url(site, "search.html?q=hospitalization")) as page:
        page.wait_for_selector("#search-results li")
        hrefs = page.locator("#search-results a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert hrefs[0] == "outcomes/hospitalisation.html"
        about = {claim_address(r.claim_id) for r in rows if r.outcome == "hospitalisation"}
        assert about and about <= set(hrefs)
        stems = page.evaluate("['hospitalization', 'hospitalisation', 'hospitalised', 'admissions', 'admission', "
                              "'behavioral', 'behavioural', 'reduce', 'reduced'].map(kbSearch.stem)")
        assert stems[0] == stems[1] == stems[2] and stems[3] == stems[4] and stems[5] == stems[6] and stems[7] == stems[8]
        page.fill("#q", "does peer support reduce hospital admissions?")
        page.press("#q", "Enter")
        hrefs = page.locator("#search-results a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert hrefs[0] == "outcomes/hospitalisation.html"
        assert about & set(hrefs)
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "search.png"))


def test_gaps_are_ranked_and_the_rest_collapsed(browser, site) -> None:
    with open_page(browser, url(site, "gaps.html"), viewport={"width": 1366, "height": 768}) as page:
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 7000, f"the gaps page is {height}px tall"
        for table in page.locator("table.gaps:visible").all():
            assert table.locator("tbody tr").count() <= 12
        assert page.locator("#other-empty details").count() == 1
        assert not page.locator("#other-empty dl").is_visible()
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "gaps.png"), full_page=True)


def test_network_focuses_on_a_node_and_lists_every_node(browser, site) -> None:
    network = site.analysis.network
    with open_page(browser, url(site, "network.html"), viewport={"width": 1366, "height": 900}) as page:
        listed = page.locator("#net-list tbody tr").count()
        assert listed == page.locator("#net-svg g.node").count() == network.number_of_nodes()
        node = "outcome:hospitalisation" if network.has_node("outcome:hospitalisation") else sorted(network.nodes)[0]
        page.select_option("#net-focus", node)
        neighbours = set(network.predecessors(node)) | set(network.successors(node))
        assert page.locator("#net-svg g.node.is-near").count() == len(neighbours)
        assert page.locator("#net-panel a").count() == len(neighbours) + 1
        assert "#focus=" in page.url
        page.reload()
        assert page.locator("#net-svg g.node.is-focus").get_attribute("data-id") == node
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "network.png"))


def test_browser_csv_neutralises_formulas_like_the_python_writer(browser, site) -> None:
    from kb.io.tables import neutralise

    values = ["=HYPERLINK(\"x\")", "+1", "-0.5", "+3", "@SUM(A1)", "\tx", "\rx", "'quoted", "plain", "", "-", "1e5",
              "-1e-3", ".5", "=1", "a,b", 'say "hi"']
    with open_page(browser, url(site, "index.html")) as page:
        got = page.evaluate("values => values.map(window.kbCsv.neutralise)", values)
    assert got == [neutralise(v) for v in values]


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
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.term || c.textContent))")


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


def test_a_shared_sparql_url_runs_its_query_and_shows_labels(browser, site) -> None:
    """A cell's "open this table as a SPARQL query" link opens the SPARQL page, which runs it."""
    from urllib.parse import quote

    row = site.analysis.rows[0]
    cell = cell_address("population", row.population[0], row.outcome)
    with open_page(browser, url(site, cell), viewport={"width": 1280, "height": 900}) as page:
        section = page.locator(f"section[id='{row.outcome}']")
        claims = section.locator("table.claims tbody tr").count()
        section.locator("a.as-query").click()
        page.wait_for_url(lambda u: "sparql.html#query=" in u)
        page.wait_for_selector("#sparql-table", timeout=60_000)
        assert page.locator("#sparql-table tbody tr").count() == claims
        first = page.locator("#sparql-table tbody tr").first.locator("td").first
        assert first.locator("a").get_attribute("href").startswith("claims/")
        assert first.get_attribute("data-term").startswith("<") and first.inner_text() != first.get_attribute("data-term")
        outcome = page.locator("#sparql-table tbody tr").first.locator("td").nth(1).inner_text()
        assert outcome == row.outcome_label
        query = "CONSTRUCT { ?c dcterms:identifier ?id } WHERE { ?c a psk:Claim ; dcterms:identifier ?id }"
        page.goto(url(site, "sparql.html") + "#query=" + quote(query))
        page.wait_for_selector("#sparql-turtle", timeout=60_000)
        assert page.input_value("#sparql-query") == query
        assert page.inner_text("#sparql-turtle").startswith("@prefix dcterms:")
        with page.expect_download() as download:
            page.click("#download-csv")
        assert download.value.suggested_filename == "results.ttl"
        turtle = Path(download.value.path()).read_text(encoding="utf-8")
        assert turtle.count("dcterms:identifier") == len(site.checked.evidence.claims)
        page.fill("#sparql-query", "SELECT (COUNT(*) AS ?n) WHERE { ?c a psk:Claim }")
        page.click("#sparql-run")
        assert "SELECT%20(COUNT" in page.url or "SELECT%20%28COUNT" in page.url
        assert page.locator("#share-query").is_visible()


def test_sparql_page_becomes_ready_and_reports_its_time(browser, site) -> None:
    """The page loads the whole dump and says so; its start-up time is reported, never asserted
    (timings belong to ``python -m bench.sparql_page``)."""
    with open_page(browser, url(site, "sparql.html")) as page:
        page.wait_for_selector("html[data-sparql-ready]", timeout=60_000)
        marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
            .filter(m => m.name.startsWith('kb-sparql:')).map(m => [m.name.slice(10), Math.round(m.startTime)]))""")
        triples = int(page.inner_text("#engine-status").split("Ready: ", 1)[1].split(" ", 1)[0])
    lines = [line for line in gz.read(site.out_dir / "data" / "kb.nt.gz").splitlines() if line.strip()]
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
        assert visible_marks(page) == sum(len(r.population) for r in site.analysis.rows)  # every finding
        assert page.locator("#map-filters").is_hidden()  # no dead controls
        domain = page.locator("#evmap td.dom-cell:not(.empty)").first.get_attribute("data-key")
        page.check(f"#open-{domain}")  # opening a domain is CSS, not script
        page.locator(f"#evmap td.o-{domain} a.cell-link").first.click()
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
    with open_page(browser, url(site, claim_address(claim.id))) as page:
        article = page.locator(f"article[id='{claim.id}']")
        for fmt, ext in (("ris", "ris"), ("csljson", "json"), ("bibtex", "bib")):
            name, data = downloaded(page, lambda fmt=fmt: article.locator(f".ref-download button[data-format={fmt}]").click())
            assert name == f"claim-{claim.id}-works.{ext}"
            assert data == expected[fmt], fmt
        assert "saved as BibTeX" in article.locator(".ref-download-status").inner_text()


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
        for label, name in (("RIS", "references.ris.gz"), ("CSL-JSON", "references.json.gz"),
                            ("BibTeX", "references.bib.gz")):
            saved, data = downloaded(page, lambda label=label: page.click(f".ref-files a:text-is('{label}')"))
            assert saved == name and data == (site.out_dir / "data" / name).read_bytes()
    with open_page(browser, url(site, "references/index.html")) as page:
        _name, data = downloaded(page, lambda: page.click(".ref-download button[data-format=csljson]"))
        assert data == gz.read(site.out_dir / "data" / "references.json.gz")
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
    from kb.export.bibtex import entry_text
    from kb.export.csljson import item_text, join_items
    from kb.export.formats import data_files
    from kb.export.ris import ris_record

    ref = site.checked.evidence.references_by_key[site.checked.evidence.claims[0].source]
    with served(site) as base, open_page(browser, base + work_address(ref.key)) as page:
        entry = page.locator(f"article[id='{ref.key}']")
        assert entry.locator(".citations dd").count() == 2
        for fmt, ext, expected in (("ris", "ris", ris_record(ref).encode()),
                                   ("csljson", "json", join_items([item_text(ref)]).encode()),
                                   ("bibtex", "bib", entry_text(ref).encode())):
            name, data = downloaded(page, lambda fmt=fmt: entry.locator(f"button[data-format={fmt}]").click())
            assert (name, data) == (f"{ref.key}.{ext}", expected), fmt
        if site.corpus == "real":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "reference.png"), full_page=True)
    with served(site) as base, open_page(browser, base + "data.html") as page:
        links = page.locator("table.data a[download]")
        assert links.count() == len(data_files(site.checked.evidence))
        for i in range(links.count()):
            if i % 5 == 4:
                page.reload()  # Chromium stops a page's downloads after ten in a row
            href = links.nth(i).get_attribute("href")
            name, data = downloaded(page, links.nth(i).click)
            assert data == (site.out_dir / href).read_bytes(), href
            assert name == PurePosixPath(href).name or "releases/" in href, (name, href)  # a release: kb-NAME.nt.gz
        assert len({links.nth(i).get_attribute("download") for i in range(links.count())}) == links.count()
        if site.corpus == "real":
            page.screenshot(path=str(ARTIFACTS / "data.png"), full_page=True)


# --- accessibility -----------------------------------------------------------------------------


def page_types(site) -> list[str]:
    """One page of every type; on the real corpus, the types whose size grows with the data."""
    ev, rows = site.checked.evidence, site.analysis.rows
    row = rows[0]
    pages = ["index.html", "map.html", "map.html?open=all&finding_type=", "map-interventions.html",
             cell_address("population", row.population[0], row.outcome), claim_address(row.claim_id),
             "claims/index.html", work_address(ev.claims[0].source), "references/index.html",
             f"outcomes/{row.outcome}.html", "outcomes/index.html", f"populations/{row.population[0]}.html",
             "gaps.html", "network.html", "sparql.html", "data.html", "search.html?q=peer", "method.html",
             "whatsnew.html"]
    if site.corpus == "real":  # every type is covered on the fixture; keep the module fast
        pages = ["map.html", "map.html?open=all&view=list", claim_address(row.claim_id), "gaps.html", "sparql.html",
                 "network.html#focus=outcome%3Ahospitalisation", "search.html?q=hospitalization", "method.html"]
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
            name = path.partition("#")[0].partition("?")[0]
            page.goto(url(site, path))
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


# --- the URL scheme in the browser (issue 17) ---------------------------------------------------


def test_resolve_page_computes_every_address_as_python_does(browser, site) -> None:
    """resolve.js is the URL scheme's second implementation: same buckets, same pages, from any IRI."""
    from kb.site.addresses import bucket
    from kb.site.views import Resolver

    ids = [f"claim-{n}" for n in range(300)] + ["", "a", "foobar", "Smith:2020+x", "ünïcode-ß", "日本"]
    ev = site.checked.evidence
    with open_page(browser, url(site, "resolve.html")) as page:
        assert page.evaluate("ids => ids.map(kbAddress.bucket)", ids) == [bucket(i) for i in ids]
        config = json.loads(page.get_attribute("#resolve-form", "data-config"))
        res = Resolver(ev, site.analysis)
        iris = [(ev.config.base_iri + f"claim/{c.id}", res.claim_path(c.id)) for c in ev.claims]
        iris += [(ev.config.base_iri + f"work/{r.key}", res.ref_path(r.key)) for r in ev.references]
        iris += [(concept.iri, res.concept_path(scheme, concept.id)) for scheme, concepts in ev.vocabulary.concepts.items()
                 for concept in concepts.values()]
        got = page.evaluate("([iris, config]) => iris.map(i => kbAddress.address(i, config))", [[i for i, _ in iris], config])
        assert got == [path for _, path in iris]
    claim, ref = ev.claims[0], ev.references[-1]
    for asked, wanted in ((f"claim/{claim.id}", res.claim_path(claim.id)),
                          (ev.config.base_iri + f"work/{ref.key}", res.ref_path(ref.key))):
        with open_page(browser, url(site, "resolve.html") + "#" + asked) as page:
            page.wait_for_url(f"**/{wanted}")
            assert page.locator(f"article[id='{wanted.split('#')[1]}']").is_visible()
