"""One document written in batches (`VectorStore.write_document`), on real Milvus Lite: its rows are
stored batch by batch but nothing of it is visible before the last; an error, a short write, a
delete while it is written or a dead writer leave nothing; one version has one writer at a time."""

import numpy as np
import pytest

from rag.errors import StoreError
from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk

E = np.eye(4, dtype=np.float32)


def batch(start: int, n: int, word: str = "walrus") -> list[Chunk]:
    return [Chunk("d1", "a.md", 0, i, f"{word} text {i}") for i in range(start, start + n)]


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def visible(store: VectorStore) -> tuple[list[str], list[str]]:
    """What listings and a search show of owner `shared`."""
    hits = store.search(E[0], "walrus", 10, ["shared"], mode="hybrid")
    return [d.source for d in store.list_documents(["shared"])], [h.chunk.text for h in hits]


def test_batches_are_stored_invisibly_and_appear_together_at_the_end(store: VectorStore):
    with store.write_document("d1", "a.md", "shared", "h", 4, 1) as writer:
        writer.add(batch(0, 2), E[:2])
        assert store.count_chunks() == 2  # the rows are in Milvus already
        assert visible(store) == ([], [])  # but nobody sees them
        writer.add(batch(2, 2), E[2:4])
        assert visible(store) == ([], [])
    sources, texts = visible(store)
    assert sources == ["a.md"] and sorted(texts) == [f"walrus text {i}" for i in range(4)]
    assert store.find_document("d1").chunks == 4


def test_an_error_between_batches_leaves_nothing_and_the_old_version_stays(store: VectorStore):
    store.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
    with pytest.raises(RuntimeError), store.write_document("d1", "a.md", "shared", "new", 4, 1) as writer:
        writer.add(batch(0, 2), E[:2])
        raise RuntimeError("the embedder failed")
    assert store.find_document("d1").content_hash == "old"
    assert store.count_chunks() == 1 and store.count_version("d1", "new") == 0


def test_fewer_chunks_than_announced_keep_nothing(store: VectorStore):
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match="2 of 4 chunks written; nothing was kept"), written as writer:
        writer.add(batch(0, 2), E[:2])
    assert visible(store) == ([], []) and store.count_chunks() == 0


def test_a_delete_while_it_is_written_is_not_undone_by_the_commit(store: VectorStore):
    """The document is deleted between two batches (a user, the janitor): the commit finds the
    chunks missing and keeps nothing, rather than showing the half that came after."""
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match="2 of its 4 chunks were found"), written as writer:
        writer.add(batch(0, 2), E[:2])
        store.delete_document("d1")
        writer.add(batch(2, 2), E[2:4])
    assert visible(store) == ([], []) and store.count_chunks() == 0


def test_one_version_has_one_writer_at_a_time(store: VectorStore):
    with store.write_document("d1", "a.md", "shared", "h", 2, 1) as writer:
        writer.add(batch(0, 1), E[:1])
        second = store.write_document("d1", "a.md", "shared", "h", 2, 1)
        with pytest.raises(StoreError, match=r"a\.md is being stored by another upload"), second:
            pass
        with pytest.raises(StoreError, match="being stored by another upload"):
            store.add_document(batch(0, 1), E[:1], "shared", "h", 1)
        assert store.count_chunks() == 1  # the refused writers deleted nothing of this one
        writer.add(batch(1, 1), E[1:2])
    assert store.find_document("d1").chunks == 2


def test_a_writer_that_died_mid_way_is_rolled_back_by_the_repair(store: VectorStore):
    writer = store.write_document("d1", "a.md", "shared", "h", 4, 1).__enter__()
    writer.add(batch(0, 2), E[:2])  # then the process dies: no __exit__
    assert store.repair() == ["rolled back a.md"]
    assert visible(store) == ([], []) and store.count_chunks() == 0
