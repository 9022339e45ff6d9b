"""Dense, keyword and hybrid search (`rag.store.search`): fallbacks, and only chunks of live versions."""

import numpy as np
import pytest
from pymilvus import MilvusException

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import rows as r
from rag.store.filter_sizes import SIZE_TTL_S, FilterSizes
from rag.store.vector_store import VectorStore
from rag.store.versions import DocumentVersions
from rag.types import Chunk


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

        def glitch(vector, text, limit, flt, mode, fields):  # what Milvus Lite answered once, mid-write
            if mode != "dense":
                raise MilvusException(message="Invalid sparse row: negative value")
            return real(vector, text, limit, flt, mode, fields)

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


def test_an_approximate_index_searches_deeper_for_an_owner_who_keeps_few_rows(tmp_path, monkeypatch):
    from tests.conftest import make_settings

    store = VectorStore(make_settings(tmp_path / "data", index_type="IVF_FLAT"), 8, "m")
    try:
        rng = np.random.default_rng(0)
        for owner in range(10):  # 10 workspaces of 300 rows: each keeps a tenth of the collection
            vectors = rng.standard_normal((300, 8)).astype(np.float32)
            chunks = [Chunk(f"d{owner}", f"{owner}.txt", 0, i, f"row {i}") for i in range(300)]
            store.add_document(chunks, vectors, f"ws{owner}", "h", 1)
        store.rebuild_index(force=True)
        limits: list[int] = []
        search = store.client.search
        monkeypatch.setattr(
            store.client, "search", lambda *a, **kw: limits.append(kw["limit"]) or search(*a, **kw)
        )
        counted: list[str] = []
        sizes = store.searcher.sizes
        rows, kept = sizes.rows, sizes.kept
        monkeypatch.setattr(sizes, "rows", lambda flt: counted.append(flt) or rows(flt))
        monkeypatch.setattr(sizes, "kept", lambda flt: counted.append(flt) or kept(flt))

        hits = store.search(rng.standard_normal(8).astype(np.float32), "", 5, ["ws3"], mode="dense")
        store.search(rng.standard_normal(8).astype(np.float32), "", 5, None, mode="dense")

        assert {h.chunk.doc_id for h in hits} == {"d3"} and len(hits) == 5
        assert all(h.chunk.text == f"row {h.chunk.index}" for h in hits)  # fields read after, by key
        # ceil(0.25 × 300 × 0.9) for the owner, then the first 2 × 5 read by primary key; the plan's
        # 50 without an owner (50 candidates come back with their fields: nothing read after)
        assert limits == [68, 10, 50]
        assert len(counted) == 2  # the owner's rows and every row: no count without a filter
    finally:
        store.close()


def test_row_counts_are_reused_for_a_while_then_counted_again(settings: Settings):
    store = VectorStore(settings, 4, "m")
    try:
        store.add_document(
            [Chunk("d1", "a.txt", 0, 0, "a")], np.eye(4, dtype=np.float32)[:1], "alice", "h", 1
        )
        now = [0.0]
        sizes = FilterSizes(store.client, store.collection, store.versions, clock=lambda: now[0])
        flt = 'owner in ["alice"]'
        assert sizes.rows(flt) == 1 and sizes.kept(flt) == 1
        store.add_document(
            [Chunk("d2", "b.txt", 0, 0, "b")], np.eye(4, dtype=np.float32)[:1], "alice", "h", 1
        )
        now[0] = SIZE_TTL_S - 1
        assert sizes.rows(flt) == 1 and sizes.kept(flt) == 1  # remembered
        now[0] = SIZE_TTL_S + 1
        assert sizes.rows(flt) == 2 and sizes.kept(flt) == 2
        assert sizes.rows("no such field == 1") == 0  # not countable: the plan's own depth
    finally:
        store.close()


def test_a_chunk_both_legs_rank_first_is_first_in_hybrid_search(settings: Settings):
    """The fusion must not turn a leg upside down. Milvus Lite's WeightedRanker normalises BM25 as
    a distance: with it, the chunk both legs put first was not even in the top 3 (seen failing)."""
    store = VectorStore(settings, 8, "m")
    try:
        texts = [f"The default value of setting_{i} is {100 + i}." for i in range(7)]
        vectors = np.hstack([np.ones((7, 1)), np.eye(7)]).astype(np.float32)
        chunks = [Chunk("d1", "s.md", i, 0, text) for i, text in enumerate(texts)]
        store.add_document(chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), "shared", "h", 7)
        query = np.array([1, 0, 0, 0.5, 0, 0, 0, 0], dtype=np.float32)
        question = "What is the default value of setting_2?"
        for mode in ("dense", "keyword", "hybrid"):
            hits = store.search(query / np.linalg.norm(query), question, 3, ["shared"], mode=mode)
            assert hits[0].chunk.text == texts[2], mode
    finally:
        store.close()


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_hits_beyond_the_full_field_limit_carry_their_own_fields_read_without_a_query(
    settings: Settings, monkeypatch, mode: str
):
    """Asked for more than `FULL_HITS_MAX` candidates, a search gets slim hits and reads the kept
    ones' fields by primary key with a search filtered to them (Milvus Lite's query by key took
    8-22 ms at 200,000 rows, the search 1.8 ms): each hit must carry its own row's fields, in every
    mode (keyword mode has no query vector), and the chunk collection is not queried."""
    from rag.store.search import FULL_HITS_MAX

    n = FULL_HITS_MAX + 30
    store = VectorStore(settings, 8, "m")
    try:
        chunks = [
            Chunk("d1", "a.md", i % 7, i, f"nginx row {i} " + "x" * i, f"Part {i}", "Title A")
            for i in range(n)
        ]
        vectors = np.random.default_rng(1).standard_normal((n, 8)).astype(np.float32)
        store.add_document(chunks, vectors, "shared", "h", 1)
        queried: list[str] = []
        query = store.client.query
        monkeypatch.setattr(
            store.client, "query", lambda name, **kw: queried.append(name) or query(name, **kw)
        )
        hits = store.search(vectors[3], "nginx", n - 5, ["shared"], mode=mode)
        assert len(hits) == n - 5
        for hit in hits:
            want = chunks[hit.chunk.index]
            assert (hit.chunk.text, hit.chunk.section, hit.chunk.page, hit.chunk.source) == (
                want.text,
                want.section,
                want.page,
                want.source,
            )
        assert store.collection not in queried
    finally:
        store.close()


def test_hidden_hits_in_front_are_passed_over_a_window_at_a_time(tmp_path, monkeypatch):
    """With many candidates the hits come back without fields and the first visible k are read
    2·k, then 4·k rows at a time: when the first rows' versions are not live (a reader missing
    them mid-upsert), the next window's visible hits are shown, best first, and nothing hidden."""
    from tests.conftest import make_settings

    store = VectorStore(make_settings(tmp_path / "data", index_type="IVF_FLAT"), 8, "m")
    try:
        rng = np.random.default_rng(3)
        for d in range(30):  # the workspace searched: 30 documents of 10 rows
            chunks = [Chunk(f"d{d}", f"{d}.txt", 0, i, f"doc {d} row {i}") for i in range(10)]
            store.add_document(chunks, rng.standard_normal((10, 8)).astype(np.float32), "ws", f"h{d}", 1)
        for other in range(9):  # so the workspace keeps a tenth of the rows: 68 candidates for k = 5
            chunks = [Chunk(f"o{other}", "o.txt", 0, i, "other") for i in range(300)]
            store.add_document(chunks, rng.standard_normal((300, 8)).astype(np.float32), f"o{other}", "h", 1)
        store.rebuild_index(force=True)
        query = rng.standard_normal(8).astype(np.float32)
        flt, depth = store.searcher._filter(["ws"], [], 5)
        found = store.searcher._search(query, "", depth, flt, "dense", r.HIT_FIELDS)
        ranked = sorted(found, key=lambda x: -x["distance"])
        hidden = {x["entity"]["doc_id"] for x in ranked[:12]}  # the first window (10 rows) is all hidden
        expected = [x for x in ranked if x["entity"]["doc_id"] not in hidden]
        live = store.searcher.versions.visibility.live
        monkeypatch.setattr(
            store.searcher.versions.visibility,
            "live",
            lambda docs: {v for v in live(docs) if v[0] not in hidden},
        )

        hits = store.search(query, "", 5, ["ws"], mode="dense")

        assert len(hits) == 5 and not {h.chunk.doc_id for h in hits} & hidden
        assert [h.chunk.text for h in hits] == [
            f"doc {x['entity']['doc_id'][1:]} row {x['entity']['chunk_index']}" for x in expected[:5]
        ]
    finally:
        store.close()


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_a_document_deleted_between_the_search_and_the_field_read_is_left_out(settings: Settings, mode: str):
    """With many candidates the hits come back with ids only and their fields are read after: a
    document deleted in between (a visitor's Delete in another thread) has no row left to read.
    Its hits are left out (the others are shown as before, best first) and the search does not fail
    (it raised KeyError: the missing row was looked for by a chunk the ids-only hit does not carry)."""
    from rag.store.search import FULL_HITS_MAX

    k = FULL_HITS_MAX + 5
    store = VectorStore(settings, 8, "m")
    try:
        rng = np.random.default_rng(5)
        for d in range(3):
            chunks = [Chunk(f"d{d}", f"{d}.md", 0, i, f"nginx doc {d} row {i}") for i in range(30)]
            store.add_document(chunks, rng.standard_normal((30, 8)).astype(np.float32), "ws", f"h{d}", 1)
        query = rng.standard_normal(8).astype(np.float32)
        before = [h.chunk for h in store.search(query, "nginx", k, ["ws"], mode=mode)]
        real = store.searcher._search

        def search_then_delete(*args):  # the delete lands between the search and the field read
            found = real(*args)
            store.delete_document("d0")
            return found

        store.searcher._search = search_then_delete
        hits = store.search(query, "nginx", k, ["ws"], mode=mode)
        assert [h.chunk for h in hits] == [c for c in before if c.doc_id != "d0"] != []
    finally:
        store.close()


def test_an_hnsw_search_never_asks_for_more_hits_than_its_ef(settings: Settings, monkeypatch):
    """A Milvus server refuses an HNSW search whose limit is over its `ef` ("ef(64) should be larger
    than k(200)": knowhere's BaseHnswConfig.CheckAndAdjust), so with the server's plan (ef 64) a
    hybrid leg (4 × 50 candidates), an owner's deeper search or a read of 70 hits' fields failed
    there. Milvus Lite builds no HNSW and does not check, so every request this store sends is
    recorded and checked: each dense request's ef is at least its limit."""
    from rag.store.index_plans import hnsw_plan

    store = VectorStore(settings, 8, "m")
    try:
        chunks = [Chunk("d1", "a.md", 0, i, f"nginx row {i}") for i in range(80)]
        vectors = np.random.default_rng(2).standard_normal((80, 8)).astype(np.float32)
        store.add_document(chunks, vectors, "shared", "h", 1)
        store.index.plan = hnsw_plan()
        asked: list[tuple[int, int]] = []  # (limit, ef) of each dense request
        search, hybrid = store.client.search, store.client.hybrid_search

        def recording_search(name, **kw):
            if kw.get("anns_field") == "vector":
                asked.append((kw["limit"], kw["search_params"]["params"]["ef"]))
            return search(name, **kw)

        def recording_hybrid(name, legs, *args, **kw):
            asked.extend((leg.limit, leg.param["params"]["ef"]) for leg in legs if leg.anns_field == "vector")
            return hybrid(name, legs, *args, **kw)

        monkeypatch.setattr(store.client, "search", recording_search)
        monkeypatch.setattr(store.client, "hybrid_search", recording_hybrid)
        for mode in ("dense", "keyword", "hybrid"):
            for k in (5, 70):
                assert len(store.search(vectors[0], "nginx", k, ["shared"], mode=mode)) == k
        store.searcher.closest([vectors[0]], ["shared"])
        assert max(limit for limit, _ in asked) >= 200  # a hybrid leg of 4 × 50
        assert [(limit, ef) for limit, ef in asked if ef < limit] == []
    finally:
        store.close()


def test_while_keyword_text_is_rewritten_a_deleted_documents_hits_leave_k_others(settings: Settings):
    """While keyword text is rewritten the hits of a search for many candidates come back with their
    chunk (slim fields) and a chunk may have two rows, so k more candidates are asked for. A
    document deleted between the search and the read of the fields: the next candidates take its
    places (before, the first k visible were chosen before the read and the search gave fewer)."""
    from rag.store.search import FULL_HITS_MAX

    k = FULL_HITS_MAX + 5
    store = VectorStore(settings, 8, "m")
    try:
        rng = np.random.default_rng(5)
        for d in range(3):
            chunks = [Chunk(f"d{d}", f"{d}.md", 0, i, f"nginx doc {d} row {i}") for i in range(30)]
            store.add_document(chunks, rng.standard_normal((30, 8)).astype(np.float32), "ws", f"h{d}", 1)
        query = rng.standard_normal(8).astype(np.float32)
        store.writes.rewriting += 1  # as during a pass of `rag.store.keyword_refresh`
        everything = [h.chunk for h in store.search(query, "", 90, ["ws"], mode="dense")]
        read = store.searcher._read_by_search

        def delete_then_read(*args):  # the delete lands just before the fields are read
            store.delete_document("d0")
            return read(*args)

        store.searcher._read_by_search = delete_then_read
        hits = store.search(query, "", k, ["ws"], mode="dense")
        assert [h.chunk for h in hits] == [c for c in everything if c.doc_id != "d0"][:k]
    finally:
        store.close()
