"""Render page contexts with jinja2 and write files, safely and deterministically.

The environment follows the template contract (STYLE.md #8): autoescape on for every template
and for strings, ``StrictUndefined`` so a missing field fails the build instead of printing
nothing, and one global, ``href()``, that turns a site path into a link relative to the page
being rendered.

The shared macros are imported without the page's context (issue 17): an import ``with context``
made each render a module of every macro, each holding that module's context in its closure, a
reference cycle that only the collector frees. At 10k/50k a worker's pages left ~1.2M such objects
for one collection at the end of a group (~3.5 s of CPU in a build). ``href()`` reads the page being
rendered from :data:`_PAGE` instead, so a macro needs no context, and :func:`render_page` clears the
page's own context after rendering (a macro a page template defines holds it too).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import jinja2
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from kb.config import source_date_epoch
from kb.io.writing import write_file
from kb.site.pages import Page, SiteInfo
from kb.site.paths import check_site_path, relative_url
from kb.site.reuse import Previous, bytes_fingerprint

GRADE_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very_low": "⊕◯◯◯"}


_PAGE: contextvars.ContextVar[str] = contextvars.ContextVar("kb_page_path")  # the site path of the page being rendered


def href(target: str) -> str:
    """A link from the page being rendered (:func:`render_page`) to a site path."""
    return relative_url(_PAGE.get(), target)


def fragment(text: str) -> str:
    """Percent-encode a URL fragment, leaving the characters a fragment may hold as they are
    (RFC 3986: ``?``, ``/``, ``:``, ``;``, ``(``, ``)``, …): a third fewer bytes than jinja's
    ``urlencode`` in the SPARQL links that thousands of pages carry. ``decodeURIComponent``
    reads both."""
    return quote(text, safe="/?:@!$&'()*+,;=-._~")


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


class TemplateCode(FileSystemBytecodeCache):
    """Compiled templates, kept in ``folder`` (``.kb-cache/templates/``): every process of a build compiled each
    template it renders (~0.4 s of CPU for the ~20 of them, in each process, in every build). jinja2 checks each
    template's source; the files' names hold this module's digest and jinja2's version, which the compiled code
    also depends on (the environment's options), and files of other digests are removed."""

    def __init__(self, folder: Path) -> None:
        digest = hashlib.sha256(Path(__file__).read_bytes() + f"\0{jinja2.__version__}".encode()).hexdigest()[:16]
        super().__init__(str(folder), f"{digest}-%s.jinja")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.jinja"):
                if not old.name.startswith(f"{digest}-"):
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a cache that cannot be made: every template is compiled, as without one

    def load_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):  # none kept, or no folder: the template is compiled
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: Bucket) -> None:
        # a temporary file renamed into place, so processes may race; one that cannot be written costs the next
        # build the compiling, nothing else
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def environment(templates: Path, cache: Path | None = None) -> Environment:
    """The templates' environment; ``cache`` is a folder for their compiled code (:class:`TemplateCode`)."""
    env = Environment(
        loader=FileSystemLoader(str(templates)), bytecode_cache=TemplateCode(cache) if cache is not None else None,
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.globals["href"] = href
    env.globals["grade_symbols"] = GRADE_SYMBOLS
    env.globals["certainty_rank"] = {"high": 1, "moderate": 2, "low": 3, "very_low": 4}
    env.filters["plural"] = plural
    env.filters["fragment"] = fragment
    # compact JSON in the pages' JSON-LD: a bucket page carries fifty records
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env


_SYMBOL = re.compile(r'\n *<symbol id="_s-([a-z_]+)"[^\n]*</symbol>')
_HATCH = re.compile(r'\n *<(?:pattern|mask) id="_[pm]-(moderate|low)"[^\n]*</(?:pattern|mask)>')


def prune_marks(html: str) -> str:
    """Drop the mark symbols and hatchings a page does not use (issue 17: the full set is 1.7 KB,
    and thousands of pages draw one or two marks). Only the page's own markup draws marks."""
    if '<svg class="mark-defs"' not in html:
        return html
    html = _SYMBOL.sub(lambda m: m.group(0) if f'href="#_s-{m.group(1)}"' in html else "", html)
    return _HATCH.sub(lambda m: m.group(0) if re.search(f'class="mk d-[a-z_]+ c-{m.group(1)}"', html) else "", html)


def render_page(env: Environment, page: Page, site: SiteInfo) -> str:
    """The page's HTML: ``Template.render``, and then the page's context cleared, which frees at once what a
    macro the template defines would otherwise keep in a cycle with it."""
    template = env.get_template(page.template)
    token = _PAGE.set(page.path)
    ctx = template.new_context({"page": page, "site": site})
    try:
        html = env.concat(template.root_render_func(ctx))
    except Exception:
        env.handle_exception()  # as Template.render: the traceback points at the template's line
    finally:
        ctx.vars.clear()
        _PAGE.reset(token)
    return prune_marks(html)


class Writer:
    """Writes files under the output folder, refusing duplicates and paths that leave it.

    With a :class:`~kb.site.reuse.Previous` build, a file whose fingerprint, size and mtime are
    unchanged is hard-linked from it instead of being rendered and written again.
    """

    def __init__(self, root: Path, previous: Previous | None = None) -> None:
        self.root = root
        self.previous = previous or Previous()
        self.fingerprints: dict[str, str] = {}  # site path → fingerprint, for the next build
        self.written: list[str] = []
        self.reused: list[str] = []
        self._root = os.fspath(root)
        self._folders: set[str] = set()

    def write(self, site_path: str, content: str | bytes) -> Path:
        data = content.encode("utf-8") if isinstance(content, str) else content
        return self.put(site_path, bytes_fingerprint(data), lambda: data)

    def put(self, site_path: str, fingerprint: str, make: Callable[[], str | bytes]) -> Path:
        """Write the file ``make()`` returns, unless the previous build has it with this fingerprint."""
        if site_path in self.fingerprints:
            raise ValueError(f"two files would be written to {site_path}")
        target = self._target(site_path)
        self.fingerprints[site_path] = fingerprint
        if self.previous.link(site_path, fingerprint, target):
            self.reused.append(site_path)
            return target
        content = make()
        write_file(target, content.encode("utf-8") if isinstance(content, str) else content)
        self.written.append(site_path)
        return target

    def keep(self, files: tuple[tuple[str, str], ...]) -> bool:
        """Link every file of ``files`` (site path, fingerprint) from the previous build, or none of them."""
        if any(path in self.fingerprints for path, _ in files):
            return False
        linked: list[str] = []
        for path, fingerprint in files:
            target = self._place(path)
            if not self.previous.link(path, fingerprint, target):
                for done in linked:
                    os.unlink(done)
                return False
            linked.append(target)
        for path, fingerprint in files:
            self.fingerprints[path] = fingerprint
            self.reused.append(path)
        return True

    def _target(self, site_path: str) -> Path:
        return Path(self._place(site_path))

    def _place(self, site_path: str) -> str:
        """The file's name in the output folder, its folder made. Checked without resolving (a resolve costs an lstat
        per folder per file): the staging folder is new, and nothing in it is a symbolic link. Strings, not paths: an
        edit at 10k/50k keeps ~2,600 files, and their ~20,000 path operations were ~0.1 s of its main process."""
        target = os.path.join(self._root, check_site_path(site_path))
        folder = os.path.dirname(target)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        return target


def stamp(root: Path, site_paths: list[str]) -> None:
    """With ``SOURCE_DATE_EPOCH``, give every file of the site that time (reproducible archives)."""
    epoch = source_date_epoch()
    if epoch is None:
        return
    for path in site_paths:
        os.utime(root / path, (epoch, epoch))
