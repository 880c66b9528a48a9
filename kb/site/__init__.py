"""Stage 5: render the checked KB as a static website (``kb build`` → ``site/``).

The site works from ``file://`` and any sub-path (relative links only), makes no request outside
itself, and is byte-identical for the same evidence. Modules: :mod:`~kb.site.pages` (the template
contract), :mod:`~kb.site.views` (records → views), :mod:`~kb.site.context` and
:mod:`~kb.site.overview` (one builder per page type), :mod:`~kb.site.evmap` (the evidence map),
:mod:`~kb.site.grade` (plain-language summaries), :mod:`~kb.site.network` (the network layout),
:mod:`~kb.site.assets` (scripts and the Oxigraph bundle), :mod:`~kb.site.render` (jinja2, writing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kb.site.assets import REPO_ROOT, SiteError

__all__ = ["SiteError", "render_site"]

TEMPLATES = REPO_ROOT / "site_templates"


def render_site(checked: object, analysis: object, target: Path, *, progress: Callable[[str], None] = lambda _: None,
                threshold: int | None = None, templates: Path | None = None,
                node_modules: Path | None = None) -> list[Path]:
    """Write every page, table, script and asset of the site into ``target``; return the files."""
    from kb.site import assets, context, overview
    from kb.site.evmap import MARKS_PER_CELL
    from kb.site.render import Writer, environment, render_page
    from kb.site.search import search_index, sparql_links
    from kb.site.views import Resolver

    evidence = checked.evidence  # type: ignore[attr-defined]
    res = Resolver(evidence, analysis)  # type: ignore[arg-type]
    site = overview.site_info(res)
    oxigraph = assets.oxigraph_scripts(node_modules or assets.find_node_modules())  # fail before any work
    templates = templates or TEMPLATES
    if not (templates / "base.html").is_file():
        raise SiteError(f"the site templates are missing ({templates}); build from the KB's repository "
                        "(pip install -e . keeps them beside the package)")

    progress("building page contexts")
    out = context.Output([], {})
    context.claim_pages(res, out)
    context.reference_pages(res, out)
    context.concept_pages(res, out)
    context.map_pages(res, out, threshold if threshold is not None else MARKS_PER_CELL)
    overview.gaps_page(res, out)
    overview.network_page(res, out)
    overview.sparql_page(res, out)
    overview.search_page(res, out)
    overview.method_page(res, out, overview.ontology_terms())
    overview.home_page(res, site, out)
    overview.data_page(res, site, out, target)

    progress(f"rendering {len(out.pages)} pages")
    env = environment(templates)
    writer = Writer(target)
    for page in sorted(out.pages, key=lambda p: p.path):
        writer.write(page.path, render_page(env, page, site))
    for path, text in sorted(out.files.items()):
        writer.write(path, text)
    for path, content in assets.static_files(templates / "static"):
        writer.write(path, content)
    scripts = [*oxigraph, assets.dump_script((target / "data" / "kb.nt").read_bytes()),
               assets.data_script("KB_SEARCH", "assets/search-index.js", search_index(res), "search index"),
               assets.data_script("KB_LINKS", "assets/sparql-links.js", sparql_links(res), "IRI → page")]
    for script in scripts:
        writer.write(script.path, script.content)
    writer.stamp()
    return sorted(writer.files)
