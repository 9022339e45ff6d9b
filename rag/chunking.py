"""`Document` → `list[Chunk]` with langchain's recursive splitter, page by page.

Chunks never straddle pages, so every chunk can cite the one page it came from; the chunk index
runs across the whole document.
"""

from __future__ import annotations

import hashlib

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.types import Chunk, Document


def document_id(owner: str, source: str) -> str:
    """A document is identified by who owns it and its name; a new version keeps the id."""
    return hashlib.sha256(f"{owner}\x00{source}".encode()).hexdigest()[:32]


def chunk_document(document: Document, doc_id: str, chunk_size: int = 512, overlap: int = 51) -> list[Chunk]:
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({chunk_size})")
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    chunks: list[Chunk] = []
    for page in document.pages:
        for text in splitter.split_text(page.text):
            if text.strip():
                chunks.append(Chunk(doc_id, document.source, page.number, len(chunks), text))
    return chunks
