"""Summaries of findings, overlap and headlines in a real browser (Debian's Chromium, headless).

Uses the harness of tests/test_browser.py: every page must log no console error and request
nothing outside the site. Built from the fictional overlap fixture (two reviews sharing trials),
the fixture and the real corpus; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json

import pytest

from kb.config import load_config
from kb.pipeline import build
from tests.conftest import DATA, FIXTURE, REAL
from tests.test_browser import ARTIFACTS, AXE, AXE_RUN, browser, open_page, url  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.browser

QUESTION = "summaries/questions/smi--peer_support_services.html"
DOMAIN = "summaries/domains/service_use.html"
CELL = "cells/population/smi.html#hospitalisation"  # a map cell: an anchor on its row's page
CORPORA = {"overlap": DATA / "overlap", "fixture": FIXTURE, "real": REAL}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each corpus built once, inside a sub-folder with a space (the site must work from any path)."""
    return {name: build(load_config(folder, out_dir=tmp_path_factory.mktemp(f"answers-{name}") / "deep path" / "site"))
            for name, folder in CORPORA.items()}


def test_sof_rows_show_the_statement_first_and_open_layer_by_layer(browser, sites) -> None:  # noqa: F811
    site = sites["overlap"]
    for js in (True, False):
        with open_page(browser, url(site, QUESTION), viewport={"width": 1366, "height": 900},
                       java_script_enabled=js) as page:
            row = page.locator("#sof-effects tr.sof-row", has=page.locator("a[href$='outcomes/hospitalisation.html']"))
            assert row.locator(".sof-statement").is_visible()
            assert "likely result in little to no difference in hospitalisation" in row.locator(".sof-statement").inner_text()
            claims = row.locator("details.layer").nth(0)
            first_claim = claims.locator("a[href*='claims/']").first
            assert not first_claim.is_visible()  # closed until asked for
            claims.locator("summary").click()
            assert first_claim.is_visible()
            quotes = row.locator("details.layer").nth(1)
            quotes.locator("summary").click()
            assert "made no difference to hospital admissions" in quotes.locator("blockquote").first.inner_text()
            studies = row.locator("details.layer").nth(2)
            studies.locator("summary").click()
            kinds = studies.locator(".kind-tag").all_inner_texts()
            assert [k.lower() for k in kinds].count("review") == 2 and [k.lower() for k in kinds].count("primary study") == 5
            footnote = row.locator("td.sof-c sup a").first
            footnote.click()
            assert page.url.endswith("#fn-" + footnote.inner_text())
            assert page.locator(f"#fn-{footnote.inner_text()}").is_visible()


def test_overlap_is_shown_on_a_cell_whose_reviews_share_trials(browser, sites) -> None:  # noqa: F811
    site = sites["overlap"]
    with open_page(browser, url(site, CELL), viewport={"width": 1366, "height": 900}) as page:
        cell = page.locator("section[id='hospitalisation']")
        assert "2 reviews (overlap very high, CCA 50 %), 6 unique studies" in cell.locator(".evidence-count").inner_text()
        pairs = page.locator("[id='_hospitalisation.evidence-pairs']")
        assert pairs.is_visible()
        cells = pairs.locator("tbody td").all_inner_texts()
        assert cells.count("50 %") == 2 and cells.count("—") == 2
        matrix = page.locator("[id='_hospitalisation.evidence-matrix']")
        assert not matrix.is_visible()
        page.locator("[id='_hospitalisation.evidence-overlap'] details summary").click()
        assert matrix.is_visible() and matrix.locator("td.cm-in").count() == 6
        ARTIFACTS.mkdir(exist_ok=True)
        cell.locator(".evidence-base").screenshot(path=str(ARTIFACTS / "overlap-cell.png"))


def test_the_hospitalisation_page_leads_to_its_domain(browser, sites) -> None:  # noqa: F811
    for name in ("overlap", "real"):
        site = sites[name]
        with open_page(browser, url(site, "outcomes/hospitalisation.html")) as page:
            nav = page.locator("nav.domain-nav")
            for outcome in ("readmission", "hospital_days", "emergency_visits"):
                assert nav.locator(f"a[href='{outcome}.html']").is_visible(), (name, outcome)
            nav.locator("a[href$='summaries/domains/service_use.html']").click()
            page.wait_for_url("**/summaries/domains/service_use.html")
            assert page.locator("#sof-effects").is_visible()
            assert page.locator("#sof-effects tr.sof-group", has_text="Hospitalisation").count() == 1


def test_the_citation_matrix_opens_as_a_query_that_gives_its_inclusions(browser, sites) -> None:  # noqa: F811
    site = sites["overlap"]
    with open_page(browser, url(site, CELL), viewport={"width": 1366, "height": 900}) as page:
        overlap = page.locator("[id='_hospitalisation.evidence-overlap']")
        overlap.locator("details summary").click()
        included = page.locator("[id='_hospitalisation.evidence-matrix'] td.cm-in").count()
        overlap.locator("a.as-query").click()
        page.wait_for_url(lambda u: "sparql.html#query=" in u)
        page.wait_for_selector("#sparql-table", timeout=60_000)
        assert page.locator("#sparql-table tbody tr").count() == included == 6


def test_home_headlines_hold_the_null_finding(browser, sites) -> None:  # noqa: F811
    site = sites["fixture"]
    with open_page(browser, url(site, "index.html")) as page:
        items = page.locator("section[aria-labelledby=headlines-h] .summary-list li")
        texts = items.all_inner_texts()
        assert any("little or no difference to hospitalisation" in t for t in texts)
        assert page.locator("section[aria-labelledby=headlines-h] svg.d-no_effect").count() >= 1
        assert "whatever the direction" in page.inner_text(".headline-rule")


@pytest.mark.parametrize("width", [1366, 390])
def test_summary_pages_fit_the_screen_and_are_photographed(browser, sites, width: int) -> None:  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    shots = [("overlap", QUESTION, "sof-question"), ("overlap", DOMAIN, "sof-domain"),
             ("real", DOMAIN, "sof-domain-real"), ("real", "summaries/index.html", "summaries-index-real")]
    for name, path, shot in shots:
        with open_page(browser, url(sites[name], path), viewport={"width": width, "height": 900},
                       is_mobile=width < 500) as page:
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} {path} is {overflow}px wider than {width}px"
            page.screenshot(path=str(ARTIFACTS / f"{shot}-{width}.png"), full_page=True)


def test_axe_finds_no_serious_violations_on_the_new_page_types(browser, sites) -> None:  # noqa: F811
    axe = AXE.read_text(encoding="utf-8")
    report = {}
    pages = {"overlap": [QUESTION, DOMAIN, "summaries/index.html", "summaries/questions/smi--supportive_text_messages.html",
                         CELL, "outcomes/hospitalisation.html",
                         "populations/smi.html", "outcomes/index.html", "index.html"],
             "real": [DOMAIN, "summaries/index.html", "index.html", "outcomes/hospitalisation.html"]}
    for name, paths in pages.items():
        for width in (1366, 390):
            with open_page(browser, url(sites[name], paths[0]), viewport={"width": width, "height": 900}) as page:
                for path in paths:
                    page.goto(url(sites[name], path))
                    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                    page.add_script_tag(content=axe)
                    report[f"{name}:{width}:{path}"] = page.evaluate(AXE_RUN)
    ARTIFACTS.mkdir(exist_ok=True)  # this test may be the first to write there (a fresh clone, xdist's order)
    (ARTIFACTS / "axe-summaries.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    assert not any(report.values()), json.dumps({k: v for k, v in report.items() if v}, indent=1)


def test_a_question_links_the_reading_guide_which_opens(browser, sites) -> None:  # noqa: F811
    """Regression (issue 17): the guide was 1.3 KB on each of thousands of question pages; a question
    links it on the summaries' index, where it opens at the link (with or without JavaScript)."""
    for js in (True, False):
        with open_page(browser, url(sites["overlap"], QUESTION), java_script_enabled=js) as page:
            assert page.locator("details.how-to-read").count() == 0
            page.click("p.how-to-read a")
            page.wait_for_url("**/summaries/index.html#how-to-read")
            assert page.evaluate("document.querySelector('details.how-to-read').open")
            assert page.locator("#how-to-read").is_visible()
