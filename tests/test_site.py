"""The static site: build, determinism, escaping, HTML5 validity, links, manifest and file counts.

The site is built once per module from the fixture evidence (and once from the real corpus) with
the same pipeline `kb build` runs; every test reads those files as a browser or a crawler would.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest

from kb.config import ConfigError, load_config
from kb.export.dumps import gzip_members
from kb.io import gz
from kb.pipeline import build

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "evidence"
REAL = ROOT / "evidence"
PAGE_TYPES = ["index.html", "map.html", "map-interventions.html", "claims/index.html", "references/index.html",
              "outcomes/index.html", "populations/index.html", "interventions/index.html", "gaps.html",
              "network.html", "sparql.html", "data.html", "search.html", "method.html"]


def build_site(evidence: Path, out: Path):
    return build(load_config(evidence, out_dir=out))


def real_corpus_ready() -> bool:
    return any((REAL / "claims").glob("*.yaml")) and (REAL / "vocab").is_dir()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("site") / "site"
    return build_site(FIXTURE, out)


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory):
    if not real_corpus_ready():
        pytest.skip("the real corpus has no claims yet")
    out = tmp_path_factory.mktemp("real") / "site"
    return build_site(REAL, out)


def html_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def parse(path: Path):
    """The page's tree, parsed once per test module, strictly: any HTML5 parse error fails."""
    return _parse(str(path))


@functools.cache
def _parse(path: str):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        return parser.parse(Path(path).read_bytes())
    except html5lib.html5parser.ParseError as exc:
        pytest.fail(f"{path}: not valid HTML5: {exc} {parser.errors[:1]}")


def local(element) -> str:
    """The tag without its namespace (html5lib puts SVG elements in the SVG namespace)."""
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def elements(tree, name: str) -> list:
    return [e for e in tree.iter() if local(e) == name]


# --- build and manifest ------------------------------------------------------------------------


def test_every_page_type_is_built(site) -> None:
    for page in PAGE_TYPES:
        assert (site.out_dir / page).is_file(), page


def test_manifest_lists_every_file_on_disk(site) -> None:
    on_disk = sorted(p for p in site.out_dir.rglob("*") if p.is_file())
    assert sorted(site.files) == on_disk


def anchors_of(path: Path) -> set[str]:
    return {e.get("id") for e in parse(path).iter() if e.get("id")}


def test_every_claim_work_concept_and_cell_has_its_address(site) -> None:
    """Claims and works on the bucket pages of their ids, concepts on their pages, cells on their row's page."""
    from kb.site import addresses

    ev, analysis, out = site.checked.evidence, site.analysis, site.out_dir
    for claim in ev.claims:
        page, _, anchor = addresses.claim_address(claim.id).partition("#")
        assert anchor == claim.id and anchor in anchors_of(out / page), claim.id
    for ref in ev.references:
        page, _, anchor = addresses.work_address(ref.key).partition("#")
        assert anchor == ref.key and anchor in anchors_of(out / page), ref.key
    assert len(list((out / "claims").glob("*.html"))) == len({addresses.bucket(c.id) for c in ev.claims}) + 1
    assert len(list((out / "references").glob("*.html"))) == len({addresses.bucket(r.key) for r in ev.references}) + 1
    assert not list((out / "references").glob("*.bib")) and list((out / "claims").glob("*.csv")) == \
        [out / "claims" / "index.csv"]  # no file per work or claim besides its page
    for scheme, folder in (("population", "populations"), ("intervention", "interventions"), ("outcome", "outcomes")):
        assert len(list((out / folder).glob("*.html"))) == len(ev.vocabulary.ids(scheme)) + 1
    for axis in ("population", "setting", "delivery", "perspective", "intervention"):
        cells = {(value, r.outcome) for r in analysis.rows for value in r.values(axis)}
        assert len(list((out / "cells" / axis).glob("*.html"))) == len({row for row, _ in cells})
        for row, outcome in cells:
            assert outcome in anchors_of(out / "cells" / axis / f"{row}.html"), (axis, row, outcome)


def test_record_anchors_never_clash_with_a_pages_own_ids(site) -> None:
    """On a record page every id is a record's anchor or starts with "_", which no identifier can."""
    from kb.ids import CITEKEY_RE, CLAIM_ID_RE, CONCEPT_ID_RE

    out = site.out_dir
    for folder, pattern in (("claims", CLAIM_ID_RE), ("references", CITEKEY_RE), ("cells/population", CONCEPT_ID_RE)):
        for page in (out / folder).glob("*.html"):
            if page.name == "index.html":
                continue
            ids = anchors_of(page)
            records = {i for i in ids if not i.startswith("_")}
            assert records and all(pattern.match(i) for i in records), (page, records)
            assert not any(pattern.match(i) for i in ids - records), page


def test_a_new_claim_moves_no_other(evidence_folder: Path, tmp_path: Path) -> None:
    """The URL scheme's promise: adding claims and works leaves every existing address where it was."""
    from kb.site import addresses

    before = build_site(evidence_folder, tmp_path / "before")
    claims = evidence_folder / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text(encoding="utf-8")
    first = text.index("  - id: ")
    block = text[first:text.index("  - id: ", first + 1)]
    extra = "".join(block.replace(block.split("\n", 1)[0], f"  - id: added-claim-{n}", 1) for n in range(40))
    claims.write_text(text + extra, encoding="utf-8")
    after = build_site(evidence_folder, tmp_path / "after")
    assert len(after.checked.evidence.claims) == len(before.checked.evidence.claims) + 40
    for claim in before.checked.evidence.claims:
        page, _, anchor = addresses.claim_address(claim.id).partition("#")
        assert anchor in anchors_of(after.out_dir / page), claim.id
    for ref in before.checked.evidence.references:
        page, _, anchor = addresses.work_address(ref.key).partition("#")
        assert anchor in anchors_of(after.out_dir / page), ref.key


def test_every_table_page_offers_its_rows_as_csv(site) -> None:
    out = site.out_dir
    for page in html_files(out):
        if page.name == "data.html":  # its table lists the downloads themselves
            continue
        if page.parent.name in ("claims", "references") and page.name != "index.html":
            assert 'href="../data/claims.csv.gz"' in page.read_text(encoding="utf-8") or page.parent.name == "references"
            continue  # record pages: a claim's findings are rows of data/claims.csv.gz, not a table of their own
        tables = [t for t in elements(parse(page), "table") if "data" in (t.get("class") or "").split()]
        if tables:
            assert page.with_suffix(".csv").is_file(), page
    header = (out / "claims" / "index.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("claim_id,statement,population")
    assert len((out / "claims" / "index.csv").read_text(encoding="utf-8").strip().splitlines()) == \
        len(site.analysis.rows) + 1


def map_marks(tree, part: str = "outcome") -> tuple[list, list[int]]:
    """The marks and the tally counts of one part of a map page: its outcome cells, its domain
    cells or its list view (each shows every finding once per row it belongs to)."""
    def wanted(element) -> bool:
        classes = (element.get("class") or "").split()
        if part == "outcome":
            return local(element) == "td" and any(c.startswith("o-") for c in classes)
        if part == "domain":
            return local(element) == "td" and "dom-cell" in classes
        return local(element) == "li" and "list-cell" in classes

    marks, counts = [], []
    for cell in (e for e in tree.iter() if wanted(e)):
        for e in cell.iter():
            if local(e) == "svg" and e.get("data-r") is not None:
                marks.append(e)
            elif local(e) == "span" and e.get("class") == "n":
                counts.append(int(e.text))
    return marks, counts


def test_map_draws_one_mark_per_claim_outcome(site) -> None:
    rows = site.analysis.rows
    for page, axis in (("map.html", "population"), ("map-interventions.html", "intervention")):
        tree = parse(site.out_dir / page)
        expected = sum(len(r.values(axis)) for r in rows)
        for part in ("outcome", "domain", "list"):
            marks, counts = map_marks(tree, part)
            assert len(marks) + sum(counts) == expected, (page, part)
        marks, _ = map_marks(tree, "outcome")
        assert sorted({int(m.get("data-r")) for m in marks}) == list(range(len(rows)))


def test_crowded_cells_aggregate_into_counts(site, tmp_path: Path) -> None:
    from kb.site import render_site

    files = render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path), threshold=0).files
    page = next(f for f in files if f.name == "map.html")
    tree = parse(page)
    for part in ("outcome", "domain", "list"):
        marks, counts = map_marks(tree, part)
        assert counts and not marks, "a cell with more findings than the threshold shows counts"
        assert sum(counts) == sum(len(r.population) for r in site.analysis.rows)


def test_render_workers_leave_when_their_pages_are_done_not_when_the_build_is(site, tmp_path: Path) -> None:
    """The workers render the record pages while this process writes ``data/``; a worker that is done
    must not sit on its copy of the parent's memory (~1 GB at 50,000 claims) until ``data/`` is written."""
    import multiprocessing
    import time

    from kb.site import render_site

    seen: list[int] = []

    def alongside() -> None:  # the pipeline writes data/ here; this waits for the workers instead
        deadline = time.monotonic() + 60
        while (alive := multiprocessing.active_children()) and time.monotonic() < deadline:
            seen.append(len(alive))
            time.sleep(0.05)
        seen.append(len(multiprocessing.active_children()))

    # jobs counts this process: three processes are two workers
    render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path), jobs=3,
                alongside=alongside)
    assert max(seen) == 2, "the record pages were not rendered by two workers"
    assert seen[-1] == 0, "the workers were still alive after their groups were rendered"


def test_the_main_process_renders_the_groups_no_worker_has_begun_and_the_site_is_the_same(
        site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once data/ is written the main process takes the last groups of the workers' schedule rather than wait (never
    the first, which the workers begin with: the longest after an edit); whoever renders a group, the files are the
    same (compared with one process rendering them all)."""
    import os
    import time

    import kb.site
    from kb.site import render_site

    groups = kb.site._groups()
    parent, here = os.getpid(), []

    def slow_in_workers(name, render):
        def group(job, out) -> None:
            if os.getpid() != parent:
                time.sleep(0.4)  # workers are busy: the main process, done with its own work, takes groups
            else:
                here.append(name)
            render(job, out)
        return group

    alone = render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path / "a"),
                        jobs=1)
    monkeypatch.setattr(kb.site, "_groups", lambda: {name: slow_in_workers(name, f) for name, f in groups.items()})
    shared = render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path / "b"),
                         jobs=2)
    assert 0 < len(here) < len(groups)
    scheduled = [list(groups)[i] for i in kb.site._schedule(list(groups))]
    assert scheduled[0] == "summaries" and here[0] == scheduled[-1] and "summaries" not in here
    assert sorted(shared.fingerprints) == sorted(alone.fingerprints)
    different = [p for p in alone.fingerprints
                 if (tmp_path / "a" / "staging" / p).read_bytes() != (tmp_path / "b" / "staging" / p).read_bytes()]
    assert not different


def _staging(site, tmp_path: Path) -> Path:
    target = tmp_path / "staging"
    shutil.copytree(site.out_dir / "data", target / "data")
    return target


def test_home_shows_the_date_of_the_data_not_the_clock(site) -> None:
    updated = str(site.checked.evidence.config.extra["updated"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", updated)
    assert f'<time datetime="{updated}">' in (site.out_dir / "index.html").read_text(encoding="utf-8")


def test_a_malformed_updated_date_fails_the_build(evidence_folder: Path, tmp_path: Path) -> None:
    toml = evidence_folder / "kb.toml"
    toml.write_text(re.sub(r'updated = "[^"]*"', 'updated = "last spring"', toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kb\.toml:\d+:\d+: config-type \[updated\] updated = 'last spring'; "
                       "expected a date such as"):  # with the settings, before anything is read or written
        build_site(evidence_folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_oxigraph_fails_with_a_clear_message(site, tmp_path: Path) -> None:
    from kb.site import SiteError, render_site

    with pytest.raises(SiteError, match=r"install\.sh"):
        render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path), node_modules=tmp_path / "nowhere")


def test_the_oxigraph_scripts_are_made_again_when_its_files_change(tmp_path: Path) -> None:
    """A long-running process makes the Oxigraph scripts once (compressing the wasm is ~0.3 s of every rebuild): the
    same files give the same scripts, and a changed wasm gives new ones, never the last ones."""
    import base64
    import gzip
    import shutil

    from kb.site import assets

    shutil.copytree(assets.find_node_modules() / "oxigraph", tmp_path / "oxigraph")
    first = assets.oxigraph_scripts(tmp_path)
    assert assets.oxigraph_scripts(tmp_path) == first
    wasm = tmp_path / "oxigraph" / "web_bg.wasm"
    wasm.write_bytes(wasm.read_bytes() + b"\0changed")
    second = assets.oxigraph_scripts(tmp_path)
    payload = second[1].content.decode("ascii").split('"')[1]
    assert gzip.decompress(base64.b64decode(payload)) == wasm.read_bytes()
    assert second[0] == first[0] and second[1] != first[1]


def test_the_oxigraph_scripts_made_ahead_are_the_ones_the_site_takes(tmp_path: Path) -> None:
    """kb build makes the scripts while the graph is parsed: the site then finds them made; made ahead from a missing
    folder, nothing is raised there (the site says why)."""
    import shutil

    from kb.site import assets

    shutil.copytree(assets.find_node_modules() / "oxigraph", tmp_path / "oxigraph")
    assets.oxigraph_scripts_ahead(tmp_path / "nowhere")
    assets.oxigraph_scripts_ahead(tmp_path)
    made = assets._oxigraph_scripts.cache_info()
    assets.oxigraph_scripts(tmp_path)
    assert assets._oxigraph_scripts.cache_info().hits == made.hits + 1


def test_the_oxigraph_wasm_script_is_kept_between_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compressing the wasm was ~0.5 s of every fresh kb build: its script is kept in the cache folder. The next
    process reads it without compressing; a changed wasm is compressed again and the old file removed; a cache
    that cannot be written changes nothing but the time."""
    import shutil

    from kb.site import assets

    shutil.copytree(assets.find_node_modules() / "oxigraph", tmp_path / "oxigraph")
    cache = tmp_path / "cache" / "assets"
    assets._oxigraph_scripts.cache_clear()
    first = assets.oxigraph_scripts(tmp_path, cache)
    assert first == assets.oxigraph_scripts(tmp_path)  # the same bytes as with no cache
    kept = sorted(cache.iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == first[1].content

    assets._oxigraph_scripts.cache_clear()  # as in a new process
    with monkeypatch.context() as patched:
        patched.setattr(assets.gzip, "compress", lambda *a, **k: pytest.fail("compressed again"))
        assert assets.oxigraph_scripts(tmp_path, cache) == first

    wasm = tmp_path / "oxigraph" / "web_bg.wasm"
    wasm.write_bytes(wasm.read_bytes() + b"\0changed")
    second = assets.oxigraph_scripts(tmp_path, cache)
    assert second[1] != first[1]
    assert [p.read_bytes() for p in cache.iterdir()] == [second[1].content]

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert assets.oxigraph_scripts(tmp_path, blocked / "assets") == second


def test_compiled_templates_are_kept_and_follow_their_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process of a build compiled the templates it renders; their compiled code is kept in the cache folder.
    A second environment reads it without compiling; an edited template is compiled again; files another version of
    the code kept are removed; a cache that cannot be written changes nothing but the time."""
    import jinja2

    from kb.site.render import environment

    templates, cache = tmp_path / "templates", tmp_path / "cache"
    templates.mkdir()
    cache.mkdir()
    (templates / "a.html").write_text("one {{ x }}", encoding="utf-8")
    (cache / "0123456789abcdef-old.jinja").write_bytes(b"kept by other code")
    assert environment(templates, cache).get_template("a.html").render(x=1) == "one 1"
    assert len(list(cache.glob("*.jinja"))) == 1
    assert not (cache / "0123456789abcdef-old.jinja").exists()

    compiled = []
    compile_ = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(a) or compile_(self, *a, **k))
    assert environment(templates, cache).get_template("a.html").render(x=2) == "one 2"
    assert compiled == []
    (templates / "a.html").write_text("two {{ x }}", encoding="utf-8")
    assert environment(templates, cache).get_template("a.html").render(x=3) == "two 3"
    assert len(compiled) == 1

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    assert environment(templates, blocked).get_template("a.html").render(x=4) == "two 4"


def test_oxigraph_is_rewritten_as_a_classic_script(site) -> None:
    glue = (site.out_dir / "assets" / "oxigraph.js").read_text(encoding="utf-8")
    assert "import.meta" not in glue
    assert not re.search(r"^\s*(export|import)\b", glue, re.MULTILINE)
    assert "globalThis.oxigraph" in glue
    dump = (site.out_dir / "data" / "kb.nt.js").read_text(encoding="ascii")
    assert dump.startswith("/* data/kb.ttl, raw deflate, base64 */\nglobalThis.KB_DUMP_DEFLATE = \"")


def test_the_sparql_pages_copy_is_the_turtle_dump_as_one_raw_deflate_stream(site) -> None:
    """Pieces kept between builds, joined: one stream that a raw-deflate reader reads whole, to the last byte."""
    import base64
    import zlib

    script = (site.out_dir / "data" / "kb.nt.js").read_bytes()
    payload = base64.b64decode(re.search(rb'KB_DUMP_DEFLATE = "([^"]+)"', script).group(1))
    unpack = zlib.decompressobj(-15)
    assert unpack.decompress(payload) == gz.read(site.out_dir / "data" / "kb.ttl.gz")
    assert unpack.eof and not unpack.unused_data
    assert len(gzip_members((site.out_dir / "data" / "kb.ttl.gz").read_bytes())) > 1  # pieces, not one


# --- determinism -------------------------------------------------------------------------------


def test_two_builds_are_byte_identical(site, tmp_path: Path) -> None:
    again = build_site(FIXTURE, tmp_path / "elsewhere" / "other-name")
    first = {p.relative_to(site.out_dir): p.read_bytes() for p in site.files}
    second = {p.relative_to(again.out_dir): p.read_bytes() for p in again.files}
    assert sorted(first) == sorted(second)
    different = [str(p) for p in first if first[p] != second[p]]
    assert not different, f"files differ between builds: {different[:10]}"


def test_source_date_epoch_sets_file_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = build_site(FIXTURE, tmp_path / "site")
    pages = [f for f in result.files if f.suffix == ".html"]
    assert pages and all(int(os.stat(f).st_mtime) == 1700000000 for f in pages)


# --- escaping and URLs (BAD_INPUTS #35, #36) ---------------------------------------------------

XSS_TITLE = "<script>alert(1)</script> and {{ 7*7 }}"
XSS_STATEMENT = "Peer support <img src=x onerror=alert(1)> helps {{ 7*7 }} people."


@pytest.fixture
def evidence_folder(tmp_path: Path) -> Path:
    target = tmp_path / "evidence"
    shutil.copytree(FIXTURE, target)
    return target


def test_text_from_bibtex_and_claims_is_escaped(evidence_folder: Path, tmp_path: Path) -> None:
    bib = evidence_folder / "references.bib"
    text = bib.read_text(encoding="utf-8")
    text = text.replace("title = {Changing network support for drinking: initial findings from the network "
                        "support project},", "title = {" + XSS_TITLE + "},\n  url = {javascript:alert(1)},")
    text = text.replace("url = {https://www.mentalhealth.org.uk/a-to-z/p/peer-support}",
                        "url = {data:text/html,<script>alert(2)</script>}")
    bib.write_text(text, encoding="utf-8")
    claims = evidence_folder / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text(encoding="utf-8")
    text = text.replace("In a randomised trial, each extra", XSS_STATEMENT.rstrip(".") + ". Each extra", 1)
    claims.write_text(text, encoding="utf-8")
    result = build_site(evidence_folder, tmp_path / "site")
    everything = "\n".join(p.read_text(encoding="utf-8") for p in html_files(result.out_dir))
    assert "<script>alert(1)</script>" not in everything
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything
    assert "<img src=x" not in everything and "&lt;img src=x onerror=alert(1)&gt;" in everything
    assert "{{ 7*7 }}" in everything and ">49<" not in everything
    for page in html_files(result.out_dir):
        for element in parse(page).iter():
            for name in ("href", "src", "action"):
                value = (element.get(name) or "").strip().lower()
                if is_download_data_uri(element, name):
                    continue
                assert not value.startswith(("javascript:", "data:", "file:", "vbscript:")), (page, value)


# The only data: URIs the site writes: one work's RIS, CSL-JSON or BibTeX on its entry, as <a download>.
DOWNLOAD_DATA_URIS = ("data:application/x-research-info-systems;charset=utf-8,",
                      "data:application/vnd.citationstyles.csl+json;charset=utf-8,",
                      "data:application/x-bibtex;charset=utf-8,")


def is_download_data_uri(element, attr: str) -> bool:
    """A work's RIS, CSL-JSON or BibTeX, saved as a file: never shown as a page, never run as script."""
    return (attr == "href" and element.tag.rsplit("}", 1)[-1] == "a" and bool(element.get("download"))
            and (element.get("href") or "").startswith(DOWNLOAD_DATA_URIS))


def test_external_links_are_http_and_noopener(site) -> None:
    for page in html_files(site.out_dir):
        for a in parse(page).iter("a"):
            href = a.get("href") or ""
            if urlsplit(href).scheme and not is_download_data_uri(a, "href"):
                assert urlsplit(href).scheme in ("http", "https"), (page, href)
                assert {"noopener", "noreferrer"} <= set((a.get("rel") or "").split()), (page, href)


def test_no_resource_is_loaded_from_outside_the_site(site) -> None:
    for page in html_files(site.out_dir):
        for element in parse(page).iter():
            tag = local(element)
            if tag in ("script", "img", "iframe", "link", "source", "audio", "video", "use", "image"):
                url = element.get("src") or (element.get("href") if tag in ("link", "use", "image") else "") or ""
                assert not urlsplit(url).scheme and not url.startswith("//"), (page, tag, url)
    css = (site.out_dir / "assets" / "site.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", css)), "only same-page url(#id)"


def test_every_page_embeds_its_record_as_json_ld(site) -> None:
    for page in html_files(site.out_dir):
        blocks = [s for s in parse(page).iter("script") if s.get("type") == "application/ld+json"]
        assert len(blocks) == 1, page
        record = json.loads(blocks[0].text)
        context = record["@context"]
        assert (context if isinstance(context, str) else context[0]) == "https://schema.org" and record["@type"], page
    from kb.site import addresses

    claim = site.checked.evidence.claims[0]
    page = site.out_dir / addresses.claim_page(claim.id)
    record = json.loads(next(s for s in parse(page).iter("script") if s.get("type") == "application/ld+json").text)
    assert record["@type"] == "CollectionPage"
    base = site.checked.evidence.config.base_iri
    assert record["@context"] == ["https://schema.org", {"claim": base + "claim/", "work": base + "work/"}]
    part = next(p for p in record["hasPart"] if p["@id"] == f"claim:{claim.id}")  # claim:<id> expands to its IRI
    assert part["@type"] == "Claim" and parse(page).find(f".//*[@id='{claim.id}']") is not None  # the anchor


# --- HTML5 and links ---------------------------------------------------------------------------


def test_every_page_is_valid_html5(site) -> None:
    for page in html_files(site.out_dir):
        parse(page)  # strict: fails on the first parse error
        text = page.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>\n"), page
        ids = [e.get("id") for e in parse(page).iter() if e.get("id")]
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        assert not duplicates, f"{page}: duplicate ids {duplicates}"


@functools.cache
def sparql_problem(query: str) -> str:
    """Why a query of a "this table as a query" link would not run (empty if it runs)."""
    import pyoxigraph as ox

    from kb.namespaces import sparql_prologue

    try:
        ox.Store().query(sparql_prologue() + query)
    except SyntaxError as exc:
        return f"SPARQL syntax error: {exc}"
    return ""


def check_links(root: Path) -> tuple[int, list[str]]:
    """Resolve every relative href/src (and #anchor) of every page; return (links checked, broken)."""
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = {e.get("id") for e in parse(path).iter() if e.get("id")} if path.suffix == ".html" else set()
        return ids[path]

    checked, broken = 0, []
    for page in html_files(root):
        for element in parse(page).iter():
            for attr in ("href", "src", "action"):
                url = element.get(attr)
                if url is None or is_download_data_uri(element, attr):
                    continue
                parts = urlsplit(url)
                if parts.scheme in ("http", "https"):
                    continue
                checked += 1
                if parts.scheme or url.startswith("//"):
                    broken.append(f"{page.relative_to(root)}: {url} (not relative)")
                    continue
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
                if not target.is_relative_to(root.resolve()) or not target.is_file():
                    broken.append(f"{page.relative_to(root)}: {url} (no such file)")
                elif target.name == "sparql.html" and parts.fragment.startswith("query="):
                    problem = sparql_problem(unquote(parts.fragment[len("query="):]))
                    if problem:
                        broken.append(f"{page.relative_to(root)}: {url[:80]}… ({problem})")
                elif parts.fragment and parts.fragment not in anchors(target):
                    broken.append(f"{page.relative_to(root)}: {url} (no such anchor)")
    return checked, broken


def test_no_broken_links_or_anchors(site) -> None:
    checked, broken = check_links(site.out_dir)
    assert checked > 100
    assert not broken, "\n".join(broken[:20])


def test_links_are_relative_so_the_site_works_from_any_sub_path(site) -> None:
    for page in html_files(site.out_dir):
        for element in parse(page).iter():
            for attr in ("href", "src", "action"):
                url = element.get(attr) or ""
                assert not url.startswith("/"), (page, url)


# --- content -----------------------------------------------------------------------------------


def claim_html(site, claim_id: str) -> str:
    """The claim's own article on its bucket page."""
    from kb.site import addresses

    page = (site.out_dir / addresses.claim_page(claim_id)).read_text(encoding="utf-8")
    start = page.index(f'<article class="record claim" id="{claim_id}">')
    return page[start:page.index("</article>", start)]


def test_claim_page_shows_quote_section_sources_and_certainty(site) -> None:
    from kb.site.addresses import work_address

    page = claim_html(site, "smi-rct-review-hope-recovery")
    assert "a systematic review of randomized controlled trials (RCTs) involving adults with SMIs" in page
    assert "Severe or Serious Mental Illness" in page
    assert f'href="../{work_address("lloydevans2014systematic")}"' in page
    assert f'href="../{work_address("shalaby2020peer")}"' in page
    assert "inconsistency" in page and "Moderate" in page
    numbers = dict(site.checked.evidence.cited_by)["lloydevans2014systematic"]
    assert f"[{numbers[0][1]}]" in page


def test_reference_page_has_bibtex_doi_and_cited_by(site) -> None:
    from kb.site.addresses import work_page

    page = (site.out_dir / work_page("lloydevans2014systematic")).read_text(encoding="utf-8")
    assert 'href="https://doi.org/10.1186/1471-244x-14-39" rel="noopener noreferrer"' in page.lower()
    assert "@article{lloydevans2014systematic," in page
    assert "smi-rct-review-hope-recovery" in page
    widget = re.search(r'<div class="ref-download" data-ref-download data-ref-name="lloydevans2014systematic"[^>]*>', page)
    assert widget and 'data-refs="lloydevans2014systematic"' in widget.group(0)  # its own RIS, CSL-JSON, BibTeX


def test_outcome_page_summarises_in_grade_wording(site) -> None:
    page = (site.out_dir / "outcomes" / "hope.html").read_text(encoding="utf-8")
    assert "Peer support services probably improve hope in serious mental illness (moderate certainty;" in page


def test_method_page_lists_every_vocabulary_term(site) -> None:
    page = (site.out_dir / "method.html").read_text(encoding="utf-8")
    for scheme, concepts in site.checked.evidence.vocabulary.concepts.items():
        for concept_id in concepts:
            assert f'id="{scheme}-{concept_id}"' in page


def test_search_index_covers_claims_references_and_concepts(site) -> None:
    from kb.site.assets import unpack_script

    records = unpack_script((site.out_dir / "assets" / "search-index.js").read_bytes())
    kinds = Counter(r["k"] for r in records)
    assert kinds["claim"] == len(site.analysis.claim_ids)
    assert kinds["reference"] == len(site.checked.evidence.references)
    assert all((site.out_dir / r["u"].split("#")[0]).is_file() for r in records if "u" in r)
    # lean (issue 17): claims and works carry no path (search.js computes it), a claim its
    # statement as a position in map-statements.js and its concepts as positions in the index
    statements = unpack_script((site.out_dir / "assets" / "map-statements.js").read_bytes())
    by_id = {c.id: c for c in site.checked.evidence.claims}
    for r in records:
        if r["k"] == "claim":
            assert "u" not in r and statements[r["n"]] == by_id[r["i"]].statement
            assert all(records[n]["k"] in ("population", "setting", "delivery", "perspective", "intervention",
                                           "outcome", "domain") for n in r["cs"])


# --- the real corpus ---------------------------------------------------------------------------


def test_real_corpus_builds_valid_linked_pages(real_site) -> None:
    for page in PAGE_TYPES:
        assert (real_site.out_dir / page).is_file(), page
    _checked, broken = check_links(real_site.out_dir)  # parses every page strictly as HTML5
    assert not broken, "\n".join(broken[:20])
    tree = parse(real_site.out_dir / "map.html")
    marks, counts = map_marks(tree)
    assert len(marks) + sum(counts) == sum(len(r.population) for r in real_site.analysis.rows)


def test_a_long_claims_index_lists_the_source_documents(site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ROWS_PER_PAGE claim-outcomes the index lists the source documents (each lists its claims)."""
    from kb.site import addresses, context, render_site

    monkeypatch.setattr(context, "ROWS_PER_PAGE", 4)
    render_site(site.checked.evidence, site.checked.graph, site.analysis, _staging(site, tmp_path))
    index = (tmp_path / "staging" / "claims" / "index.html").read_text(encoding="utf-8")
    sources = sorted({c.source for c in site.checked.evidence.claims})
    assert all(f'href="../{addresses.work_address(s)}"' in index for s in sources)
    assert 'id="all-claims"' not in index and 'href="../data/claims.csv.gz"' in index
    assert not (tmp_path / "staging" / "claims" / "index.csv").exists()
    _checked, broken = check_links(tmp_path / "staging")
    assert not broken, broken[:5]


def test_big_networks_are_drawn_without_a_node_per_claim() -> None:
    import networkx as nx

    from kb.site.network import layout, project

    g = nx.DiGraph()
    for i in range(50):
        g.add_edge(f"claim:c{i}", "doc:review", kind="states")
        g.add_edge(f"claim:c{i}", f"doc:w{i % 7}", kind="rests_on")
        g.add_edge(f"claim:c{i}", f"outcome:o{i % 3}", kind="outcome")
    g.add_edge("doc:review", "doc:w1", kind="cites")
    drawn, claims_drawn = project(g, max_claims=100)
    assert claims_drawn and drawn is g
    drawn, claims_drawn = project(g, max_claims=10, max_works=3)
    assert not claims_drawn
    assert not [n for n in drawn.nodes if n.startswith("claim:")]
    assert len([n for n in drawn.nodes if n.startswith("doc:w")]) == 3
    kept = {n for n in drawn.nodes if n.startswith("doc:w")}
    on_o0 = [i for i in range(50) if i % 3 == 0]
    expected = len(on_o0) + sum(f"doc:w{i % 7}" in kept for i in on_o0)  # the review states them all
    assert sum(d["weight"] for _, v, d in drawn.edges(data=True) if v == "outcome:o0") == expected
    result = layout(drawn, lambda n: n, lambda n: None)
    assert {n.kind for n in result.nodes} == {"source", "work", "outcome"}
    assert layout(drawn, lambda n: n, lambda n: None) == result  # deterministic
    # issue 17: at 50,000 claims the lines were 7.8 MB of SVG; only the heaviest are drawn
    weights = sorted((d["weight"] for _, _, d in drawn.edges(data=True) if d["kind"] == "via_claims"), reverse=True)
    few, _ = project(g, max_claims=10, max_works=3, max_links=4)
    assert sorted((d["weight"] for _, _, d in few.edges(data=True) if d["kind"] == "via_claims"),
                  reverse=True) == weights[:4]
    assert ("doc:review", "doc:w1") in few.edges  # citations are not cut


# --- units: wording, slugs, paths ------------------------------------------------------------


@pytest.mark.parametrize(("direction", "certainty", "expected"), [
    ("benefit", "high", "Peer support services improve hope in serious mental illness"),
    ("benefit", "moderate", "Peer support services probably improve hope in serious mental illness"),
    ("benefit", "low", "Peer support services may improve hope in serious mental illness"),
    ("benefit", "very_low", "We are uncertain whether peer support services improve hope in serious mental illness"),
    ("no_effect", "moderate", "Peer support services probably make little or no difference to hope in serious"),
    ("harm", "low", "Peer support services may worsen hope in serious mental illness"),
    ("mixed", "very_low", "We are uncertain about the effect of peer support services on hope in serious mental "
                          "illness: the findings are mixed"),
    ("inconclusive", "low", "The evidence is inconclusive about whether peer support services change hope"),
])
def test_grade_wording(direction: str, certainty: str, expected: str) -> None:
    from kb.site.grade import sentence

    assert sentence("Peer support services", "Hope", "Serious mental illness", direction, certainty).startswith(expected)


def test_grade_agreement_and_acronyms() -> None:
    from kb.site.grade import is_plural, lower_first, sentence

    assert sentence("Intentional peer support", "Hope", "SMI", "benefit", "high") == \
        "Intentional peer support improves hope in SMI"
    assert is_plural("Peer navigators") and is_plural("Mutual-help and self-help groups")
    assert not is_plural("Working as a peer support worker") and not is_plural("Circle of support")
    assert lower_first("RCT evidence") == "RCT evidence" and lower_first("Older adults") == "older adults"


def test_summaries_join_outcomes_of_one_claim(site) -> None:
    from kb.site.grade import summarise

    rows = [r for r in site.analysis.rows if r.claim_id == "smi-rct-review-hope-recovery"]
    texts = [s.text for s in summarise(rows, site.analysis.studies)]
    assert any("improve empowerment, hope and recovery in serious mental illness" in t for t in texts)
    assert len(texts) == 2  # benefit on three outcomes, no effect on three


def test_fnv1a_and_buckets_follow_the_published_definition() -> None:
    """docs/urls.md gives these values: any other implementation (resolve.js, a server rule) must match."""
    from kb.site.addresses import bucket, claim_address, fnv1a32, work_address

    assert fnv1a32("") == 0x811C9DC5 and fnv1a32("a") == 0xE40C292C and fnv1a32("foobar") == 0xBF9CF968
    assert bucket("foobar") == f"{0xBF9CF968 >> 22:03x}" == "2fe"
    assert claim_address("smi-rct-review-hope-recovery") == f"claims/{bucket('smi-rct-review-hope-recovery')}.html" \
        "#smi-rct-review-hope-recovery"
    assert work_address("Smith:2020+x") == f"references/{bucket('Smith:2020+x')}.html#Smith:2020+x"
    assert {len(bucket(f"claim-{n}")) for n in range(5000)} == {3}
    assert len({bucket(f"claim-{n}") for n in range(20000)}) == 1024


def test_page_paths_cannot_leave_the_output_folder(tmp_path: Path) -> None:
    from kb.site.paths import safe_target

    assert safe_target(tmp_path, "claims/x.html") == (tmp_path / "claims" / "x.html").resolve()
    for bad in ("../x.html", "/etc/passwd", "claims/../../x.html", "a\\b.html"):
        with pytest.raises(ValueError):
            safe_target(tmp_path, bad)


@pytest.mark.parametrize(("value", "allowed"), [
    ("https://example.org/a", True), ("http://example.org", True), ("javascript:alert(1)", False),
    ("data:text/html,x", False), ("file:///etc/passwd", False), ("//evil.example", False),
    ("https://exa mple.org", False), ("HTTPS://EXAMPLE.ORG", True), ("ftp://x.org", False),
])
def test_only_http_urls_become_links(value: str, allowed: bool) -> None:
    from kb.site.paths import doi_url, safe_external_url

    assert (safe_external_url(value) is not None) == allowed
    assert doi_url("10.1186/1471-244X-14-39") == "https://doi.org/10.1186/1471-244X-14-39"
    assert doi_url("javascript:alert(1)") is None


def test_relative_urls() -> None:
    from kb.site.paths import relative_url

    assert relative_url("index.html", "claims/a.html") == "claims/a.html"
    assert relative_url("claims/a.html", "outcomes/b.html#x") == "../outcomes/b.html#x"
    assert relative_url("cells/population/a--b.html", "index.html") == "../../index.html"
    assert relative_url("claims/a.html", "#quote") == "#quote"
    assert relative_url("claims/0a3.html", "claims/0a3.html#x") == "#x"  # a record on the same bucket page
    assert relative_url("claims/0a3.html", "claims/1ff.html#y") == "1ff.html#y"


# --- kb serve ----------------------------------------------------------------------------------


def test_serve_previews_the_site_on_loopback_only(site) -> None:
    import threading
    import urllib.error
    import urllib.request

    from kb.site.serve import make_server

    server = make_server(site.out_dir, 0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with urllib.request.urlopen(f"{base}/map.html", timeout=10) as response:
            assert response.status == 200 and b"evmap" in response.read()
        with urllib.request.urlopen(f"{base}/data/kb.nt.gz", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/gzip"
        for path in ("/%00", "/index.html%00.txt"):  # a NUL byte: an answer, not a dropped connection
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}{path}", timeout=10)
            assert refused.value.code == 400
    finally:
        server.shutdown()
        server.server_close()


def test_serve_command_is_wired(site) -> None:
    from click.testing import CliRunner

    from kb.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "127.0.0.1" in result.output


def test_markdown_pipe_tables_become_table_blocks() -> None:
    """Regression (issue 14): the certainty rule's two Markdown tables showed as raw pipes."""
    from kb.site.markdown import blocks

    parsed = blocks(["**2. Start here.**", "", "| rests on | `design` |", "|---|:---:|", "| a `x|y` review | `rct` |",
                     "| a trial | **b** |", "", "after"])
    table = next(b for b in parsed if b.kind == "table")
    assert table.text == "2. Start here"
    assert table.rows[0] == ((("text", "rests on"),), (("code", "design"),))
    assert table.rows[1] == ((("text", "a "), ("code", "x|y"), ("text", " review")), (("code", "rct"),))
    assert table.rows[2] == ((("text", "a trial"),), (("strong", "b"),))
    assert parsed[-1].kind == "p"


def test_method_page_renders_the_guides_tables(real_site) -> None:
    tree = parse(real_site.out_dir / "method.html")
    tables = [t for t in elements(tree, "table") if "rule" in (t.get("class") or "").split()]
    assert len(tables) >= 2
    text = "".join(tree.itertext())
    assert "|---" not in text and "| `design`" not in text and "systematic_review_rct" in text


def claim_rows_of(tree) -> list:
    """The rows of the claims tables in a page or a part of one."""
    return [tr for table in tree.iter("table") if "claims" in (table.get("class") or "").split()
            for tr in table.iter("tr") if tr.find("td") is not None]


def test_a_large_kb_lists_the_best_evidence_first_and_says_where_the_rest_is(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Past LARGE_KB findings every list shows its first few (kb/site/limits.py) and points to the rest;
    every record keeps its page and the links still resolve. The overlap corpus has a crowded cell
    (five findings on hospitalisation in serious mental illness); the limits are set below it."""
    import dataclasses

    from kb.site import addresses, limits

    monkeypatch.setattr(limits, "LARGE_KB", 0)
    monkeypatch.setattr(limits, "LARGE", dataclasses.replace(limits.LARGE, cell_claims=2, concept_claims=3,
                                                             work_claims=1))
    result = build_site(ROOT / "tests" / "data" / "overlap", tmp_path / "site")
    out, rows = result.out_dir, result.analysis.rows
    cell = next(s for s in parse(out / "cells" / "population" / "smi.html").iter("section")
                if s.get("id") == "hospitalisation")
    listed = claim_rows_of(cell)
    text = " ".join("".join(cell.itertext()).split())
    assert len(listed) == 2 and "3 more findings in this cell" in text and "Open every one as a SPARQL query" in text
    best = sorted(r.certainty for r in rows if "smi" in r.population and r.outcome == "hospitalisation")
    assert "High" in "".join(listed[0].itertext()) or "high" not in best  # the surest first
    smi = parse(out / "populations" / "smi.html")
    assert len(claim_rows_of(smi)) == 3
    assert "7 more findings: the cells above list them by outcome" in " ".join("".join(smi.itertext()).split())
    assert "Hospitalisation" in "".join(next(n for n in smi.iter("nav") if n.get("class") == "cell-nav").itertext())
    alpha = next(a for a in parse(out / addresses.work_page("alpha2020systematic")).iter("article")
                 if a.get("id") == "alpha2020systematic")
    assert "1 of 3 claims resting on it" in " ".join("".join(alpha.itertext()).split())
    source = sorted({c.source for c in result.checked.evidence.claims})[0]  # lists its claims by id (issue 17)
    entry = next(a for a in parse(out / addresses.work_page(source)).iter("article") if a.get("id") == source)
    by_id = {a.text: a.get("href") for a in entry.iter("a")}
    for claim in (c for c in result.checked.evidence.claims if c.source == source):
        assert by_id[claim.id].endswith(addresses.claim_address(claim.id).split("/", 1)[1])
    question = (out / "summaries" / "questions" / "smi--peer_support_services.html").read_text(encoding="utf-8")
    assert "their quotes and studies are in <a href=" in question and "the map cell</a>" in question
    assert "<summary>The claims (" not in question and "<summary>The quotes (" not in question
    # issue 17: the search matches a claim's statement, concepts and source, not its quote; a claim's
    # quote links its source's entry, which has the DOI; works list no fields beside their BibTeX
    from kb.site.assets import unpack_script

    index = unpack_script((out / "assets" / "search-index.js").read_bytes())
    by_id = {c.id: c for c in result.checked.evidence.claims}
    assert all(r["x"] == by_id[r["i"]].source for r in index if r["k"] == "claim")
    claim = result.checked.evidence.claims[0]
    article = next(a for a in parse(out / addresses.claim_page(claim.id)).iter("article") if a.get("id") == claim.id)
    assert not [a for a in article.iter("a") if "doi.org" in (a.get("href") or "")]
    assert 'class="facts"' not in (out / addresses.work_page(claim.source)).read_text(encoding="utf-8")
    # one CSV of every question instead of a file per question (issue 17)
    assert 'href="../questions.csv.gz" download' in question
    assert not list((out / "summaries" / "questions").glob("*.csv"))
    combined = list(csv.DictReader(io.StringIO(gz.read(out / "summaries" / "questions.csv.gz").decode("utf-8"))))
    assert {(r["population"], r["intervention"]) for r in combined} >= {("smi", "peer_support_services")}
    for claim in result.checked.evidence.claims:  # every claim still on its page
        page, _, anchor = addresses.claim_address(claim.id).partition("#")
        assert anchor in anchors_of(out / page)
    _checked, broken = check_links(out)
    assert not broken, broken[:5]


def test_a_large_kb_shows_works_without_abstracts_and_their_resting_query_once(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: past LARGE_KB findings a work's BibTeX on its page leaves out the abstract (its downloads
    keep it, and the page says so), and the works page writes the 'every claim resting on it' query once,
    as a template that site.js fills in from the entry's anchor and label, as tablequery.fill_work does."""
    import dataclasses

    from kb.site import addresses, limits, tablequery

    evidence = tmp_path / "evidence"
    shutil.copytree(ROOT / "tests" / "data" / "overlap", evidence)
    bib = evidence / "references.bib"
    bib.write_text(bib.read_text(encoding="utf-8").replace(
        "  journal = {Journal of Test Fixtures},\n  year = {2020},\n",
        "  journal = {Journal of Test Fixtures},\n  abstract = {Peer support {helped}, the\n  authors say.},\n"
        "  year = {2020},\n", 1), encoding="utf-8")
    monkeypatch.setattr(limits, "LARGE_KB", 0)
    monkeypatch.setattr(limits, "LARGE", dataclasses.replace(limits.LARGE, work_claims=1))
    result = build_site(evidence, tmp_path / "site")
    page = result.out_dir / addresses.work_page("alpha2020systematic")
    entry = next(a for a in parse(page).iter("article") if a.get("id") == "alpha2020systematic")
    shown = "".join(next(p for p in entry.iter("pre") if p.get("class") == "bibtex").itertext())
    assert "abstract" not in shown and "year = {2020}" in shown and "journal = {Journal of Test Fixtures}" in shown
    assert "Shown without its abstract" in " ".join("".join(entry.itertext()).split())
    assert "Peer support {helped}" in gz.read(result.out_dir / "data" / "references.bib.gz").decode("utf-8")
    link = next(a for a in entry.iter("a") if a.get("data-work-query") is not None)
    assert link.get("href").endswith("sparql.html")  # without JavaScript: the SPARQL page
    spec = next(s for s in parse(page).iter("script") if s.get("id") == "_work-query")
    filled = tablequery.fill_work(json.loads(spec.text), entry.get("id"), link.get("data-label"))
    base = result.checked.evidence.config.base_iri
    assert filled == tablequery.resting_claims(base + "work/alpha2020systematic", link.get("data-label")).text
    assert "#query=" not in page.read_text(encoding="utf-8").split('id="alpha2020systematic"', 1)[1].split(
        "</article>", 1)[0]  # no query of its own


def test_a_cells_counts_do_not_depend_on_the_order_of_its_findings(site) -> None:
    """Counted cells (most of a large map's) are no longer sorted first: their tallies and words must come
    out the same in any order, also for directions and certainty levels beyond the known ones."""
    import dataclasses
    import random

    from kb.site.evmap import _ordered, cell_text, tally

    rows = list(site.analysis.rows)
    odd = [dataclasses.replace(r, direction=d, certainty=c) for r, d, c in
           zip(rows[:4], ["zz_new", "aa_new", "zz_new", "benefit"], ["very_low", "custom", "custom", "custom"], strict=True)]
    for members in (rows, rows + odd):
        expected = (tally(_ordered(members)), cell_text(_ordered(members)))
        for seed in range(5):
            shuffled = list(members)
            random.Random(seed).shuffle(shuffled)
            assert (tally(shuffled), cell_text(shuffled)) == expected


def test_rendered_pages_leave_no_reference_cycles(tmp_path: Path) -> None:
    """A page's render frees what it made at once (kb.site.render): the shared macros are imported without the
    page's context and the page's context is cleared after it, so no macro holds a context in a cycle that only
    the collector would free (at 10k/50k a worker's pages left ~1.2M such objects, and ~3.5 s of collecting).
    What the collector finds is the build's environment: its templates, and one module of each shared template."""
    import gc

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        build(load_config(FIXTURE, out_dir=tmp_path / "site"), jobs=1)
        gc.collect()
        left = Counter((type(o).__qualname__, getattr(o, "name", None)) for o in gc.garbage
                       if type(o).__module__.startswith("jinja2.runtime"))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    pages = len(list((tmp_path / "site").rglob("*.html")))
    assert pages > 50
    contexts = {name for (kind, name) in left if kind == "Context"}
    assert contexts <= {"_macros.html", "_sof.html"}, contexts
    assert {kind: n for (kind, _), n in left.items() if n > 1} == {}


def test_groups_write_pages_as_made_and_let_the_network_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group writes each page once it is made (kb.site.context.Output.settle) rather than holding every page's
    context to its end, and the evidence network is made once and let go once the groups that read it are done
    (issue 17: at 10k/50k these held ~100–240 MB of a process through the build's all-process peak). The site is
    the same either way (test_incremental's cold-equals-incremental tests cover its bytes). Let go, the network is
    emptied: it refers to itself, so dropped alone it stayed to the end of a worker whose collector is paused."""
    import kb.analyse.analysis as analysis
    import kb.site as site

    pending: list[int] = []
    made: list[int] = []
    let_go: list[bool] = []
    flush, make, drop = site._flush, analysis.network, analysis.Analysis.let_go_network

    def counted_flush(job, writer, out):  # type: ignore[no-untyped-def]
        pending.append(len(out.pages))
        return flush(job, writer, out)

    def counted_make(links):  # type: ignore[no-untyped-def]
        made.append(len(links))
        return make(links)

    def counted_drop(self):  # type: ignore[no-untyped-def]
        network = self.__dict__.get("network")
        let_go.append(network is not None)
        drop(self)
        assert "network" not in self.__dict__
        # emptied: a networkx graph refers to itself, and the workers render with the collector paused
        assert network is None or network.number_of_nodes() == 0

    monkeypatch.setattr(site, "_flush", counted_flush)
    monkeypatch.setattr(analysis, "network", counted_make)
    monkeypatch.setattr(analysis.Analysis, "let_go_network", counted_drop)
    build(load_config(FIXTURE, out_dir=tmp_path / "site"), jobs=1)
    pages = len(list((tmp_path / "site").rglob("*.html")))
    assert sum(pending) > 50 and sum(pending) >= pages - 5  # the data and what's-new pages are the main process's
    # one page at a time, but for the overview's few unkeyed pages (its feeds, ten here, end the group together)
    assert max(pending) <= 10 and sum(n > 2 for n in pending) <= 3, pending
    assert len(made) == 1 and let_go == [True]
