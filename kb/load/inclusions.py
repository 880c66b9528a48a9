"""Load the reviews' inclusions (``inclusions/*.yaml``): which studies a review included, as a source states.

One file per stating document, like claims. Only the shape is checked here; whether the keys exist,
a review includes itself, or the quote is in the archived text is :mod:`kb.checks.inclusions`' job.
"""

from __future__ import annotations

from pathlib import Path

from kb.ids import CITEKEY_RE
from kb.load.claims import Spec, _Reader
from kb.load.yamlstrict import Sequence, read_yaml
from kb.model import Inclusion
from kb.problems import Problem

FILE_FIELDS = {"source": Spec("id", True, CITEKEY_RE), "reviews": Spec("list", True)}
REVIEW_FIELDS = {
    "review": Spec("id", True, CITEKEY_RE),
    "section": Spec("text", True),
    "quote": Spec("text", True),
    "includes": Spec("list"),
    "notes": Spec("text"),
}


def load_inclusion_file(path: Path) -> tuple[list[Inclusion], list[Problem]]:
    """The review entries of one file, and every problem of its shape."""
    root, problems = read_yaml(path)
    reader = _Reader(path, problems)
    top = reader.mapping(root, "the inclusions file", 1)
    if top is None:
        return [], problems
    head = reader.read(top, FILE_FIELDS, "the inclusions file")
    source = head.get("source")
    out: list[Inclusion] = []
    for item in head.get("reviews", Sequence()).items:
        node = reader.mapping(item, "a review entry", top.line)
        if node is None:
            continue
        before = len(problems)
        fields = reader.read(node, REVIEW_FIELDS, "a review entry")
        items = reader.id_list(fields["includes"], "includes", CITEKEY_RE) if "includes" in fields else []
        required = [k for k, s in REVIEW_FIELDS.items() if s.required]
        if source is None or any(k not in fields for k in required) or len(problems) > before:
            continue
        out.append(Inclusion(
            source=source, review=fields["review"], includes=tuple(k for k, _ in items), quote=fields["quote"],
            section=fields["section"], notes=fields.get("notes"), path=str(path), line=node.line,
            include_lines=tuple(line for _, line in items), field_lines=dict(node.key_lines),
        ))
    return out, problems


def load_inclusions(folder: Path) -> tuple[list[Inclusion], list[Problem]]:
    """Every review entry of every ``*.yaml`` file of the folder (which may be absent), in file order."""
    inclusions: list[Inclusion] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        found, file_problems = load_inclusion_file(path)
        inclusions += found
        problems += file_problems
    return inclusions, problems
