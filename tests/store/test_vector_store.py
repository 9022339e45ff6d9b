"""The `VectorStore` facade end to end, and the one process an embedded Milvus Lite file allows."""

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk


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
                VectorStore(Settings.from_env({{}}, data_dir={settings.store.data_dir!r}), 4, "m")
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
