import numpy as np

from rag.settings import Settings
from rag.store import index_plans as indexing
from rag.store.index_plans import FLAT_MAX_ROWS, IndexPlan, candidates_for, nlist_for, plan_index
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


def test_an_approximate_search_asks_for_more_candidates_when_the_filter_keeps_few_rows():
    ivf = plan_index(1_000_000, lite=True)
    base = ivf.candidates
    assert ivf.limit(5) == base  # no filter, or its size not known
    assert ivf.limit(5, 1_000_000, 1_000_000) == base  # a filter that keeps everything
    # one of 1,000 workspaces at 1M rows: 1,000 rows kept (the top 50 gave recall@5 0.876)
    assert ivf.limit(5, 1_000, 1_000_000) == 250
    assert ivf.limit(5, 100, 100_000) == base  # 100 kept: the top 50 gave 0.99
    assert ivf.limit(5, 400_000, 1_000_000) == indexing.MAX_CANDIDATES  # bounded
    assert ivf.limit(500, 1_000, 1_000_000) == 500  # never fewer than k
    assert IndexPlan("FLAT").limit(5, 1_000, 1_000_000) == 5  # exact: k is enough


def test_candidates_grow_with_the_rows_kept_until_the_filter_keeps_most_of_them():
    rows = 1_000_000
    counts = [candidates_for(50, kept, rows) for kept in (10, 1_000, 2_000, 5_000)]
    assert counts == sorted(counts) and counts[0] == 50 and counts[-1] == indexing.MAX_CANDIDATES
    assert candidates_for(50, rows - 1, rows) == 50  # keeps (almost) everything: no deeper
