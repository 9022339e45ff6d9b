"""The crash repair of `rag.store.versions`, in one process: a write left `writing` (its process died
before the commit) is finished when all its chunks are in, else rolled back, and on a server a
write whose writer still renews its lease is left alone. tests/reliability/test_crash.py kills real
processes at these points; these tests reach each branch directly."""

import time

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.store.versions import LEASE_S, DocumentVersions
from rag.types import Chunk

VECTORS = np.eye(4, dtype=np.float32)[:2]


def chunks(text: str) -> list[Chunk]:
    return [Chunk("d1", "a.md", 0, i, f"{text} {i}") for i in range(2)]


@pytest.fixture
def dead_writer(settings: Settings, monkeypatch):
    """Version `old` of d1 is live; version `new` has all its chunks in but was never committed."""
    store = VectorStore(settings, 4, "m")
    store.add_document(chunks("old"), VECTORS, "shared", "old", 1)
    with monkeypatch.context() as patch:
        patch.setattr(DocumentVersions, "_commit_version", lambda self, heads: [])
        store.add_document(chunks("new"), VECTORS, "shared", "new", 1)
    yield store
    store.close()


def test_a_complete_uncommitted_write_is_finished_and_the_old_version_goes(dead_writer: VectorStore):
    assert dead_writer.find_document("d1").content_hash == "old"
    assert dead_writer.repair() == ["finished a.md"]
    assert dead_writer.find_document("d1").content_hash == "new"
    assert dead_writer.count_version("d1", "old") == 0 and dead_writer.count_chunks() == 2
    assert dead_writer.repair() == []  # nothing left to do


def test_a_half_written_version_is_rolled_back_and_the_old_one_stays(dead_writer: VectorStore):
    dead_writer.client.delete(dead_writer.collection, filter='content_hash == "new" and chunk_index == 1')
    assert dead_writer.repair() == ["rolled back a.md"]
    assert dead_writer.find_document("d1").content_hash == "old"
    assert dead_writer.count_version("d1", "new") == 0 and dead_writer.count_version("d1", "old") == 2


def test_on_a_server_a_write_within_its_lease_is_left_alone(dead_writer: VectorStore):
    dead_writer.writes.exclusive = False  # as on a Milvus server, where another process may be writing
    now = time.time()
    assert dead_writer.repair(now=now) == []
    assert dead_writer.find_document("d1").content_hash == "old" and dead_writer.count_chunks() == 4
    assert dead_writer.repair(now=now + LEASE_S + 1) == ["finished a.md"]
    assert dead_writer.find_document("d1").content_hash == "new"
