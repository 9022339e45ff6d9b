import numpy as np
import pytest
from pymilvus import MilvusException

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import migrations
from rag.store.vector_store import VectorStore
from rag.store.versions import DocumentVersions
from rag.types import Chunk


def test_wrong_dimension_says_what_to_do(settings: Settings):
    store = VectorStore(settings, 8, "model-a")
    store.close()
    with pytest.raises(StoreError) as info:
        VectorStore(settings, 16, "model-b")
    message = str(info.value)
    assert "8-dimensional" in message and "model-a" in message and "RAG_EMBED_MODEL" in message


def test_add_search_list_delete_roundtrip(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        chunks = [Chunk("d1", "x.txt", 0, i, f"text {i}") for i in range(3)]
        vectors = np.eye(4, dtype=np.float32)[:3]
        store.add_document(chunks, vectors, "shared", "hash1", 1)
        query = np.array([0.2, 1, 0, 0], dtype=np.float32)
        hits = store.search(query / np.linalg.norm(query), "", 2, ["shared"], mode="dense")
        assert [h.chunk.index for h in hits] == [1, 0] and hits[0].rank == 1
        assert hits[0].score == pytest.approx(1 / np.sqrt(1.04), abs=1e-5)
        assert store.search(np.array([0, 1, 0, 0], dtype=np.float32), "text", 2, ["someone-else"]) == []
        (doc,) = store.list_documents(["shared"])
        assert (doc.source, doc.chunks, doc.pages) == ("x.txt", 3, 1)
        store.delete_document("d1")
        assert store.count_chunks() == 0
    finally:
        store.close()


def test_second_process_on_embedded_file_gets_clear_message(settings: Settings, tmp_path):
    import subprocess
    import sys
    import textwrap

    holder = VectorStore(settings, 4, "m")
    try:
        script = textwrap.dedent(f"""
            from rag.settings import Settings
            from rag.store.vector_store import VectorStore
            from rag.errors import StoreError
            try:
                VectorStore(Settings.from_env({{}}, data_dir={settings.data_dir!r}), 4, "m")
            except StoreError as exc:
                print("STORE-ERROR", exc)
        """)
        # twice: milvus-lite deleted its lock file when it refused the first, and let the second in
        for attempt in range(2):
            out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
            assert "STORE-ERROR" in out.stdout, (attempt, out.stdout + out.stderr)
            assert "one process only" in out.stdout and "RAG_MILVUS_URI" in out.stdout
    finally:
        holder.close()


def _old_schema_collection(settings: Settings, rows: int, dim: int = 4) -> None:
    """A collection exactly as the app created it before keyword search and section paths."""
    from pathlib import Path

    from pymilvus import DataType, MilvusClient

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    client = MilvusClient(settings.milvus_target)
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
    client.create_collection(settings.collection, schema=schema, index_params=index)
    words = ["walrus", "heron", "otter"]
    client.insert(
        settings.collection,
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
    client.flush(settings.collection)
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
