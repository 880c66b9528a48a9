"""Archived source texts (``sources/<citekey>.txt`` + ``.yaml``): quotes are checked against them.

Only documents whose licence allows redistribution are archived; a claim whose source has no
archive is not checked (``kb check`` says so once per source, as a warning).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kb.ids import CITEKEY_RE
from kb.io.reading import InputTooLarge, decode_position, os_error_text, read_capped
from kb.load.claims import Spec, _Reader
from kb.load.yamlstrict import Mapping, read_yaml
from kb.model import Section, SourceText
from kb.problems import Problem, did_you_mean, error

MAX_SOURCE_BYTES = 50 * 1024 * 1024
SOURCE_FIELDS = {
    "citekey": Spec("id", True, CITEKEY_RE),
    "title": Spec("text"),
    "origin": Spec("text", True),
    "licence": Spec("text", True),
    "licence_url": Spec("text"),
    "attribution": Spec("text", True),
    "sections": Spec("list"),
}
SECTION_FIELDS = {
    "heading": Spec("text", True),
    "line": Spec("int", True),
    "parent": Spec("text"),
    "inferred": Spec("bool"),
    "note": Spec("text"),
}


def normalise_ws(text: str) -> str:
    """Collapse every run of whitespace to one space: quotes match across line breaks."""
    return " ".join(text.split())


def quote_hint(quote: str, text: str) -> str:
    """Where a quote stops matching the text: the longest prefix found, for the error's hint."""
    words = quote.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # longest prefix of the quote that occurs in the text
        mid = (lo + hi + 1) // 2
        if " ".join(words[:mid]) in text:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return "not even its first word matches; check the source"
    return f"the first {lo} words match; it differs after “{' '.join(words[max(0, lo - 4):lo])}”"


def check_passage(source_key: str, source: SourceText, quote: str, section: str, fail: Callable[..., None], *,
                  codes: tuple[str, str], quote_expected: str) -> None:
    """The two checks every quoted passage gets (a claim's, an inclusion's): its quote is in the archived
    text, whitespace aside, and its section is a heading of the source. ``fail(field, code, message, **kw)``
    reports; ``codes`` are the caller's (quote not found, unknown section)."""
    quote = normalise_ws(quote)
    if quote not in source.text:
        fail("quote", codes[0], f"the quote is not in the archived text of '{source_key}'",
             expected=quote_expected, hint=quote_hint(quote, source.text))
    headings = [s.heading for s in source.sections]
    if headings and section not in headings:
        fail("section", codes[1], f"section '{section}' is not a heading of the source",
             expected=f"a heading listed in sources/{source_key}.yaml", hint=did_you_mean(section, headings))


def load_sources(sources_dir: Path, load: Callable[[Path], tuple[SourceText | None, list[Problem]]] | None = None,
                 ) -> tuple[dict[str, SourceText], list[Problem]]:
    """Every archived source of the folder, by citekey (the last file wins a citekey described twice).

    ``load`` reads one description and its text (the pipeline passes a cached :func:`load_source_file`)."""
    sources: dict[str, SourceText] = {}
    problems: list[Problem] = []
    for meta_path in sorted(sources_dir.glob("*.yaml")) if sources_dir.is_dir() else []:
        source, file_problems = (load or load_source_file)(meta_path)
        problems.extend(file_problems)
        if source is not None:
            sources[source.citekey] = source
    return sources, problems


def source_files(meta_path: Path) -> tuple[Path, ...]:
    """What :func:`load_source_file` reads besides the description: the archived text."""
    return (meta_path.with_suffix(".txt"),)


def load_source_file(meta_path: Path) -> tuple[SourceText | None, list[Problem]]:
    """One archived source: its description (``<citekey>.yaml``) and the text beside it (:func:`source_files`)."""
    problems: list[Problem] = []
    root, file_problems = read_yaml(meta_path)
    problems.extend(file_problems)
    reader = _Reader(meta_path, problems)
    top = reader.mapping(root, "the source description", 1)
    if top is None:
        return None, problems
    fields = reader.read(top, SOURCE_FIELDS, "the source description")
    text_path = source_files(meta_path)[0]
    if "citekey" not in fields:
        return None, problems
    if not text_path.is_file():
        problems.append(error(meta_path, top.line, "source-text-missing", f"{text_path.name} does not exist",
                              expected="the archived text beside its description"))
        return None, problems
    text, found = read_text(text_path, MAX_SOURCE_BYTES, ("source-encoding", "source-unreadable"),
                            "the archived text")
    problems += found
    if text is None:
        return None, problems
    sections = tuple(_sections(reader, fields.get("sections"), text, text_path))
    return SourceText(
        citekey=fields["citekey"], text=normalise_ws(text), title=fields.get("title", ""),
        licence=fields.get("licence", ""), licence_url=fields.get("licence_url", ""),
        attribution=fields.get("attribution", ""), origin=fields.get("origin", ""),
        sections=sections, path=str(text_path),
    ), problems


def read_text(path: Path, max_bytes: int, codes: tuple[str, str], what: str,
              hint: str = "check its permissions") -> tuple[str | None, list[Problem]]:
    """A UTF-8 text file of at most ``max_bytes``, or ``None`` and why: ``codes`` name a byte that is not UTF-8
    (with its line and column) and a file that cannot be read or is too large (``what`` it is, in the message)."""
    encoding_code, unreadable_code = codes
    try:
        data = read_capped(path, max_bytes)
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line, col = decode_position(data, exc)
        return None, [error(path, line, encoding_code, f"byte 0x{data[exc.start]:02X} is not valid UTF-8", col=col,
                            expected="a UTF-8 text", hint="convert it (iconv -t utf-8)")]
    except (InputTooLarge, OSError) as exc:
        reason = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        return None, [error(path, None, unreadable_code, f"cannot read {what}: {reason}",
                            expected=f"a readable text of at most {max_bytes:,} bytes", hint=hint)]


def _sections(reader: _Reader, seq: object, text: str, text_path: Path) -> list[Section]:
    out = []
    lines = text.splitlines()
    where: dict[str, list[int]] = {}  # each stripped line's numbers: a heading that moved is found where it is now
    for number, content in enumerate(lines, start=1):
        where.setdefault(content.strip(), []).append(number)
    for item in getattr(seq, "items", []):
        node = reader.mapping(item, "a section", 0)
        if not isinstance(node, Mapping):
            continue
        f = reader.read(node, SECTION_FIELDS, "a section")
        if "heading" not in f or "line" not in f:
            continue
        inferred = bool(f.get("inferred", False))
        line = f["line"]
        actual = lines[line - 1].strip() if 0 < line <= len(lines) else None
        if not inferred and actual != f["heading"]:
            moved = where.get(f["heading"], [])
            found = f"found: {actual!r}" + (f"; the heading is on line {', '.join(map(str, moved))}" if moved else "")
            reader.fail(node.key_lines["line"], "source-section-line",
                        f"line {line} of {text_path.name} is not the heading '{f['heading']}'", field="line",
                        expected="the 1-based line where the heading stands", hint=found)
        out.append(Section(f["heading"], line, f.get("parent"), inferred))
    return out
