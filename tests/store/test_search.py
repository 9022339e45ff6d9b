"""Dense, keyword and hybrid search (`rag.store.search`): fallbacks, and only chunks of live versions."""

import numpy as np
import pytest
from pymilvus import MilvusException

from rag.errors import StoreError
from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.store.versions import DocumentVersions
from rag.types import Chunk


def test_new_rows_carry_section_and_title_and_are_keyword_searchable(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        chunks = [
            Chunk("d1", "g.md", 0, 0, "Set M to 16.", "Index › HNSW › Index building parameters", "Guide")
        ]
        store.add_document(chunks, np.eye(4, dtype=np.float32)[:1], "shared", "h", 1)
        (hit,) = store.search(None, "building parameters", 3, ["shared"], mode="keyword")
        assert (hit.chunk.section, hit.chunk.title, hit.chunk.text) == (
            "Index › HNSW › Index building parameters",
            "Guide",
            "Set M to 16.",
        )
        with pytest.raises(StoreError, match="unknown retrieval mode"):
            store.search(None, "x", 3, ["shared"], mode="fuzzy")
    finally:
        store.close()


def test_every_mode_finds_nothing_in_an_empty_store_instead_of_failing(library):
    # BM25 over a store with no text divides by an average length of 0 (Milvus says NaN)
    for mode in ("hybrid", "keyword", "dense"):
        assert library.retrieve("Anything there?", ["shared"], mode=mode).hits == []


def test_a_failing_keyword_leg_leaves_hybrid_search_its_dense_hits(settings: Settings, monkeypatch):
    store = VectorStore(settings, 4, "m")
    try:
        vector = np.array([[1, 0, 0, 0]], dtype=np.float32)
        store.add_document([Chunk("d1", "a.md", 0, 0, "walrus text")], vector, "shared", "h", 1)
        real = store.searcher._search

        def glitch(vector, text, limit, flt, mode):  # what Milvus Lite answered once, mid-write
            if mode != "dense":
                raise MilvusException(message="Invalid sparse row: negative value")
            return real(vector, text, limit, flt, mode)

        monkeypatch.setattr(store.searcher, "_search", glitch)
        hits = store.search(vector[0], "walrus", 5, ["shared"], mode="hybrid")
        assert [h.chunk.text for h in hits] == ["walrus text"]
        with pytest.raises(StoreError):
            store.search(vector[0], "walrus", 5, ["shared"], mode="keyword")
    finally:
        store.close()


def _write_two_versions_without_the_second_commit(store: VectorStore, monkeypatch) -> np.ndarray:
    """Version `old` of d1 is live; version `new`'s chunks are in, its commit hasn't happened (a
    writer mid-way). Returns the vector of both."""
    vector = np.array([[1, 0, 0, 0]], dtype=np.float32)
    store.add_document([Chunk("d1", "a.md", 0, 0, "old walrus text")], vector, "shared", "old", 1)
    monkeypatch.setattr(DocumentVersions, "_commit_version", lambda self, heads: [])
    store.add_document([Chunk("d1", "a.md", 0, 0, "new walrus text")], vector, "shared", "new", 1)
    return vector


def test_search_and_listing_leave_out_a_version_still_being_written(settings: Settings, monkeypatch):
    store = VectorStore(settings, 4, "m")
    try:
        vector = _write_two_versions_without_the_second_commit(store, monkeypatch)
        for mode in ("dense", "keyword", "hybrid"):
            hits = store.search(vector[0], "walrus", 5, ["shared"], mode=mode)
            assert [h.chunk.text for h in hits] == ["old walrus text"], mode
        assert [d.content_hash for d in store.list_documents(["shared"])] == ["old"]
        assert store.find_document("d1").content_hash == "old"
    finally:
        store.close()


def test_search_leaves_out_a_version_whose_row_a_reader_misses_mid_upsert(settings: Settings, monkeypatch):
    """A long write renews its `writing` row every 30 s by upsert, which Milvus Lite does as a
    delete then an insert: a search in between finds no row for the version. Its chunks still
    stay out: a chunk is shown only when its version is seen live."""
    store = VectorStore(settings, 4, "m")
    try:
        vector = _write_two_versions_without_the_second_commit(store, monkeypatch)
        store.client.delete(store.versions, filter='version == "d1:new"')  # the upsert's gap
        for mode in ("dense", "keyword", "hybrid"):
            hits = store.search(vector[0], "walrus", 5, ["shared"], mode=mode)
            assert [h.chunk.text for h in hits] == ["old walrus text"], mode
    finally:
        store.close()
