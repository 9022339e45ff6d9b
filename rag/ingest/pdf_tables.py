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

The page is a visitor's: every step costs about one pass over its runs and text, not one per row
(tests/ingest/test_pdf_tables.py crafts the pages that made them quadratic). Column starts are
looked up by bisection, a row's cells collected in lists, the last full row tracked as the lines
go; rows pypdf's text lacks are searched for within a budget of `SEARCH_PASSES` over the page's
text, then near the last row found only; and a line of more than `MAX_COLUMNS` runs is no table's
(each row gets a cell per column: a 10,000-run "header" made every row 10,000 cells).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from pypdf import PageObject

MIN_COLUMNS = 3  # two "columns" is a two-column page layout as often as a table
MIN_ROWS = 3  # a header and two rows
ALIGNED_SHARE = 0.6  # of a line's run starts that sit on a start of the line above
X_TOLERANCE = 2.0  # points: generators place a column's cells at the same x, give or take rounding
MAX_COLUMNS = 64  # a landscape page holds ~30 legible columns; beyond this a line is not a table row
# the row searches of a page may read its text this many times over in all (a page read as tables
# reads it about once, plus once per row pypdf wrote otherwise); past it a row is looked for only
# within ROW_WINDOW characters of the last row found (a few rows' worth), else left as pypdf wrote it
SEARCH_PASSES = 16
ROW_WINDOW = 1_000
SPACE = re.compile(r"\s*")


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
    """Whether `x` is within X_TOLERANCE of one of `columns` (sorted): if any is, the nearest
    below or the nearest above is."""
    i = bisect_left(columns, x)
    return any(abs(x - columns[j]) <= X_TOLERANCE for j in (i - 1, i) if 0 <= j < len(columns))


def _aligned(line: list[Run], header: list[float], last: list[float]) -> bool:
    """Most of the line's runs start on a column of the header or of the last full row."""
    if not MIN_COLUMNS <= len(line) <= MAX_COLUMNS:
        return False
    hits = sum(_on(run.x, header) or _on(run.x, last) for run in line)
    return hits >= MIN_COLUMNS and hits >= ALIGNED_SHARE * len(line)


def find_tables(lines: list[list[Run]]) -> list[Table]:
    """The tables among `lines`: blocks of aligned lines (with their wrapped-cell lines)."""
    tables: list[Table] = []
    block: list[list[Run]] = []
    header: list[float] = []  # the x of each column: the starts of the block's first line
    last: list[float] = []  # the run starts of the block's last full row (a wrapped-cell line has too few)
    for line in lines:
        if block and (_aligned(line, header, last) or _wraps(line, header)):
            block.append(line)
            if len(line) >= MIN_COLUMNS:
                last = [run.x for run in line]
            continue
        tables.extend(_table(block))
        block = [line] if MIN_COLUMNS <= len(line) <= MAX_COLUMNS else []
        header = last = [run.x for run in line]
    tables.extend(_table(block))
    return tables


def _wraps(line: list[Run], columns: list[float]) -> bool:
    """A line that only continues cells of the row above: every run on a column, none the first."""
    return all(_on(run.x, columns[1:]) for run in line) and not _on(line[0].x, columns[:1])


def _table(block: list[list[Run]]) -> list[Table]:
    """A block's rows, each with the wrapped-cell lines below it joined to its cells."""
    if sum(len(line) >= MIN_COLUMNS for line in block) < MIN_ROWS:
        return []
    table = Table([run.x for run in block[0]])
    pieces: list[list[str]] = []  # a row's line and its wrapped-cell lines, joined once at the end
    for line in block:
        if len(line) >= MIN_COLUMNS and pieces:
            table.rows.append(_joined(pieces))
            pieces = []
        pieces.append(_cells(line, table.columns))
    table.rows.append(_joined(pieces))
    return [table]


def _joined(pieces: list[list[str]]) -> list[str]:
    return [" ".join(cell for cell in column if cell) for column in zip(*pieces, strict=True)]


def _cells(line: list[Run], columns: list[float]) -> list[str]:
    """Each run goes to the last column starting at or before it (a cell drawn in several runs)."""
    cells: list[list[str]] = [[] for _ in columns]
    for run in line:
        cells[max(bisect_right(columns, run.x + X_TOLERANCE) - 1, 0)].append(run.text)
    return [" ".join(cell) for cell in cells]


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
    at, budget = 0, SEARCH_PASSES * len(text)
    for table in tables:
        pending = ""
        for i, cells in enumerate(table.rows):
            line = _row(cells) + ("\n|" + " --- |" * len(cells) if i == 0 else "")
            end = len(text) if len(text) - at <= budget else min(len(text), at + ROW_WINDOW)
            span = _find_row(text, cells, at, end)
            budget -= (span[1] if span else end) - at
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


def _find_row(text: str, cells: list[str], start: int, end: int) -> tuple[int, int] | None:
    """Where the row's words stand in pypdf's text between `start` and `end`, in order with only
    white space between: the leftmost place, as the regex `word\\s*word…` finds it, without
    compiling one for every row (that took ~150 us a row, most of a crafted page's time)."""
    words = [word for cell in cells for word in cell.split()]
    if not words:
        return None
    first = words[0]
    at = text.find(first, start, end)
    while at != -1:
        stop = _rest_at(text, words[1:], at + len(first), end)
        if stop is not None:
            return at, stop
        at = text.find(first, at + 1, end)
    return None


def _rest_at(text: str, words: list[str], at: int, end: int) -> int | None:
    """Where `words` end if they follow `at`, each after white space or none; else None. No word
    holds white space, so skipping all of it before each word is the only way to match."""
    for word in words:
        at = _after_space(text, at, end)
        if not text.startswith(word, at, end):
            return None
        at += len(word)
    return at


def _after_space(text: str, at: int, end: int) -> int:
    space = SPACE.match(text, at, end)
    return space.end() if space else at
