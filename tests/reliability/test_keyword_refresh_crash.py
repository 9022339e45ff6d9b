"""`kill -9` while keyword text is rewritten (rag/store/keyword_refresh.py): the next start finishes
the pass, and no chunk is lost or left twice.

A store whose Japanese chunks carry an older analyzer's keyword text (real files, ingested by the
old analyzer) is opened by a process that runs the background pass the way the app does and kills
itself with SIGKILL at one of two points: between a batch's insert of the rewritten rows and the
delete of the old ones (every chunk of that batch has two rows), and after whole batches (some
chunks rewritten, the version not recorded). The next open, in this process, must finish."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest
from milvus_lite.server_manager import server_manager_instance

from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store import rows as r
from rag.store.vector_store import VectorStore
from rag.text.keywords import ANALYZER_VERSION, keyword_text
from rag.types import SHARED_OWNER
from tests.cli_processes import run_python
from tests.reliability.test_crash import env_for, wait_released
from tests.store.test_keyword_refresh import before_issue_23, found, ingest_with

KILL_AT = textwrap.dedent("""
    import os, signal, sys
    from rag.store import keyword_refresh as kr
    point, calls = sys.argv[1], {"n": 0}
    kr.REWRITE_BATCH = 2
    def dying(original, before):
        def wrapper(self, *args):
            calls["n"] += 1
            if before and calls["n"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(self, *args)
            if not before and calls["n"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapper
    if point == "between-insert-and-delete":  # the second batch's new rows are in, its old ones too
        kr.KeywordRefresh._keep_one = dying(kr.KeywordRefresh._keep_one, before=True)
    else:                                     # two whole batches done, the pass not recorded
        kr.KeywordRefresh._rewrite_batch = dying(kr.KeywordRefresh._rewrite_batch, before=False)
    from rag.retrieval.keyword_upkeep import KeywordUpkeep
    from rag.settings import Settings
    from rag.store.vector_store import open_existing
    upkeep = KeywordUpkeep.start(open_existing(Settings.from_env()))
    upkeep.done.wait()
    sys.exit(3)  # not reached: the pass dies first
""")


def japanese_manual(folder: Path) -> Path:
    """A Japanese page of a dozen sections: more chunks than two batches of two."""
    folder.mkdir()
    sections = [
        f"## 手順{i}\n\nウェブサーバー{i}はＡＰＴで入れます。設定ファイルを確かめてから、"
        f"サーバーを起動します。ログは /var/log/server{i} に書かれます。" * 3
        for i in range(12)
    ]
    (folder / "server-ja.md").write_text("# サーバーの手引き\n\n" + "\n\n".join(sections))
    (folder / "mail.md").write_text("# Mail\n\nThe mail transfer agent is installed with apt.\n")
    return folder


def state(store: VectorStore) -> dict:
    """Chunk rows against what the listed documents say, and how many carry current keyword text."""
    rows = r.query_all(store.client, store.collection, r.EVERY_CHUNK, ["pk", *r.HIT_FIELDS, "search_text"])
    positions = {(row["doc_id"], row["content_hash"], row["chunk_index"]) for row in rows}
    docs = store.list_documents([SHARED_OWNER])
    return {
        "rows": len(rows),
        "chunks": sum(doc.chunks for doc in docs),
        "twice": len(rows) - len(positions),
        "stale": sum(keyword_text(r.chunk(row).indexed_text) != row["search_text"] for row in rows),
        "recorded": store.keywords.version(),
    }


def let_go(settings: Settings) -> None:
    """This process's Milvus Lite server closes the file before another process opens it."""
    server_manager_instance.release_server(settings.store.milvus_target)
    wait_released(settings.store.milvus_target)


@pytest.mark.parametrize("point", ["between-insert-and-delete", "after-two-batches"])
def test_kill_9_mid_pass_the_next_start_finishes_it(point, tmp_path, embedder, monkeypatch):
    data = tmp_path / "data"
    settings = Settings.from_env(env_for(data))
    ingest_with(before_issue_23, settings, embedder, japanese_manual(tmp_path / "files"), monkeypatch)
    let_go(settings)

    killed = run_python(KILL_AT, [point], env_for(data))
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])

    store = VectorStore(settings, embedder.dim, embedder.name)  # as the kill left it (no pass)
    try:
        left = state(store)
    finally:
        store.close()
        let_go(settings)
    assert left["recorded"] == 0 and left["stale"] > 0, left  # killed mid-pass
    assert left["twice"] == (2 if point == "between-insert-and-delete" else 0), left
    assert left["rows"] - left["twice"] == left["chunks"], left  # nothing lost

    library = Library.open(settings, embedder)  # the next start
    try:
        assert library.upkeep is not None and library.upkeep.done.wait(120)
        report = library.upkeep.report
        assert report is not None and report.removed == left["twice"], report
        after = state(library.store)
        assert after == {**after, "rows": left["chunks"], "chunks": left["chunks"], "twice": 0, "stale": 0}
        assert after["recorded"] == ANALYZER_VERSION
        assert "server-ja.md" in found(library, "サーバ") and "server-ja.md" in found(library, "APT")
    finally:
        library.close()
