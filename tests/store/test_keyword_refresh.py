"""Keyword text an older analyzer made is rewritten in place at the next open (rag/store/keyword_refresh.py,
rag/retrieval/keyword_upkeep.py): real files ingested by the old analyzer into real Milvus Lite,
then opened the way the app opens its library. tests/reliability/test_keyword_refresh_crash.py
kills a pass with SIGKILL."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from milvus_lite.server_manager import server_manager_instance

import rag.ingest.streaming as streaming
from rag.embedding.embedder import Embedder
from rag.ingest.pipeline import Ingestor, collect_files
from rag.retrieval.keyword_upkeep import KeywordUpkeep
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store import keyword_refresh
from rag.store import rows as r
from rag.store.vector_store import VectorStore
from rag.text import keywords
from rag.text.keywords import ANALYZER_VERSION, keyword_text
from rag.types import SHARED_OWNER, Chunk
from tests.cli_processes import run_rag
from tests.reliability.test_crash import env_for, wait_released

JAPANESE = (
    "# サーバーの設定\n\nウェブサーバーはＡＰＴで入れます。設定ファイルは /etc/nginx にあります。\n\n"
    "## 起動\n\nサーバーを起動する前に、設定を確かめます。\n"
)
ENGLISH = "# Mail\n\nThe mail transfer agent is installed with apt; its configuration lives in /etc/exim4.\n"


def before_issue_23(text: str) -> str:
    """The keyword text of a store from before issue 23: the indexed text as it is."""
    return text


def first_round(text: str) -> str:
    """Issue 23's first analyzer: Japanese runs split into Sudachi's words, no width folding, no
    katakana stems."""
    tokenizer, mode = keywords._tokenizer()
    words = lambda run: " ".join(m.surface() for m in tokenizer.tokenize(run.group(), mode))  # noqa: E731
    return keywords._RUN.sub(lambda run: f" {words(run)} ", text)


def ingest_with(analyzer, settings: Settings, embedder: Embedder, folder: Path, monkeypatch) -> None:
    """The files of `folder` ingested by an app whose keyword analyzer was `analyzer`."""
    library = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    try:
        with monkeypatch.context() as patch:
            patch.setattr(streaming, "keyword_text", analyzer)
            results = Ingestor(settings, embedder, library.store).ingest_files(
                collect_files([folder]), SHARED_OWNER
            )
        assert [result.status for result in results] == ["added", "added"], results
    finally:
        library.close()


def chunk_rows(store: VectorStore) -> dict[int, dict]:
    rows = r.query_all(store.client, store.collection, r.EVERY_CHUNK, ["pk", "source", "search_text"])
    return {row["pk"]: row for row in rows}


def found(library: Library, question: str) -> set[str]:
    hits = library.retrieve(question, [SHARED_OWNER], k=5, mode="keyword").hits
    return {hit.chunk.source for hit in hits}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "server-ja.md").write_text(JAPANESE)
    (folder / "mail.md").write_text(ENGLISH)
    return folder


@pytest.mark.parametrize("old", [before_issue_23, first_round])
def test_an_older_analyzers_keyword_text_is_rewritten_at_open_and_found(
    old, settings, embedder, files, monkeypatch
):
    ingest_with(old, settings, embedder, files, monkeypatch)
    stale = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    try:
        before = chunk_rows(stale.store)
        assert "server-ja.md" not in found(stale, "サーバ")  # the other katakana spelling
        assert "server-ja.md" not in found(stale, "APT")  # ＡＰＴ stored full-width
    finally:
        stale.close()

    library = Library.open(settings, embedder)
    try:
        assert library.upkeep is not None and library.upkeep.done.wait(120)
        report = library.upkeep.report
        japanese = [pk for pk, row in before.items() if row["source"] == "server-ja.md"]
        assert report is not None and report.rewritten == len(japanese) > 0 and report.removed == 0
        assert "server-ja.md" in found(library, "サーバ")
        assert "server-ja.md" in found(library, "APT")
        after = chunk_rows(library.store)
        english = {pk: row for pk, row in before.items() if row["source"] == "mail.md"}
        assert english and all(after[pk] == row for pk, row in english.items())  # untouched, same keys
        assert len(after) == len(before) and not set(japanese) & set(after)  # replaced, none twice
        assert library.store.keywords.version() == ANALYZER_VERSION
    finally:
        library.close()

    again = Library.open(settings, embedder)  # recorded: no second pass
    try:
        assert again.upkeep is None
    finally:
        again.close()


def test_rag_reindex_rewrites_it_now(tmp_path, embedder, files, monkeypatch):
    """The command for a Milvus server, where the app leaves the pass to it."""
    data = tmp_path / "data"
    settings = Settings.from_env(env_for(data))
    ingest_with(before_issue_23, settings, embedder, files, monkeypatch)
    server_manager_instance.release_server(settings.store.milvus_target)
    wait_released(settings.store.milvus_target)
    done = run_rag(["reindex"], env_for(data))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keyword text: 2 of 3 chunks rewritten for keyword analyzer" in done.stdout, done.stdout
    library = Library.open(settings, embedder)
    try:
        assert library.upkeep is None and "server-ja.md" in found(library, "サーバ")
    finally:
        library.close()


def test_a_new_store_is_recorded_current_and_never_passed_over(settings, embedder):
    library = Library.open(settings, embedder)
    try:
        assert library.upkeep is None and library.store.keywords.version() == ANALYZER_VERSION
    finally:
        library.close()


def test_searches_during_a_pass_find_every_chunk_once(settings, monkeypatch):
    """Each rewritten row is written before the old one goes: searches running beside the pass
    never miss a chunk (Milvus Lite's upsert, a delete then an insert, left them with none) and
    never show one twice."""
    n = 60
    chunks = [Chunk("d1", "ja.md", 0, i, f"nginx サーバーの設定 {i}") for i in range(n)]
    vectors = np.random.default_rng(0).random((n, 4), dtype=np.float32)
    store = VectorStore(settings, 4, "m")
    try:
        store.add_document(chunks, vectors, SHARED_OWNER, "h1", 1)  # the old text: indexed_text as is
        monkeypatch.setattr(keyword_refresh, "REWRITE_BATCH", 3)  # 20 batches: 20 windows to fall in
        refresh = store.keyword_refresh(keyword_text, ANALYZER_VERSION)
        passing = threading.Thread(target=lambda: refresh.bring_up_to_date())
        seen = []
        passing.start()
        while passing.is_alive() or not seen:
            for mode, vector in (("keyword", None), ("dense", vectors[0])):
                hits = store.search(vector, "nginx", 100, [SHARED_OWNER], mode=mode)
                seen.append((mode, len(hits), len({hit.chunk.position for hit in hits})))
        passing.join()
        assert refresh.record.version() == ANALYZER_VERSION
        assert {found for found in seen if found[1:] != (n, n)} == set(), len(seen)
        assert store.search(None, keyword_text("サーバ"), 100, [SHARED_OWNER], mode="keyword")
        assert store.count_chunks() == n
    finally:
        store.close()


def test_a_replica_beside_a_stopped_rag_reindex_still_finds_k_chunks(settings, monkeypatch):
    """On a Milvus server the app leaves the pass to `rag reindex`, run beside the replicas. While
    it runs, and after it was stopped between a batch's insert and its delete (Ctrl-C, kill -9; the
    record stays old), chunks have two rows. A replica's searches kept one row per chunk without
    asking for more, so a top 5 came back with 3 chunks (2 rows each, plus one)."""
    n = 12
    chunks = [Chunk("d1", "ja.md", 0, i, f"nginx サーバーの設定 {i}") for i in range(n)]
    vectors = np.random.default_rng(0).random((n, 4), dtype=np.float32)
    made = VectorStore(settings, 4, "m")
    try:
        made.add_document(chunks, vectors, SHARED_OWNER, "h1", 1)  # the old text: indexed_text as is
    finally:
        made.close()
    replica = VectorStore(settings, 4, "m")
    reindex = VectorStore(settings, 4, "m")  # the command's own client of the same store
    try:
        replica.writes.exclusive = reindex.writes.exclusive = False  # as on a Milvus server
        assert KeywordUpkeep.start(replica) is None  # left to `rag reindex`: no pass here

        def stopped(*args):
            raise KeyboardInterrupt  # the new rows are in, the old ones not deleted yet

        monkeypatch.setattr(keyword_refresh.KeywordRefresh, "_keep_one", stopped)
        with pytest.raises(KeyboardInterrupt):
            reindex.keyword_refresh(keyword_text, ANALYZER_VERSION).bring_up_to_date()
        assert r.count(replica.client, replica.collection, r.EVERY_CHUNK) == 2 * n  # each chunk twice
        for mode, vector in (("dense", vectors[0]), ("hybrid", vectors[0]), ("keyword", None)):
            hits = replica.search(vector, "nginx", 5, [SHARED_OWNER], mode=mode)
            assert len({hit.chunk.position for hit in hits}) == len(hits) == 5, (mode, len(hits))
    finally:
        reindex.close()
        replica.close()
