"""A PDF page's tables as `|` rows, so the chunker keeps their header on every piece (tables.py).

A PDF's text layer has no table structure: pypdf's text gives each row as one line of words, and
a table longer than a chunk lost its column names after the first piece (the fixture of
tests/ingest/test_pdf_tables.py: 0 of 5 questions about later rows found the header and the
cell in the top 3 before this; docs/BENCHMARKS.md). What the text layer does have is where each
run of text starts, and a table's cells start at the same x in row after row. So:

- the runs of a page are grouped into lines by their y;
- consecutive lines of at least `MIN_COLUMNS` runs, most of whose starts line up with the line
  above (`ALIGNED_SHARE`), form a table; a line whose runs all sit in the table's later columns
  is a wrapped cell of the row above;
- each row's cells are found in pypdf's own text of the page (in order, separated by white space)
  and that span becomes `| cell | cell |`; a row that can't be found stays as pypdf wrote it, so a
  misread never loses text;
- a table that goes on over a page break gets its header again when its columns line up with the
  header of the table the last page ended with.

Justified prose set word by word also has several runs a line, but few of their starts line up
with the line above (about 1 in 8 at 15 words a line), hence the share rather than a count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pypdf import PageObject

MIN_COLUMNS = 3  # two "columns" is a two-column page layout as often as a table
MIN_ROWS = 3  # a header and two rows
ALIGNED_SHARE = 0.6  # of a line's run starts that sit on a start of the line above
X_TOLERANCE = 2.0  # points: generators place a column's cells at the same x, give or take rounding


@dataclass(frozen=True)
class Run:
    """One piece of text as the page draws it, with where it starts (in points)."""

    text: str
    x: float
    y: float
    size: float


@dataclass
class Table:
    """Rows of cells, and the x where each column starts (to recognise it on the next page)."""

    columns: list[float]
    rows: list[list[str]] = field(default_factory=list)


class PdfTableReader:
    """Reads a PDF page by page (`page_text`), remembering the last page's last table so that a
    table continued over a page break gets its header again."""

    def __init__(self) -> None:
        self._open: Table | None = None

    def page_text(self, page: PageObject) -> str:
        runs: list[Run] = []
        text = page.extract_text(visitor_text=_collector(runs)) or ""
        tables = find_tables(_lines(runs))
        if tables and self._open is not None and _continues(self._open, tables[0]):
            tables[0].rows.insert(0, self._open.rows[0])
        self._open = tables[-1] if tables else None
        return with_tables(text, tables)


def _collector(runs: list[Run]):
    """A pypdf `visitor_text` that keeps each non-blank run with its start in page space."""

    def visit(text: str, cm: list[float], tm: list[float], _font: object, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append(Run(text.strip(), x, y, float(size or 0)))

    return visit


def _lines(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into lines, top to bottom, each line left to right."""
    lines: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: (-r.y, r.x)):
        if lines and abs(lines[-1][0].y - run.y) <= max(run.size, 1.0) * 0.4:
            lines[-1].append(run)
        else:
            lines.append([run])
    return [sorted(line, key=lambda r: r.x) for line in lines]


def _on(x: float, columns: list[float]) -> bool:
    return any(abs(x - c) <= X_TOLERANCE for c in columns)


def _aligned(line: list[Run], above: list[float]) -> bool:
    hits = sum(_on(run.x, above) for run in line)
    return len(line) >= MIN_COLUMNS and hits >= MIN_COLUMNS and hits >= ALIGNED_SHARE * len(line)


def find_tables(lines: list[list[Run]]) -> list[Table]:
    """The tables among `lines`: blocks of aligned lines (with their wrapped-cell lines)."""
    tables: list[Table] = []
    block: list[list[Run]] = []
    for line in lines:
        if block and (_aligned(line, _columns(block) + _starts(block)) or _wraps(line, _columns(block))):
            block.append(line)
            continue
        tables.extend(_table(block))
        block = [line] if len(line) >= MIN_COLUMNS else []
    tables.extend(_table(block))
    return tables


def _columns(block: list[list[Run]]) -> list[float]:
    """The x of each column: the starts of the block's first line (a table's header)."""
    return [run.x for run in block[0]]


def _starts(block: list[list[Run]]) -> list[float]:
    """The run starts of the block's last full row (a wrapped-cell line has too few to compare)."""
    full = [line for line in block if len(line) >= MIN_COLUMNS]
    return [run.x for run in full[-1]] if full else []


def _wraps(line: list[Run], columns: list[float]) -> bool:
    """A line that only continues cells of the row above: every run on a column, none the first."""
    return all(_on(run.x, columns[1:]) for run in line) and not _on(line[0].x, columns[:1])


def _table(block: list[list[Run]]) -> list[Table]:
    rows = [line for line in block if len(line) >= MIN_COLUMNS]
    if len(rows) < MIN_ROWS:
        return []
    columns = _columns(block)
    table = Table(columns)
    for line in block:
        cells = _cells(line, columns)
        if len(line) >= MIN_COLUMNS or not table.rows:
            table.rows.append(cells)
        else:
            table.rows[-1] = [f"{a} {b}".strip() for a, b in zip(table.rows[-1], cells, strict=True)]
    return [table]


def _cells(line: list[Run], columns: list[float]) -> list[str]:
    """Each run goes to the last column starting at or before it (a cell drawn in several runs)."""
    cells = [""] * len(columns)
    for run in line:
        index = max([i for i, c in enumerate(columns) if c <= run.x + X_TOLERANCE] or [0])
        cells[index] = f"{cells[index]} {run.text}".strip()
    return cells


def _continues(before: Table, table: Table) -> bool:
    """`table` goes on from `before`: the same columns, and it doesn't start with its own header."""
    same = len(before.columns) == len(table.columns) and all(
        abs(a - b) <= X_TOLERANCE for a, b in zip(before.columns, table.columns, strict=True)
    )
    return same and table.rows[0] != before.rows[0]


def with_tables(text: str, tables: list[Table]) -> str:
    """`text` with each table row's span replaced by its `|` row (the header followed by the
    `| --- |` line); a header carried over from the page before goes in front of the first row."""
    out: list[str] = []
    at = 0
    for table in tables:
        pending = ""
        for i, cells in enumerate(table.rows):
            line = _row(cells) + ("\n|" + " --- |" * len(cells) if i == 0 else "")
            span = _find_row(text, cells, at)
            if span is None:
                pending = line if i == 0 else pending
                continue
            out += [text[at : span[0]], f"\n{pending}\n{line}\n" if pending else f"\n{line}\n"]
            at, pending = span[1], ""
    out.append(text[at:])
    return _rows_together("".join(out))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


def _rows_together(text: str) -> str:
    """No blank line between two rows (a blank line would end the table block for the chunker).
    One pass each way: looking ahead and back from every blank line was quadratic in the page's
    lines, and it runs on every page."""
    lines = text.split("\n")
    row_after = [False] * len(lines)  # the first non-blank line after i is a row
    after = False
    for i in range(len(lines) - 1, -1, -1):
        row_after[i] = after
        if lines[i].strip():
            after = _is_row(lines[i])
    kept, before = [], False  # before: the last non-blank line kept so far is a row
    for line, then_row in zip(lines, row_after, strict=True):
        if line.strip():
            kept.append(line)
            before = _is_row(line)
        elif not (before and then_row):
            kept.append(line)
    return "\n".join(kept).strip()


def _is_row(line: str) -> bool:
    return line.lstrip().startswith("|")


def _find_row(text: str, cells: list[str], start: int) -> tuple[int, int] | None:
    """Where the row's words stand in pypdf's text, in order with only white space between."""
    words = [re.escape(word) for cell in cells for word in cell.split()]
    if not words:
        return None
    match = re.compile(r"\s*".join(words)).search(text, start)
    return match.span() if match else None
