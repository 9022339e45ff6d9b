"""Chunks stored with an older keyword analyzer's text are brought up to the one in use, by
themselves, in a background thread while the app serves.

After an upgrade that changed `rag.text.keywords` (its `ANALYZER_VERSION`), Japanese chunks stored
before keep their old keyword text, and questions miss them (「サーバ」 against a stored 「サーバー」);
before this, README told users to remove and add such documents again. Now the library's first
open after the upgrade rewrites the keyword text of those chunks from their stored text
(`rag.store.keyword_refresh`: no re-embedding, searches keep working meanwhile and find them
once their rows are rewritten), and records the version, so later starts only read one number.
A store already current, or made now, costs one small query at open.

Automatic for the embedded Milvus Lite file, where this process is the store's only user. On a
Milvus server every replica opens the store at once, and a pass by each would repeat the same work
N times: the log names `python -m rag reindex`, which does it once (the replicas keep serving).
A `kill -9` or a stop mid-pass loses nothing: the next start passes again (what was done stays done).
"""

from __future__ import annotations

import logging
import threading

from rag.store.keyword_refresh import KeywordRefresh, RefreshReport
from rag.store.vector_store import VectorStore
from rag.text.keywords import ANALYZER_VERSION, keyword_text

log = logging.getLogger(__name__)
STOP_WAIT_S = 120.0  # a stop waits for the batch in hand (500 rows: ~1 s idle) before closing


class KeywordUpkeep:
    """One background pass over a store; `done` is set when it ended, however it ended."""

    def __init__(self, refresh: KeywordRefresh, collection: str) -> None:
        self.refresh = refresh
        self.collection = collection
        self.report: RefreshReport | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keyword-refresh", daemon=True)

    @classmethod
    def start(cls, store: VectorStore) -> KeywordUpkeep | None:
        """The pass this store needs, started; None when it needs none (or is left to the CLI)."""
        refresh = store.keyword_refresh(keyword_text, ANALYZER_VERSION)
        if store.created:
            refresh.mark_current()
            return None
        have = refresh.record.version()
        if have >= ANALYZER_VERSION:
            return None
        if not store.exclusive:
            # `rag reindex` may be passing now, or was stopped between a batch's insert and its
            # delete: a chunk may have two rows, and searches ask for k more (`rag.store.search`)
            # until this process restarts (a top 5 came back with 3 chunks without)
            store.writes.rewriting += 1
            log.warning(
                "the keyword text of %s was made by keyword analyzer %d, older than this app's %d: "
                "Japanese questions may miss documents stored before; run `python -m rag reindex` "
                "once (from one process; the app keeps serving) to rewrite it",
                store.collection,
                have,
                ANALYZER_VERSION,
            )
            return None
        log.warning(
            "the keyword text of %s was made by keyword analyzer %d (this app's is %d): rewriting "
            "the chunks whose text changes, in the background; searches work meanwhile (a command "
            "that ends first leaves the rest to the next start; `python -m rag reindex` does it all now)",
            store.collection,
            have,
            ANALYZER_VERSION,
        )
        upkeep = cls(refresh, store.collection)
        upkeep._thread.start()
        return upkeep

    def _run(self) -> None:
        try:
            self.report = self.refresh.bring_up_to_date(self._stop)
            if self.report is not None:
                log.warning(
                    "keyword text of %s is up to date: %d of %d chunks rewritten in %.1f s",
                    self.collection,
                    self.report.rewritten,
                    self.report.scanned,
                    self.report.seconds,
                )
        except Exception:  # the store keeps serving; the next start tries again
            log.exception(
                "rewriting the keyword text of %s failed; the next start tries again", self.collection
            )
        finally:
            self.done.set()

    def stop(self) -> None:
        """Stop after the batch in hand (the next start finishes the pass)."""
        self._stop.set()
        self._thread.join(STOP_WAIT_S)
