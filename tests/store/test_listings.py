"""Reads through the live versions (`rag.store.listings`)."""

import numpy as np

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk


def test_neighbours_come_from_the_live_version_of_a_document_the_owner_may_see(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        vectors = np.eye(4, dtype=np.float32)
        old = [Chunk("d1", "a.txt", 0, i, f"old {i}") for i in range(4)]
        store.add_document(old, vectors, "alice", "v1", 1)
        new = [Chunk("d1", "a.txt", 0, i, f"new {i}") for i in range(4)]
        store.add_document(new, vectors, "alice", "v2", 1)  # a re-upload supersedes v1
        store.add_document(
            [Chunk("d2", "b.txt", 0, i, f"bob {i}") for i in range(2)], vectors[:2], "bob", "h", 1
        )
        middle, first, bobs = new[2], new[0], Chunk("d2", "b.txt", 0, 0, "bob 0")

        found = store.neighbours([middle, first, bobs], ["alice", "shared"])

        assert [c.text for c in found[middle.position]] == ["new 1", "new 2", "new 3"]
        assert [c.text for c in found[first.position]] == ["new 0", "new 1"]
        assert bobs.position not in found  # another workspace's document is never read
        assert [c.text for c in store.neighbours([bobs], ["bob"])[bobs.position]] == ["bob 0", "bob 1"]
        assert store.neighbours([], ["alice"]) == {}
    finally:
        store.close()


def _doc(doc_id: str, source: str, owner: str, content_hash: str) -> tuple:
    return (
        [Chunk(doc_id, source, 0, 0, f"{source} {content_hash}")],
        np.ones((1, 4), np.float32),
        owner,
        content_hash,
        1,
    )


def _fields_asked(store: VectorStore, monkeypatch) -> list[list[str]]:
    """The output fields of each query the store's client makes from now on."""
    asked: list[list[str]] = []
    query = store.client.query

    def recording(collection, **kwargs):
        asked.append(list(kwargs.get("output_fields") or []))
        return query(collection, **kwargs)

    monkeypatch.setattr(store.client, "query", recording)
    return asked


def test_a_listing_reads_only_the_keys_of_versions_it_has_read_before(settings: Settings, monkeypatch):
    store = VectorStore(settings, 4, "m")
    try:
        for i in range(3):
            store.add_document(*_doc(f"d{i}", f"{i}.txt", "alice", "h"))
        first = store.list_documents(["alice"])
        asked = _fields_asked(store, monkeypatch)

        assert store.list_documents(["alice"]) == first
        assert asked == [["version", "added_at"]]  # nothing but the keys: the rest is known

        store.add_document(*_doc("d3", "3.txt", "alice", "h"))
        asked.clear()
        assert [d.source for d in store.list_documents(["alice"])] == ["0.txt", "1.txt", "2.txt", "3.txt"]
        assert len(asked) == 2 and asked[0] == ["version", "added_at"]  # then the one new version
    finally:
        store.close()


def test_a_listing_shows_every_change_made_since_it_was_first_read(settings: Settings, monkeypatch):
    store = VectorStore(settings, 4, "m")
    try:
        store.add_document(*_doc("d1", "a.txt", "alice", "v1"))
        store.add_document(*_doc("d2", "b.txt", "alice", "h"))
        before = {d.doc_id: d for d in store.list_documents(["alice"])}

        later = before["d1"].added_at + 100
        monkeypatch.setattr("rag.store.versions.time.time", lambda: later)
        store.add_document(*_doc("d1", "a.txt", "alice", "v1"))  # the same content written again
        store.add_document(*_doc("d2", "b.txt", "alice", "h2"))  # a new version
        store.add_document(*_doc("d3", "c.txt", "alice", "h"))
        after = {d.doc_id: d for d in store.list_documents(["alice"])}

        assert after["d1"].added_at == later  # keyed by the version alone, this stays the old time
        assert after["d2"].content_hash == "h2" and after["d2"].added_at == later
        assert sorted(after) == ["d1", "d2", "d3"]
        store.delete_document("d3")
        store.delete_owner("alice")
        assert store.list_documents(["alice"]) == []
    finally:
        store.close()


def test_a_documents_keyword_text_is_its_live_versions_chunks_in_order(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        vectors = np.eye(4, dtype=np.float32)
        store.add_document(
            [Chunk("d1", "a.txt", 0, i, f"old {i}") for i in range(3)], vectors[:3], "alice", "v1", 1
        )
        store.add_document(
            [Chunk("d1", "a.txt", 0, i, f"new {i}") for i in (2, 0, 1)], vectors[:3], "alice", "v2", 1
        )
        store.add_document([Chunk("d2", "b.txt", 0, 0, "small")], vectors[:1], "alice", "h", 1)
        store.add_document([Chunk("d3", "c.txt", 0, 0, "bob's")], vectors[:1], "bob", "h", 1)

        texts = store.keyword_texts(["d1", "d3", "d2", "missing"], ["alice"])

        assert texts == {"d1": ["new 0", "new 1", "new 2"], "d2": ["small"]}  # never bob's d3
        assert store.keyword_texts(["d3"], None) == {"d3": ["bob's"]}  # maintenance: every owner
        # documents are taken in the order given while their chunks fit: d1's 3 don't fit in 2
        assert store.listings.keyword_texts(["d1", "d2"], ["alice"], rows_max=2) == {"d2": ["small"]}
        assert store.keyword_texts([], ["alice"]) == {}
    finally:
        store.close()


def test_documents_per_word_counts_the_documents_among_a_words_best_chunks(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        vectors = np.eye(4, dtype=np.float32)
        apples = [Chunk("d1", "a.txt", 0, i, t) for i, t in enumerate(["apple pie", "apple tart", "plum"])]
        store.add_document(apples, vectors[:3], "alice", "h", 1)
        store.add_document([Chunk("d2", "b.txt", 0, 0, "apple and cherry")], vectors[:1], "alice", "h", 1)
        store.add_document([Chunk("d3", "c.txt", 0, 0, "apple cherry")], vectors[:1], "bob", "h", 1)

        found = store.documents_per_word(["apple", "cherry", "the", "durian"], ["alice"], 20)

        # by the store's analyzer: "the" is an English stop word it drops; bob's d3 isn't counted
        assert found == {"apple": 2, "cherry": 1, "the": 0, "durian": 0}
        assert store.documents_per_word(["apple"], ["alice"], 1) == {"apple": 1}  # within the limit
        assert store.documents_per_word(["apple"], None, 20) == {"apple": 3}
        assert store.documents_per_word([], ["alice"], 20) == {}
    finally:
        store.close()
