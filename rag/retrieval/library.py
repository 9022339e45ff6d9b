"""The document library: the embedder and the store it matches, and how a question becomes ranked chunks.

The composition root (`rag.assistant.Assistant`) opens one per process; it is the one place that
knows how a question becomes ranked chunks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.embedding.embedder import Embedder, load_embedder
from rag.embedding.languages import covers
from rag.retrieval.document_words import DocumentWordsCache
from rag.retrieval.documents import WordWeights, document_scores, rank_with_documents, words
from rag.retrieval.keyword_upkeep import KeywordUpkeep
from rag.retrieval.query import KEYWORD_GATE, build_query, history_gate, order_hits
from rag.settings import Settings
from rag.store.search import CANDIDATES_PER_K
from rag.store.vector_store import VectorStore
from rag.text.keywords import keyword_text
from rag.text.languages import language_of
from rag.types import Hit

# The keyword-only path ranks chunks with their documents (rag/retrieval/documents.py); a bench
# sets this False for the chunk ranking alone in the same run (bench/keyword_documents.py).
DOCUMENT_RANKING = True


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
        self.upkeep: KeywordUpkeep | None = None  # older keyword text being rewritten (`open`)
        self.document_words = DocumentWordsCache()  # candidate documents' words, by version

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Library:
        """Load the embedder (unless one is shared in) and open the store it matches; chunks with
        an older analyzer's keyword text are rewritten in the background (`keyword_upkeep`)."""
        embedder = embedder or load_embedder(settings)
        library = cls(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
        library.upkeep = KeywordUpkeep.start(library.store)
        return library

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
        (the earlier user questions, oldest first; see rag/retrieval/query.py), searched by `mode`
        (default RAG_RETRIEVAL)."""
        start = time.perf_counter()
        mode = self._mode(question, mode)
        k = k or self.settings.search.top_k
        doc_ids = list(doc_ids or [])
        query = build_query(question, history)
        vector, gate = None, 0.0
        if mode != "keyword":
            embedded = self.embedder.embed_queries(query.texts)
            if query.earlier:  # does the question stand on its own, or does the conversation help?
                # the best match of the question alone and of the joined text, in one request
                own, joined = self.store.closest(embedded[:2], owners, doc_ids)
                gate = history_gate(own, joined)
            vector = query.vector(embedded, gate)
        elif query.earlier:
            gate = KEYWORD_GATE  # no similarity to judge by: the joined text is searched
        keywords = keyword_text(query.keyword_text(gate))  # Japanese split into words, as stored
        if mode == "keyword" and DOCUMENT_RANKING:
            hits = self._keyword_by_document(keywords, k, owners, doc_ids)
        else:
            hits = self.store.search(vector, keywords, k, owners, doc_ids, mode=mode)
        hits = order_hits(hits, gate)
        return Retrieval(hits, (time.perf_counter() - start) * 1000, query.describe(gate))

    def _keyword_by_document(
        self, keywords: str, k: int, owners: Sequence[str], doc_ids: list[str]
    ) -> list[Hit]:
        """The top k of `CANDIDATES_PER_K` × k keyword hits ranked with their whole documents
        (rag/retrieval/documents.py: Japanese dev MRR@5 0.817 -> 0.850, probe 0.857 -> 0.875)."""
        depth = CANDIDATES_PER_K * k
        hits = self.store.search(None, keywords, depth, owners, doc_ids, mode="keyword")
        if not hits:
            return []
        documents = self.document_words.read(self.store, [hit.chunk.doc_id for hit in hits], owners)
        # each word's document frequency among its own `depth` best chunks (probe MRR@5 0.876;
        # among 50 or 100: 0.871, 0.867)
        found = self.store.documents_per_word(sorted(set(words(keywords))), owners, depth)
        weights = WordWeights(found, self.store.count_documents(owners))
        return rank_with_documents(hits, document_scores(keywords, documents, weights))[:k]

    def _mode(self, question: str, mode: str | None) -> str:
        """The mode asked for, except that the hybrid default searches by keywords alone when the
        embedder doesn't read the question's language (rag/embedding/languages.py): MiniLM's
        vectors for Japanese questions outvoted the keyword leg (hybrid hit@5 0.10, keyword 0.80)."""
        mode = mode or self.settings.search.retrieval
        if mode == "hybrid" and not covers(self.embedder.name, language_of(question)):
            return "keyword"
        return mode

    def close(self) -> None:
        if self.upkeep is not None:
            self.upkeep.stop()
        self.store.close()
