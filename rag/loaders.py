"""Bytes + a file name → `Document`, or a `LoadError` that says why.

The type comes from the content first: a ZIP named .pdf or random bytes named .txt are caught
here, with a reason a user can act on, before anything reaches the store.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from rag.errors import LoadError
from rag.sections import Section, html_sections, markdown_sections
from rag.types import SECTION_SEPARATOR, Document, Page

SUPPORTED = "PDF, HTML, Markdown or plain text"
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (e.g. .zip, .docx)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "an old Microsoft Office file",
}


def load_document(name: str, data: bytes) -> Document:
    """Parse one file. Raises LoadError naming `name` for anything that isn't usable text."""
    if not data:
        raise LoadError(name, "the file is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise LoadError(name, f"the content is {what}, not {SUPPORTED}")
    content_hash = hashlib.sha256(data).hexdigest()
    suffix = PurePath(name).suffix.lower()
    if data[:1024].lstrip().startswith(b"%PDF-"):
        title, pages = _pdf_pages(name, data)
        return Document(source=name, kind="pdf", pages=pages, content_hash=content_hash, title=title)
    if suffix == ".pdf":
        raise LoadError(name, "named .pdf but the content is not a PDF")
    text = decode_text(name, data)
    if _looks_like_html(suffix, text):
        title, sections = html_sections(text)
        document = Document(name, "html", _section_pages(sections, title), content_hash, title=title)
    elif suffix in {".md", ".markdown"}:
        title, sections = markdown_sections(text)
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


def _pdf_pages(name: str, data: bytes) -> tuple[str, list[Page]]:
    if b"%%EOF" not in data[-2048:]:
        raise LoadError(name, "the PDF is truncated or damaged (no end-of-file marker)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(name, "the PDF is encrypted with a password; upload an unprotected copy")
        texts = [_clean(page.extract_text() or "") for page in reader.pages]
        title, sections = _pdf_title(reader), _pdf_sections(reader, len(texts))
        pages = [Page(i + 1, text, sections[i]) for i, text in enumerate(texts)]
    except FileNotDecryptedError as exc:
        raise LoadError(name, "the PDF is encrypted with a password; upload an unprotected copy") from exc
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as exc:
        raise LoadError(name, f"the PDF is damaged and cannot be read ({exc})") from exc
    if not pages:
        raise LoadError(name, "the PDF has no pages")
    if not any(page.text.strip() for page in pages):
        raise LoadError(name, "the PDF has no text layer (a scan?); OCR is not supported")
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
