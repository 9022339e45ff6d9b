"""The document library: embedder + store + ingestor wired from settings.

The composition root (`rag.assistant.Assistant`) opens one per process; it is the one place that
knows how a question becomes ranked chunks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.embeddings import Embedder, load_embedder
from rag.ingest import Ingestor
from rag.settings import Settings
from rag.store import VectorStore
from rag.types import Hit


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    elapsed_ms: float


class Library:
    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.ingestor = Ingestor(settings, embedder, store)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Library:
        """Load the embedder (unless one is shared in) and open the store it matches."""
        embedder = embedder or load_embedder(settings)
        return cls(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))

    def retrieve(
        self, question: str, owners: Sequence[str], k: int | None = None, doc_ids: Iterable[str] | None = None
    ) -> Retrieval:
        """Embed the question and return the top-k chunks the given owners may see."""
        start = time.perf_counter()
        vector = self.embedder.embed_query(question)
        hits = self.store.search(vector, k or self.settings.top_k, owners, doc_ids)
        return Retrieval(hits, (time.perf_counter() - start) * 1000)

    def close(self) -> None:
        self.store.close()
