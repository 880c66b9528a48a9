"""Releases: kept dumps, kb.toml entries, the history in the graph (PROV) and on the site (issue 16)."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner

from kb.cli import main
from kb.config import load_config
from kb.io import gz
from kb.pipeline import check
from tests.conftest import FIXTURE

CLAIMS = "claims/shalaby2020peer.yaml"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".kb-cache" not in p.parts}


def two_releases(tmp_path: Path) -> Path:
    """The fixture released, then changed (a direction, a rename) and released again."""
    ev = tmp_path / "evidence"
    shutil.copytree(FIXTURE, ev)
    assert run("release", "--evidence", str(ev), "r1", "--date", "2026-10-01", "--notes", "First").exit_code == 0
    claims = ev / CLAIMS
    text = claims.read_text().replace("{outcome: symptoms, direction: no_effect}",
                                      "{outcome: symptoms, direction: benefit}")
    claims.write_text(text.replace("id: schizophrenia-cochrane-inconclusive", "id: schizophrenia-cochrane-review"))
    assert run("release", "--evidence", str(ev), "r2", "--date", "2026-11-01").exit_code == 0
    return ev


def test_release_keeps_a_deterministic_dump_and_lists_it(tmp_path):
    ev = tmp_path / "evidence"
    shutil.copytree(FIXTURE, ev)
    result = run("release", "--evidence", str(ev), "2026-11", "--date", "2026-11-30", "--notes", 'A "first" one')
    assert result.exit_code == 0, result.output
    dump = ev / "releases" / "2026-11" / "kb.nt.gz"
    nt = gzip.decompress(dump.read_bytes()).decode()
    assert "<https://w3id.org/peer-support-kb/claim/smi-rct-review-hope-recovery>" in nt
    assert nt.splitlines() == sorted(nt.splitlines())
    toml = (ev / "kb.toml").read_text()
    assert toml.endswith('[[releases]]\nname = "2026-11"\ndate = 2026-11-30\nnotes = "A \\"first\\" one"\n')
    releases = check(load_config(ev)).evidence.releases
    assert [(r.name, r.date, r.notes) for r in releases] == [("2026-11", "2026-11-30", 'A "first" one')]
    again = tmp_path / "again"
    shutil.copytree(FIXTURE, again)
    killed = again / "releases" / "2026-11" / ".kb.nt.gz.x1y2z3.tmp"  # what a release killed mid-stream leaves
    killed.parent.mkdir(parents=True)
    killed.write_bytes(b"half a dump")
    run("release", "--evidence", str(again), "2026-11", "--date", "2026-11-30")
    assert (again / "releases" / "2026-11" / "kb.nt.gz").read_bytes() == dump.read_bytes()
    assert sorted(p.name for p in killed.parent.iterdir()) == ["kb.nt.gz"]


def test_a_refused_release_writes_nothing(tmp_path):
    ev = two_releases(tmp_path)
    before = digests(ev)
    for args, message in ((("r2", "--date", "2026-12-01"), "exists already"),
                          (("r3", "--date", "2026-09-01"), "before the latest release"),
                          (("r3", "--date", "1 Dec"), "is not YYYY-MM-DD"),
                          (("../r3", "--date", "2026-12-01"), "is not safe")):
        result = run("release", "--evidence", str(ev), *args)
        assert result.exit_code == 2 and message in result.output, result.output
    claims = ev / CLAIMS
    claims.write_text(claims.read_text().replace("population: smi", "population: smii"))
    before = digests(ev)
    result = run("release", "--evidence", str(ev), "r3", "--date", "2026-12-01")
    assert result.exit_code == 1 and "claim-unknown-term" in result.output
    assert digests(ev) == before


def test_check_reports_bad_release_entries(tmp_path):
    ev = two_releases(tmp_path)
    (ev / "releases" / "r1" / "kb.nt.gz").unlink()
    toml = ev / "kb.toml"
    toml.write_text(toml.read_text().replace("date = 2026-11-01", "date = 2026-09-01"))
    problems = [(p.code, p.field) for p in check(load_config(ev)).report.errors]
    assert problems == [("release-invalid", "name")]  # r1's dump is missing, so r2 has nothing before it
    shutil.copytree(FIXTURE, tmp_path / "x")
    (tmp_path / "x" / "releases" / "r1").mkdir(parents=True)
    (tmp_path / "x" / "releases" / "r1" / "kb.nt.gz").write_bytes(b"")
    (tmp_path / "x" / "releases" / "r2").mkdir(parents=True)
    (tmp_path / "x" / "releases" / "r2" / "kb.nt.gz").write_bytes(b"")
    (tmp_path / "x" / "kb.toml").write_text((tmp_path / "x" / "kb.toml").read_text() + (
        '\n[[releases]]\nname = "r1"\ndate = 2026-11-01\n\n[[releases]]\nname = "r2"\ndate = 2026-10-01\n'
        'colour = "red"\n'))
    problems = check(load_config(tmp_path / "x")).report.errors
    assert [(p.code, p.field) for p in problems] == [("release-invalid", "colour"), ("release-invalid", "date")]
    assert problems[1].line > problems[0].line - 2 and "before the release listed above it" in problems[1].message


def test_a_damaged_release_dump_is_a_build_problem_not_a_crash(tmp_path):
    """A release's dump damaged since it was cut (found by fuzzing): kb build reports it with its path and writes
    nothing, where it raised StateError from the release history; kb check reports it too. Each damaged dump is
    reported, where a build stopped at the first."""
    ev = two_releases(tmp_path)
    dump = ev / "releases" / "r1" / "kb.nt.gz"
    damaged = bytearray(dump.read_bytes())
    damaged[1] ^= 0xFF  # the gzip magic
    dump.write_bytes(bytes(damaged))
    second = ev / "releases" / "r2" / "kb.nt.gz"
    second.write_bytes(second.read_bytes()[:-100])  # cut short: every damaged release is told in the same run
    site = tmp_path / "site"
    result = run("build", "--evidence", str(ev), "--out", str(site))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert (f"{dump}: release-dump-unreadable the dump of release 'r1' cannot be read: not a readable N-Triples "
            "dump (Not a gzipped file" in result.stderr)
    assert f"{second}: release-dump-unreadable the dump of release 'r2' cannot be read" in result.stderr
    assert "kb build: 2 error(s); nothing was written" in result.stderr and not site.exists()
    result = run("check", "--evidence", str(ev))  # kb check reads the dumps too: it says so before a build
    assert result.exit_code == 1 and f"{dump}: release-dump-unreadable the dump of release 'r1'" in result.stderr


def test_history_is_in_the_graph_as_prov(tmp_path):
    ev = two_releases(tmp_path)
    checked = check(load_config(ev), history=True)
    hist = checked.history
    assert [e.release.name for e in hist.entries] == ["r1", "r2"]
    second = hist.entries[1]
    assert second.generated == ("schizophrenia-cochrane-review", "smi-rct-review-hope-recovery")
    assert second.invalidated == ("schizophrenia-cochrane-inconclusive",)
    assert "direction for overall symptoms no effect → benefit" in second.text
    assert hist.claims["smi-rct-review-hope-recovery"].release == "r2"
    assert hist.claims["schizophrenia-cochrane-review"].text == "renamed from schizophrenia-cochrane-inconclusive"
    assert hist.unreleased is None
    ask = checked.graph.store.query
    base = "https://w3id.org/peer-support-kb/"
    assert ask(f"ASK {{ <{base}release/r2> a <https://w3id.org/peer-support-kb/ontology#Release> ; "
               f"<https://w3id.org/peer-support-kb/ontology#revises> <{base}release/r1> ; "
               f"<http://www.w3.org/ns/prov#invalidated> <{base}claim/schizophrenia-cochrane-inconclusive> ; "
               f"<http://www.w3.org/ns/prov#generated> <{base}claim/smi-rct-review-hope-recovery> }}")
    claims = ev / CLAIMS
    claims.write_text(claims.read_text().replace("{outcome: hope, direction: benefit}",
                                                 "{outcome: hope, direction: mixed}"))
    hist = check(load_config(ev), history=True).history
    assert hist.unreleased is not None and "direction for hope benefit → mixed" in hist.unreleased_text
    assert hist.claims["smi-rct-review-hope-recovery"].release == "unreleased"


def test_build_keeps_every_release_dump_at_a_versioned_path(tmp_path):
    ev = two_releases(tmp_path)
    out = tmp_path / "site"
    assert run("build", "--evidence", str(ev), "--out", str(out)).exit_code == 0
    for name in ("r1", "r2"):
        kept = out / "data" / "releases" / name / "kb.nt.gz"
        assert kept.read_bytes() == (ev / "releases" / name / "kb.nt.gz").read_bytes()
    assert b"release/r2" in gz.read(out / "data" / "kb.nt.gz")
    data_page = (out / "data.html").read_text(encoding="utf-8")  # listed for download, and for catalogues
    void = (out / "data" / "void.ttl").read_text(encoding="utf-8")
    for name in ("r1", "r2"):
        assert f'href="data/releases/{name}/kb.nt.gz" download="kb-{name}.nt.gz"' in data_page  # not "kb.nt.gz" again
        assert f"<releases/{name}/kb.nt.gz>" in void


# --- the living map on the site ------------------------------------------------------------------


def _built(tmp_path: Path, name: str = "site") -> tuple[Path, Path]:
    """Two releases of the fixture, then an unreleased change, built."""
    ev = two_releases(tmp_path)
    claims = ev / CLAIMS
    claims.write_text(claims.read_text().replace("{outcome: hope, direction: benefit}",
                                                 "{outcome: hope, direction: mixed}"))
    out = tmp_path / name
    assert run("build", "--evidence", str(ev), "--out", str(out)).exit_code == 0
    return ev, out


def test_whats_new_lists_releases_newest_first_with_their_changes(tmp_path):
    _, out = _built(tmp_path)
    html = (out / "whatsnew.html").read_text()
    assert html.index("Not yet released") < html.index('id="release-r2"') < html.index('id="release-r1"')
    assert "direction for hope benefit → mixed" in html  # unreleased
    assert "Renamed: schizophrenia-cochrane-inconclusive is now schizophrenia-cochrane-review" in html  # r2
    assert "Peer support services and overall symptoms in serious mental illness: direction no effect → benefit" in html
    assert 'href="data/releases/r1/kb.nt.gz"' in html and 'href="data/releases/r2/kb.nt.gz"' in html
    assert "Data release r2 (2026-11-01). https://w3id.org/peer-support-kb/release/r2" in html
    home = (out / "index.html").read_text()
    assert "Data release r2 (2026-11-01). https://w3id.org/peer-support-kb/release/r2" in home


def _section(out: Path, page: str, tag: str, anchor: str) -> str:
    """The record anchored by ``anchor`` on its page of the site's URL scheme (kb.site.addresses)."""
    html = (out / page).read_text(encoding="utf-8")
    start = html.index(f'id="{anchor}"')
    return html[start:html.index(f"</{tag}>", start)]


def test_claim_and_cell_pages_say_when_they_last_changed(tmp_path):
    from kb.site.addresses import cell_page, claim_page

    _, out = _built(tmp_path)

    def claim(claim_id: str) -> str:
        return _section(out, claim_page(claim_id), "article", claim_id)

    assert "Changed since the latest release, not yet released: direction for hope benefit → mixed." in claim(
        "smi-rct-review-hope-recovery")
    assert "Last changed in release r2 (2026-11-01): renamed from schizophrenia-cochrane-inconclusive." in claim(
        "schizophrenia-cochrane-review")
    assert "Added in release r1 (2026-10-01); unchanged since." in claim("addiction-network-support-abstinence")
    cell = _section(out, cell_page("population", "smi"), "section", "symptoms")
    assert "Last changed in release r2 (2026-11-01): direction no effect → benefit." in cell


def test_feeds_are_valid_atom_with_stable_ids(tmp_path):
    import feedparser

    ev, out = _built(tmp_path)
    again = tmp_path / "again"
    assert run("build", "--evidence", str(ev), "--out", str(again)).exit_code == 0
    feeds = sorted(p.relative_to(out) for p in (out / "feeds").rglob("*.atom"))
    assert Path("feeds/releases.atom") in feeds and Path("feeds/population/smi.atom") in feeds
    for rel in feeds:
        parsed = feedparser.parse((out / rel).read_bytes())
        assert not parsed.bozo, (rel, parsed.get("bozo_exception"))
        assert parsed.version == "atom10" and parsed.feed.id and parsed.feed.updated
        assert (out / rel).read_bytes() == (again / rel).read_bytes()  # ids, dates: the same every build
    releases = feedparser.parse((out / "feeds" / "releases.atom").read_bytes())
    assert [e.id for e in releases.entries] == ["https://w3id.org/peer-support-kb/release/r2",
                                                "https://w3id.org/peer-support-kb/release/r1"]
    assert releases.feed.updated == "2026-11-01T00:00:00Z"
    smi = feedparser.parse((out / "feeds" / "population" / "smi.atom").read_bytes())
    assert [e.id for e in smi.entries] == ["https://w3id.org/peer-support-kb/release/r2#population-smi",
                                           "https://w3id.org/peer-support-kb/release/r1#population-smi"]
    assert "overall symptoms in serious mental illness: direction no effect → benefit" in smi.entries[0].summary
    untouched = feedparser.parse((out / "feeds" / "population" / "not_stated.atom").read_bytes())
    assert untouched.entries == []
    assert 'href="feeds/releases.atom"' in (out / "index.html").read_text()  # autodiscovery


def test_without_releases_the_current_state_is_not_read(evidence_copy, monkeypatch) -> None:
    """Regression (issue 17): every build read a snapshot of the whole graph (15 s at 2M triples) that only a
    comparison with the latest release uses."""
    import kb.diff.snapshot
    from kb.config import load_config
    from kb.pipeline import check

    def refuse(*_args: object) -> None:
        raise AssertionError("read_snapshot called without a release")

    monkeypatch.setattr(kb.diff.snapshot, "read_snapshot", refuse)
    checked = check(load_config(evidence_copy), history=True)
    assert checked.history is not None and not checked.history.entries and checked.history.unreleased is None


def test_a_build_holds_two_releases_at_a_time(tmp_path, monkeypatch) -> None:
    """A release's snapshot is loaded when the history compares it and let go after the next one: however many
    releases there are, a build holds the latest (read beside the current graph) and two others at most, where it held
    every one from the start (~120 MB each at 10k/50k)."""
    import weakref

    from kb.diff.snapshot import Pickled

    ev = two_releases(tmp_path)
    claims = ev / CLAIMS
    for name in ("r3", "r4"):
        claims.write_text(claims.read_text().replace("    statement: >-\n", f"    statement: >-\n      ({name})\n", 1))
        assert run("release", "--evidence", str(ev), name, "--date", "2026-11-30").exit_code == 0
    loaded: list[weakref.ref] = []
    held: list[int] = []  # at each load, how many of those loaded before are still alive
    real = Pickled.load

    def load(self: Pickled):
        snap = real(self)
        held.append(sum(ref() is not None for ref in loaded))
        loaded.append(weakref.ref(snap))
        return snap

    monkeypatch.setattr(Pickled, "load", load)
    checked = check(load_config(ev), history=True)
    assert checked.report.ok() and [e.release.name for e in checked.history.entries] == ["r1", "r2", "r3", "r4"]
    assert held == [0, 1, 2, 2]  # r4 first (the latest), then r1, r2 and r3 in turn
