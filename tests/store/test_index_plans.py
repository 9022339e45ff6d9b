import numpy as np

from rag.settings import Settings
from rag.store import index_plans as indexing
from rag.store.index_plans import FLAT_MAX_ROWS, IndexPlan, nlist_for, plan_index
from rag.store.vector_store import NewDocument, VectorStore, rebuild_index
from rag.types import Chunk


def test_lite_keeps_flat_while_small_then_ivf():
    assert plan_index(0, lite=True).index_type == "FLAT"
    assert plan_index(FLAT_MAX_ROWS - 1, lite=True).index_type == "FLAT"
    big = plan_index(100_000, lite=True)
    assert big.index_type == "IVF_FLAT" and big.build_params == {"nlist": nlist_for(100_000)}
    assert big.limit(5) > 5  # approximate: fetch candidates, keep the best k


def test_servers_get_hnsw_and_forced_type_wins():
    assert plan_index(10, lite=False).index_type == "HNSW"
    assert plan_index(10**6, lite=True, forced="FLAT") == IndexPlan("FLAT")


def test_ivf_is_not_rebuilt_for_small_growth_and_hysteresis_back_to_flat():
    current = plan_index(100_000, lite=True)
    assert plan_index(150_000, lite=True, current=current) == current
    assert plan_index(FLAT_MAX_ROWS - 1, lite=True, current=current).index_type == "IVF_FLAT"
    assert plan_index(FLAT_MAX_ROWS // 2 - 1, lite=True, current=current).index_type == "FLAT"


def test_store_switches_index_when_reopened_past_the_threshold(settings: Settings, monkeypatch):
    monkeypatch.setattr(indexing, "FLAT_MAX_ROWS", 300)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((400, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = VectorStore(settings, 8, "m")
    assert store.index_type == "FLAT"
    store.add_documents(
        [
            NewDocument([Chunk(f"d{i}", f"{i}.txt", 0, 0, "t")], vectors[i : i + 1], "shared", "h", 1)
            for i in range(400)
        ]
    )
    store.close()
    rows, plan, rebuilt = rebuild_index(settings)
    assert (rows, plan.index_type, rebuilt) == (400, "IVF_FLAT", True)
    store = VectorStore(settings, 8, "m")  # opening again keeps the index it finds
    try:
        assert store.index_type == "IVF_FLAT"
        hits = store.search(vectors[123], "", 3, ["shared"], mode="dense")
        assert hits[0].chunk.doc_id == "d123" and len(hits) == 3
    finally:
        store.close()


def test_cli_reindex_reports_the_index(settings: Settings, monkeypatch, capsys):
    from rag.cli import main

    VectorStore(settings, 8, "m").close()
    monkeypatch.setenv("RAG_DATA_DIR", settings.store.data_dir)
    assert main(["reindex"]) == 0
    assert "0 chunks, index FLAT" in capsys.readouterr().out
