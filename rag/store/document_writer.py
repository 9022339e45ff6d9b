"""One document version written in batches while its chunks are still being embedded, and still
all-or-nothing: the version row says `writing` from the first batch on, so searches and listings
leave its chunks out (`rag.store.versions`), and only `commit` makes it live.

Why: holding a whole document until one write made memory grow with its pages. For a 1,000-page
PDF the rows alone (a 384-float vector is ~12 kB as the Python list pymilvus wants) peaked at
+26 MB of Python heap, the vectors and chunks another +12 MB (bench/ingest_memory.py, docs/BENCHMARKS.md);
written in batches, what is held is one batch, whatever the page count.

A write that does not reach `commit` (Stop, an error, a killed process) leaves nothing visible:
leaving the `with` block by an exception deletes what was stored, and a killed process leaves a
`writing` row with fewer chunks than it names, which the repair at the next open rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

import numpy as np

from rag.errors import StoreError
from rag.store import rows as r
from rag.store.rows import NewDocument
from rag.store.versions import DocumentVersions
from rag.types import Chunk


class DocumentWriter:
    """`with store.write_document(...) as writer: writer.add(...)` (see `VectorStore.write_document`):
    commits when the block ends normally, undoes everything when it ends by an exception."""

    def __init__(
        self,
        versions: DocumentVersions,
        doc_id: str,
        source: str,
        owner: str,
        content_hash: str,
        n_chunks: int,
        n_pages: int,
        replacing: bool = False,
        since: int | None = None,
    ) -> None:
        if n_chunks < 1:
            raise StoreError(f"{source}: a document needs at least one chunk")
        self.versions = versions
        self.now = int(time.time())
        self.n_chunks = n_chunks
        self.written = 0
        name = Chunk(doc_id, source, 0, 0, "")  # what the version row reads its names from
        self._document = NewDocument([name], np.zeros((1, 1), np.float32), owner, content_hash, n_pages)
        self.head = r.version_row(self._document, self.now, "writing", n_chunks)
        self._renewed = time.monotonic()
        self.replacing = replacing  # the document was live when the upload began (`DocumentVersions.begin`)
        self.since = since  # the workspace's deletion mark then (`rag.store.deletions`); None: now

    def __enter__(self) -> DocumentWriter:
        self.versions.begin(self.head, self.replacing, self.since)
        return self

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray, keyword_texts: Sequence[str] = ()) -> None:
        """Store the next chunks of this version (one row each), still invisible."""
        if self.written + len(chunks) > self.n_chunks:
            raise StoreError(
                f"{self.head['source']}: more chunks than the {self.n_chunks} announced; nothing was kept"
            )
        d = self._document
        batch = NewDocument(chunks, vectors, d.owner, d.content_hash, d.n_pages, keyword_texts)
        rows = r.chunk_rows(batch, self.now, self.n_chunks)
        self._renewed = self.versions.insert(self.head, rows, self._renewed)
        self.written += len(chunks)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self.versions.undo(self.head)
            return
        if self.written != self.n_chunks:
            self.versions.undo(self.head)
            raise StoreError(
                f"{self.head['source']}: {self.written} of {self.n_chunks} chunks written; nothing was kept"
            )
        self.versions.commit(self.head)
