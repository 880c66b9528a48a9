"""Docs are tested: the README's commands are the ones CI runs, every command is documented, lint is clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from kb.cli import main
from tests.conftest import ROOT


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_install_build_and_test_commands():
    block = re.search(r"```sh\n(.*?)```", readme(), re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["./install.sh && .venv/bin/kb build", ".venv/bin/python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./install.sh" in ci and ".venv/bin/python -m pytest" in ci


def test_every_command_is_documented_and_has_help():
    text = readme()
    for name, command in main.commands.items():
        assert f"`kb {name}" in text, f"kb {name} is missing from the README's command table"
        assert command.help and command.help.strip(), f"kb {name} has no help text"
        assert any(p.name == "evidence_dir" for p in command.params), f"kb {name} lacks --evidence"


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    proc = subprocess.run([ruff, "check", "kb", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kb_help_is_fast_enough_to_not_import_heavy_libraries():
    code = "import sys, kb.cli; print(','.join(m for m in ('rdflib','pyoxigraph','pyshacl','networkx') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", "kb.cli must import heavy libraries lazily"


# --- the README as a front door, and the docs it points to ----------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPO_PATH = re.compile(r"`((?:kb|tests|docs|evidence|bench|site_templates)/[\w./-]*[\w/])`")


def test_readme_is_a_front_door_not_a_benchmark_report():
    text = readme()
    assert len(text.splitlines()) < 120, "keep the README short: details belong in docs/"
    assert "| MISS |" not in text and "## Performance" not in text and "## Store choice" not in text
    for who, first_step in (("Policymakers", "site/index.html"), ("Researchers", "kb query --list"),
                            ("Editors", "evidence/README.md")):
        item = re.search(rf"^\* \*\*{who}:\*\* (.*?)(?=^\* |^## )", text, re.MULTILINE | re.DOTALL)
        assert item and first_step in item.group(1), f"the README's first step for {who.lower()}"
    assert "Exit codes:" in text


def test_every_link_and_path_in_the_docs_exists():
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).exists(), f"{doc.name}: link to {target}"
        for path in REPO_PATH.findall(text):
            if path not in ("kb/export/jsonl.py", "site_templates/designs.html"):  # architecture.md's examples
                assert (ROOT / path).exists(), f"{doc.name}: `{path}` does not exist"


def test_the_prefixes_the_docs_list_are_the_ones_kb_query_declares():
    from kb.namespaces import PREFIXES

    listed = re.search(r"The standard prefixes \(`([\w ]+)`\)", (ROOT / "docs" / "graph.md").read_text())
    assert listed and listed.group(1).split() == list(PREFIXES)


def test_the_screenshot_is_committed_small_and_a_png():
    png = (ROOT / "docs" / "evidence-map.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) <= 200 * 1024
    assert "(docs/evidence-map.png)" in readme()


@pytest.mark.browser
def test_the_screenshot_script_still_works(tmp_path):
    """`python -m tests.screenshots` must not rot: it shoots a built site at the committed size."""
    from tests import screenshots

    site = screenshots.build_site(ROOT / "evidence", tmp_path / "site")
    shot = screenshots.shoot(site, tmp_path / "map.png").read_bytes()
    committed = (ROOT / "docs" / "evidence-map.png").read_bytes()
    assert shot[16:24] == committed[16:24], "width and height (PNG IHDR) differ from the committed screenshot"
    assert len(shot) <= screenshots.MAX_BYTES


def test_the_graph_guide_names_every_term_of_the_ontology_and_no_other():
    ontology = (ROOT / "kb" / "graph" / "schema" / "ontology.ttl").read_text(encoding="utf-8")
    defined = set(re.findall(r"^(psk:\w+) a ", ontology, re.MULTILINE))
    named = set(re.findall(r"`(psk:\w+)`", (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")))
    assert named == defined, f"missing from docs/graph.md: {defined - named}; not in the ontology: {named - defined}"
