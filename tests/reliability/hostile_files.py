"""Small hostile files that expand or stall a parser, built in memory (issue 19, points 2, 3, 10, 17).

Each is a few kB to a few hundred kB; before the parser budgets each held the one ingest slot for
seconds to hours (the figures are in docs/RELIABILITY.md)."""

from __future__ import annotations

import io
import zipfile
import zlib

from tests.samples import assemble_pdf

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_with_body(body: str, prolog: str = "") -> bytes:
    """python-docx's blank document with `body` (WordprocessingML) as the content of `w:body`."""
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    document = f"{declaration}{prolog}<w:document {_W}><w:body>{body}</w:body></w:document>"
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = document.encode() if info.filename == "word/document.xml" else source.read(info)
            archive.writestr(info.filename, data)
    return rebuilt.getvalue()


def _cell(text: str, properties: str = "") -> str:
    return f"<w:tc><w:tcPr>{properties}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"


def docx_grid_span(span: int) -> bytes:
    """One table cell that claims to span `span` grid columns (python-docx repeats it `span` times)."""
    row = "<w:tr>" + _cell("spanning cell", f'<w:gridSpan w:val="{span}"/>') + "</w:tr>"
    return docx_with_body(f"<w:p><w:r><w:t>Spans</w:t></w:r></w:p><w:tbl>{row}</w:tbl>")


def docx_vertical_merge(rows: int, columns: int, text: str = "column") -> bytes:
    """A table whose first row has text and every later cell continues the cell above (vMerge)."""
    first = "<w:tr>" + "".join(_cell(f"{text} {c}", '<w:vMerge w:val="restart"/>') for c in range(columns))
    later = "<w:tr>" + "".join(_cell("", "<w:vMerge/>") for _ in range(columns)) + "</w:tr>"
    return docx_with_body(f"<w:tbl>{first}</w:tr>{later * (rows - 1)}</w:tbl>")


def docx_entity_chain(levels: int = 8) -> bytes:
    """A DTD whose entities each expand to ten of the one before (a "billion laughs")."""
    entities = ['<!ENTITY e0 "laugh">'] + [
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    prolog = f"<!DOCTYPE w:document [{''.join(entities)}]>\n"
    return docx_with_body(f"<w:p><w:r><w:t>&e{levels};</w:t></w:r></w:p>", prolog)


def docx_deep_nesting(depth: int = 300) -> bytes:
    """Paragraph runs nested deeper than libxml2's default limit of 256."""
    return docx_with_body(
        "<w:p>" + "<w:ins>" * depth + "<w:r><w:t>deep</w:t></w:r>" + "</w:ins>" * depth + "</w:p>"
    )


def html_nested_tables(depth: int) -> str:
    """`depth` tables, each inside the one cell of the one before, each with a little text."""
    return "<html><body>" + "<table><tr><td>cell" * depth + "</td></tr></table>" * depth + "</body></html>"


def html_nested_elements(depth: int) -> str:
    """`depth` nested block elements around one sentence (never closed: a few bytes each)."""
    return "<html><body>" + "<div>" * depth + "<p>The innermost sentence.</p></body></html>"


def pdf_pages_sharing_one_image(pages: int, side: tuple[int, int] = (612, 792), pixels: int = 1) -> bytes:
    """`pages` pages without text, each showing the same `pixels` x `pixels` grey image (compressed,
    a few hundred bytes): every page looks scanned. `side` is a page's width and height in points."""
    raw = zlib.compress(bytes([0x80]) * (pixels * pixels), 9)
    image = b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray " % (
        pixels,
        pixels,
    )
    image += (
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % len(raw) + raw + b"\nendstream"
    )
    draw = b"q %d 0 0 %d 0 0 cm /Im1 Do Q" % side
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        image,
        b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R " % side
    page += b"/Resources << /XObject << /Im1 3 0 R >> >> >>"
    objects += [page] * pages
    return assemble_pdf(objects)


def pdf_huge_page(points: int = 14_400, pixels: int = 1) -> bytes:
    """One page of `points` x `points` (200 inches, the PDF maximum) showing one image: rendered at
    150 dpi that is a 30,000 x 30,000 pixel bitmap."""
    return pdf_pages_sharing_one_image(1, (points, points), pixels)
