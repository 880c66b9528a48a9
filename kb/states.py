"""States of the KB, for ``kb diff`` and releases: a folder, a built site, a dump or a git revision
read as a snapshot; and ``kb release``, which keeps the current state for good.

Above the pipeline (it checks evidence to read it), below the CLI.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import tomllib
from pathlib import Path

from kb.config import Config, load_config
from kb.diff.snapshot import Snapshot, StateError, read_dump, read_snapshot
from kb.io.atomic import LockTimeoutError
from kb.io.reading import write_failure
from kb.pipeline import EvidenceError, OutputError, check
from kb.problems import bad_characters

__all__ = ["ReleaseError", "StateError", "cut_release", "snapshot_of"]


def snapshot_of(source: Path, *, rev: str | None = None) -> Snapshot:
    """A state of the KB, read through its graph.

    ``source`` is an evidence folder, a built site (its ``data/kb.nt.gz``) or an N-Triples dump
    (``.nt`` or ``.nt.gz``). With ``rev``, the evidence folder as it was at that git revision.
    """
    from kb.export.formats import site_dump

    if rev is not None:
        return _snapshot_at_revision(source, rev)
    dump = site_dump(source) if source.is_dir() else None
    if dump is not None:
        source = dump
    if source.is_file():
        return read_dump(source)
    if not source.is_dir():
        raise StateError(f"{source}: no such evidence folder, site or dump")
    config = load_config(source, parse_cache=False)
    checked = check(config, shacl=False)
    if checked.graph is None or checked.report.errors:
        raise EvidenceError(checked.report)
    return read_snapshot(checked.graph.store, config.base_iri)


def _snapshot_at_revision(evidence_dir: Path, rev: str) -> Snapshot:
    """The evidence folder at a git revision, extracted with ``git archive`` into a temporary folder."""
    import io
    import subprocess
    import tarfile

    folder = evidence_dir.resolve()
    try:
        top = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, check=True,
                                  capture_output=True, text=True).stdout.strip())
        rel = folder.relative_to(top).as_posix()
        archive = subprocess.run(["git", "archive", "--format=tar", rev, "--", rel], cwd=top, check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = detail.decode(errors="replace").strip() if isinstance(detail, bytes) else str(detail)
        raise StateError(f"cannot read {evidence_dir} at revision '{rev}': {message or exc}") from None
    with tempfile.TemporaryDirectory(prefix="kb-rev-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        try:
            return snapshot_of(Path(tmp) / rel)
        except EvidenceError as exc:
            # Usually an older evidence model (fields added since): hundreds of problems in a temporary
            # folder would bury the point. Say it once, with the first problem placed in the revision.
            errors = exc.report.sorted()
            first = errors[0].format().replace(f"{tmp}/", f"{rev}:") if errors else "no details"
            raise StateError(
                f"the evidence at revision '{rev}' does not load with this version of kb ({len(errors)} "
                f"problem(s); the first: {first}). If the evidence model changed since, compare a site or "
                f"dump built at that revision instead: kb diff OLD-SITE NEW") from None


class ReleaseError(ValueError):
    """A release could not be cut (bad name or date, already released): nothing was written."""


def cut_release(config: Config, name: str, date: str, notes: str = "") -> Path:
    """Keep the current evidence as release ``name``: its dump, compressed, and a ``[[releases]]``
    entry in ``kb.toml``. Both are written only after every check passed; a failure leaves no file."""
    from kb.export.rdf import write_ntriples
    from kb.io.atomic import atomic_write_bytes, file_digest, locked, new_temp, publish_new, remove_stale_temps
    from kb.load.releases import DATE_RE, RELEASE_NAME_RE, dump_path

    if not RELEASE_NAME_RE.match(name):
        raise ReleaseError(f"release name '{name}' is not safe; expected letters, digits, '.', '_' or '-'")
    if not DATE_RE.match(date) or not _real_date(date):  # kb.toml must stay TOML: 2024-02-30 would break it
        raise ReleaseError(f"release date '{date}' is not YYYY-MM-DD (a real calendar date, e.g. 2024-02-29)")
    bad = bad_characters(notes, "--notes", "release")
    if bad:  # the rule every text the KB takes in follows
        raise ReleaseError(f"the notes hold a {bad[0][1].message}; expected printable text")
    checked = check(config, history=True)
    if not checked.report.ok(strict=False):
        raise EvidenceError(checked.report)
    releases = checked.evidence.releases
    if any(r.name == name for r in releases):
        raise ReleaseError(f"release '{name}' exists already; releases are never replaced")
    if releases and date < releases[-1].date:
        raise ReleaseError(f"release date {date} is before the latest release ({releases[-1].name}, "
                           f"{releases[-1].date})")
    dump = dump_path(config.evidence_dir, name)
    if dump.exists():
        raise ReleaseError(f"{dump} exists already; remove it or choose another name")
    toml = config.evidence_dir / "kb.toml"
    # A TOML basic string: JSON's escapes are TOML's (a newline or a control character in the notes
    # written raw would leave a kb.toml that no command can read).
    entry = f'\n[[releases]]\nname = "{name}"\ndate = {date}\nnotes = {json.dumps(notes, ensure_ascii=False)}\n'
    created = [folder for folder in (dump.parent, dump.parent.parent) if not folder.exists()]
    temp: Path | None = None
    size: int | None = None  # the dump's, once written whole
    done = False
    try:
        dump.parent.mkdir(parents=True, exist_ok=True)
        temp = new_temp(dump)
        # Sorted N-Triples gzipped as they are written (one member with no file name and no time, zlib at its default
        # level, kb.io.gz.writer): the same evidence always gives the same bytes, and the graph's text is never held
        # whole. At 10k/50k its lines, their joined copy and libdeflate's took kb release to 2.3 GB; now 1.2 GB, for
        # ~4 s more (12.5 → 16.8 s: GNU sort's passes, zlib slower than libdeflate) and a 2 % larger dump.
        write_ntriples(checked.kg, temp, gzipped=True)
        size = temp.stat().st_size
        with locked(toml):
            remove_stale_temps(toml)  # left by a writer killed mid-write; we hold the lock
            digest = file_digest(toml)
            old = toml.read_bytes() if toml.exists() else b""
            new = old.rstrip(b"\n") + b"\n" + entry.encode("utf-8")
            tomllib.loads(new.decode("utf-8"))  # never write a kb.toml that does not parse
            publish_new(temp, dump)  # never over a dump that appeared meanwhile
            remove_stale_temps(dump)  # left by a release of this name killed mid-stream (a rival's fails, as it must)
            try:
                atomic_write_bytes(toml, new, expected_digest=digest, backup=False)
            except BaseException:
                dump.unlink(missing_ok=True)
                raise
        done = True
    except LockTimeoutError as exc:
        raise OutputError(f"{exc}; nothing was written") from None
    except FileExistsError:
        raise ReleaseError(f"{dump} exists already; remove it or choose another name") from None
    except OSError as exc:
        raise OutputError(f"{write_failure(exc, dump, size)}; nothing was written") from None
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
        if not done:
            for folder in created:  # deepest first
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return dump


def _real_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True
