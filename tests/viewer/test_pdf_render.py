"""Page images and boxes checked against the PDF's own text coordinates, a hostile page size
bounded, and a scan boxed from Tesseract's words."""

from __future__ import annotations

import io
import shutil

import pypdfium2 as pdfium
import pytest
from PIL import Image

from rag.viewer.ocr_boxes import passage_rects
from rag.viewer.pdf_render import MAX_VIEW_SIDE, OcrBoxes, render_page
from tests.samples import SCAN_DPI, SCANNED_PAGES, assemble_pdf, make_pdf, make_scanned_pdf

# make_pdf draws each page's line in 12 pt Helvetica from (72, 720) on a 612 x 792 pt page
LINE = "The heron nests in tall trees. Its eggs hatch after four weeks."
SECOND = "Its eggs hatch after four weeks."


def text_x(prefix: str) -> float:
    """Where `prefix` ends on the line, in points: Helvetica's widths, from pdfium's own text layer."""
    pdf = pdfium.PdfDocument(make_pdf([LINE]))
    text_page = pdf[0].get_textpage()
    return text_page.get_charbox(len(prefix))[0]


def test_the_box_sits_on_the_passage_by_the_pdfs_own_coordinates():
    pdf = pdfium.PdfDocument(make_pdf(["Page one.", LINE]))
    page = render_page(pdf, 2, 1000, [SECOND])
    assert (page.number, page.pages, page.width, page.found_by) == (2, 2, 1000, "text layer")
    assert Image.open(io.BytesIO(page.png)).size == (page.width, page.height)
    [box] = page.boxes
    left_pt = box.left * 612
    top_pt, bottom_pt = 792 - box.top * 792, 792 - (box.top + box.height) * 792
    assert left_pt == pytest.approx(text_x("The heron nests in tall trees. "), abs=1.0)
    assert left_pt + box.width * 612 <= 612 - 72
    assert bottom_pt <= 720 + 1 <= top_pt  # the baseline at y = 720 is inside the box
    assert top_pt - bottom_pt < 14  # one 12 pt line, not the page


def test_a_passage_not_on_the_page_gets_no_box():
    pdf = pdfium.PdfDocument(make_pdf(["Page one.", LINE]))
    page = render_page(pdf, 1, 800, [SECOND])
    assert page.boxes == [] and page.found_by == ""


def test_a_huge_page_is_drawn_within_the_pixel_bound():
    pdf = pdfium.PdfDocument(huge_page_pdf(20000, 20000))
    page = render_page(pdf, 1, 1000, [])
    assert (page.width, page.height) == (1000, 1000)
    strip = render_page(pdfium.PdfDocument(huge_page_pdf(10, 20000)), 1, 1000, [])
    assert max(strip.width, strip.height) <= MAX_VIEW_SIDE


def huge_page_pdf(width: int, height: int) -> bytes:
    return assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] >>".encode(),
        ]
    )


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_a_scanned_page_is_boxed_from_tesseracts_words():
    pdf = pdfium.PdfDocument(make_scanned_pdf(SCANNED_PAGES))
    wanted = SCANNED_PAGES[1][2]  # the third line of page 2
    page = render_page(pdf, 2, 1000, [wanted], ocr=OcrBoxes(200, passage_rects))
    assert page.scanned and page.found_by == "OCR"
    [box] = page.boxes
    # make_scanned_pdf draws line n at (1 in, 1 in + n * 20 pt) on a Letter page at SCAN_DPI
    assert box.left == pytest.approx(SCAN_DPI / (8.5 * SCAN_DPI), abs=0.01)
    line_top = (SCAN_DPI + 2 * round(20 * SCAN_DPI / 72)) / (11 * SCAN_DPI)
    assert line_top - 0.01 <= box.top <= line_top + 0.01
    assert box.height < 0.03
