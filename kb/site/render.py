"""Render page contexts with jinja2 and write files, safely and deterministically.

The environment follows the template contract (STYLE.md #8): autoescape on for every template
and for strings, ``StrictUndefined`` so a missing field fails the build instead of printing
nothing, and one global, ``href()``, that turns a site path into a link relative to the page
being rendered.
"""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

from kb.config import source_date_epoch
from kb.site.pages import Page, SiteInfo
from kb.site.paths import relative_url, safe_target

GRADE_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very_low": "⊕◯◯◯"}


@pass_context
def href(ctx: object, target: str) -> str:
    """A link from the page being rendered to a site path."""
    return relative_url(ctx["page"].path, target)  # type: ignore[index]


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def environment(templates: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.globals["href"] = href
    env.globals["grade_symbols"] = GRADE_SYMBOLS
    env.globals["certainty_rank"] = {"high": 1, "moderate": 2, "low": 3, "very_low": 4}
    env.filters["plural"] = plural
    return env


def render_page(env: Environment, page: Page, site: SiteInfo) -> str:
    return env.get_template(page.template).render(page=page, site=site)


class Writer:
    """Writes files under the output folder, refusing duplicates and paths that leave it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[Path] = []
        self._seen: set[str] = set()

    def write(self, site_path: str, content: str | bytes) -> Path:
        if site_path in self._seen:
            raise ValueError(f"two files would be written to {site_path}")
        self._seen.add(site_path)
        target = safe_target(self.root, site_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        self.files.append(target)
        return target

    def stamp(self) -> None:
        """With ``SOURCE_DATE_EPOCH``, give every written file that time (reproducible archives)."""
        epoch = source_date_epoch()
        if epoch is None:
            return
        for path in self.files:
            os.utime(path, (epoch, epoch))
