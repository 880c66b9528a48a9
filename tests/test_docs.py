"""Docs are tested: the README's commands are the ones CI runs, every command is documented, lint is clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

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
