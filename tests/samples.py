"""Files the tests build themselves: real PDFs (with and without text), HTML, Markdown, bad input."""

from __future__ import annotations

import io
import zipfile


def assemble_pdf(objects: list[bytes]) -> bytes:
    """Numbered objects (1 is the catalog) into a PDF with an exact cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of Helvetica text per page, xref offsets computed exactly."""
    streams = []
    for text in pages:
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        streams.append(f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode())
    return pdf_from_streams(streams)


def pdf_from_streams(streams: list[bytes]) -> bytes:
    """A PDF whose pages draw the given content streams (letter size, Helvetica as /F1)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(streams)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(streams)} >>".encode())
    font_ref = 3 + 2 * len(streams)
    for i, stream in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return assemble_pdf(objects)


def make_pdf_bomb(pages: int, chars_per_page: int) -> bytes:
    """A small PDF whose `pages` pages all draw one shared content stream: a few kB on disk that
    expand to pages × chars_per_page characters of text when extracted."""
    line = "word " * 16
    lines = "".join(f"({line}) Tj T* " for _ in range(max(chars_per_page // len(line), 1)))
    stream = f"BT /F1 8 Tf 10 TL 20 780 Td {lines}ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    )
    objects += [page] * pages
    return assemble_pdf(objects)


def make_encrypted_pdf(text: str, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_slow_pdf(pages: list[str], glyphs: int) -> bytes:
    """A PDF of a few kB whose pages take pdfium long to draw: each page has its line of text and
    shows `glyphs` letters of a Type 3 font whose one glyph draws a form 100 times, which strokes
    100 wide round-capped lines: 10,000 full-page strokes a glyph (~1.7 s at 900 px on the 2-core
    test machine). The ingest reads it in milliseconds: pypdf doesn't run a Type 3 glyph's
    drawing (a form drawn by the page itself would be parsed again at each use: ~30 s a page)."""
    strokes = b"50 w 1 J 1 j " + b"".join(
        b"%d %d m %d %d l S " % (i % 600, (i * 7) % 790, (i * 13) % 600, (i * 3) % 790) for i in range(100)
    )
    shared = 3 + 2 * len(pages)  # after the catalog, the page tree and each page with its contents
    helvetica, type3, glyph, form, forms = range(shared, shared + 5)

    def stream(head: bytes, body: bytes) -> bytes:
        return b"<< %s /Length %d >>\nstream\n" % (head, len(body)) + body + b"\nendstream"

    def form_of(body: bytes) -> bytes:
        head = b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /A %d 0 R >> >>"
        return stream(head % form, body)

    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    tree = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", tree]
    for i, text in enumerate(pages):
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        slow = b"BT /T3 1 Tf 0 0 Td (" + b"a" * glyphs + b") Tj ET"
        content = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET ".encode() + slow
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {helvetica} 0 R /T3 {type3} 0 R >> >> >>".encode()
        )
        objects.append(stream(b"", content))
    objects += [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 612 792] /FontMatrix [1 0 0 1 0 0] "
        b"/CharProcs << /a %d 0 R >> /Encoding << /Type /Encoding /Differences [97 /a] >> "
        b"/FirstChar 97 /LastChar 97 /Widths [0] /Resources << /XObject << /B %d 0 R >> >> >>"
        % (glyph, forms),
        stream(b"", b"0 0 d0 /B Do"),
        form_of(strokes),
        form_of(b"/A Do " * 100),
    ]
    return assemble_pdf(objects)


def make_blank_pdf(pages: int = 2) -> bytes:
    """A PDF without a text layer, like a scan."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_zip(name: str = "inner.txt", text: str = "hello") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, text)
    return out.getvalue()


def random_bytes(n: int = 4096, seed: int = 7) -> bytes:
    import random

    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


HTML_WITH_SCRIPT = """<!doctype html><html><head><title>Pelican facts</title>
<style>body { color: red }</style><script>window.pwned = true; alert('x')</script></head>
<body><h1>Pelicans</h1><p>The brown pelican dives from the air to catch fish.</p>
<img src="x" onerror="window.pwned = true"><noscript>enable js</noscript></body></html>"""


FONT_DIR = "/usr/share/fonts/truetype/dejavu"
SCAN_DPI = 150


def make_scanned_pdf(pages: list[list[str]], dpi: int = SCAN_DPI, noise: int = 0) -> bytes:
    """A PDF without a text layer whose pages are pictures of text, like a scanner makes them:
    each page's lines are drawn with DejaVu Serif into a Letter-sized grey image, optionally with
    speckle noise, and Pillow wraps the images into a PDF (one image per page)."""
    import random

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(f"{FONT_DIR}/DejaVuSerif.ttf", round(12 * dpi / 72))
    width, height = round(8.5 * dpi), round(11 * dpi)
    images = []
    rng = random.Random(3)
    for lines in pages:
        image = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(image)
        y = dpi
        for line in lines:
            draw.text((dpi, y), line, font=font, fill=0)
            y += round(20 * dpi / 72)
        for _ in range(noise):
            draw.point((rng.randrange(width), rng.randrange(height)), fill=rng.randrange(0, 160))
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


SCANNED_PAGES = [
    [
        "Heron Observatory field guide, second edition.",
        "The grey heron builds its nest high in tall trees,",
        "usually in colonies called heronries near shallow water.",
        "Each nest is a large platform of sticks lined with grass.",
    ],
    [
        "The observatory opens at seven in the morning from April to October.",
        "Visitors must keep to the boardwalk and speak quietly near the reeds.",
        "The quokka protocol listens on port 7341 for telemetry from the hides.",
    ],
]


def make_docx(heading: str, paragraphs: list[str], table: list[list[str]], subheading: str = "") -> bytes:
    """A Word file: a level-1 heading, paragraphs, an optional level-2 heading and a table."""
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if subheading:
        document.add_heading(subheading, level=2)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    document.add_paragraph("End of the maintenance notes.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str, str]], table: list[list[str]] | None = None) -> bytes:
    """A PowerPoint file: one (title, body, notes) per slide; `table` goes on the last slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    layout = deck.slide_layouts[1]  # title and content
    for i, (title, body, notes) in enumerate(slides):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
        if table and i == len(slides) - 1:
            shape = slide.shapes.add_table(
                len(table), len(table[0]), Inches(1), Inches(4), Inches(6), Inches(1)
            )
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_pdf_with_outline(pages: list[str], outline: list[tuple[str, int, int]], title: str = "") -> bytes:
    """A text PDF with document-info title and bookmarks: (name, page index, depth) in order, each
    nested under the latest entry one level up."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(pages))))
    if title:
        writer.add_metadata({"/Title": title})
    parents: list = []
    for name, page, depth in outline:
        parent = parents[depth - 1] if depth else None
        item = writer.add_outline_item(name, page, parent=parent)
        parents[depth:] = [item]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


MARKDOWN_GUIDE = """---
id: guide.md
title: Index Guide
---

# Index Guide

Indexes make search fast.

## HNSW

HNSW is a graph index.

### Index building parameters

`M` limits the maximum degree of nodes.

```python
# not a heading: a comment in code
index_params = {"M": 16, "efConstruction": 200}
```

| Parameter | Range |
| --- | --- |
| M | 2-2048 |

Setext section
--------------

Text under a setext heading.
"""

HTML_GUIDE = """<!doctype html><html><head><title>Tuning Handbook</title></head><body>
<p>Intro before any heading.</p>
<h1>Tuning</h1><p>General advice.</p>
<h2>Memory</h2><p>Use <b>mmap</b> when memory is short.</p>
<pre>queryNode:
  mmap:
    mmapEnabled: true</pre>
<h3>Per collection</h3><table><tr><th>Property</th><th>Value</th></tr>
<tr><td>mmap.enabled</td><td>true</td></tr></table>
<h2>Disk</h2><p>DiskANN keeps the index on SSD.</p>
</body></html>"""


def office_files(with_scan: bool) -> dict[str, bytes]:
    """The files the Word/PowerPoint/scan tests answer from (CLI and app): a DOCX with a heading and a
    table, a three-slide deck whose second slide (and its notes) says what quokkas eat, and a scan."""
    table = [["Part", "Replace every"], ["Oil filter", "250 operating hours"], ["Drive belt", "two years"]]
    files = {
        "maintenance.docx": make_docx(
            "Pump maintenance",
            ["Prime the pump before the first start."],
            table,
            subheading="Replacement schedule",
        ),
        "deck.pptx": make_pptx(
            [
                ("Rottnest Island", "A short ferry ride from Fremantle.", ""),
                (
                    "Quokka diet",
                    "Quokkas eat leaves, grasses and succulent plants.",
                    "Never feed them bread.",
                ),
                ("Questions", "Thank you for listening.", ""),
            ]
        ),
    }
    if with_scan:
        files["scan.pdf"] = make_scanned_pdf(SCANNED_PAGES)
    return files
