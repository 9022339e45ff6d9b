"""`Document` → `list[Chunk]`: page by page (a page is a PDF page or a Markdown/HTML section).

Chunks never straddle pages, so every chunk can cite the one page and section it came from; the
chunk index runs across the whole document. Inside a page, paragraphs are packed whole into
chunks of at most `chunk_size` characters, and fenced code blocks and tables count as one paragraph,
so they are only cut when they alone are too long (then by langchain's recursive splitter, with
overlap, as for long plain text; a table is cut between rows instead, its header on every piece:
rag/ingest/tables.py).

Japanese and Chinese have no spaces between words, so the splitter's last resorts after line breaks
(a space, then any character) cut a block of CJK text in the middle of a word. A block in those
languages is split at line breaks, then after 。！？ (the mark stays with its sentence), then after
、, and only then anywhere; other text keeps the separators it always had, so its chunks are
unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from rag.ingest.tables import split_tables  # a long table's header on every piece
from rag.text.languages import language_of
from rag.types import Chunk, Document

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CJK_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "、", " ", ""]


def document_id(owner: str, source: str) -> str:
    """A document is identified by who owns it and its name; a new version keeps the id."""
    return hashlib.sha256(f"{owner}\x00{source}".encode()).hexdigest()[:32]


def chunk_document(document: Document, doc_id: str, chunk_size: int = 512, overlap: int = 51) -> list[Chunk]:
    return list(iter_chunks(document, doc_id, chunk_size, overlap))


def iter_chunks(document: Document, doc_id: str, chunk_size: int = 512, overlap: int = 51) -> Iterator[Chunk]:
    """The chunks one page at a time, so a long document's are never all held at once (the
    ingest embeds and stores them in batches: rag/ingest/streaming.py)."""
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({chunk_size})")
    splitters = Splitters(chunk_size, overlap)
    index = 0
    for page in document.pages:
        for text in pack(split_tables(blocks(page.text), chunk_size), chunk_size, splitters):
            if text.strip():
                yield Chunk(doc_id, document.source, page.number, index, text, page.section, document.title)
                index += 1


def blocks(text: str) -> list[str]:
    """Paragraphs separated by blank lines; a fenced code block or a table is one block."""
    result: list[str] = []
    current: list[str] = []
    fence = ""

    def close() -> None:
        if any(line.strip() for line in current):
            result.append("\n".join(current).strip("\n"))
        current.clear()

    for line in text.splitlines():
        if fence:
            current.append(line)
            if line.strip().startswith(fence):
                fence = ""
                close()
            continue
        opening = _FENCE.match(line)
        is_row = line.lstrip().startswith("|")
        was_row = bool(current) and current[-1].lstrip().startswith("|")
        if opening or (is_row != was_row and current and current[-1].strip()):
            close()  # a code block or a table starts (or a table ends) without a blank line before
        if opening:
            fence = opening.group(1)
        if not line.strip() and not fence:
            close()
        else:
            current.append(line)
    close()
    return result


class Splitters:
    """langchain's recursive splitter for a block too long to keep whole, chosen by its language."""

    def __init__(self, chunk_size: int, overlap: int) -> None:
        # imported here: langchain's import (~0.2 s) is on the web app's path to its first page
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.plain = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
        self.cjk = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=overlap, separators=_CJK_SEPARATORS, keep_separator="end"
        )

    def split_text(self, text: str) -> list[str]:
        cjk = language_of(text) in {"ja", "zh"}
        return (self.cjk if cjk else self.plain).split_text(text)


def pack(parts: list[str], chunk_size: int, splitter: Splitters) -> list[str]:
    """Greedily join whole blocks up to `chunk_size`; only a block that alone is too long is split."""
    chunks: list[str] = []
    current = ""
    for part in parts:
        if len(part) > chunk_size:
            if current:
                chunks.append(current)
            pieces = splitter.split_text(part)
            chunks.extend(pieces[:-1])
            current = pieces[-1] if pieces else ""
        elif not current:
            current = part
        elif len(current) + 2 + len(part) <= chunk_size:
            current = f"{current}\n\n{part}"
        else:
            chunks.append(current)
            current = part
    if current:
        chunks.append(current)
    return chunks
