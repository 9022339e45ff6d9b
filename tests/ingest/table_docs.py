"""Three documents whose table is several chunks long (a DOCX, an HTML page and a PDF, 30 settings each,
~3,000 characters of rows), and 5 questions each about cells of the table's later rows, for the
table-header test (tests/ingest/test_tables.py) and bench/tables.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = ("Setting", "Default", "Unit", "Meaning")
WORDS = (
    "cache", "replica", "journal", "segment", "compaction", "index", "snapshot", "quota", "lease",
    "checkpoint",
)  # fmt: skip
KINDS = ("flush_interval", "sync_timeout", "retry_limit")
UNITS = {"flush_interval": "seconds", "sync_timeout": "milliseconds", "retry_limit": "attempts"}
MEANING = {
    "flush_interval": "how often the {w} buffer is written out to disk",
    "sync_timeout": "how long the {w} waits for an acknowledgement before it gives up",
    "retry_limit": "how many times a failed {w} operation is tried again",
}


def rows(prefix: str) -> list[tuple[str, str, str, str]]:
    """30 rows: `prefix`_<word>_<kind>, a distinct default each."""
    out = []
    for i, word in enumerate(WORDS):
        for j, kind in enumerate(KINDS):
            default = str(7 + 13 * i + 101 * j + (3 if prefix == "net" else 0))
            out.append((f"{prefix}_{word}_{kind}", default, UNITS[kind], MEANING[kind].format(w=word)))
    return out


def questions(prefix: str) -> list[tuple[str, str, str]]:
    """(question, setting, default) about 5 of the last 12 rows (the first chunk never holds them)."""
    table = rows(prefix)
    picked = [table[i] for i in (19, 22, 24, 27, 29)]
    return [(f"What is the default value of {name}?", name, default) for name, default, _, _ in picked]


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Storage engine settings", level=1)
    document.add_paragraph("The storage engine reads these settings when it starts.")
    document.add_paragraph("Table 1: Storage settings and their defaults")
    table = document.add_table(rows=1, cols=len(HEADER))
    for cell, text in zip(table.rows[0].cells, HEADER, strict=True):
        cell.text = text
    for row in rows("store"):
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    document.add_paragraph("Restart the engine after changing a setting.")
    document.save(path)
    return path


def write_html(path: Path) -> Path:
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows("net"))
    path.write_text(
        "<html><head><title>Network settings</title></head><body><h1>Network settings</h1>"
        "<p>The network layer reads these settings when it starts.</p>"
        f"<table><caption>Network settings and their defaults</caption><tr>{head}</tr>{body}</table>"
        "<p>Restart the node after changing a setting.</p></body></html>"
    )
    return path


def holds_header_and_cell(text: str, setting: str, default: str) -> bool:
    """The chunk says the column names and the row's setting with its default."""
    header = "| " + " | ".join(HEADER) + " |"
    return header in text and any(setting in line and f"| {default} |" in line for line in text.splitlines())


def write_pdf(path: Path) -> Path:
    """The table as a PDF generator draws one: each cell a run of text at its column's x, the
    Meaning cells wrapped at 40 characters onto lines of their own, and the table going on over a
    page break (rows 19-30 on page 2, without a header: what the questions ask about)."""
    from tests.samples import pdf_from_streams

    columns = (72, 230, 290, 370)
    first = [
        "BT /F1 14 Tf 72 740 Td (Cluster settings) Tj ET",
        "BT /F1 10 Tf 72 720 Td (The cluster reads these settings when it starts.) Tj ET",
        "BT /F1 10 Tf 72 700 Td (Table 2: Cluster settings and their defaults) Tj ET",
    ]
    pages, y = [first], 680
    for number, row in enumerate([HEADER, *rows("node")]):
        if number == 19:
            pages.append([])
            y = 740
        meaning = textwrap.wrap(row[3], 40) or [""]
        for x, cell in zip(columns, (*row[:3], meaning[0]), strict=True):
            pages[-1].append(f"BT /F1 8 Tf {x} {y} Td ({cell}) Tj ET")
        for more in meaning[1:]:
            y -= 10
            pages[-1].append(f"BT /F1 8 Tf {columns[3]} {y} Td ({more}) Tj ET")
        y -= 14
    pages[-1].append(f"BT /F1 10 Tf 72 {y - 10} Td (Restart the node after changing a setting.) Tj ET")
    path.write_bytes(pdf_from_streams(["\n".join(page).encode() for page in pages]))
    return path


FIXTURES = {  # kind: (file name, writer, row prefix)
    "docx": ("store.docx", write_docx, "store"),
    "html": ("net.html", write_html, "net"),
    "pdf": ("node.pdf", write_pdf, "node"),
}
