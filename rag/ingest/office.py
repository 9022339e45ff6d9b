"""Word (.docx) and PowerPoint (.pptx) files → `Document`, or a `LoadError` that says why.

Both are ZIP archives, so the ZIP's table of contents decides what a file is before a parser sees
it: a plain ZIP, a spreadsheet or a damaged file is refused with its own reason. DOCX keeps its
headings as Markdown `#` lines and its tables as Markdown rows, so a heading-aware chunker can split
along them and a table stays together; PPTX gives one page per slide, so citations say "slide 3".
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

from rag.errors import LoadError
from rag.ingest.budgets import Budget
from rag.types import Document, Page

DOCX_PART = "word/document.xml"
PPTX_PART = "ppt/presentation.xml"
_OTHER_OFFICE = {
    "xl/workbook.xml": "an Excel workbook (.xlsx)",
    "content.xml": "an OpenDocument file (.odt/.odp/.ods)",
}


def zip_kind(data: bytes) -> str:
    """ "docx", "pptx", or what else the ZIP is (for the error message). Raises nothing."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "a damaged ZIP archive"
    if DOCX_PART in names:
        return "docx"
    if PPTX_PART in names:
        return "pptx"
    for part, what in _OTHER_OFFICE.items():
        if part in names:
            return what
    return "a ZIP archive (e.g. .zip)"


def load_docx(name: str, data: bytes, content_hash: str, budget: Budget | None = None) -> Document:
    """Paragraphs and tables in document order; headings become `#` lines, tables Markdown rows.
    `budget` counts the text as it comes out (RAG_MAX_DOCUMENT_CHARS, RAG_PARSE_TIMEOUT_S)."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    budget = budget or Budget(name)
    try:
        word = docx.Document(io.BytesIO(data))
        blocks = list(_docx_blocks(word.iter_inner_content(), budget))
        title = (word.core_properties.title or "").strip()
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise LoadError(name, f"the Word file is damaged and cannot be read ({exc})") from exc
    text = "\n\n".join(block for block in blocks if block.strip())
    return Document(name, "docx", [Page(0, text)], content_hash, title=title)


def load_pptx(name: str, data: bytes, content_hash: str, budget: Budget | None = None) -> Document:
    """One page per slide, numbered from 1: title, text boxes, tables, then the speaker notes."""
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    budget = budget or Budget(name)
    try:
        deck = Presentation(io.BytesIO(data))
        pages = []
        for number, slide in enumerate(deck.slides, start=1):
            pages.append(Page(number, _slide_text(slide, budget)))
            budget.take(pages[-1].text, f" by slide {number}")
        title = (deck.core_properties.title or "").strip()
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise LoadError(name, f"the PowerPoint file is damaged and cannot be read ({exc})") from exc
    if not pages:
        raise LoadError(name, "the presentation has no slides")
    return Document(name, "pptx", pages, content_hash, title=title)


def _docx_blocks(items: Iterable[object], budget: Budget) -> Iterator[str]:
    from docx.table import Table

    styles: dict[str | None, str] = {}  # style id → name: python-docx looks each up in styles.xml
    for item in items:
        if isinstance(item, Table):
            yield markdown_table(docx_table_rows(item, budget), budget)
        else:
            block = _docx_paragraph(item, styles)
            budget.take(block)
            yield block


def docx_table_rows(table: object, budget: Budget) -> list[list[str]]:
    """A table's cell texts, one per cell the file stores (`w:tc`), each read once.

    python-docx's `row.cells` repeats a cell once per grid column it spans (`w:gridSpan`: a 36 kB
    file spanning 100,000 columns took 9.4 s) and finds a vertically merged cell's text by walking
    up the rows (`w:vMerge`: quadratic, 80 rows x 10 columns took 6.4 s, 1,000 rows about 17 min).
    Here a continued cell takes the text of the cell last started at its grid column, kept in a dict,
    so the cost is linear in the XML; `markdown_table` drops horizontal repeats anyway.
    """
    from docx.text.paragraph import Paragraph

    rows: list[list[str]] = []
    started: dict[int, str] = {}  # grid column → text of the cell that starts there
    for tr in table._tbl.tr_lst:
        column, cells = tr.grid_before, []
        for tc in tr.tc_lst:
            if tc.vMerge == "continue":
                text = started.get(column, "")
            else:
                text = started[column] = "\n".join(Paragraph(p, table).text for p in tc.p_lst)
            budget.take(text)
            cells.append(text)
            column += tc.grid_span
        rows.append(cells)
    return rows


def _docx_paragraph(paragraph: object, styles: dict[str | None, str]) -> str:
    text = " ".join(paragraph.text.split())
    if not text:
        return ""
    style_id = paragraph._p.style
    if style_id not in styles:
        styles[style_id] = (paragraph.style.name if paragraph.style is not None else "") or ""
    style = styles[style_id]
    if style == "Title":
        return f"# {text}"
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        depth = int(level) if level.isdigit() else 1
        return f"{'#' * min(depth, 6)} {text}"
    if style.startswith("List"):
        return f"- {text}"
    return text


def markdown_table(rows: list[list[str]], budget: Budget | None = None) -> str:
    """Rows as a Markdown table (first row as header); cell text on one line, pipes escaped.
    Merged cells come back repeated; consecutive repeats are kept once. Short rows are padded to
    the widest, so one wide row times many short ones would multiply: `budget` counts the padding
    before it is built."""
    cleaned = []
    for row in rows:
        cells = [" ".join(cell.split()).replace("|", "\\|") for cell in row]
        deduped = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
        if any(deduped):
            cleaned.append(deduped)
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    if budget is not None:
        budget.take(3 * (width * len(cleaned) - sum(len(row) for row in cleaned)))
    lines = ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in cleaned]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def _slide_text(slide: object, budget: Budget) -> str:
    parts: list[str] = []
    title_shape = slide.shapes.title
    if title_shape is not None and title_shape.text_frame.text.strip():
        parts.append(f"# {' '.join(title_shape.text_frame.text.split())}")
    for shape in _shapes(slide.shapes):
        if shape is title_shape or (title_shape is not None and shape.shape_id == title_shape.shape_id):
            continue
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            parts.append(markdown_table(rows, budget))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
            parts.append("\n".join(line for line in lines if line))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            parts.append("Speaker notes: " + " ".join(notes.text.split()))
    return "\n\n".join(part for part in parts if part.strip())


def _shapes(shapes: Iterable[object]) -> Iterator[object]:
    """Every shape, groups opened, top to bottom then left to right (reading order)."""
    flat: list[object] = []

    def walk(items: Iterable[object]) -> None:
        for shape in items:
            if hasattr(shape, "shapes"):  # a group
                walk(shape.shapes)
            else:
                flat.append(shape)

    walk(shapes)
    yield from sorted(flat, key=lambda s: (s.top or 0, s.left or 0))
