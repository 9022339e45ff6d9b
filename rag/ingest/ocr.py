"""Text for PDF pages that have none: the scanned page through Tesseract.

Tesseract is an optional system program (Debian: `tesseract-ocr` + `tesseract-ocr-eng`), called
as a subprocess with the image on stdin, so the app works without it and says how to turn it on.
The page image: rendered by poppler's `pdftoppm` (grey, at the scan's own resolution) when it is
installed, else the page's embedded pictures as pypdf extracts them. On the same fixtures both read
clean pages equally well (99-100% of words), but on speckled scans the rendered page did better
(98.3% vs 94.5-94.7% of words on a dense page, below the 95% bar) for 1.5-2x the time; rendering
also reads pages drawn as vector art. docs/BENCHMARKS.md has the figures.
`OMP_THREAD_LIMIT=1`: Tesseract's OpenMP threads made it 3x slower on a busy 2-core machine.

Bounds (rag/ingest/budgets.py): a document may have `RAG_MAX_OCR_PAGES` scanned pages and `RAG_OCR_TIMEOUT_S`
seconds of OCR in all (a 330 kB PDF of 2,000 pages sharing one image scheduled 2,000 renders and
2,000 Tesseract runs of up to 180 s each); a page renders to at most `MAX_RENDER_SIDE` pixels a side
(a 200 x 200 inch page at 150 dpi is 30,000 x 30,000 px, 0.8 GiB); both programs run under rlimits.
Picture sizes are read from the PDF's dictionaries, never by decoding the picture.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from PIL.Image import DecompressionBombError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from rag.errors import OcrUnavailableError
from rag.ingest.budgets import MAX_RENDER_SIDE, Budget, limited
from rag.types import Progress, no_progress

log = logging.getLogger(__name__)
TESSERACT = "tesseract"
PDFTOPPM = "pdftoppm"  # poppler-utils; optional: without it the page's embedded images are read
DEFAULT_DPI = 200
LANGUAGE_ENV = "RAG_OCR_LANG"  # e.g. "eng+deu" once tesseract-ocr-deu is installed
PAGE_TIMEOUT_S = 180
MIN_SCAN_PIXELS = 100 * 100  # a smaller picture (an icon, a 1x1 spacer) is not a scanned page
# a picture pypdf or Pillow cannot (or, for a decompression bomb, will not) decode
_UNDECODABLE = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    NotImplementedError,
    PyPdfError,
    DecompressionBombError,
)
HOW_TO_ENABLE = (
    "install the Tesseract OCR engine to read scans (Debian/Ubuntu: "
    "`apt-get install tesseract-ocr tesseract-ocr-eng poppler-utils`; `make run` does it), "
    "then upload the file again"
)


@dataclass(frozen=True)
class OcrPage:
    number: int  # 1-based page number in the PDF
    text: str


def ocr_available() -> bool:
    return shutil.which(TESSERACT) is not None


def pages_with_images(reader: PdfReader, numbers: Sequence[int]) -> list[int]:
    """Those of `numbers` (1-based) whose page holds a picture of at least `MIN_SCAN_PIXELS` (or a
    form, which may draw one): an empty page without one is blank, not a scan, and OCR would only
    cost time."""
    found = []
    for number in numbers:
        pictures = _pictures(reader, number)
        if any(kind == "/Form" or width * height >= MIN_SCAN_PIXELS for kind, width, height in pictures):
            found.append(number)
    return found


def _pictures(reader: PdfReader, number: int) -> list[tuple[str, int, int]]:
    """(subtype, width, height) of the page's images and forms, from their dictionaries (forms are
    0 x 0): a hostile picture is never decoded to learn its size."""
    try:
        resources = reader.pages[number - 1].get("/Resources") or {}
        xobjects = resources.get_object().get("/XObject") if resources else None
        found = []
        for key in xobjects or {}:
            xobject = xobjects[key].get_object()
            kind = xobject.get("/Subtype")
            if kind == "/Image":
                found.append((kind, int(xobject.get("/Width", 0)), int(xobject.get("/Height", 0))))
            elif kind == "/Form":
                found.append((kind, 0, 0))
        return found
    except (KeyError, ValueError, AttributeError, TypeError, PyPdfError):
        return []


def ocr_pdf_pages(
    data: bytes,
    reader: PdfReader,
    numbers: Sequence[int],
    progress: Progress = no_progress,
    budget: Budget | None = None,
) -> list[OcrPage]:
    """OCR each listed page (1-based) of the PDF `data` (`reader` is it opened and decrypted),
    reporting progress per page. Raises OcrUnavailableError when Tesseract is missing, LoadError
    when the pages or the time are over the budget's OCR limits; a page that can't be rendered or
    decoded yields empty text."""
    if not ocr_available():
        raise OcrUnavailableError(HOW_TO_ENABLE)
    budget = budget or Budget("the PDF")
    budget.start_ocr(len(numbers))
    renderer = shutil.which(PDFTOPPM)
    results = []
    for done, number in enumerate(numbers):
        progress(done / len(numbers), f"OCR page {number} ({done + 1}/{len(numbers)})")
        timeout = min(PAGE_TIMEOUT_S, budget.remaining())
        rendered = (
            render_page(data, number, scan_dpi(reader, number), timeout, _side(reader, number))
            if renderer
            else None
        )
        images = [rendered] if rendered else page_images(reader, number)
        texts = [ocr_image(png, timeout=min(PAGE_TIMEOUT_S, budget.remaining())) for png in images]
        if budget.remaining() <= 0:
            raise budget.ocr_over_time(done + 1, len(numbers))
        results.append(OcrPage(number, "\n".join(t for t in texts if t)))
        budget.take(results[-1].text, f" by scanned page {number}")
    progress(1.0, f"OCR done: {len(numbers)} page(s)")
    return results


def scan_dpi(reader: PdfReader, number: int) -> int:
    """The resolution the page's widest picture was scanned at (clamped to 150-300 dpi), so that
    rendering neither throws detail away nor invents pixels; 200 when it can't be told."""
    try:
        width_in = float(reader.pages[number - 1].mediabox.width) / 72
    except (ValueError, KeyError, TypeError, AttributeError, PyPdfError):
        return DEFAULT_DPI
    pixels = max((width for _, width, _ in _pictures(reader, number)), default=0)
    if not pixels or width_in <= 0:
        return DEFAULT_DPI
    return max(150, min(300, round(pixels / width_in)))


def _side(reader: PdfReader, number: int) -> float:
    """The page's longer side in inches (its crop box, which pdftoppm renders); 0 if unknown."""
    try:
        page = reader.pages[number - 1]
        box = page.cropbox
        unit = float(page.get("/UserUnit", 1) or 1)
        return max(abs(float(box.width)), abs(float(box.height))) * unit / 72
    except (ValueError, KeyError, TypeError, AttributeError, PyPdfError):
        return 0.0


def render_page(
    data: bytes, number: int, dpi: int, timeout: float = PAGE_TIMEOUT_S, side_in: float = 0.0
) -> bytes | None:
    """Page `number` rendered to a grey PNG by poppler's pdftoppm, or None if it fails. A page whose
    longer side (`side_in` inches) would pass `MAX_RENDER_SIDE` pixels at `dpi` is scaled to fit."""
    size = ["-r", str(dpi)]
    if side_in * dpi > MAX_RENDER_SIDE:
        log.warning(
            "page %d is %.0f inches; rendered at %d pixels, not %d dpi", number, side_in, MAX_RENDER_SIDE, dpi
        )
        size = ["-scale-to", str(MAX_RENDER_SIDE)]
    command = limited([PDFTOPPM, *size, "-f", str(number), "-l", str(number), "-png", "-gray", "-"])
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=max(timeout, 1), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("pdftoppm failed on page %d (%s); using the page's images", number, exc)
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def page_images(reader: PdfReader, number: int) -> list[bytes]:
    """The page's pictures as PNG bytes, in the order the page lists them."""
    images = []
    try:
        for image in reader.pages[number - 1].images:
            out = io.BytesIO()
            picture = image.image
            if picture.mode not in ("1", "L", "RGB"):
                picture = picture.convert("RGB")
            picture.save(out, "PNG")
            images.append(out.getvalue())
    except _UNDECODABLE as exc:
        log.warning("page %d: cannot decode its image for OCR (%s)", number, exc)
    return images


def ocr_image(image: bytes, language: str | None = None, timeout: float = PAGE_TIMEOUT_S) -> str:
    """The text Tesseract reads in one image (PNG/JPEG/TIFF bytes)."""
    language = language or os.environ.get(LANGUAGE_ENV, "eng")
    command = limited([TESSERACT, "stdin", "stdout", "-l", language, "--psm", "3"])
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    if timeout <= 0:
        return ""
    try:
        done = subprocess.run(
            command, input=image, capture_output=True, timeout=max(timeout, 1), env=env, check=False
        )
    except FileNotFoundError as exc:
        raise OcrUnavailableError(HOW_TO_ENABLE) from exc
    except subprocess.TimeoutExpired:
        log.warning("OCR of one image took over %.0f s; skipped", timeout)
        return ""
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        if any("Failed loading language" in line for line in message):
            raise OcrUnavailableError(
                f"Tesseract has no data for language {language!r}; install tesseract-ocr-{language} "
                f"or set {LANGUAGE_ENV}"
            )
        log.warning("tesseract failed (%s)", message[-1] if message else done.returncode)
        return ""
    return _tidy(done.stdout.decode(errors="replace"))


def _tidy(text: str) -> str:
    """Tesseract ends paragraphs with blank lines and pages with a form feed; keep the paragraphs."""
    lines = [" ".join(line.split()) for line in text.replace("\f", "\n").splitlines()]
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)
