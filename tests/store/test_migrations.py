"""Opening a store made by an earlier version: refused with the fix named, then converted in place
(`rag.store.migrations`), on real Milvus Lite collections made the way the old app made them."""

import numpy as np
import pytest

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import migrations
from rag.store.vector_store import VectorStore


def test_wrong_dimension_says_what_to_do(settings: Settings):
    store = VectorStore(settings, 8, "model-a")
    store.close()
    with pytest.raises(StoreError) as info:
        VectorStore(settings, 16, "model-b")
    message = str(info.value)
    assert "8-dimensional" in message and "model-a" in message and "RAG_EMBED_MODEL" in message


def _old_schema_collection(settings: Settings, rows: int, dim: int = 4) -> None:
    """A collection exactly as the app created it before keyword search and section paths."""
    from pathlib import Path

    from pymilvus import DataType, MilvusClient

    Path(settings.store.data_dir).mkdir(parents=True, exist_ok=True)
    client = MilvusClient(settings.store.milvus_target)
    schema = MilvusClient.create_schema(auto_id=True, description="embed_model=m")
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("text", DataType.VARCHAR, max_length=65535)
    for name in ("doc_id", "content_hash"):
        schema.add_field(name, DataType.VARCHAR, max_length=64)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("owner", DataType.VARCHAR, max_length=256)
    for name in ("page", "chunk_index", "n_chunks", "n_pages", "added_at"):
        schema.add_field(name, DataType.INT64)
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(settings.store.collection, schema=schema, index_params=index)
    words = ["walrus", "heron", "otter"]
    client.insert(
        settings.store.collection,
        [
            {
                "vector": np.eye(dim, dtype=np.float32)[i % 4].tolist(),
                "text": f"chunk {i} about the {words[i % 3]}",
                "doc_id": "d1",
                "content_hash": "h1",
                "source": "old.md",
                "owner": "shared",
                "page": 0,
                "chunk_index": i,
                "n_chunks": rows,
                "n_pages": 1,
                "added_at": 1,
            }
            for i in range(rows)
        ],
    )
    client.flush(settings.store.collection)
    client.close()


def test_old_schema_gets_its_message_and_is_converted_in_place(settings: Settings):
    _old_schema_collection(settings, 7)
    with pytest.raises(StoreError) as info:
        VectorStore(settings, 4, "m")
    message = str(info.value)
    assert "python -m rag reindex" in message and "7 chunks" in message and "Section paths" in message
    progress: list[float] = []
    assert migrations.convert_schema(settings, lambda fraction, _message: progress.append(fraction)) == 7
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert migrations.convert_schema(settings) == 0  # already current
    store = VectorStore(settings, 4, "m")
    try:
        assert store.count_chunks() == 7 and store.find_document("d1").chunks == 7
        hits = store.search(None, "walrus", 5, ["shared"], mode="keyword")
        assert {h.chunk.index for h in hits} == {0, 3, 6} and all(h.chunk.section == "" for h in hits)
        dense = store.search(np.eye(4, dtype=np.float32)[1], "", 1, ["shared"], mode="dense")
        assert dense[0].chunk.index in (1, 5) and dense[0].score == pytest.approx(1.0)  # vectors kept
    finally:
        store.close()


def test_interrupted_schema_conversion_is_reported_and_finished(settings: Settings, monkeypatch):
    _old_schema_collection(settings, 3)
    calls = []

    def crash_on_second_copy(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise StoreError("killed")
        return real_copy(*args, **kwargs)

    real_copy = migrations._copy
    monkeypatch.setattr(migrations, "_copy", crash_on_second_copy)
    with pytest.raises(StoreError, match="killed"):
        migrations.convert_schema(
            settings
        )  # the old collection is gone, the rows wait in the staging collection
    monkeypatch.undo()
    with pytest.raises(StoreError, match="interrupted"):
        VectorStore(settings, 4, "m")
    assert migrations.convert_schema(settings) == 3
    store = VectorStore(settings, 4, "m")
    assert store.count_chunks() == 3
    store.close()
