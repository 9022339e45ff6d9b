"""Text for PDF pages that have none: the scanned page through Tesseract.

Tesseract is an optional system program (Debian: `tesseract-ocr` + `tesseract-ocr-eng`), called
as a subprocess with the image on stdin, so the app works without it and says how to turn it on.
The page image: rendered by poppler's `pdftoppm` (grey, at the scan's own resolution) when it is
installed, else the page's embedded pictures as pypdf extracts them. On the same fixtures both read
clean pages equally well (99-100% of words), but on speckled scans the rendered page did better
(98.3% vs 94.5-94.7% of words on a dense page, below the 95% bar) for 1.5-2x the time; rendering
also reads pages drawn as vector art. docs/BENCHMARKS.md has the figures.
`OMP_THREAD_LIMIT=1`: Tesseract's OpenMP threads made it 3x slower on a busy 2-core machine.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from pypdf import PdfReader

from rag.errors import OcrUnavailableError
from rag.types import Progress, no_progress

log = logging.getLogger(__name__)
TESSERACT = "tesseract"
PDFTOPPM = "pdftoppm"  # poppler-utils; optional: without it the page's embedded images are read
DEFAULT_DPI = 200
LANGUAGE_ENV = "RAG_OCR_LANG"  # e.g. "eng+deu" once tesseract-ocr-deu is installed
PAGE_TIMEOUT_S = 180
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
    """Those of `numbers` (1-based) whose page holds at least one picture: an empty page without
    one is blank, not a scan, and OCR would only cost time."""
    found = []
    for number in numbers:
        try:
            resources = reader.pages[number - 1].get("/Resources") or {}
            xobjects = resources.get_object().get("/XObject") if resources else None
            if xobjects and any(
                xobjects[key].get_object().get("/Subtype") in ("/Image", "/Form") for key in xobjects
            ):
                found.append(number)
        except (KeyError, ValueError, AttributeError, TypeError):
            continue
    return found


def ocr_pdf_pages(
    data: bytes, reader: PdfReader, numbers: Sequence[int], progress: Progress = no_progress
) -> list[OcrPage]:
    """OCR each listed page (1-based) of the PDF `data` (`reader` is it opened and decrypted),
    reporting progress per page. Raises OcrUnavailableError when Tesseract is missing; a page that
    can't be rendered or decoded yields empty text."""
    if not ocr_available():
        raise OcrUnavailableError(HOW_TO_ENABLE)
    renderer = shutil.which(PDFTOPPM)
    results = []
    for done, number in enumerate(numbers):
        progress(done / len(numbers), f"OCR page {number} ({done + 1}/{len(numbers)})")
        rendered = render_page(data, number, scan_dpi(reader, number)) if renderer else None
        images = [rendered] if rendered else page_images(reader, number)
        texts = [ocr_image(png) for png in images]
        results.append(OcrPage(number, "\n".join(t for t in texts if t)))
    progress(1.0, f"OCR done: {len(numbers)} page(s)")
    return results


def scan_dpi(reader: PdfReader, number: int) -> int:
    """The resolution the page's largest picture was scanned at (clamped to 150-300 dpi), so that
    rendering neither throws detail away nor invents pixels; 200 when it can't be told."""
    try:
        page = reader.pages[number - 1]
        width_in = float(page.mediabox.width) / 72
        pixels = max((image.image.width for image in page.images), default=0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError):
        return DEFAULT_DPI
    if not pixels or width_in <= 0:
        return DEFAULT_DPI
    return max(150, min(300, round(pixels / width_in)))


def render_page(data: bytes, number: int, dpi: int) -> bytes | None:
    """Page `number` rendered to a grey PNG by poppler's pdftoppm, or None if it fails."""
    command = [PDFTOPPM, "-r", str(dpi), "-f", str(number), "-l", str(number), "-png", "-gray", "-"]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=PAGE_TIMEOUT_S, check=False)
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
    except (OSError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        log.warning("page %d: cannot decode its image for OCR (%s)", number, exc)
    return images


def ocr_image(image: bytes, language: str | None = None) -> str:
    """The text Tesseract reads in one image (PNG/JPEG/TIFF bytes)."""
    language = language or os.environ.get(LANGUAGE_ENV, "eng")
    command = [TESSERACT, "stdin", "stdout", "-l", language, "--psm", "3"]
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            command, input=image, capture_output=True, timeout=PAGE_TIMEOUT_S, env=env, check=False
        )
    except FileNotFoundError as exc:
        raise OcrUnavailableError(HOW_TO_ENABLE) from exc
    except subprocess.TimeoutExpired:
        log.warning("OCR of one image took over %d s; skipped", PAGE_TIMEOUT_S)
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
