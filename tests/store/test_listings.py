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
