"""A strict YAML reader for claim files: line numbers on everything, no silent surprises.

PyYAML's ``safe_load`` keeps the last of two duplicate keys, reads ``NO`` as false and ``1.10``
as 1.1, and raises line-less errors for impossible dates (BAD_INPUTS #25–#30). Here the file is
only *composed* into nodes (libyaml's C composer when available: nodes keep their marks), then
converted by hand: duplicate keys, aliases, custom tags, several documents and empty files are
problems; scalars keep their raw text so that field checks can name the trap.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from kb.ids import BIDI_CONTROLS, CONTROL_CHARS
from kb.io.reading import InputTooLarge, os_error_text, read_capped
from kb.problems import Problem, bad_characters, error, escape_char

try:  # libyaml is ~10x faster and still records marks on nodes.
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python fallback
    _Base = yaml.SafeLoader


class _Loader(_Base):
    """The safe loader with a memo for the implicit type of plain scalars.

    libyaml composes in C but asks Python for each scalar's implicit tag (a regex per scalar):
    a third of the time for 50,000 claims. The answer depends only on the text, and claim files
    repeat the same keys and ids, so short texts are remembered.
    """

    _implicit: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode or not implicit[0] or len(value) > 64:
            return super().resolve(kind, value, implicit)
        tag = self._implicit.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._implicit) < 100_000:
                self._implicit[value] = tag
        return tag

_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}
# Keys and short values (concept ids, directions, levels, citekeys) are one string object each:
# 50,000 claims held 1.9M strings, 135 MB, of which 27 MB were distinct. Interned in the process that parses a
# file, a value is one object per file wherever it is unpickled (the records come pickled, from the parse cache or
# a parsing process).
_SHARED_UP_TO = 64  # characters


@dataclass(frozen=True)
class Scalar:
    """A scalar as written: its text, YAML's implicit type, whether it was quoted, and where."""

    text: str
    tag: str  # "str", "int", "float", "bool", "null", "timestamp"
    quoted: bool
    line: int
    col: int

    def python(self) -> Any:
        """The value YAML 1.1 would give (what a naive loader would have silently used)."""
        if self.tag in ("str", "timestamp"):
            return self.text
        return yaml.safe_load(self.text) if self.text else None


@dataclass
class Mapping:
    items: dict[str, Any] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)
    line: int = 0
    col: int = 0


@dataclass
class Sequence:
    items: list[Any] = field(default_factory=list)
    line: int = 0
    col: int = 0


Value = Scalar | Mapping | Sequence


def read_yaml(path: Path, max_bytes: int = 10 * 1024 * 1024) -> tuple[Value | None, list[Problem]]:
    """Read one YAML document as line-marked nodes; problems instead of exceptions."""
    try:
        data = read_capped(path, max_bytes)
    except InputTooLarge as exc:
        return None, [error(path, None, "yaml-too-large", str(exc), expected=f"at most {max_bytes:,} bytes")]
    except OSError as exc:
        return None, [error(path, None, "yaml-unreadable", f"cannot read the file: {os_error_text(exc)}",
                            expected="a readable YAML file", hint="check its permissions")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            error(path, line, "yaml-encoding", f"byte 0x{data[exc.start]:02x} is not valid UTF-8", col=col,
                  expected="a UTF-8 file", hint="re-save the file as UTF-8")
        ]
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str) -> tuple[Value | None, list[Problem]]:
    # The rule every text the KB takes in follows (BAD_INPUTS #21): no control or bidi characters.
    bad = [problem for _, problem in bad_characters(text, path, "yaml")]
    if any(p.code == "yaml-control-char" for p in bad):
        return None, bad  # YAML refuses them too, but says neither where nor which
    problems: list[Problem] = list(bad)
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        return None, [*problems, _syntax_problem(exc, text, path)]
    except yaml.YAMLError as exc:  # pragma: no cover - unexpected libyaml failure
        return None, [*problems, error(path, None, "yaml-syntax", f"YAML error: {exc}")]
    documents = [d for d in documents if d is not None]
    if not documents:
        return None, [*problems, error(path, 1, "yaml-empty", "the file has no content",
                                       expected="a mapping with 'source' and 'claims'")]
    if len(documents) > 1:
        second = documents[1].start_mark.line + 1
        problems.append(error(path, second, "yaml-multiple-documents",
                              "the file has more than one YAML document ('---')",
                              expected="exactly one document", hint="split it into several files or remove '---'"))
    converter = _Converter(str(path), text)
    value = converter.convert(documents[0])
    return value, problems + converter.problems


_QUOTE = re.compile(r"""(?:^|[\s:,\[{-])(["'])""")


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, path: Path | str) -> Problem:
    """A YAML syntax error where its cause is: the opening quote of an unclosed string, the tab that
    broke the indentation, else libyaml's own place."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    message = f"YAML syntax error: {exc.problem or exc.context}"
    hint = None
    lines = text.splitlines()
    if exc.context == "while scanning a quoted scalar" and exc.context_mark is not None:
        opened = exc.context_mark
        line, col = opened.line + 1, opened.column + 1
        message = "a quoted value opens here and is never closed (YAML read to the end of the file)"
        hint = "add the closing quote on this line"
    elif (line and col and 0 < line <= len(lines) and any(q in lines[line - 1][:col] for q in "\"'")
          and (opening := _unclosed_quote(lines[: line - 1])) is not None):
        line, col = opening
        message = (f"a quoted value opens here and is not closed on its line; YAML then failed at line "
                   f"{mark.line + 1 if mark else '?'}: {exc.problem}")
        hint = "add the closing quote on this line"
    elif line and col and 0 < line <= len(lines) and ("tab" in str(exc.problem).lower()
                                                       or "\t" in lines[line - 1][: col]):
        tab = lines[line - 1].find("\t")
        col = tab + 1 if tab >= 0 else col
        message = "a tab character is used for indentation: YAML allows only spaces there"
        hint = "replace the tab with spaces"
    return error(path, line, "yaml-syntax", message, col=col, expected="valid YAML", hint=hint)


def _unclosed_quote(lines: list[str]) -> tuple[int, int] | None:
    """(line, column) of a quote that opens a value and is not closed on its line, if any.

    Claim files never continue a quoted value on the next line, so such a quote is almost always a
    typo, and libyaml reports it lines later, wherever the next quote happens to close it.
    """
    for number, line in enumerate(lines, start=1):
        stripped = line.split(" #", 1)[0]
        for match in _QUOTE.finditer(stripped):
            quote, start = match.group(1), match.start(1)
            rest = stripped[start + 1:]
            closed = re.search(r'(?<!\\)"' if quote == '"' else r"'(?!')", rest.replace("''", "  "))
            if closed is None:
                return number, start + 1
            break  # one quoted value per line is all claim files have
    return None


class _Converter:
    def __init__(self, path: str, text: str = "") -> None:
        self.path = path
        self.text = text
        self.problems: list[Problem] = []
        self._seen: set[int] = set()

    def _escaped_controls(self, node: yaml.ScalarNode, line: int, col: int) -> None:
        """The text rule for what a double-quoted value decodes to: ``"\\u202e"`` or ``"\\a"`` written as an
        escape passes the check of the raw file (:func:`kb.problems.bad_characters`) but not this one."""
        written = self.text[node.start_mark.index:node.end_mark.index]
        for pattern, code, what in ((CONTROL_CHARS, "yaml-control-char", "control character"),
                                    (BIDI_CONTROLS, "yaml-bidi-control", "bidirectional control character")):
            found = next((m.group(0) for m in pattern.finditer(node.value) if m.group(0) not in written), None)
            if found is not None:
                self.problems.append(error(
                    self.path, line, code, f"an escape in this quoted value stands for the {what} "
                    f"{escape_char(found)} (invisible in most editors)", col=col, expected="printable text",
                    hint="delete the escape sequence"))

    def convert(self, node: yaml.Node, used_at: int | None = None) -> Value | None:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if id(node) in self._seen:
            self.problems.append(error(self.path, used_at or line, "yaml-alias",
                                       f"an alias reuses the value anchored at line {line}; anchors and aliases "
                                       "are not allowed in claim files", hint="write the value out in full"))
            return None
        self._seen.add(id(node))
        if node.tag not in _ALLOWED_TAGS:
            self.problems.append(error(self.path, line, "yaml-tag", f"tag '{node.tag}' is not allowed", col=col,
                                       expected="plain YAML values (no '!!' tags)"))
            return None
        if isinstance(node, yaml.ScalarNode):
            quoted = node.style in ("'", '"', "|", ">")
            if node.style == '"':
                self._escaped_controls(node, line, col)
            value = node.value
            return Scalar(sys.intern(value) if len(value) <= _SHARED_UP_TO else value,
                          node.tag.removeprefix(_TAG), quoted, line, col)
        if isinstance(node, yaml.SequenceNode):
            return Sequence([self.convert(item) for item in node.value], line, col)
        mapping = Mapping(line=line, col=col)
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(error(self.path, key_line, "yaml-key", "a mapping key must be a plain word",
                                           col=key_node.start_mark.column + 1))
                continue
            key = sys.intern(key_node.value)
            if key in mapping.items:
                first = mapping.key_lines[key]
                self.problems.append(error(self.path, key_line, "yaml-duplicate-key",
                                           f"key '{key}' appears twice (first at line {first})", field=key,
                                           col=key_node.start_mark.column + 1,
                                           hint="keep one of them: YAML would silently use the last"))
                continue
            mapping.items[key] = self.convert(value_node, used_at=key_line)
            mapping.key_lines[key] = key_line
        return mapping
