"""Bytes + a file name → `Document`, or a `LoadError` that says why.

The type comes from the content first: a ZIP named .pdf or random bytes named .txt are caught
here, with a reason a user can act on, before anything reaches the store.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from bs4 import BeautifulSoup
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

from rag.errors import LoadError
from rag.types import Document, Page


@dataclass(frozen=True)
class LoadLimits:
    """How much one document may expand to: a small hostile file (a PDF whose pages share one huge
    content stream) must be refused early, with bounded memory, not parsed to the end."""

    max_pages: int = 2000
    max_chars: int = 5_000_000


DEFAULT_LIMITS = LoadLimits()

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
_HIDDEN_TAGS = ["script", "style", "noscript", "template", "svg", "head", "iframe", "object"]


def load_document(name: str, data: bytes, limits: LoadLimits = DEFAULT_LIMITS) -> Document:
    """Parse one file. Raises LoadError naming `name` for anything that isn't usable text."""
    if not data:
        raise LoadError(name, "the file is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise LoadError(name, f"the content is {what}, not {SUPPORTED}")
    content_hash = hashlib.sha256(data).hexdigest()
    suffix = PurePath(name).suffix.lower()
    if data[:1024].lstrip().startswith(b"%PDF-"):
        pages = _pdf_pages(name, data, limits)
        return Document(source=name, kind="pdf", pages=pages, content_hash=content_hash)
    if suffix == ".pdf":
        raise LoadError(name, "named .pdf but the content is not a PDF")
    text = decode_text(name, data)
    if len(text) > limits.max_chars:
        raise LoadError(name, _too_much_text(len(text), limits))
    if _looks_like_html(suffix, text):
        title, body = html_to_text(text)
        document = Document(name, "html", [Page(0, body)], content_hash, title=title)
    else:
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
        document = Document(name, kind, [Page(0, text)], content_hash)
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


def html_to_text(html: str) -> tuple[str, str]:
    """Title plus visible text; scripts, styles and markup never reach the chunks."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_HIDDEN_TAGS):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    body = "\n".join(line for line in lines if line)
    return title, f"{title}\n\n{body}" if title else body


def _pdf_pages(name: str, data: bytes, limits: LoadLimits) -> list[Page]:
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
        pages, chars = [], 0
        for i, page in enumerate(reader.pages):
            pages.append(Page(i + 1, _clean(page.extract_text() or "")))
            chars += len(pages[-1].text)
            if chars > limits.max_chars:
                raise LoadError(name, _too_much_text(chars, limits, f" by page {i + 1}"))
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
    if not any(page.text.strip() for page in pages):
        raise LoadError(name, "the PDF has no text layer (a scan?); OCR is not supported")
    return pages


def _declared_pages(reader: PdfReader) -> int:
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except (KeyError, TypeError, ValueError):
        return 0


def _too_much_text(chars: int, limits: LoadLimits, where: str = "") -> str:
    return (
        f"the document holds more than {limits.max_chars:,} characters of text{where} "
        f"({chars:,}; the limit is RAG_MAX_DOCUMENT_CHARS)"
    )


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
