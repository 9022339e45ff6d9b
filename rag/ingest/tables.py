"""A table longer than one chunk, cut between rows with its header row (and caption) on top of
every piece, so a chunk holding a later row still says what its columns are.

Tables reach the chunker as `|` rows, one block each (`chunking.blocks`): Markdown tables as
written, HTML tables from `sections.html_sections` (their `<caption>` as a "Table: …" line
before the rows), DOCX and PPTX tables from `office.markdown_table`. A PDF's text layer has no
table structure (its rows arrive as plain lines), so PDF tables are not recognised here. Without
this step the recursive splitter cut a long table anywhere, and every chunk after the first had
rows without column names: on the fixture of tests/ingest/test_tables.py "what is the default of
X" found the chunk with the header and the cell in 0 of 5 questions' top 3 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CAPTION = re.compile(r"^(table|tab\.|caption)\b", re.IGNORECASE)
CAPTION_MAX = 200  # a caption is one short line: "Table 3: Settings" (Word, HTML <caption>)


def is_table(block: str) -> bool:
    """A block whose lines are all `|` rows (how every loader writes a table)."""
    lines = block.splitlines()
    return bool(lines) and all(line.lstrip().startswith("|") for line in lines)


def split_tables(parts: list[str], chunk_size: int) -> list[str]:
    """`parts` (blocks) with each table longer than `chunk_size` cut into row groups that each
    start with the caption (the line just before it, "Table …", `take_caption`) and the header row;
    a table that fits, and every other block, is left as it is."""
    result: list[str] = []
    for part in parts:
        if len(part) <= chunk_size or not is_table(part):
            result.append(part)
            continue
        result.extend(table_pieces(part, take_caption(result), chunk_size))
    return result


def take_caption(before: list[str]) -> str:
    """The caption line just above a table (the last line of the block before it: HTML sections
    have no blank lines between paragraphs), taken out of `before`; "" if that line isn't one."""
    if not before:
        return ""
    text, _, line = before[-1].rpartition("\n")
    if len(line) > CAPTION_MAX or not _CAPTION.match(line.strip()):
        return ""
    if text.strip():
        before[-1] = text
    else:
        before.pop()
    return line.strip()


def table_pieces(table: str, caption: str, chunk_size: int) -> list[str]:
    """The table's body rows packed into pieces of at most `chunk_size` characters, each led by
    the caption and the header (the first row, and the `| --- |` line under it if any). A header
    over half a chunk would leave little room for rows: then the table is cut as before, with
    the caption in front (the splitter cuts it). A single row too long for a piece stays whole
    here; the splitter cuts it after."""
    lines = table.splitlines()
    size = 2 if len(lines) > 1 and _SEPARATOR.match(lines[1]) else 1
    head = "\n".join(([caption] if caption else []) + lines[:size])
    rows = lines[size:]
    if not rows or len(head) > chunk_size // 2:
        return [f"{caption}\n{table}" if caption else table]
    pieces: list[list[str]] = [[]]
    used = len(head)
    for row in rows:
        if pieces[-1] and used + 1 + len(row) > chunk_size:
            pieces.append([])
            used = len(head)
        pieces[-1].append(row)
        used += 1 + len(row)
    return ["\n".join([head, *piece]) for piece in pieces]
