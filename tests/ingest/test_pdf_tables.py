"""rag/ingest/pdf_tables.py: a PDF's tables become `|` rows, prose stays prose, no word is lost."""

from __future__ import annotations

import io
import random
import time
from collections import Counter

from pypdf import PdfReader

from rag.ingest.pdf_tables import PdfTableReader, _collector, _lines, find_tables, with_tables
from tests.ingest.table_docs import HEADER, rows, write_pdf
from tests.samples import pdf_from_streams

HEADER_ROW = "| " + " | ".join(HEADER) + " |"


def read(data: bytes) -> tuple[list[str], list[str]]:
    """Each page's text with tables (PdfTableReader), and pypdf's own text of it."""
    reader, tables = PdfReader(io.BytesIO(data)), PdfTableReader()
    return [tables.page_text(p) for p in reader.pages], [p.extract_text() for p in reader.pages]


def words(text: str) -> Counter:
    return Counter(w for w in text.replace("|", " ").split() if w != "---")


def test_rows_become_table_rows_with_wrapped_cells_joined_and_the_header_carried_over(tmp_path):
    pages, plain = read(write_pdf(tmp_path / "t.pdf").read_bytes())
    first, second = (page.splitlines() for page in pages)
    assert first[:3] == ["Cluster settings", "The cluster reads these settings when it starts.",
                         "Table 2: Cluster settings and their defaults"]  # fmt: skip
    table = [line for line in first if line.startswith("|")]
    assert table[:2] == [HEADER_ROW, "| --- | --- | --- | --- |"]
    name, default, unit, meaning = rows("node")[1]
    assert table[3] == f"| {name} | {default} | {unit} | {meaning} |"  # its Meaning was on two lines
    assert second[:2] == [HEADER_ROW, "| --- | --- | --- | --- |"]  # page 2 starts mid-table
    assert sum(line.startswith("| node_") for line in first + second) == 30
    assert second[-1] == "Restart the node after changing a setting."
    for ours, theirs in zip(pages, plain, strict=True):  # nothing lost: only the header was added
        assert words(ours) - words(theirs) <= words(" ".join(HEADER))
        assert not words(theirs) - words(ours)


def prose_stream(seed: int, words_per_line: int, lines: int) -> bytes:
    """Justified prose drawn word by word, as some generators do: each word its own run."""
    rng, out, y = random.Random(seed), [], 740
    for _ in range(lines):
        x = 72.0
        for _ in range(words_per_line):
            word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9)))
            out.append(f"BT /F1 10 Tf {x:.1f} {y} Td ({word}) Tj ET")
            x += len(word) * 5.2 + rng.uniform(3.0, 6.0)
        y -= 12
    return "\n".join(out).encode()


def test_prose_drawn_word_by_word_and_a_two_column_page_are_not_tables():
    pages, plain = read(pdf_from_streams([prose_stream(seed, 12, 40) for seed in range(5)]))
    assert not any("|" in page for page in pages)
    assert [words(p) for p in pages] == [words(p) for p in plain]
    two_columns = "\n".join(
        f"BT /F1 10 Tf {x} {740 - 12 * i} Td (column text line {i}) Tj ET"
        for i in range(40)
        for x in (72, 320)
    )
    pages, _ = read(pdf_from_streams([two_columns.encode()]))
    assert "|" not in pages[0]


def test_a_table_on_a_later_page_with_other_columns_gets_no_carried_header(tmp_path):
    def table(columns: tuple[int, ...], y: int = 700) -> bytes:
        return "\n".join(
            f"BT /F1 8 Tf {x} {y - 14 * r} Td (r{r}c{c}) Tj ET"
            for r in range(4)
            for c, x in enumerate(columns)
        ).encode()

    pages, _ = read(pdf_from_streams([table((72, 200, 300)), table((72, 150, 250, 350))]))
    assert pages[0].splitlines()[0] == "| r0c0 | r0c1 | r0c2 |"
    assert pages[1].splitlines()[0] == "| r0c0 | r0c1 | r0c2 | r0c3 |"  # its own first row leads


def test_many_blank_lines_cost_a_pass_not_a_pass_each():
    """Rows kept together by looking around each blank line took 12.9 s for 20,000 blank lines
    (quadratic; 100,000 would be minutes) on every page read; one pass each way takes ~0.05 s."""
    text = "| a | b | c |\n" + "\n" * 100_000 + "| d | e | f |\nafter"
    start = time.perf_counter()
    assert with_tables(text, []) == "| a | b | c |\n| d | e | f |\nafter"
    assert time.perf_counter() - start < 5


def crafted_rows(n: int, order: tuple[int, ...]) -> bytes:
    """A page of `n` three-cell rows whose cells are drawn in `order` (2, 1, 0: right to left,
    so pypdf's text has each row's words backwards and no row is found in it)."""
    cells = ((72, "alpha"), (200, "beta"), (300, "gamma"))
    return "\n".join(
        f"BT /F1 2 Tf {cells[c][0]} {780 - 2 * i} Td ({cells[c][1]}{i}) Tj ET"
        for i in range(n)
        for c in order
    ).encode()


def test_a_page_of_rows_missing_from_pypdfs_text_costs_one_pass_not_one_per_row():
    """Each row pypdf's text lacks was searched for in the rest of the page (a regex compiled per
    row), and each line compared with every row of its table before it: 15,000 such rows took
    16.7 s after pypdf's own ~6 s (rows x page length, on every page read); now 0.3 s (busy
    2-core machine): the searches share a budget of SEARCH_PASSES over the page's text."""
    page = PdfReader(io.BytesIO(pdf_from_streams([crafted_rows(15_000, (2, 1, 0))]))).pages[0]
    runs: list = []
    text = page.extract_text(visitor_text=_collector(runs))
    start = time.perf_counter()
    tables = find_tables(_lines(runs))
    assert with_tables(text, tables) == text  # no row found: the page stays as pypdf wrote it
    assert len(tables) == 1 and len(tables[0].rows) == 15_000
    assert time.perf_counter() - start < 5


def test_a_header_of_thousands_of_columns_does_not_multiply_the_rows():
    """Every row got a cell per column of its header: a 2,000-column header over 2,000 rows of
    three words (a 320 kB PDF) made 12.1 MB of text where pypdf read 66 kB (rows x columns of the
    app's memory, for one page). A line of more than MAX_COLUMNS runs is no table's: 82 kB."""
    header = "\n".join(f"BT /F1 2 Tf {72 + 10 * c} 780 Td (h{c}) Tj ET" for c in range(2_000))
    pages, plain = read(pdf_from_streams([header.encode() + b"\n" + crafted_rows(2_000, (0, 1, 2))]))
    assert len(pages[0]) < 2 * len(plain[0]), (len(pages[0]), len(plain[0]))
    assert "| alpha5 | beta5 | gamma5 |" in pages[0]  # the three-column rows are still a table
