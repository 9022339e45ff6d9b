"""Text for PDF pages that have none: the page's scanned image(s) through Tesseract.

Tesseract is an optional system program (Debian: `tesseract-ocr` + `tesseract-ocr-eng`), called
as a subprocess with the image on stdin, so the app works without it and says how to turn it on.
Images come from pypdf's extraction of the page's embedded pictures (a scanner puts one per page):
on the same scanned fixture this was as accurate as rendering the page with poppler's pdftoppm and
faster, and it needs no second system package (docs/BENCHMARKS.md has the figures).
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
LANGUAGE_ENV = "RAG_OCR_LANG"  # e.g. "eng+deu" once tesseract-ocr-deu is installed
PAGE_TIMEOUT_S = 180
HOW_TO_ENABLE = (
    "install the Tesseract OCR engine to read scans (Debian/Ubuntu: "
    "`apt-get install tesseract-ocr tesseract-ocr-eng`; `make run` does it), then upload the file again"
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
    reader: PdfReader, numbers: Sequence[int], progress: Progress = no_progress
) -> list[OcrPage]:
    """OCR each listed page (1-based), reporting progress per page. Raises OcrUnavailableError
    when Tesseract is missing; a page whose images can't be decoded yields empty text."""
    if not ocr_available():
        raise OcrUnavailableError(HOW_TO_ENABLE)
    results = []
    for done, number in enumerate(numbers):
        progress(done / len(numbers), f"OCR page {number} ({done + 1}/{len(numbers)})")
        texts = [ocr_image(png) for png in page_images(reader, number)]
        results.append(OcrPage(number, "\n".join(t for t in texts if t)))
    progress(1.0, f"OCR done: {len(numbers)} page(s)")
    return results


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
