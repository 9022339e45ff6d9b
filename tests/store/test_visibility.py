"""What searches may show, cached between writes in an embedded store (`rag.store.visibility`):
never stale after a write, one Milvus request per search once warm, and the gate's probes in one."""

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk

E = np.eye(4, dtype=np.float32)


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def _calls(store: VectorStore, monkeypatch) -> list[str]:
    """The names of the Milvus requests the store makes from now on."""
    calls: list[str] = []
    for name in ("search", "hybrid_search", "query", "query_iterator"):
        real = getattr(store.client, name)

        def counted(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(store.client, name, counted)
    return calls


def test_a_replaced_or_deleted_document_is_seen_at_once(store: VectorStore):
    store.add_document([Chunk("d1", "a.md", 0, 0, "old walrus text")], E[:1], "shared", "old", 1)
    assert [h.chunk.text for h in store.search(E[0], "walrus", 5, ["shared"])] == ["old walrus text"]
    store.add_document([Chunk("d1", "a.md", 0, 0, "new walrus text")], E[:1], "shared", "new", 1)
    for mode in ("dense", "keyword", "hybrid"):
        assert [h.chunk.text for h in store.search(E[0], "walrus", 5, ["shared"], mode=mode)] == [
            "new walrus text"
        ], mode
    store.delete_document("d1")
    store.add_document([Chunk("d2", "b.md", 0, 0, "other walrus")], E[1:2], "shared", "h2", 1)
    assert [h.chunk.text for h in store.search(E[0], "walrus", 5, ["shared"])] == ["other walrus"]


def test_a_warm_search_is_one_request(store: VectorStore, monkeypatch):
    store.add_document([Chunk("d1", "a.md", 0, 0, "walrus text")], E[:1], "shared", "h", 1)
    store.search(E[0], "walrus", 5, ["shared"])  # reads the version table
    calls = _calls(store, monkeypatch)
    for mode in ("dense", "keyword", "hybrid"):
        store.search(E[0], "walrus", 5, ["shared"], mode=mode)
    assert calls == ["search", "search", "hybrid_search"]


def test_on_a_server_every_search_reads_the_version_table(store: VectorStore, monkeypatch):
    store.add_document([Chunk("d1", "a.md", 0, 0, "walrus text")], E[:1], "shared", "h", 1)
    store.writes.visibility.cache = False  # as on a Milvus server, where other processes write
    store.search(E[0], "walrus", 5, ["shared"])
    calls = _calls(store, monkeypatch)
    store.search(E[0], "walrus", 5, ["shared"])
    assert calls.count("hybrid_search") == 1 and len(calls) >= 3


def test_closest_is_the_best_dense_score_of_each_vector_in_one_request(store: VectorStore, monkeypatch):
    chunks = [Chunk("d1", "a.md", 0, i, f"text {i}") for i in range(2)]
    vectors = np.array([[1, 0, 0, 0], [0.6, 0.8, 0, 0]], dtype=np.float32)
    store.add_document(chunks, vectors, "shared", "h", 1)
    probes = [np.array([0, 1, 0, 0], dtype=np.float32), np.array([0, 0, 1, 0], dtype=np.float32)]
    expected = [(store.search(v, "", 1, ["shared"], mode="dense") or [None])[0] for v in probes]
    calls = _calls(store, monkeypatch)
    best = store.closest(probes, ["shared"])
    assert calls == ["search"]
    assert best[0] == pytest.approx(expected[0].score) and best[0] == pytest.approx(0.8, abs=1e-5)
    assert best[1] == pytest.approx(expected[1].score if expected[1] else 0.0, abs=1e-6)
    assert store.closest(probes, ["someone-else"]) == [0.0, 0.0]


def test_closest_leaves_out_a_version_still_being_written(store: VectorStore, monkeypatch):
    from rag.store.versions import DocumentVersions

    store.add_document([Chunk("d1", "a.md", 0, 0, "old")], E[:1], "shared", "old", 1)
    monkeypatch.setattr(DocumentVersions, "_commit_version", lambda self, heads: [])
    store.add_document([Chunk("d1", "a.md", 0, 0, "new")], E[1:2], "shared", "new", 1)  # not committed
    assert store.closest([E[1]], ["shared"]) == [pytest.approx(0.0, abs=1e-6)]
    assert store.closest([E[0]], ["shared"]) == [pytest.approx(1.0)]
