"""A document's chunks → vectors → store in bounded batches, with Stop looked at about every second.

Memory: a 1,000-page PDF used to be held whole from chunking to its one write: every chunk, every
vector and every row (+40 MB of Python heap at the write, against +5 MB for 100 pages;
bench/ingest_memory.py). Here chunks come one page at a time (`iter_chunks`), are embedded in
sub-batches and stored `STORE_BATCH` at a time through a `DocumentWriter`, which keeps the
version invisible until its last batch is in: what is held is one batch, whatever the page count.

Stop: the embedder's batch (`RAG_EMBED_BATCH_SIZE`, 32) can take many seconds on a loaded CPU, or
with a larger model or batch size, and a Stop used to wait for it. Each sub-batch is now sized from
the time the previous ones took so that it takes about `STOP_WITHIN_S`, and Stop is looked at
before each one (in its fair turn: rag/ingest/fair.py) and before each store batch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import islice

import numpy as np

from rag.embedding.embedder import Embedder
from rag.ingest.fair import StopSignal
from rag.store.document_writer import DocumentWriter
from rag.text.keywords import keyword_text
from rag.text.languages import language_of
from rag.types import Chunk, Progress

# a sub-batch is sized to take about this long, so a Stop waits about this much embedding; MiniLM
# embeds ~100 chunks/s on one idle core here, so 32 chunks (the default batch) fit in it when the
# machine is idle, and batches only shrink when the model, the batch size or the load is larger
STOP_WITHIN_S = 1.0
# before anything was timed: a model 10x slower than MiniLM on a loaded machine still does 4 in ~1 s
FIRST_SUB_BATCH = 4
# chunks per write: 256 rows are ~3 MB of Python lists for pymilvus (a 384-d vector is ~12 kB),
# against ~26 MB for the 2,000 rows of a 1,000-page PDF written at once
STORE_BATCH = 256


class Pacer:
    """How many chunks the next sub-batch may hold so that it takes about `target_s`: at most
    `most` (the embedder's batch), at most twice the last size (one fast batch proves little)."""

    def __init__(self, most: int, target_s: float | None = None, first: int | None = None) -> None:
        self.most = max(1, most)
        self.target_s = STOP_WITHIN_S if target_s is None else target_s  # read now: a bench may change it
        self.size = max(1, min(FIRST_SUB_BATCH if first is None else first, self.most))

    def took(self, chunks: int, seconds: float) -> None:
        per_chunk = seconds / max(chunks, 1)
        fits = int(self.target_s / per_chunk) if per_chunk > 0 else self.most
        self.size = max(1, min(self.most, 2 * self.size, fits))


def embed_and_store(
    chunks: Iterator[Chunk],
    writer: DocumentWriter,
    embedder: Embedder,
    turn: Callable[[], AbstractContextManager[object]],
    stop: StopSignal,
    progress: Progress,
) -> Counter[str]:
    """Embed `chunks` in paced sub-batches, each in a fair `turn`, and store them in batches of
    `STORE_BATCH`; returns how many chunks are in each language (for the ingest's notes).
    Raises `Stopped` when `stop` trips: the writer then undoes what was stored."""
    pacer = Pacer(embedder.batch_size)
    languages: Counter[str] = Counter()
    pending: list[Chunk] = []
    vectors: list[np.ndarray] = []
    done = 0
    while batch := list(islice(chunks, pacer.size)):
        with turn():  # looks at `stop` first
            began = time.perf_counter()
            vectors.append(embedder.embed_passages([c.indexed_text for c in batch]))  # title › section + text
            pacer.took(len(batch), time.perf_counter() - began)
        pending += batch
        done += len(batch)
        languages.update(language_of(c.text) for c in batch)
        progress(0.2 + 0.7 * done / writer.n_chunks, _where(batch[-1], done, writer))
        if len(pending) >= STORE_BATCH:
            _store(writer, pending, vectors, stop)
    _store(writer, pending, vectors, stop)
    return languages


def _store(writer: DocumentWriter, pending: list[Chunk], vectors: list[np.ndarray], stop: StopSignal) -> None:
    """The embedded chunks so far into the (still invisible) version; empties both lists."""
    if not pending:
        return
    stop.check()
    keywords = [keyword_text(c.indexed_text) for c in pending]  # Japanese split into words
    writer.add(pending, np.vstack(vectors), keywords)
    pending.clear()
    vectors.clear()


def _where(last: Chunk, done: int, writer: DocumentWriter) -> str:
    """Per page for paged documents (a long PDF says which page it is at), else per chunk."""
    pages = writer.head["n_pages"]
    if last.page and pages > 1:
        return f"embedding page {last.page} of {pages} ({done}/{writer.n_chunks} chunks)"
    return f"embedding {done}/{writer.n_chunks} chunks"
