"""Shared fixtures: the fixture evidence folder, writable copies of it, and a checked KB."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
FIXTURE = DATA / "evidence"
REAL = ROOT / "evidence"

if str(ROOT) not in sys.path:  # bench/ is not installed; tests use its helpers (bench.procs.stop), from anywhere
    sys.path.insert(0, str(ROOT))

from bench.procs import hear_sigint  # noqa: E402  (bench/ is found through the path above)

hear_sigint()  # the tests stop the kb serve processes they start with SIGINT, as Ctrl-C does


@pytest.fixture
def evidence_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture evidence folder (tests may break it on purpose)."""
    target = tmp_path / "evidence"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture(scope="session")
def fixture_checked():
    from kb.config import load_config
    from kb.pipeline import check

    return check(load_config(FIXTURE))


@pytest.fixture(scope="session")
def fixture_analysis(fixture_checked):
    from kb.analyse.analysis import analyse

    return analyse(fixture_checked.graph, fixture_checked.evidence)


def codes(problems) -> list[str]:
    return sorted(p.code for p in problems)


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (lock sidecars aside): compare before and after a command."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}

