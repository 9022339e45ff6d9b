"""The store's one count and one paging helper, on a real Milvus Lite collection, and the filters."""

from __future__ import annotations

import numpy as np
import pytest

from rag.settings import Settings
from rag.store import rows
from rag.store.vector_store import NewDocument, VectorStore
from rag.types import Chunk


def test_filter_values_are_escaped():
    assert rows.is_in("owner", ['a"b', "c\\d"]) == 'owner in ["a\\"b", "c\\\\d"]'
    assert rows.is_in("owner", ['a"b']) == 'owner == "a\\"b"'  # one value: the faster form
    assert rows.starts_with("owner", 'an"on:') == 'owner like "an\\"on:%"'
    assert rows.of_version("d", 'h"') == 'doc_id == "d" and content_hash == "h\\""'


@pytest.fixture
def filled(settings: Settings):
    """25 one-chunk documents: 15 of alice, 10 of bob."""
    store = VectorStore(settings, 4, "m")
    vectors = np.eye(4, dtype=np.float32)
    store.add_documents(
        [
            NewDocument(
                [Chunk(f"d{i}", f"{i}.txt", 0, 0, f"text {i}")], vectors[i % 4 : i % 4 + 1], owner, "h", 1
            )
            for i, owner in enumerate(["alice"] * 15 + ["bob"] * 10)
        ]
    )
    yield store
    store.close()


def test_count_is_exact_for_any_filter(filled: VectorStore):
    client, name = filled.client, filled.collection
    assert rows.count(client, name, rows.EVERY_CHUNK) == 25
    assert rows.count(client, name, rows.eq("owner", "bob")) == 10
    assert rows.count(client, name, rows.of_version("d3", "h")) == 1
    assert rows.count(client, name, rows.eq("owner", "nobody")) == 0


def test_pages_read_every_row_in_pages_of_the_given_size(filled: VectorStore):
    got = list(rows.pages(filled.client, filled.collection, rows.eq("owner", "alice"), ["doc_id"], size=4))
    assert [len(page) for page in got] == [4, 4, 4, 3]
    assert sorted(row["doc_id"] for page in got for row in page) == sorted(f"d{i}" for i in range(15))


def test_query_all_pages_once_a_query_would_be_cut_at_the_limit(filled: VectorStore, monkeypatch):
    """A query returns at most `QUERY_LIMIT` rows: at the limit, the rest must be read by paging."""
    monkeypatch.setattr(rows, "QUERY_LIMIT", 7)
    found = rows.query_all(filled.client, filled.collection, rows.EVERY_CHUNK, ["doc_id"])
    assert len(found) == 25 and len({row["doc_id"] for row in found}) == 25
    few = rows.query_all(filled.client, filled.collection, rows.eq("owner", "bob"), ["doc_id"])
    assert len(few) == 10  # over the (patched) limit too: paged as well
    assert len(rows.query_all(filled.client, filled.collection, rows.eq("doc_id", "d1"), ["doc_id"])) == 1
