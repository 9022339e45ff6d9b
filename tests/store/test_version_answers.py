"""The version table's answers the keyword path asks for with every question, kept between writes
in an embedded file (rag/store/version_answers.py): asked again, no query; after any write, the
new answer. Real Milvus Lite."""

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk
from tests.conftest import make_settings


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def _add(store: VectorStore, doc_id: str, n: int, content_hash: str, owner: str = "alice") -> None:
    chunks = [Chunk(doc_id, f"{doc_id}.txt", 0, i, f"text {i}") for i in range(n)]
    store.add_document(chunks, np.eye(4, dtype=np.float32)[:n], owner, content_hash, 1)


def _versions(store: VectorStore, doc_ids: list[str]) -> list[tuple[str, str, int]]:
    return [(v.doc_id, v.content_hash, v.chunks) for v in store.keyword_versions(doc_ids, ["alice"])]


def test_asked_again_nothing_is_read(store: VectorStore, monkeypatch):
    _add(store, "a", 2, "a1")
    _add(store, "b", 1, "b1", owner="bob")
    assert _versions(store, ["a", "b", "none"]) == [("a", "a1", 2)]
    assert store.count_documents(["alice"]) == 1 and store.count_documents(None) == 2
    reads = []
    for name in ("live_rows", "_read_hidden"):
        read = getattr(store.writes, name)
        monkeypatch.setattr(store.writes, name, lambda *a, read=read: reads.append(a) or read(*a))
    monkeypatch.setattr(store.client, "query", lambda *a, **k: reads.append(a) or [])
    assert _versions(store, ["none", "a", "b"]) == [("a", "a1", 2)]
    assert store.count_documents(["alice"]) == 1 and store.count_documents(None) == 2
    assert reads == []


def test_after_each_write_the_new_answer(store: VectorStore):
    _add(store, "a", 2, "a1")
    assert _versions(store, ["a", "c"]) == [("a", "a1", 2)] and store.count_documents(["alice"]) == 1
    _add(store, "a", 3, "a2")  # replaced
    assert _versions(store, ["a", "c"]) == [("a", "a2", 3)]
    _add(store, "c", 1, "c1")  # added
    assert _versions(store, ["a", "c"]) == [("a", "a2", 3), ("c", "c1", 1)]
    assert store.count_documents(["alice"]) == 2
    store.delete_document("a")
    assert _versions(store, ["a", "c"]) == [("c", "c1", 1)] and store.count_documents(["alice"]) == 1
    store.delete_owner("alice")
    assert _versions(store, ["a", "c"]) == [] and store.count_documents(["alice"]) == 0


def test_on_a_server_every_answer_is_read(store: VectorStore, monkeypatch):
    monkeypatch.setattr(store.writes.visibility, "cache", False)  # as where other processes write
    _add(store, "a", 1, "a1")
    _versions(store, ["a"])
    reads = []
    read = store.writes.live_rows
    monkeypatch.setattr(store.writes, "live_rows", lambda ids: reads.append(ids) or read(ids))
    assert _versions(store, ["a"]) == [("a", "a1", 1)]
    assert reads == [["a"]]


def test_two_replicas_on_one_server_each_sees_the_others_writes(milvus_uri: str, tmp_path):
    """Through a Milvus Lite server (another process's store, as replicas have): every answer B's
    writes change is read again by A, which keeps none (seen failing with A's answers kept)."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        _add(b, "a", 2, "a1")
        assert _versions(a, ["a", "c"]) == [("a", "a1", 2)] and a.count_documents(["alice"]) == 1
        _add(b, "a", 3, "a2")  # replaced by the other replica
        _add(b, "c", 1, "c1")
        assert _versions(a, ["a", "c"]) == [("a", "a2", 3), ("c", "c1", 1)]
        assert a.count_documents(["alice"]) == 2
        b.delete_document("a")
        assert _versions(a, ["a", "c"]) == [("c", "c1", 1)] and a.count_documents(["alice"]) == 1
        b.delete_owner("alice")
        assert _versions(a, ["a", "c"]) == [] and a.count_documents(["alice"]) == 0
    finally:
        a.close()
        b.close()
