"""OCR of scanned PDFs with the real Tesseract, on scans the tests render from known text."""

import io
import shutil
from collections import Counter

import pytest
from pypdf import PdfReader, PdfWriter

import rag.ingest.ocr
from rag.errors import LoadError
from rag.ingest.loaders import load_document
from rag.ingest.ocr import ocr_available, pages_with_images
from tests.samples import SCANNED_PAGES, make_blank_pdf, make_pdf, make_scanned_pdf

needs_tesseract = pytest.mark.skipif(
    not ocr_available(), reason="Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)"
)


def word_accuracy(truth: str, read: str) -> float:
    """Share of the true words (with multiplicity) that OCR produced exactly."""
    expected, got = Counter(truth.split()), Counter(read.split())
    return sum(min(n, got[word]) for word, n in expected.items()) / sum(expected.values())


def merge(*pdfs: bytes) -> bytes:
    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(PdfReader(io.BytesIO(pdf)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@needs_tesseract
@pytest.mark.parametrize("noise", [0, 3000], ids=["clean", "speckled"])
@pytest.mark.parametrize("renderer", ["pdftoppm", "embedded-images"])
def test_scanned_pdf_is_read_with_page_numbers_and_at_least_95_percent_of_words(noise, renderer, monkeypatch):
    if renderer == "pdftoppm" and not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils is not installed")
    if renderer == "embedded-images":
        monkeypatch.setattr(rag.ingest.ocr, "PDFTOPPM", "pdftoppm-not-installed")
    progress: list[str] = []
    doc = load_document(
        "scan.pdf", make_scanned_pdf(SCANNED_PAGES, noise=noise), lambda f, m: progress.append(m)
    )
    assert doc.notes == ("OCR",) and [p.number for p in doc.pages] == [1, 2]
    for lines, page in zip(SCANNED_PAGES, doc.pages, strict=True):
        assert word_accuracy(" ".join(lines), page.text) >= 0.95, page.text
    assert progress[:2] == ["OCR page 1 (1/2)", "OCR page 2 (2/2)"]


@needs_tesseract
def test_only_the_pages_without_text_are_read_and_numbers_stay_those_of_the_pdf():
    pdf = merge(make_pdf(["Typed first page about valves."]), make_scanned_pdf(SCANNED_PAGES[1:]))
    doc = load_document("mixed.pdf", pdf)
    assert doc.notes == ("OCR on 1 of 2 pages",)
    assert doc.pages[0].text == "Typed first page about valves."
    assert doc.pages[1].number == 2 and "port 7341" in doc.pages[1].text


def test_without_tesseract_a_scan_is_refused_with_how_to_turn_ocr_on(monkeypatch):
    monkeypatch.setattr(rag.ingest.ocr, "TESSERACT", "tesseract-not-installed")
    with pytest.raises(LoadError) as info:
        load_document("scan.pdf", make_scanned_pdf(SCANNED_PAGES[:1]))
    assert "no text layer" in info.value.reason
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in info.value.reason


def test_without_tesseract_a_partly_scanned_pdf_goes_in_with_a_note(monkeypatch):
    monkeypatch.setattr(rag.ingest.ocr, "TESSERACT", "tesseract-not-installed")
    doc = load_document("mixed.pdf", merge(make_pdf(["Typed page."]), make_scanned_pdf(SCANNED_PAGES[:1])))
    assert [p.text for p in doc.pages] == ["Typed page.", ""]
    assert doc.notes[0].startswith("scanned page(s) 2 skipped: install the Tesseract OCR engine")


@needs_tesseract
def test_a_scan_in_a_pdf_with_an_empty_user_password_is_read():
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_scanned_pdf(SCANNED_PAGES[1:]))))
    writer.encrypt(user_password="", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    assert "port 7341" in load_document("locked-scan.pdf", out.getvalue()).pages[0].text


def test_blank_pages_are_not_scans():
    blank = make_blank_pdf(2)
    assert pages_with_images(PdfReader(io.BytesIO(blank)), [1, 2]) == []
    with pytest.raises(LoadError, match="no text layer"):
        load_document("blank.pdf", blank)
