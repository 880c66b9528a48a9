"""docs/architecture.md is tested: its code runs, its diffs fit the code, and its lists match the package."""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import types
from pathlib import Path

import html5lib
import pytest

from tests.conftest import FIXTURE, ROOT

DOC = ROOT / "docs" / "architecture.md"
FENCE = re.compile(r"^```([\w+-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text(encoding="utf-8"))]


def file_of(code: str) -> str | None:
    """The file a block belongs to, from its first line (``# kb/x.py`` or ``{# site_templates/x.html #}``)."""
    first = code.splitlines()[0]
    found = re.fullmatch(r"(?:# |\{# )((?:kb|site_templates)/[\w/.]+)(?: #\})?", first.strip())
    return found.group(1) if found else None


def module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def diff_parts(code: str) -> tuple[str, list[str], list[str]]:
    """The file a diff applies to, its context and removed lines in order, and its added lines."""
    target = re.search(r"^\+\+\+ b/(\S+)", code, re.MULTILINE).group(1)
    body = [line for line in code.splitlines() if not line.startswith(("---", "+++", "@@"))]
    old = [line[1:] for line in body if line.startswith((" ", "-"))]
    new = [line[1:] for line in body if line.startswith("+")]
    return target, old, new


class Worked:
    """Runs the doc's blocks in order: each ``# kb/…`` block in (a copy of) that module's namespace."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, templates: Path) -> None:
        self.monkeypatch = monkeypatch
        self.templates = templates
        self.spaces: dict[str, dict] = {}

    def namespace(self, path: str) -> dict:
        if path not in self.spaces:
            name = module_name(path)
            if (ROOT / path).is_file():
                module = importlib.import_module(name)
                self.spaces[path] = dict(vars(module))
            else:  # a new module: it becomes importable under its name
                module = types.ModuleType(name)
                module.__file__ = str(ROOT / path)
                self.monkeypatch.setitem(sys.modules, name, module)
                self.spaces[path] = vars(module)
        return self.spaces[path]

    def run(self, lang: str, code: str) -> None:
        if lang == "python":
            path = file_of(code)
            namespace = self.namespace(path) if path else {"__name__": "doc_example"}
            exec(compile(code, f"{DOC}:{path or 'example'}", "exec"), namespace)
            if path and (ROOT / path).is_file():  # new names join the real module, as the edit would
                module = importlib.import_module(module_name(path))
                for name, value in namespace.items():
                    if not hasattr(module, name):
                        self.monkeypatch.setattr(module, name, value, raising=False)
        elif lang == "diff":
            self.apply(code)
        elif lang == "html+jinja":
            (self.templates / Path(file_of(code)).name).write_text(code, encoding="utf-8")

    def apply(self, code: str) -> None:
        target, old, new = diff_parts(code)
        text = (ROOT / target).read_text(encoding="utf-8")
        assert "\n".join(old) in text, f"the diff for {target} no longer fits the code: {old}"
        if target == "kb/export/formats.py":  # a new entry of the FORMATS tuple
            formats = importlib.import_module("kb.export.formats")
            for line in new:
                fmt = eval(line.strip().rstrip(","), self.namespace(target))
                self.monkeypatch.setitem(formats.FORMATS, fmt.name, fmt)
        elif target == "kb/site/__init__.py":  # one more call among the overview pages
            overview = importlib.import_module("kb.site.overview")
            [call] = new
            name = re.fullmatch(r"\s*overview\.(\w+)\(res, out\)", call).group(1)
            after = re.fullmatch(r"\s*overview\.(\w+)\(.*\)", old[0]).group(1)
            original = getattr(overview, after)

            def both(*args: object) -> None:
                original(*args)
                getattr(overview, name)(args[0], args[1])

            self.monkeypatch.setattr(overview, after, both)
        else:
            raise AssertionError(f"the test does not know how to apply a diff to {target}")


@pytest.fixture
def worked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Worked:
    monkeypatch.chdir(ROOT)
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "site_templates", templates)
    runner = Worked(monkeypatch, templates)
    for lang, code in blocks():
        runner.run(lang, code)
    return runner


def test_the_export_format_example_works_against_the_registry(worked):
    from kb.analyse.analysis import analyse
    from kb.config import load_config
    from kb.export.formats import FORMATS, export_bytes
    from kb.pipeline import check

    assert FORMATS["jsonl"].filename == "claims.jsonl"
    checked = check(load_config(FIXTURE), shacl=False)
    analysis = analyse(checked.kg, checked.evidence)
    data = export_bytes(checked.evidence, checked.kg, analysis, "jsonl")
    assert data == export_bytes(checked.evidence, checked.kg, analysis, "jsonl") and data.count(b"\n") == len(analysis.rows)


def test_the_page_type_example_renders_in_a_real_build(worked, tmp_path, monkeypatch):
    import kb.site
    from kb.config import load_config
    from kb.pipeline import build

    monkeypatch.setattr(kb.site, "TEMPLATES", worked.templates)  # the real templates plus designs.html
    result = build(load_config(FIXTURE, out_dir=tmp_path / "site", cache_dir=tmp_path / "cache"), jobs=1)
    assert "designs.html" in result.written
    html = (result.out_dir / "designs.html").read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(html)
    evidence = result.checked.evidence
    for design in evidence.vocabulary.concepts["design"].values():
        uses = sum(claim.design == design.id for claim in evidence.claims)
        assert f"<tr><td>{design.label}</td><td>{design.starting_certainty}</td><td>{uses}</td></tr>" in html
    assert 'href="method.html" class="active"' in html  # section "method" lights up Method in the nav


def test_the_diffs_fit_the_code_as_it_is():
    for lang, code in blocks():
        if lang == "diff":
            target, old, _ = diff_parts(code)
            assert "\n".join(old) in (ROOT / target).read_text(encoding="utf-8"), target


def test_every_package_is_named_and_every_name_exists():
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`kb/(\w+)/`", text))
    packages = {p.parent.name for p in (ROOT / "kb").glob("*/__init__.py")}
    assert named == packages, f"missing from the doc: {packages - named}; not in kb/: {named - packages}"
    for module in re.findall(r"`(kb/[\w/]+\.py)`", text):
        assert (ROOT / module).is_file() or module == "kb/export/jsonl.py", module  # the example adds jsonl.py
    for path in re.findall(r"`((?:site_templates|tests|docs|evidence)/[\w/.-]+?)(?:::\w+)?`", text):
        # the worked example's template, and the cache folder a build makes (checked by the next test)
        if path not in ("site_templates/designs.html", "evidence/../.kb-cache/"):
            assert (ROOT / path).exists(), path


def test_every_dotted_name_in_the_doc_resolves():
    text = DOC.read_text(encoding="utf-8")
    for dotted in sorted(set(re.findall(r"`(kb(?:\.\w+)+)`", text))):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        else:
            raise AssertionError(f"{dotted} does not resolve")


def test_every_cache_in_the_doc_is_one_the_code_writes(tmp_path):
    from kb.config import load_config
    from kb.pipeline import build, query_store

    config = load_config(FIXTURE, out_dir=tmp_path / "site", cache_dir=tmp_path / "cache")
    build(config)
    query_store(config)
    written = sorted(re.sub(r"[0-9a-f]{16,}", "<hash>", p.name) for p in (tmp_path / "cache").iterdir())
    assert written == ["answers.pickle", "assets", "browser", "by-context", "citations.pickle", "claims-csv", "crossfile-<hash>.pickle",
                       "dumps",
                       "evidence-index.json",
                       "fhir", "graph",
                       "members", "nanopubs", "parsed", "refdata", "shacl-clean.json", "shacl-index.json", "site-<hash>.deps.pickle",
                       "site-<hash>.json", "store-<hash>", "templates"]
    text = DOC.read_text(encoding="utf-8")
    for name in ("`citations.pickle`", "`parsed/", "`evidence-index.json`", "`store-<key>/db`",
                 "`site-<hash of the output folder>.json`", "`site-<hash of the output folder>.deps.pickle`",
                 "`by-context/<key>.pickle`", "`dumps/{nt,ttl,jsonld}.pickle`",
                 "`fhir/<key>.pickle`", "`nanopubs/<key>.pickle`", "`shacl-clean.json`", "`shacl-index.json`",
                 "`members/{fhir,trig,claims-csv,graphml}.pickle`", "`refdata/<key>.pickle`",
                 "`browser/deflate.pickle`", "`answers.pickle`", "`claims-csv/<key>.pickle`"):
        assert name in text, name
