"""Bytes + a file name → `Document`, or a `LoadError` that says why.

The type comes from the content first: a ZIP named .pdf or random bytes named .txt are caught
here, with a reason a user can act on, before anything reaches the store.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import zipfile
from dataclasses import replace
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

from rag.errors import LoadError, OcrUnavailableError
from rag.ingest.budgets import DEFAULT_LIMITS, Budget, LoadLimits, parser_failure, too_much_text
from rag.ingest.markdown_html import html_to_text
from rag.ingest.ocr import HOW_TO_ENABLE, ocr_pdf_pages, pages_with_images
from rag.ingest.office import load_docx, load_pptx, zip_kind
from rag.ingest.pdf_tables import PdfTableReader
from rag.ingest.sections import Section, html_sections, markdown_sections
from rag.types import SECTION_SEPARATOR, Document, Page, Progress, no_progress

PROGRESS_EVERY_PAGES = 25  # also how often an upload's Stop is looked at while a PDF is read
ZIP_BYTES_PER_CHAR = 20  # Office XML carries ~5-10 bytes of markup per character of text

SUPPORTED = "PDF, Word (.docx), PowerPoint (.pptx), HTML, Markdown or plain text"
_ZIP = b"PK\x03\x04"
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "an old Microsoft Office file (.doc/.ppt: save it as .docx/.pptx)",
}


def load_document(
    name: str, data: bytes, progress: Progress = no_progress, limits: LoadLimits = DEFAULT_LIMITS
) -> Document:
    """Parse one file. Raises LoadError naming `name` for anything that isn't usable text, including
    a parser's refusal of a hostile file (rag/ingest/budgets.py). `progress` hears about slow steps (OCR,
    page by page)."""
    budget = Budget(name, limits)
    try:
        return _load(name, data, progress, budget)
    except (LoadError, OcrUnavailableError):
        raise
    except Exception as exc:
        refusal = parser_failure(name, exc)
        if refusal is None:
            raise
        raise refusal from exc


def _load(name: str, data: bytes, progress: Progress, budget: Budget) -> Document:
    limits = budget.limits
    if not data:
        raise LoadError(name, "the file is empty")
    if data.startswith(_ZIP):
        checked = _unzipped_size_checked(name, data, limits)
        return _within_limits(name, _zip_document(name, checked, budget), limits)
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise LoadError(name, f"the content is {what}, not {SUPPORTED}")
    content_hash = hashlib.sha256(data).hexdigest()
    suffix = PurePath(name).suffix.lower()
    if data[:1024].lstrip().startswith(b"%PDF-"):
        title, pages = _pdf_pages(name, data, budget, progress)
        return _pdf_with_ocr(name, data, pages, content_hash, progress, budget, title)
    if suffix == ".pdf":
        raise LoadError(name, "named .pdf but the content is not a PDF")
    text = decode_text(name, data)
    if len(text) > limits.max_chars:
        raise LoadError(name, too_much_text(len(text), limits))
    if _looks_like_html(suffix, text):
        title, sections = html_sections(text, budget)
        document = Document(name, "html", _section_pages(sections, title), content_hash, title=title)
    elif suffix in {".md", ".markdown"}:
        title, sections = markdown_sections(html_to_text(text))  # inline HTML as the reader sees it
        document = Document(name, "markdown", _section_pages(sections, title), content_hash, title=title)
    else:
        document = Document(name, "text", [Page(0, text)], content_hash)
    if not any(page.text.strip() for page in document.pages):
        raise LoadError(name, "no text found in the file")
    return document


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM) and UTF-16 with BOM; anything else only if clearly text."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(name, data[len(codecs.BOM_UTF8) :], "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(name, data, "utf-16")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if not _clearly_legacy_text(data):
            raise LoadError(
                name, f"the content is binary or in an unknown encoding, not {SUPPORTED}"
            ) from None
        text = data.decode("cp1252", errors="replace")
    if _control_ratio(text) > 0.01:
        raise LoadError(name, f"the content is binary, not {SUPPORTED}")
    return text


def _section_pages(sections: list[Section], title: str) -> list[Page]:
    """One unpaged `Page` per section, so that no chunk straddles a heading."""
    return [Page(0, section.text, section.path) for section in sections] or [Page(0, title)]


def _pdf_pages(
    name: str, data: bytes, budget: Budget, progress: Progress = no_progress
) -> tuple[str, list[Page]]:
    limits = budget.limits
    if b"%%EOF" not in data[-2048:]:
        raise LoadError(name, "the PDF is truncated or damaged (no end-of-file marker)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(name, "the PDF is encrypted with a password; upload an unprotected copy")
        # the catalog's count first: walking the page tree of a hostile file takes seconds
        count = _declared_pages(reader)
        if count <= limits.max_pages:
            count = len(reader.pages)
        if count > limits.max_pages:
            raise LoadError(
                name, f"the PDF has {count} pages, more than the limit of {limits.max_pages} (RAG_MAX_PAGES)"
            )
        texts, tables = [], PdfTableReader()
        for i, page in enumerate(reader.pages):
            if count > PROGRESS_EVERY_PAGES and i % PROGRESS_EVERY_PAGES == 0:  # long PDFs only
                progress(i / count, f"reading page {i + 1} of {count}")
            texts.append(_clean(tables.page_text(page)))
            budget.take(texts[-1], f" by page {i + 1}")
        title, sections = _pdf_title(reader), _pdf_sections(reader, len(texts))
        pages = [Page(i + 1, text, sections[i]) for i, text in enumerate(texts)]
    except FileNotDecryptedError as exc:
        raise LoadError(name, "the PDF is encrypted with a password; upload an unprotected copy") from exc
    except LoadError:
        raise
    except PyPdfError as exc:  # LimitReachedError (a decompression bomb), ParseError, PdfReadError…
        raise LoadError(
            name, f"the PDF is damaged or too large to read safely ({type(exc).__name__}: {exc})"
        ) from exc
    except (ValueError, KeyError, TypeError, AttributeError, NotImplementedError, RecursionError) as exc:
        raise LoadError(name, f"the PDF is damaged and cannot be read ({exc})") from exc
    if not pages:
        raise LoadError(name, "the PDF has no pages")
    return title, pages


def _pdf_title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    return " ".join(str(title).split()) if title else ""


def _pdf_sections(reader: PdfReader, n_pages: int) -> list[str]:
    """Each page's section: the path of the last outline (bookmark) entry starting on or before it.

    A damaged or missing outline only costs the section paths, never the document.
    """
    starts: list[tuple[int, int, str]] = []  # (page index, order, path)

    def walk(items: list, parents: list[str]) -> None:
        previous: list[str] = parents
        for item in items:
            if isinstance(item, list):
                walk(item, previous)
                continue
            name = " ".join(str(item.title or "").split())
            previous = [*parents, name] if name else parents
            page = reader.get_destination_page_number(item)
            if name and page is not None and 0 <= page < n_pages:
                starts.append((page, len(starts), SECTION_SEPARATOR.join(previous)))

    try:
        walk(reader.outline, [])
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return [""] * n_pages
    sections, current = [], ""
    by_page = sorted(starts)
    for index in range(n_pages):
        while by_page and by_page[0][0] <= index:
            current = by_page.pop(0)[2]
        sections.append(current)
    return sections


def _unzipped_size_checked(name: str, data: bytes, limits: LoadLimits) -> bytes:
    """A DOCX/PPTX is a ZIP: refuse one that would unpack to far more than its text limit (a ZIP
    bomb) before any XML parser sees it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return data  # zip_kind names the damage
    if unpacked > ZIP_BYTES_PER_CHAR * limits.max_chars:
        raise LoadError(
            name,
            f"the archive unpacks to {unpacked:,} bytes, too much for {limits.max_chars:,} characters of "
            "text (RAG_MAX_DOCUMENT_CHARS)",
        )
    return data


def _within_limits(name: str, document: Document, limits: LoadLimits) -> Document:
    if len(document.pages) > limits.max_pages:
        raise LoadError(
            name,
            f"the file has {len(document.pages)} pages, more than the limit of {limits.max_pages} "
            "(RAG_MAX_PAGES)",
        )
    chars = sum(len(page.text) for page in document.pages)
    if chars > limits.max_chars:
        raise LoadError(name, too_much_text(chars, limits))
    return document


def _declared_pages(reader: PdfReader) -> int:
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except (KeyError, TypeError, ValueError):
        return 0


def _zip_document(name: str, data: bytes, budget: Budget) -> Document:
    """DOCX and PPTX are ZIPs: the archive's contents say which, or what else it is."""
    kind = zip_kind(data)
    content_hash = hashlib.sha256(data).hexdigest()
    if kind == "docx":
        document = load_docx(name, data, content_hash, budget)
    elif kind == "pptx":
        document = load_pptx(name, data, content_hash, budget)
    else:
        raise LoadError(name, f"the content is {kind}, not {SUPPORTED}")
    if not any(page.text.strip() for page in document.pages):
        raise LoadError(name, "no text found in the file")
    return document


def _pdf_with_ocr(
    name: str,
    data: bytes,
    pages: list[Page],
    content_hash: str,
    progress: Progress,
    budget: Budget,
    title: str = "",
) -> Document:
    """Pages without a text layer but with a picture are scans: OCR them when Tesseract is there.

    Page numbers stay those of the PDF. Without Tesseract a PDF that is all scan is refused with
    how to turn OCR on; a PDF that is only partly scanned goes in with a note naming the pages.
    """
    empty = [page.number for page in pages if not page.text.strip()]
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")  # _pdf_pages has already refused a PDF that needs a real password
    scanned = pages_with_images(reader, empty) if empty else []
    notes: tuple[str, ...] = ()
    if scanned:
        try:
            read = {p.number: _clean(p.text) for p in ocr_pdf_pages(data, reader, scanned, progress, budget)}
        except OcrUnavailableError as exc:
            if not any(page.text.strip() for page in pages):
                raise LoadError(name, f"the PDF has no text layer (a scan?); {exc}") from exc
            listed = ", ".join(map(str, scanned))
            notes = (f"scanned page(s) {listed} skipped: {HOW_TO_ENABLE}",)
        else:
            pages = [replace(p, text=read[p.number]) if p.number in read else p for p in pages]
            whole = len(scanned) == len(pages)
            notes = ("OCR",) if whole else (f"OCR on {len(scanned)} of {len(pages)} pages",)
    if not any(page.text.strip() for page in pages):
        detail = "OCR found no text either" if scanned else "and no scanned images to read"
        raise LoadError(name, f"the PDF has no text layer ({detail})")
    return Document(source=name, kind="pdf", pages=pages, content_hash=content_hash, notes=notes, title=title)


def _decode(name: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LoadError(name, f"invalid {encoding.upper()} text at byte {exc.start}") from exc


def _clearly_legacy_text(data: bytes) -> bool:
    """Single-byte text (cp1252/latin-1) has no NULs and almost no control bytes."""
    if b"\x00" in data:
        return False
    controls = sum(1 for b in data if b < 32 and b not in (9, 10, 13, 12))
    high = sum(1 for b in data if b >= 128)
    return controls == 0 and high / len(data) < 0.3


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls / max(len(sample), 1)


def _looks_like_html(suffix: str, text: str) -> bool:
    if suffix in {".html", ".htm"}:
        return True
    if suffix in {".md", ".markdown", ".txt", ".text"}:
        return False
    head = text[:1024].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


def _clean(text: str) -> str:
    """PDF extraction leaves runs of spaces and NULs; keep line structure, drop the noise."""
    text = text.replace("\x00", "")
    return re.sub(r"[ \t]+", " ", text).strip()
