"""The keyword text of stored chunks brought up to the analyzer in use, in place and without
re-embedding, and the record of which analyzer version the store's keyword text was made with.

Why: a chunk's `search_text` (what Milvus's BM25 function indexes) is made at ingestion by
`rag.text.keywords`. When that analyzer changes (2026-12-06: width folding and katakana stems),
the chunks stored before keep the old text, and a question analysed the new way misses them
(「サーバ」 no longer meets a stored 「サーバー」, ＡＰＴ no longer meets APT). Everything the analyzer
reads is stored with each chunk (`text`, `section`, `title`: its `indexed_text`), so the new text
comes from the row itself; the analyzer is handed in (`analyze`), the store knows no language.

Where the version is kept: `<collection>_keywords`, a small append-only table, one row per version
a whole pass reached (the highest counts; none: 0, older than any). Not the collection's
description (Milvus can't change it after creation), not a row in the version table (every reader
of it would have to step round the row), and append-only because Milvus Lite's upsert is a delete
then an insert: a process opening the store in between would find no record and pass again.

How a row is rewritten without a search missing it or seeing it twice: not by upsert. Milvus
Lite's upsert of 50 chunk rows, run in a loop, left searches beside it with none of the 50 in most
tries (keyword leg empty in 58 of 76, dense leg in 54 of 76). So the rewritten row is inserted
first (a new primary key: nothing outside the store keeps one) and the old one deleted after; a
search in between may meet both, and `rag.store.search` keeps one hit per chunk. Only rows of live
versions are rewritten, each batch under the store's write lock, so no upload, delete or crash
repair of the same document runs between its read and its write.

`kill -9`: the record is written only after a whole pass, so the next start passes again: a row
already rewritten compares equal and is skipped, and a kill between an insert and its delete left
two rows for one chunk, which the next pass's batch for the old row resolves: each batch ends by
keeping, per chunk it touched, one row with the current text (the lowest key) and deleting the
others. Two processes passing at once (a `rag reindex` beside an app on a server) converge the
same way: whichever checks last sees every copy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag.store import rows as r
from rag.store.schema import DUMMY, INSERT_BATCH, TEXT_MAX
from rag.store.versions import DocumentVersions
from rag.types import Progress, no_progress

log = logging.getLogger(__name__)
# what deciding whether a row is stale reads: no vector (1.5 kB a row as floats), so a pass over
# rows that need nothing moves a fraction of the collection
SCAN_FIELDS = ["pk", *r.HIT_FIELDS, "search_text"]
# rows rewritten per insert and delete: the write lock is held for one batch, so an upload waits at
# most that long; Milvus Lite 2.5 slows down sharply above ~1,000 rows per insert
REWRITE_BATCH = INSERT_BATCH
Position = tuple[str, str, int]  # doc_id, content_hash, chunk_index: one chunk whatever its row


@dataclass(frozen=True)
class RefreshReport:
    scanned: int  # chunk rows read
    rewritten: int  # rows whose keyword text changed
    removed: int  # rows deleted beyond the rewritten ones: copies an interrupted pass left
    seconds: float


class KeywordRecord:
    """The analyzer versions the store's keyword text was brought up to (`<collection>_keywords`)."""

    def __init__(self, client, table: str) -> None:
        self.client = client
        self.table = table

    def version(self) -> int:
        """The newest version a whole pass (or a new collection) reached; 0 when none is recorded."""
        rows = r.query_all(self.client, self.table, "analyzer >= 0", ["analyzer"])
        return max((row["analyzer"] for row in rows), default=0)

    def record(self, version: int) -> None:
        self.client.insert(
            self.table, [{"analyzer": version, "recorded_at": int(time.time()), "unused": DUMMY}]
        )
        self.client.flush(self.table)


class KeywordRefresh:
    """Rewrites the `search_text` of chunk rows where `analyze(indexed_text)` gives another text."""

    def __init__(
        self, versions: DocumentVersions, record: KeywordRecord, analyze: Callable[[str], str], version: int
    ) -> None:
        self.versions = versions
        self.client = versions.client
        self.collection = versions.collection
        self.record = record
        self.analyze = analyze
        self.version = version

    def needed(self) -> bool:
        """Whether the store's keyword text was made by an older analyzer than `version`."""
        return self.record.version() < self.version

    def mark_current(self) -> None:
        """Record `version` without a pass: a collection made now holds no older text."""
        if self.needed():
            self.record.record(self.version)

    def bring_up_to_date(
        self, stop: threading.Event | None = None, progress: Progress = no_progress
    ) -> RefreshReport | None:
        """A whole pass, then the record; None (and no record) when `stop` was set first."""
        report = self.rewrite(stop, progress)
        if report is not None:
            self.record.record(self.version)
        return report

    def rewrite(
        self, stop: threading.Event | None = None, progress: Progress = no_progress
    ) -> RefreshReport | None:
        """Every chunk row whose keyword text `analyze` now makes differently, rewritten; returns
        None when `stop` was set before the pass ended (what was rewritten stays rewritten)."""
        started = time.monotonic()
        total = r.count(self.client, self.collection, r.EVERY_CHUNK)
        scanned = rewritten = removed = 0
        # this pass's rows, which the scan meets again at its end (~60 MB at 1M, for the pass only)
        written: set[int] = set()
        self.versions.rewriting += 1
        self.versions.keyword_passes += 1  # what was read before may be rewritten now
        try:
            for page in r.pages(self.client, self.collection, r.EVERY_CHUNK, SCAN_FIELDS):
                rows = [row for row in page if row["pk"] not in written]
                wanted = {
                    row["pk"]: text for row in rows if (text := self.expected(row)) != row["search_text"]
                }
                for batch in r.batched(list(wanted), REWRITE_BATCH):
                    if stop is not None and stop.is_set():
                        return None
                    inserted, extra = self._rewrite_batch({pk: wanted[pk] for pk in batch})
                    written.update(inserted)
                    rewritten, removed = rewritten + len(inserted), removed + extra
                if stop is not None and stop.is_set():
                    return None
                scanned += len(rows)
                progress(min(scanned / max(total, 1), 1.0), f"keyword text: {scanned}/{total} chunks read")
        finally:
            self.versions.rewriting -= 1
        return RefreshReport(scanned, rewritten, removed, time.monotonic() - started)

    def expected(self, row: dict) -> str:
        """The keyword text ingestion would store for this row now (`rows.chunk_rows`)."""
        return self.analyze(r.chunk(row).indexed_text)[:TEXT_MAX]

    def _rewrite_batch(self, wanted: dict[int, str]) -> tuple[list[int], int]:
        """Rewrite these rows (primary key -> new keyword text; read again under the lock: one may
        have gone since the scan); returns the rows inserted and how many extra rows were removed."""
        with self.versions.lock:
            rows = self.client.query(
                self.collection,
                filter=r.pk_in(wanted),
                output_fields=["pk", *r.CHUNK_FIELDS],
            )
            live = self._live(rows)
            stale = [row for row in rows if _position(row)[:2] in live]  # a row's fields never change
            if not stale:
                return [], 0
            new = [
                {f: row[f] for f in r.CHUNK_FIELDS}
                | {"vector": [float(x) for x in row["vector"]], "search_text": wanted[row["pk"]]}
                for row in stale
            ]
            inserted = list(self.client.insert(self.collection, new)["ids"])
            self.client.flush(self.collection)
            removed = self._keep_one({_position(row): wanted[row["pk"]] for row in stale})
            if gone := self._gone(stale):  # deleted or replaced by another process meanwhile
                self._delete(
                    [pk for pk, row in zip(inserted, stale, strict=True) if _position(row)[:2] in gone]
                )
            return inserted, max(removed - len(stale), 0)

    def _keep_one(self, expected: dict[Position, str]) -> int:
        """For each of these chunks, keep one row with the current text (the lowest key) and delete
        the others (the old rows, and copies a killed or concurrent pass left); returns how many."""
        by_version: dict[tuple[str, str], list[int]] = {}
        for doc_id, content_hash, index in expected:
            by_version.setdefault((doc_id, content_hash), []).append(index)
        flt = " or ".join(
            f"({r.of_version(doc_id, content_hash)} and chunk_index in [{', '.join(map(str, indexes))}])"
            for (doc_id, content_hash), indexes in by_version.items()
        )
        found: dict[Position, list[dict]] = {}
        for row in r.query_all(
            self.client, self.collection, flt, ["pk", "doc_id", "content_hash", "chunk_index", "search_text"]
        ):
            found.setdefault(_position(row), []).append(row)
        extra = []
        for position, copies in found.items():
            current = sorted(row["pk"] for row in copies if row["search_text"] == expected[position])
            if current:  # never delete the last row of a chunk
                extra += [row["pk"] for row in copies if row["pk"] != current[0]]
        self._delete(extra)
        return len(extra)

    def _live(self, rows: list[dict]) -> set[tuple[str, str]]:
        return {
            (row["doc_id"], row["content_hash"])
            for row in self.versions.live_rows({row["doc_id"] for row in rows})
        }

    def _gone(self, rows: list[dict]) -> set[tuple[str, str]]:
        """Versions of `rows` that were live before the batch and are not now (only another
        process can do that: this one holds the write lock)."""
        return (
            {_position(row)[:2] for row in rows} - self._live(rows) if not self.versions.exclusive else set()
        )

    def _delete(self, pks: list[int]) -> None:
        r.delete_rows(self.client, self.collection, pks)
        if pks:
            self.client.flush(self.collection)


def _position(row: dict) -> Position:
    return row["doc_id"], row["content_hash"], row["chunk_index"]
