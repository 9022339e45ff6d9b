"""Documents written all-or-nothing, and repaired after a crash.

Milvus has no transactions, so the store keeps a commit record the way databases do: each
document version has a row in `<collection>_versions`. A write marks its version `writing` (with a
heartbeat), inserts the chunks, then in one step retires the older version (`superseded`) and makes
the new one `live`; only then are the old chunks deleted. Listings read live versions only, and
search leaves out the chunks of any version that is not live, so nobody sees half a write or two
versions side by side. Opening the store repairs what a killed process left: a `writing` version
whose heartbeat is older than `LEASE_S` (no live process would leave it that long) is finished if
all its chunks are in, else rolled back; superseded leftovers are deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

from pymilvus import MilvusClient

from rag.errors import StoreError
from rag.store import rows as r
from rag.store.deletions import OwnerDeletions
from rag.store.rows import NewDocument
from rag.store.schema import INSERT_BATCH
from rag.store.visibility import Versions, Visibility

log = logging.getLogger(__name__)
LEASE_S = 600  # a `writing` version whose writer was silent this long belongs to a dead process
HEARTBEAT_S = 30  # how often a long write renews its lease


class DocumentVersions:
    """The version table of one chunk collection and every write that goes through it.

    `exclusive`: the store is an embedded Milvus Lite file, open in this process only, so any write
    in progress found at open belongs to a dead process; on a server another process may be writing
    right now. `lock` serialises this process's writes (and the index rebuild, which shares it).
    `deletions`: the marks workspace deletes leave, which a write in batches looks at too.
    """

    def __init__(
        self,
        client: MilvusClient,
        collection: str,
        table: str,
        exclusive: bool,
        lock: threading.Lock,
        deletions: OwnerDeletions,
    ) -> None:
        self.client = client
        self.collection = collection
        self.table = table
        self.exclusive = exclusive
        self.lock = lock
        self.deletions = deletions
        # what searches may show; kept between writes where this process is the only writer
        self.visibility = Visibility(self._read_hidden, self._read_live, cache=exclusive)
        # versions a write in batches has open (`begin` to `commit`): the workspace's deletion mark
        # its upload read when it started (`rag.store.deletions`)
        self._open: dict[str, int] = {}
        # passes rewriting keyword text now (`rag.store.keyword_refresh`): a chunk may have two rows
        self.rewriting = 0
        self.keyword_passes = 0  # such passes started, ever: text read before one is stale

    # -- writing -------------------------------------------------------------------------------

    def add_documents(self, documents: Sequence[NewDocument]) -> None:
        """Write many document versions in few inserts (bulk loads): each becomes visible whole,
        at its commit, and if any insert fails everything this call wrote is deleted again."""
        if not documents:
            return
        if any(not d.chunks for d in documents):
            raise StoreError("a document needs at least one chunk")
        now = int(time.time())
        heads = [r.version_row(d, now, "writing") for d in documents]
        with self.lock:
            self._begin(heads)
            try:
                rows = [row for d in documents for row in r.chunk_rows(d, now)]
                renewed = time.monotonic()
                for start in range(0, len(rows), INSERT_BATCH):
                    self._insert_batch(rows[start : start + INSERT_BATCH])
                    renewed = self._renew(heads, renewed)
                self.client.flush(self.collection)
            except Exception as exc:
                self.delete_versions([(h["doc_id"], h["content_hash"]) for h in heads])
                what = documents[0].chunks[0].source if len(documents) == 1 else f"{len(documents)} documents"
                raise StoreError(f"storing {what} failed, nothing was kept: {exc}") from exc
            self.delete_versions(self._commit_version(heads))

    # -- one version written batch by batch (rag/store/document_writer.py) ---------------------

    def begin(self, head: dict, replacing: bool = False, since: int | None = None) -> None:
        """Open one version for a write in batches: invisible until `commit`. The lock is taken
        per call, not for the whole write, so other documents are stored between its batches.
        `replacing`: the upload found the document live when it began, so a document no longer
        live was deleted since (while the file was parsed) and is not added back. `since`: the
        workspace's deletion mark when the upload began (None: now); a later mark means the
        workspace was deleted meanwhile (`rag.store.deletions`). On a server, where another
        replica's delete can come between the look and the upsert, it looks again after it."""
        with self.lock:
            since = self.deletions.latest(head["owner"]) if since is None else since
            self._refuse_if_deleted_before(head, replacing, since)
            self._begin([head])
            if not self.exclusive:
                try:
                    self._refuse_if_deleted_before(head, replacing, since)
                except StoreError:
                    self.delete_versions([(head["doc_id"], head["content_hash"])])
                    raise
            self._open[head["version"]] = since

    def _refuse_if_deleted_before(self, head: dict, replacing: bool, since: int) -> None:
        """Before a version's `writing` row is in: raise if its workspace, or the document it
        replaces, was deleted since the upload began."""
        if self.deletions.latest(head["owner"]) > since:
            raise self._deleted(head, workspace=True)
        if replacing and not self.live_rows([head["doc_id"]]):
            raise self._deleted(head)

    def insert(self, head: dict, rows: list[dict], renewed: float) -> float:
        """One batch of an open version's chunk rows; returns when its lease was last renewed.
        Refused once the document was deleted (its `writing` row is gone): the upload stops there,
        and the lease renewal cannot write the row back."""
        with self.lock:
            self._check_not_deleted(head)
            for start in range(0, len(rows), INSERT_BATCH):
                self._insert_batch(rows[start : start + INSERT_BATCH])
            return self._renew([head], renewed)

    def commit(self, head: dict) -> None:
        """Make an open version live if its `writing` row is still there and every one of its
        chunks is stored, else undo it: a delete of the document while it was written (the
        visitor's Delete, a workspace deleted) or a repair by another process took them away.

        Why the row and not only the chunks: a document under `STORE_BATCH` chunks (most) is
        stored in one batch at the end, so a delete during its embedding found no chunks to take,
        and the count came out whole; the commit upserted the row back as `live` and the document
        returned seconds after the visitor saw it go (tests/reliability/test_delete_during_upload.py).
        A delete removes the row first (`delete_where`), so its absence is the delete's mark.

        Milvus has no transactions: the check and the upsert that makes the version live are two
        calls. In an embedded Milvus Lite file (the default) nothing can come between them: every
        delete of this process takes `lock`, which the check and the upsert hold together, and no
        other process opens the file. On a Milvus server another process's delete can, and the
        commit looks again after its upsert: a version no longer live with all its chunks is
        deleted, with the versions it retired; with the second row delete of `delete_where` the
        delete wins in every order (a search may show the version for that moment)."""
        key = (head["doc_id"], head["content_hash"])
        with self.lock:
            try:
                self._check_not_deleted(head)
                self.client.flush(self.collection)
                stored = self.count_version(*key)
                if stored != head["n_chunks"]:
                    raise StoreError(
                        f"storing {head['source']} failed, nothing was kept: {stored} of its "
                        f"{head['n_chunks']} chunks were found at the end (deleted while it was stored?)"
                    )
                retired = self._commit_version([head])
                if not self.exclusive:  # deleted during the commit (by another replica)?
                    workspace_deleted = self._workspace_deleted(head)
                    if workspace_deleted or not self._still_whole(head):
                        self.delete_versions([key, *retired])
                        raise self._deleted(head, workspace_deleted)
            except Exception:
                self.delete_versions([key])
                raise
            finally:
                self._open.pop(head["version"], None)
            self.delete_versions(retired)

    def undo(self, head: dict) -> None:
        """Delete what an open version stored (a Stop, a failed batch)."""
        with self.lock:
            try:
                self.delete_versions([(head["doc_id"], head["content_hash"])])
            finally:
                self._open.pop(head["version"], None)

    def _check_not_deleted(self, head: dict) -> None:
        """Raise if the `writing` row of an open version is gone (the document was deleted), or its
        workspace's deletion mark moved since the upload began: on a server another replica's
        delete writes its mark before it takes the rows, and the write stops at the mark."""
        workspace_deleted = self._workspace_deleted(head)
        if workspace_deleted or self._state(head) != "writing":
            raise self._deleted(head, workspace_deleted)

    def _workspace_deleted(self, head: dict) -> bool:
        since = self._open.get(head["version"])
        return since is not None and self.deletions.latest(head["owner"]) > since

    def _still_whole(self, head: dict) -> bool:
        """After its commit: the version is live with all its chunks (no delete came between)."""
        return (
            self._state(head) == "live"
            and self.count_version(head["doc_id"], head["content_hash"]) == head["n_chunks"]
        )

    def _state(self, head: dict) -> str:
        rows = self.client.query(self.table, filter=r.eq("version", head["version"]), output_fields=["state"])
        return rows[0]["state"] if rows else ""

    @staticmethod
    def _deleted(head: dict, workspace: bool = False) -> StoreError:
        return deleted_while_added(head["source"], workspace)

    def _begin(self, heads: list[dict]) -> None:
        """Mark versions `writing`, after removing an earlier try's leftovers; a version that a
        write in batches of this process has open is refused (its rows would be deleted)."""
        busy = [h["source"] for h in heads if h["version"] in self._open]
        if busy:
            raise StoreError(f"{busy[0]} is being stored by another upload now; try again when it is done")
        self.delete_versions([(h["doc_id"], h["content_hash"]) for h in heads])
        self.upsert(heads)

    def _renew(self, heads: list[dict], renewed: float) -> float:
        """Renew the lease of writing versions every `HEARTBEAT_S`: we are alive."""
        if time.monotonic() - renewed <= HEARTBEAT_S:
            return renewed
        self.upsert([h | {"heartbeat": int(time.time())} for h in heads])
        return time.monotonic()

    def upsert(self, rows: list[dict]) -> None:
        """Every write to the version table goes through here or `_delete` (what searches may
        show changes with it: `rag.store.visibility`)."""
        try:
            self.client.upsert(self.table, rows)
        finally:
            self.visibility.changed()

    def _delete(self, flt: str) -> None:
        try:
            self.client.delete(self.table, filter=flt)
        finally:
            self.visibility.changed()

    def _insert_batch(self, rows: list[dict]) -> None:
        self.client.insert(self.collection, rows)

    def _commit_version(self, heads: list[dict]) -> list[tuple[str, str]]:
        """The commit: older live versions of these documents become superseded, then the new ones
        live. Returns the superseded (doc_id, content_hash) pairs, whose chunks may now go."""
        new = {h["doc_id"]: h["content_hash"] for h in heads}
        older = [row for row in self.live_rows(new) if new.get(row["doc_id"]) != row["content_hash"]]
        if older:
            self.upsert([r.stored(row) | {"state": "superseded"} for row in older])
        self.upsert([h | {"state": "live", "heartbeat": int(time.time())} for h in heads])
        return [(row["doc_id"], row["content_hash"]) for row in older]

    def delete_versions(self, versions: Sequence[tuple[str, str]]) -> None:
        """Chunks first, then the version rows: a crash in between leaves a row the repair finishes."""
        if not versions:
            return
        by_doc: dict[str, set[str]] = {}
        for doc_id, content_hash in versions:
            by_doc.setdefault(doc_id, set()).add(content_hash)
        fields = ["pk", "doc_id", "content_hash"]
        pks = [
            int(row["pk"])
            for batch in r.batched(list(by_doc), 1000)
            for page in r.pages(self.client, self.collection, r.is_in("doc_id", batch), fields)
            for row in page
            if row["content_hash"] in by_doc[row["doc_id"]]
        ]
        r.delete_rows(self.client, self.collection, pks)
        self.client.flush(self.collection)
        keys = [f"{doc_id}:{h}" for doc_id, h in versions]
        for batch in r.batched(keys, 1000):
            self._delete(r.is_in("version", batch))

    def delete_owner(self, owner: str) -> None:
        """A workspace's every version and chunk; its deletion mark first (`rag.store.deletions`):
        an upload into it that began before this keeps nothing, even one whose write has not begun."""
        with self.lock:
            self.deletions.mark(owner)
            self._delete_where(r.eq("owner", owner))

    def delete_where(self, flt: str) -> None:
        """Every version and chunk matching `flt` (a document, an owner), whatever its state.

        The rows go first: that makes the chunks invisible, and is the mark a write in batches of
        the document looks for before each batch and at its commit (`commit`). They are deleted
        again after the chunks for a writer in another process (a Milvus server) whose commit
        checked before the first delete and made its version live after it: that row goes too.
        An upsert after the second delete finds the chunks gone when the commit looks again."""
        with self.lock:
            self._delete_where(flt)

    def _delete_where(self, flt: str) -> None:
        self._delete(flt)  # invisible first, then gone
        self.client.delete(self.collection, filter=flt)
        self.client.flush(self.collection)
        if not self.exclusive:
            self._delete(flt)

    # -- reading -------------------------------------------------------------------------------

    def live_rows(self, doc_ids: Iterable[str]) -> list[dict]:
        """The version rows of these documents that are live now."""
        rows = []
        for batch in r.batched(list(doc_ids), 1000):
            flt = f'{r.is_in("doc_id", batch)} and state == "live"'
            rows += r.query_all(self.client, self.table, flt, r.VERSION_FIELDS)
        return rows

    def _read_hidden(self) -> Versions:
        rows = r.query_all(self.client, self.table, 'state != "live"', ["doc_id", "content_hash"])
        return {(row["doc_id"], row["content_hash"]) for row in rows}

    def _read_live(self, doc_ids: Iterable[str]) -> Versions:
        return {(row["doc_id"], row["content_hash"]) for row in self.live_rows(doc_ids)}

    def count_version(self, doc_id: str, content_hash: str) -> int:
        """The chunks stored for one version (complete when it equals its `n_chunks`)."""
        return r.count(self.client, self.collection, r.of_version(doc_id, content_hash))

    # -- repair --------------------------------------------------------------------------------

    def repair(self, now: float | None = None) -> list[str]:
        """Finish or undo what killed writers left (see the module docstring); returns what was done.
        On a server, a version another process is writing right now (fresh heartbeat) is left alone;
        an embedded file has no other process, so every unfinished write at open is a dead one."""
        now = time.time() if now is None else now
        lease = 0 if self.exclusive else LEASE_S
        pending = r.query_all(self.client, self.table, 'state != "live"', r.VERSION_FIELDS)
        if not pending:
            return []
        done = []
        with self.lock:
            live = {row["doc_id"] for row in self.live_rows({row["doc_id"] for row in pending})}
            busy: set[str] = set()  # documents a live writer is replacing: their old version stays
            for row in sorted(pending, key=lambda row: row["state"] != "writing"):  # writers first
                key = (row["doc_id"], row["content_hash"])
                if row["state"] == "writing":
                    if row["heartbeat"] > now - lease:
                        busy.add(row["doc_id"])
                        continue  # a live writer's
                    if self.count_version(*key) == row["n_chunks"]:
                        self.delete_versions(self._commit_version([r.stored(row)]))
                        live.add(row["doc_id"])
                        done.append(f"finished {row['source']}")
                    else:
                        self.delete_versions([key])
                        done.append(f"rolled back {row['source']}")
                elif row["doc_id"] in busy:
                    continue
                elif row["doc_id"] in live:
                    self.delete_versions([key])
                    done.append(f"removed the old version of {row['source']}")
                else:  # its replacement was rolled back: it is the document again
                    self.upsert([r.stored(row) | {"state": "live"}])
                    live.add(row["doc_id"])
                    done.append(f"restored {row['source']}")
        if done:
            log.warning("repaired interrupted writes in %s: %s", self.collection, "; ".join(done))
        return done


def deleted_while_added(source: str, workspace: bool = False) -> StoreError:
    """What an upload says when its document (or its workspace) was deleted while it was added."""
    what = "deleted with its workspace" if workspace else "deleted"
    return StoreError(f"{source} was {what} while it was being added; nothing was kept")
