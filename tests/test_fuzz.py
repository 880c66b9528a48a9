"""Damaged evidence folders: every file of the fixture, and the editors' rules, edited at random (lines dropped,
doubled, swapped, re-indented; stray characters and bytes). ``kb check`` must report problems, never raise; a folder
that still checks clean must build. A fuzzer of this kind over the real corpus found a README.md that was not UTF-8
failing the build in a site worker. Seeded: the same cases in every run."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from kb.config import ConfigError, load_config
from kb.pipeline import build, check
from tests.conftest import FIXTURE, ROOT

JUNK = ("", "{", "}", ":", "- ", '"', "'", "@article{", "\t", "\x00", "\ufeff", "%", "#", "&a", "*a", "[", "]", "\\",
        "\u202e", "é", "\r", "...", "---", "~", "null", "1e999", "-1", "99999999999999999999", "<<: *a", "? ", "|",
        "@string{x = \"y\"}", "{\\\"a}", "and others", "doi = {10.}", ",", "=", "!!python/object:os.system")
CASES = 24


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op, at = rng.randrange(7), rng.randrange(len(lines))
        line = lines[at]
        cut = rng.randint(0, len(line))
        if op == 0:
            del lines[at]
        elif op == 1:
            lines.insert(at, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines[at] = line[:cut] + rng.choice(JUNK) + line[cut:]
        elif op == 3:
            lines[at] = line[:cut] + line[min(len(line), cut + rng.randint(1, 8)):]
        elif op == 4:
            lines[at] = " " * rng.randint(0, 6) + line.lstrip()
        elif op == 5:
            other = rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], line
        else:
            lines.insert(at, rng.choice(JUNK))
        if not lines:
            lines = [""]
    return "\n".join(lines)


def _damage(rng: random.Random, path: Path) -> None:
    data = path.read_bytes()
    if rng.random() < 0.15 and data:
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
    else:
        path.write_text(_mutate(rng, data.decode("utf-8", "replace")), encoding="utf-8")


def damaged_case(seed: int, source: Path, tmp: Path, readme: Path | None = None) -> str:
    """One case: a copy of ``source`` (with ``readme`` as its README.md) damaged by ``seed``, checked and, where still
    clean, built. Says what happened; a bug raises."""
    rng = random.Random(seed)
    evidence = tmp / "evidence"
    shutil.copytree(source, evidence, ignore=shutil.ignore_patterns(".kb-cache"))
    if readme is not None:
        shutil.copy(readme, evidence / "README.md")
    files = sorted(p for p in evidence.rglob("*") if p.is_file())
    victims = rng.sample(files, rng.choice((1, 1, 2)))
    for victim in victims:
        _damage(rng, victim)
    damaged = ", ".join(str(v.relative_to(evidence)) for v in victims)
    try:
        config = load_config(evidence).with_overrides(cache_dir=tmp / "cache")
    except ConfigError as exc:  # a damaged kb.toml: reported with its place, as the CLI prints it
        assert str(exc).startswith(str(evidence / "kb.toml")), exc
        return f"{damaged}: kb.toml refused"
    checked = check(config, releases=True)  # as kb check
    for problem in checked.report.errors:
        assert problem.path and problem.message, problem
    if checked.report.errors:
        return f"{damaged}: {len(checked.report.errors)} error(s)"
    build(config.with_overrides(out_dir=tmp / "site"))  # still clean: it builds
    assert (tmp / "site" / "index.html").is_file()
    return f"{damaged}: built"


@pytest.mark.parametrize("seed", range(CASES))
def test_a_damaged_evidence_folder_is_reported_never_raised(seed: int, tmp_path: Path) -> None:
    damaged_case(seed, FIXTURE, tmp_path, ROOT / "evidence" / "README.md")


def main() -> None:
    """Fuzz on demand, longer than the suite does: ``python -m tests.test_fuzz [--evidence DIR] [--first N] [--cases
    N]``; prints each case that raised, with its seed (``--first SEED --cases 1`` runs it again)."""
    import argparse
    import tempfile
    import traceback

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--evidence", type=Path, default=FIXTURE)
    parser.add_argument("--first", type=int, default=CASES)
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    readme = ROOT / "evidence" / "README.md" if not (args.evidence / "README.md").exists() else None
    failed = 0
    for seed in range(args.first, args.first + args.cases):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                said = damaged_case(seed, args.evidence, Path(tmp), readme)
            except Exception:  # a bug found: told, and the next case run
                failed += 1
                print(f"seed {seed} RAISED\n{traceback.format_exc()}", flush=True)
            else:
                print(f"seed {seed} {said}", flush=True)
    print(f"{args.cases} cases, {failed} raised")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
