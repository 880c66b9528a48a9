"""A very small Markdown reader for one section of the editors' guide (the certainty rule).

It returns ``Block`` records — headings, paragraphs, bullet lists, pipe tables, code — with inline
code and bold as typed spans, so the template renders them and escapes every character; no HTML
is built here (a Markdown library would hand back HTML, which the template contract forbids).
Anything fancier than the guide uses is shown as plain text.
"""

from __future__ import annotations

import re

from kb.site.pages import Block

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[*-]\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE = re.compile(r"(`[^`]+`|\*\*[^*]+\*\*|(?<![\w*])\*[^*\s][^*]*\*(?![\w*]))")


def spans(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in _INLINE.split(text):
        if not part:
            continue
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(("code", part[1:-1]))
        elif part.startswith("**") and part.endswith("**") and len(part) > 3:
            out.append(("strong", part[2:-2]))
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append(("em", part[1:-1]))
        else:
            out.append(("text", part))
    return tuple(out)


def section(markdown: str, title_pattern: str) -> tuple[Block, ...]:
    """The blocks under the first heading matching ``title_pattern`` (to the next heading of its level)."""
    lines = markdown.splitlines()
    start, level = None, 0
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match and re.search(title_pattern, match.group(2), re.IGNORECASE):
            start, level = i + 1, len(match.group(1))
            break
    if start is None:
        return ()
    body = []
    for line in lines[start:]:
        match = _HEADING.match(line)
        if match and len(match.group(1)) <= level:
            break
        body.append(line)
    return blocks(body)


def cells(line: str) -> list[str]:
    """The cells of a pipe-table row; a ``|`` inside backticks belongs to the cell."""
    text = line.strip()
    text = text[1:] if text.startswith("|") else text
    text = text[:-1] if text.endswith("|") and not text.endswith("\\|") else text
    out, cell, in_code = [], "", False
    for char in text:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            out.append(cell.strip())
            cell = ""
        else:
            cell += char
    out.append(cell.strip())
    return out


def blocks(lines: list[str]) -> tuple[Block, ...]:
    out: list[Block] = []
    para: list[str] = []
    items: list[str] = []
    code: list[str] | None = None
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            width = len(table[0])
            before = out[-1] if out else None  # "**2. Start from the design …**" names the table
            caption = before.spans[0][1] if before and before.kind == "p" and before.spans[0][0] == "strong" else ""
            out.append(Block("table", text=caption.rstrip(".:"),
                             rows=tuple(tuple(spans(c) for c in (row + [""] * width)[:width]) for row in table)))
            table.clear()
        if para:
            out.append(Block("p", spans(" ".join(s.strip() for s in para))))
            para.clear()
        if items:
            out.append(Block("ul", items=tuple(spans(i) for i in items)))
            items.clear()

    for i, line in enumerate(lines):
        if len(table) == 1 and _TABLE_RULE.match(line):
            continue  # the rule under the header
        if table and line.strip().startswith("|"):
            table.append(cells(line))
            continue
        if line.strip().startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            flush()
            table.append(cells(line))
            continue
        if code is not None:
            if line.strip().startswith("```"):
                out.append(Block("pre", text="\n".join(code)))
                code = None
            else:
                code.append(line)
            continue
        if line.strip().startswith("```"):
            flush()
            code = []
            continue
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        if heading:
            flush()
            out.append(Block("h", spans(heading.group(2))))
        elif bullet:
            if para:
                flush()
            items.append(bullet.group(1).strip())
        elif not line.strip():
            flush()
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line)
    if code is not None:
        out.append(Block("pre", text="\n".join(code)))
    flush()
    return tuple(out)
