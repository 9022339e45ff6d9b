"""The document library: embedder + store + ingestor wired once from settings.

CLI, web app and evaluation all open the library through `Library.open`, so there is one way to
build the stages and one place that knows how a question becomes ranked chunks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.chunking import document_id
from rag.embeddings import Embedder, get_embedder
from rag.ingest import Ingestor
from rag.query import KEYWORD_GATE, build_query, history_gate
from rag.settings import Settings
from rag.store import VectorStore
from rag.types import Hit


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    elapsed_ms: float  # embedding the query and searching
    query: str = ""  # "Searched for: …", for the Sources panel


class Library:
    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.ingestor = Ingestor(settings, embedder, store)

    @classmethod
    def open(cls, settings: Settings) -> Library:
        embedder = get_embedder(settings)
        return cls(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))

    def retrieve(
        self,
        question: str,
        owners: Sequence[str],
        k: int | None = None,
        doc_ids: Iterable[str] | None = None,
        history: Sequence[str] = (),
        mode: str | None = None,
    ) -> Retrieval:
        """The top-k chunks the given owners may see for `question`, read in the light of `history`
        (the earlier user questions, oldest first; see rag/query.py), searched by `mode`
        (default RAG_RETRIEVAL)."""
        start = time.perf_counter()
        mode = mode or self.settings.retrieval
        k = k or self.settings.top_k
        doc_ids = list(doc_ids or [])
        query = build_query(question, history)
        vector, gate = None, 0.0
        if mode != "keyword":
            embedded = self.embedder.embed_queries(query.texts)
            if query.earlier:  # how well does the question find something on its own?
                own = self.store.search(embedded[0], "", 1, owners, doc_ids, mode="dense")
                gate = history_gate(own[0].score if own else 0.0)
            vector = query.vector(embedded, gate)
        elif query.earlier:
            gate = KEYWORD_GATE  # no similarity to judge by: earlier words in, the question's count double
        hits = self.store.search(vector, query.keyword_text(gate), k, owners, doc_ids, mode=mode)
        return Retrieval(hits, (time.perf_counter() - start) * 1000, query.describe(gate))

    def delete_named(self, owner: str, name: str) -> bool:
        """Delete one of `owner`'s documents by name; False if there is none."""
        doc_id = document_id(owner, name)
        if self.store.find_document(doc_id) is None:
            return False
        self.store.delete_document(doc_id)
        return True

    def close(self) -> None:
        self.store.close()
