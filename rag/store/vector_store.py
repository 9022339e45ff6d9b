"""The vector store: documents written all-or-nothing (and repaired after a crash), search in three
modes, listings that page through every row, the index that fits the collection's size.

Milvus has no transactions, so the store keeps a commit record the way databases do: each
document version has a row in `<collection>_versions`. A write marks its version `writing` (with a
heartbeat), inserts the chunks, then in one step retires the older version (`superseded`) and makes
the new one `live`; only then are the old chunks deleted. Listings read live versions only, and
search leaves out the chunks of any version that is not live, so nobody sees half a write or two
versions side by side. Opening the store repairs what a killed process left: a `writing` version
whose heartbeat is older than `LEASE_S` (no live process would leave it that long) is finished if
all its chunks are in, else rolled back; superseded leftovers are deleted.

Search modes: `dense` (cosine over the embeddings), `keyword` (BM25 over `search_text`) and
`hybrid` (both legs, fused by Milvus's reranker); the owner and document filters go on every leg.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pymilvus import AnnSearchRequest, MilvusClient, MilvusException, RRFRanker, WeightedRanker

from rag.errors import StoreError
from rag.settings import RETRIEVAL_MODES, Settings
from rag.store import schema
from rag.store.index_plans import IndexPlan, hnsw_plan, ivf_plan, plan_index
from rag.store.schema import DOC_FIELDS, DUMMY, INSERT_BATCH, SECTION_MAX, TEXT_MAX, drop_collection
from rag.types import Chunk, Context, DocumentInfo, Hit, Progress, no_progress

__all__ = ["NewDocument", "VectorStore", "drop_collection", "reindex", "reindex_collection"]
log = logging.getLogger(__name__)
HIT_FIELDS = ["doc_id", "source", "page", "chunk_index", "text", "section", "title", "content_hash"]
VERSION_FIELDS = [*DOC_FIELDS, "version", "state", "heartbeat"]
PAGE_SIZE = 4096  # rows per page when reading through a result set
QUERY_LIMIT = 16_384  # the most rows one query returns
LEASE_S = 600  # a `writing` version whose writer was silent this long belongs to a dead process
HEARTBEAT_S = 30  # how often a long write renews its lease
EXCLUDE_EXACT = 100  # up to this many hidden versions are left out by filter, beyond by over-fetch
# Hybrid fusion, measured in docs/BENCHMARKS.md: Milvus's WeightedRanker (scores normalised per leg,
# then weighted) beat RRF (k=60) on hit@5 and MRR@5; a short candidate list per leg favours chunks
# that both legs rank high.
HYBRID_RANKER = "weighted"  # or "rrf"
RRF_K = 60
HYBRID_WEIGHTS = (0.5, 0.5)  # dense, keyword
CANDIDATES_PER_K = 2  # each leg hands the reranker this many times k chunks


@dataclass(frozen=True)
class NewDocument:
    """One document version to write: its chunks, their vectors (one row each) and who owns it."""

    chunks: Sequence[Chunk]
    vectors: np.ndarray
    owner: str
    content_hash: str
    n_pages: int


class VectorStore:
    """One collection in one Milvus (Lite file or server); safe to share between threads.

    The vector index follows the collection's size (`rag.store.index_plans.plan_index`): it is chosen at
    creation, checked every time the store is opened, and rebuilt by `reindex()` when the size has
    moved into another band (at open, before any search, or with `python -m rag reindex`).
    """

    def __init__(
        self, settings: Settings, dim: int, embed_model: str = "", auto_reindex: bool = True
    ) -> None:
        self.collection = settings.collection
        self.versions = schema.versions_of(self.collection)
        self.activity_collection = schema.activity_of(self.collection)
        self.dim = dim
        self.target = settings.milvus_target
        self.forced_index = settings.index_type
        self.client = schema.connect(settings)
        self.lite = settings.uses_milvus_lite or schema.is_lite_server(self.client)
        # an embedded Milvus Lite file is open in this process only: any write in progress found at
        # open belongs to a dead process; on a server another process may be writing right now
        self.exclusive = settings.uses_milvus_lite
        self._write_lock = threading.Lock()
        if self.client.has_collection(schema.staging_of(self.collection)):
            self.client.close()
            raise StoreError(
                f"a re-index of collection {self.collection!r} in {self.target} was interrupted; "
                "run `python -m rag reindex` again to finish it (nothing is lost)"
            )
        if self.client.has_collection(self.collection):
            self._check_dimension(embed_model)
            self._check_schema()
            self.plan = self._current_plan()
            if auto_reindex:
                self.reindex()
            self.client.load_collection(self.collection)
        else:
            schema.create_chunks(self.client, self.collection, dim, embed_model)
            self.plan = self._build_index(
                self.client, self.collection, plan_index(0, self.lite, self.forced_index)
            )
            self.client.load_collection(self.collection)
        if schema.open_versions(self.client, self.versions):
            self._record_existing_versions()
        schema.open_activity(self.client, self.activity_collection)
        self._adopt_old_activity()
        self.repair()

    @property
    def index_type(self) -> str:
        return self.plan.index_type

    # -- writing -------------------------------------------------------------------------------

    def add_document(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, owner: str, content_hash: str, n_pages: int
    ) -> None:
        """Write every chunk of one document version, then retire the older versions."""
        self.add_documents([NewDocument(chunks, vectors, owner, content_hash, n_pages)])

    def add_documents(self, documents: Sequence[NewDocument]) -> None:
        """Write many document versions in few inserts (bulk loads): each becomes visible whole,
        at its commit, and if any insert fails everything this call wrote is deleted again."""
        if not documents:
            return
        if any(not d.chunks for d in documents):
            raise StoreError("a document needs at least one chunk")
        now = int(time.time())
        heads = [_version_row(d, now, "writing") for d in documents]
        with self._write_lock:
            self._delete_versions(
                [(h["doc_id"], h["content_hash"]) for h in heads]
            )  # an earlier try's leftovers
            self.client.upsert(self.versions, heads)
            try:
                rows = [row for d in documents for row in _rows(d, now)]
                renewed = time.monotonic()
                for start in range(0, len(rows), INSERT_BATCH):
                    self._insert_batch(rows[start : start + INSERT_BATCH])
                    if time.monotonic() - renewed > HEARTBEAT_S:  # keep the lease: we are alive
                        self.client.upsert(
                            self.versions, [h | {"heartbeat": int(time.time())} for h in heads]
                        )
                        renewed = time.monotonic()
                self.client.flush(self.collection)
            except Exception as exc:
                self._delete_versions([(h["doc_id"], h["content_hash"]) for h in heads])
                what = documents[0].chunks[0].source if len(documents) == 1 else f"{len(documents)} documents"
                raise StoreError(f"storing {what} failed, nothing was kept: {exc}") from exc
            retired = self._commit_version(heads)
            self._delete_versions(retired)

    def _insert_batch(self, rows: list[dict]) -> None:
        self.client.insert(self.collection, rows)

    def _commit_version(self, heads: list[dict]) -> list[tuple[str, str]]:
        """The commit: older live versions of these documents become superseded, then the new ones
        live. Returns the superseded (doc_id, content_hash) pairs, whose chunks may now go."""
        new = {h["doc_id"]: h["content_hash"] for h in heads}
        older = [r for r in self._live_rows(new) if new.get(r["doc_id"]) != r["content_hash"]]
        if older:
            self.client.upsert(self.versions, [_stored(r) | {"state": "superseded"} for r in older])
        self.client.upsert(
            self.versions, [h | {"state": "live", "heartbeat": int(time.time())} for h in heads]
        )
        return [(r["doc_id"], r["content_hash"]) for r in older]

    def _delete_versions(self, versions: Sequence[tuple[str, str]]) -> None:
        """Chunks first, then the version rows: a crash in between leaves a row the repair finishes."""
        if not versions:
            return
        by_doc: dict[str, set[str]] = {}
        for doc_id, content_hash in versions:
            by_doc.setdefault(doc_id, set()).add(content_hash)
        pks = [
            int(row["pk"])
            for batch in _batched(list(by_doc), 1000)
            for row in self._iterate(self.collection, _in("doc_id", batch), ["pk", "doc_id", "content_hash"])
            if row["content_hash"] in by_doc[row["doc_id"]]
        ]
        for batch in _batched(pks, 10_000):
            self.client.delete(self.collection, filter=f"pk in [{', '.join(map(str, batch))}]")
        self.client.flush(self.collection)
        keys = [f"{doc_id}:{h}" for doc_id, h in versions]
        for batch in _batched(keys, 1000):
            self.client.delete(self.versions, filter=_in("version", batch))

    def delete_document(self, doc_id: str) -> None:
        with self._write_lock:
            self._delete_where(_eq("doc_id", doc_id))

    def delete_owner(self, owner: str) -> None:
        with self._write_lock:
            self._delete_where(_eq("owner", owner))

    def _delete_where(self, flt: str) -> None:
        self.client.delete(self.versions, filter=flt)  # invisible first, then gone
        self.client.delete(self.collection, filter=flt)
        self.client.flush(self.collection)

    # -- repair --------------------------------------------------------------------------------

    def repair(self, now: float | None = None) -> list[str]:
        """Finish or undo what killed writers left (see the module docstring); returns what was done.
        On a server, a version another process is writing right now (fresh heartbeat) is left alone;
        an embedded file has no other process, so every unfinished write at open is a dead one."""
        now = time.time() if now is None else now
        lease = 0 if self.exclusive else LEASE_S
        pending = self._query_all(self.versions, 'state != "live"', VERSION_FIELDS)
        if not pending:
            return []
        done = []
        with self._write_lock:
            live = {r["doc_id"] for r in self._live_rows({r["doc_id"] for r in pending})}
            busy: set[str] = set()  # documents a live writer is replacing: their old version stays
            for row in sorted(pending, key=lambda r: r["state"] != "writing"):  # writers first
                key = (row["doc_id"], row["content_hash"])
                if row["state"] == "writing":
                    if row["heartbeat"] > now - lease:
                        busy.add(row["doc_id"])
                        continue  # a live writer's
                    if self.count_version(*key) == row["n_chunks"]:
                        self._delete_versions(self._commit_version([_stored(row)]))
                        live.add(row["doc_id"])
                        done.append(f"finished {row['source']}")
                    else:
                        self._delete_versions([key])
                        done.append(f"rolled back {row['source']}")
                elif row["doc_id"] in busy:
                    continue
                elif row["doc_id"] in live:
                    self._delete_versions([key])
                    done.append(f"removed the old version of {row['source']}")
                else:  # its replacement was rolled back: it is the document again
                    self.client.upsert(self.versions, [_stored(row) | {"state": "live"}])
                    live.add(row["doc_id"])
                    done.append(f"restored {row['source']}")
        if done:
            log.warning("repaired interrupted writes in %s: %s", self.collection, "; ".join(done))
        return done

    def _record_existing_versions(self) -> None:
        """A store from before version rows: every complete version becomes live, the rest goes."""
        heads = self._query_all(self.collection, "chunk_index == 0", DOC_FIELDS)
        if not heads:
            return
        complete, partial = [], []
        for head in heads:
            key = (head["doc_id"], head["content_hash"])
            (complete if self.count_version(*key) == head["n_chunks"] else partial).append(head)
        newest: dict[str, dict] = {}
        for head in sorted(complete, key=lambda h: h["added_at"]):
            newest[head["doc_id"]] = head
        rows = [_stored(h) | {"state": "live", "heartbeat": h["added_at"]} for h in newest.values()]
        for batch in _batched(rows, 1000):
            self.client.upsert(self.versions, list(batch))
        stale = [h for h in complete if newest[h["doc_id"]] is not h] + partial
        self._delete_versions([(h["doc_id"], h["content_hash"]) for h in stale])
        log.warning(
            "recorded %d document versions of %s (%d stale removed)", len(rows), self.collection, len(stale)
        )

    # -- reading -------------------------------------------------------------------------------

    def find_document(self, doc_id: str) -> DocumentInfo | None:
        """The live version of a document, or None (a version being written doesn't count)."""
        return _newest(self._live_rows([doc_id])).get(doc_id)

    def find_by_hash(self, owners: Sequence[str], content_hash: str) -> DocumentInfo | None:
        flt = f'{_in("owner", owners)} and {_eq("content_hash", content_hash)} and state == "live"'
        rows = self.client.query(self.versions, filter=flt, output_fields=VERSION_FIELDS, limit=1)
        return _info(rows[0]) if rows else None

    def list_documents(self, owners: Sequence[str]) -> list[DocumentInfo]:
        """Every live document of these owners, however many there are."""
        rows = self._query_all(self.versions, f'{_in("owner", owners)} and state == "live"', DOC_FIELDS)
        return sorted(_newest(rows).values(), key=lambda d: (d.owner, d.source))

    def owners_last_added(self, prefix: str) -> dict[str, int]:
        """Owner → newest `added_at` for owners whose id starts with `prefix` (workspace clean-up)."""
        rows = self._query_all(self.versions, f'owner like "{_escape(prefix)}%"', ["owner", "added_at"])
        return _latest_per_owner(rows, "added_at")

    def count_chunks(self, owners: Sequence[str] | None = None) -> int:
        """Chunks of these owners (all chunks if None); `count(*)` is an aggregate, never truncated."""
        flt = _in("owner", owners) if owners else 'doc_id != ""'
        return int(self.client.query(self.collection, filter=flt, output_fields=["count(*)"])[0]["count(*)"])

    def count_documents(self, owners: Sequence[str] | None = None) -> int:
        flt = (_in("owner", owners) + " and " if owners else "") + 'state == "live"'
        return int(self.client.query(self.versions, filter=flt, output_fields=["count(*)"])[0]["count(*)"])

    def neighbours(self, chunks: Sequence[Chunk], owners: Sequence[str], span: int = 1) -> Context:
        """Each chunk's `position` → the chunks up to `span` before and after it in the live
        version of its document, in order, itself included. Only the owners' documents are read.
        Two queries whatever the number of chunks: the live versions, then their rows."""
        try:
            versions = _newest(self._live_rows({c.doc_id for c in chunks}))
            live = {doc_id: doc.content_hash for doc_id, doc in versions.items() if doc.owner in owners}
            wanted = [c for c in chunks if c.doc_id in live]
            ranges = " or ".join(
                f"({_eq('doc_id', c.doc_id)} and {_eq('content_hash', live[c.doc_id])} and "
                f"chunk_index >= {c.index - span} and chunk_index <= {c.index + span})"
                for c in wanted
            )
            rows = self._query_all(self.collection, ranges, HIT_FIELDS) if wanted else []
        except MilvusException as exc:
            raise StoreError(f"could not read neighbouring chunks in {self.collection}: {exc}") from exc
        found = {chunk.position: chunk for chunk in map(_chunk, rows)}
        return {
            c.position: [
                found[(c.doc_id, i)]
                for i in range(c.index - span, c.index + span + 1)
                if (c.doc_id, i) in found
            ]
            for c in wanted
        }

    def count_version(self, doc_id: str, content_hash: str) -> int:
        flt = f"{_eq('doc_id', doc_id)} and {_eq('content_hash', content_hash)}"
        return int(self.client.query(self.collection, filter=flt, output_fields=["count(*)"])[0]["count(*)"])

    def _live_rows(self, doc_ids: Iterable[str]) -> list[dict]:
        rows = []
        for batch in _batched(list(doc_ids), 1000):
            rows += self._query_all(
                self.versions, f'{_in("doc_id", batch)} and state == "live"', VERSION_FIELDS
            )
        return rows

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray | None,
        text: str,
        k: int,
        owners: Sequence[str] | None,
        doc_ids: Iterable[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Top-k chunks of live versions among the given owners' (and documents') chunks.

        `vector` is the embedded query (dense and hybrid), `text` the keyword query (keyword and
        hybrid). `owners=None` searches every owner: for maintenance and benchmarks, never a user.
        """
        if mode not in RETRIEVAL_MODES:
            raise StoreError(f"unknown retrieval mode {mode!r}; use one of {', '.join(RETRIEVAL_MODES)}")
        if vector is None and mode != "keyword":
            raise StoreError(f"{mode} search needs the embedded query")
        conditions = [] if owners is None else [_in("owner", owners)]
        doc_ids = list(doc_ids or [])
        if doc_ids:
            conditions.append(_in("doc_id", doc_ids))
        hidden = {
            (r["doc_id"], r["content_hash"])
            for r in self._query_all(self.versions, 'state != "live"', DOC_FIELDS)
        }
        if 0 < len(hidden) <= EXCLUDE_EXACT:
            # `not (a and b)` is refused by Milvus Lite's planner; its De Morgan form is not
            conditions += [f'(doc_id != "{_escape(d)}" or content_hash != "{_escape(h)}")' for d, h in hidden]
        depth = self.plan.limit(k) + (3 * k if len(hidden) > EXCLUDE_EXACT else 0)
        try:
            results = self._search(vector, text, depth, " and ".join(conditions), mode)
        except MilvusException as exc:
            if mode != "dense" and "NaN or Inf" in str(exc):
                # BM25 over a collection with no text yet divides by an average length of 0
                if mode == "keyword" or not self.count_chunks():
                    return []
                return self.search(vector, text, k, owners, doc_ids, mode="dense")
            if mode == "hybrid" and "negative value" in str(exc):
                # Milvus Lite's BM25 statistics can go wrong for a moment while another process
                # writes (seen once with two processes on one server): answer from the dense leg
                log.warning("keyword leg failed in %s (%s); searching dense only", self.collection, exc)
                return self.search(vector, text, k, owners, doc_ids, mode="dense")
            raise StoreError(f"{mode} search failed in {self.collection}: {exc}") from exc
        # shown only if its version is seen live: a `writing` row being renewed (an upsert, so a
        # delete then an insert in Milvus Lite) can be missing from `hidden` for a moment
        live = {
            (r["doc_id"], r["content_hash"])
            for r in self._live_rows({r["entity"]["doc_id"] for r in results})
        }
        visible = [r for r in results if (r["entity"]["doc_id"], r["entity"]["content_hash"]) in live]
        best = sorted(visible, key=lambda r: -r["distance"])[:k]  # approximate plans fetch more than k
        return [_hit(rank, result) for rank, result in enumerate(best, start=1)]

    def _search(self, vector: np.ndarray | None, text: str, limit: int, flt: str, mode: str) -> list[dict]:
        dense = {"data": [vector.tolist() if vector is not None else []], "anns_field": "vector"}
        keyword = {"data": [text], "anns_field": "sparse"}
        cosine = {"metric_type": "COSINE", "params": dict(self.plan.search_params)}
        if mode == "dense":
            return self.client.search(
                self.collection,
                **dense,
                limit=limit,
                filter=flt,
                output_fields=HIT_FIELDS,
                search_params=cosine,
            )[0]
        if mode == "keyword":
            return self.client.search(
                self.collection, **keyword, limit=limit, filter=flt, output_fields=HIT_FIELDS,
                search_params={"metric_type": "BM25"},
            )[0]  # fmt: skip
        depth = CANDIDATES_PER_K * limit
        legs = [
            AnnSearchRequest(**dense, param=cosine, limit=depth, expr=flt),
            AnnSearchRequest(**keyword, param={"metric_type": "BM25"}, limit=depth, expr=flt),
        ]
        fuse = RRFRanker(RRF_K) if HYBRID_RANKER == "rrf" else WeightedRanker(*HYBRID_WEIGHTS)
        return self.client.hybrid_search(self.collection, legs, fuse, limit=limit, output_fields=HIT_FIELDS)[
            0
        ]

    def ping(self) -> bool:
        """Whether the store answers a query now (the /health endpoint)."""
        try:
            self.client.query(self.versions, filter='state == "live"', output_fields=["doc_id"], limit=1)
            return True
        except Exception as exc:  # any failure means: not healthy
            log.warning("store health check failed: %s", exc)
            return False

    # -- workspace activity ----------------------------------------------------------------------
    # When each workspace was last used, beside the chunks, so that every app process (replicas on
    # one Milvus server) sees the same times and none deletes a workspace another one serves.

    def record_activity(self, last_used: dict[str, int]) -> None:
        """Owner → unix seconds of its last use. Each use is a new row; then the rows of these owners
        older than every use just written go. So a reader in another process always finds each
        owner's newest use: an upsert (a delete, then an insert, in Milvus Lite) hid it from 8-20% of
        the reads made meanwhile, and another replica deleted a workspace in use."""
        if not last_used:
            return
        rows = [{"owner": owner, "last_used": at, "unused": DUMMY} for owner, at in last_used.items()]
        for batch in _batched(rows, INSERT_BATCH):
            self.client.insert(self.activity_collection, list(batch))
        older = min(last_used.values())
        for owners in _batched(list(last_used), 1000):
            self.client.delete(
                self.activity_collection, filter=f"{_in('owner', owners)} and last_used < {older}"
            )

    def activity(self, prefix: str = "", owners: Sequence[str] | None = None) -> dict[str, int]:
        """Owner → last use, for owners whose id starts with `prefix` (or the given owners)."""
        flt = _in("owner", owners) if owners is not None else f'owner like "{_escape(prefix)}%"'
        return _latest_per_owner(
            self._query_all(self.activity_collection, flt, ["owner", "last_used"]), "last_used"
        )

    def delete_activity(self, owner: str) -> None:
        self.client.delete(self.activity_collection, filter=_eq("owner", owner))

    def _adopt_old_activity(self) -> None:
        """A store from before the append-only record: its uses move over, then its table goes. A
        move cut short is done again at the next open (a use recorded twice is harmless); on a
        server, another replica may move and drop it first."""
        old = schema.old_activity_of(self.collection)
        if not self.client.has_collection(old):
            return
        try:
            self.client.load_collection(old)
            rows = self._query_all(old, 'owner != ""', ["owner", "last_used"])
            self.record_activity({row["owner"]: row["last_used"] for row in rows})
            self.client.drop_collection(old)
        except MilvusException:
            if self.client.has_collection(old):
                raise

    # -- index ---------------------------------------------------------------------------------

    def reindex(self, force: bool = False) -> IndexPlan | None:
        """Rebuild the vector index if the collection's size calls for another one (or `force`).

        Returns the new plan, or None when the current index was kept. The collection is released
        while the index is rebuilt: searches fail meanwhile, so call this before serving.
        """
        rows = self.count_chunks()
        plan = plan_index(rows, self.lite, self.forced_index, current=None if force else self.plan)
        if plan == self.plan and not force:
            return None
        with self._write_lock:
            log.info("rebuilding the index of %s (%d rows): %s", self.collection, rows, plan.describe())
            self.client.release_collection(self.collection)
            self.client.drop_index(self.collection, "vector")
            plan = self._build_index(self.client, self.collection, plan)
            self.client.load_collection(self.collection)
        self.plan = plan
        return plan

    def _build_index(self, client: MilvusClient, name: str, plan: IndexPlan) -> IndexPlan:
        try:
            schema.create_indexes(client, name, schema.vector_index(plan))
            return plan
        except MilvusException as exc:
            if plan.index_type != "HNSW" or "local mode" not in str(exc):
                raise StoreError(f"cannot build index {plan.describe()} on {name}: {exc}") from exc
        # a Milvus Lite server (scripts/milvus_lite_server.py) looks like a server but builds only
        # FLAT and IVF_FLAT: treat it as Lite from here on
        self.lite = True
        return self._build_index(client, name, plan_index(0, lite=True))

    def _current_plan(self) -> IndexPlan:
        """The index the collection has now, with the search parameters our plan gives it."""
        try:
            info = self.client.describe_index(self.collection, "vector") or {}
        except MilvusException:
            info = {}
        kind = str(info.get("index_type", "FLAT")).upper()
        if kind == "IVF_FLAT":
            return ivf_plan(int(info.get("nlist", 128)))
        if kind == "HNSW":
            return hnsw_plan()
        if kind == "AUTOINDEX":
            return plan_index(0, self.lite, "AUTOINDEX")
        return IndexPlan(kind)

    # -- internals -----------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def _query_all(self, collection: str, flt: str, fields: list[str]) -> list[dict]:
        """Every row matching `flt`: one query when they fit in one (a third of the time of paging
        through 10,000 rows), else read page by page."""
        rows = self.client.query(collection, filter=flt, output_fields=fields, limit=QUERY_LIMIT)
        return rows if len(rows) < QUERY_LIMIT else list(self._iterate(collection, flt, fields))

    def _iterate(self, collection: str, flt: str, fields: list[str]) -> Iterator[dict]:
        iterator = self.client.query_iterator(
            collection, batch_size=PAGE_SIZE, filter=flt, output_fields=fields
        )
        try:
            while page := iterator.next():
                yield from page
        finally:
            iterator.close()

    def _check_dimension(self, embed_model: str) -> None:
        info = self.client.describe_collection(self.collection)
        dim = schema.dimension_of(info)
        if dim != self.dim:
            self.client.close()
            made_with = schema.embed_model_of(info) or "another model"
            raise StoreError(
                f"collection {self.collection!r} in {self.target} holds {dim}-dimensional vectors "
                f"(made with {made_with}), but the embedding model {embed_model or ''} gives {self.dim}. "
                f"Set RAG_EMBED_MODEL back to that model, or choose a new RAG_COLLECTION "
                f"(or delete the collection with `python -m rag reset`) and ingest again."
            )

    def _check_schema(self) -> None:
        """A collection from before keyword search and section paths can't serve them: say how to
        convert it, rather than failing at the first search."""
        if schema.is_old_schema(self.client, self.collection):
            count = self.client.query(self.collection, filter='doc_id != ""', output_fields=["count(*)"])
            self.client.close()
            raise StoreError(
                f"collection {self.collection!r} in {self.target} was made by an earlier version of this "
                f"app (no keyword index, no section paths; {count[0]['count(*)']} chunks). Run "
                "`python -m rag reindex` once to convert it in place from the stored chunks (no upload "
                "needed, the embeddings are kept). Section paths can't be recovered for documents stored "
                "before (the original files aren't kept): upload those again to get them."
            )


def reindex(settings: Settings, progress: Progress = no_progress) -> int:
    """Convert a collection of an earlier schema (see `store_schema.reindex`); 0 if it is current."""

    def build_index(client: MilvusClient, name: str) -> None:
        lite = settings.uses_milvus_lite or schema.is_lite_server(client)
        schema.create_indexes(client, name, schema.vector_index(plan_index(0, lite, settings.index_type)))

    return schema.reindex(settings, progress, build_index)


def reindex_collection(settings: Settings, force: bool = False) -> tuple[int, IndexPlan, bool]:
    """Bring the collection's index in line with its size (`python -m rag reindex`).

    Needs no embedding model: the dimension is read from the collection. Returns the row count,
    the index now in place and whether it was rebuilt.
    """
    client = schema.connect(settings)
    try:
        if not client.has_collection(settings.collection):
            raise StoreError(f"there is no collection {settings.collection!r} in {settings.milvus_target}")
        dim = schema.dimension_of(client.describe_collection(settings.collection))
    finally:
        client.close()
    store = VectorStore(settings, dim, auto_reindex=False)
    try:
        rebuilt = store.reindex(force=force)
        return store.count_chunks(), store.plan, rebuilt is not None
    finally:
        store.close()


def _version_row(doc: NewDocument, now: int, state: str) -> dict:
    doc_id = doc.chunks[0].doc_id
    return {
        "version": f"{doc_id}:{doc.content_hash}",
        "doc_id": doc_id,
        "source": doc.chunks[0].source,
        "owner": doc.owner,
        "content_hash": doc.content_hash,
        "n_chunks": len(doc.chunks),
        "n_pages": doc.n_pages,
        "added_at": now,
        "state": state,
        "heartbeat": now,
        "unused": DUMMY,
    }


def _stored(row: dict) -> dict:
    """A version row as read back, ready to be written again."""
    keep = ["version", *DOC_FIELDS, "state", "heartbeat"]
    return {f: row[f] for f in keep if f in row} | {
        "version": f"{row['doc_id']}:{row['content_hash']}",
        "heartbeat": row.get("heartbeat", row["added_at"]),
        "state": row.get("state", "live"),
        "unused": DUMMY,
    }


def _rows(doc: NewDocument, now: int) -> list[dict]:
    return [
        {
            "vector": vector.tolist(),
            "text": chunk.text[:TEXT_MAX],
            "search_text": chunk.indexed_text[:TEXT_MAX],
            "section": chunk.section[:SECTION_MAX],
            "title": chunk.title[:SECTION_MAX],
            "doc_id": doc.chunks[0].doc_id,
            "source": chunk.source,
            "page": chunk.page,
            "chunk_index": chunk.index,
            "n_chunks": len(doc.chunks),
            "n_pages": doc.n_pages,
            "content_hash": doc.content_hash,
            "owner": doc.owner,
            "added_at": now,
        }
        for chunk, vector in zip(doc.chunks, doc.vectors, strict=True)
    ]


def _newest(rows: list[dict]) -> dict[str, DocumentInfo]:
    """doc_id → its most recently added row (one pass: listings read thousands of rows)."""
    best: dict[str, dict] = {}
    for row in rows:
        have = best.get(row["doc_id"])
        if have is None or row["added_at"] >= have["added_at"]:
            best[row["doc_id"]] = row
    return {doc_id: _info(row) for doc_id, row in best.items()}


def _latest_per_owner(rows: Iterable[dict], time_field: str) -> dict[str, int]:
    """Owner → the largest `time_field` among its rows."""
    latest: dict[str, int] = {}
    for row in rows:
        latest[row["owner"]] = max(row[time_field], latest.get(row["owner"], 0))
    return latest


def _batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _eq(field_name: str, value: str) -> str:
    return f'{field_name} == "{_escape(value)}"'


def _in(field_name: str, values: Iterable[str]) -> str:
    quoted = ", ".join(f'"{_escape(v)}"' for v in values)
    return f"{field_name} in [{quoted}]"


def _info(row: dict) -> DocumentInfo:
    return DocumentInfo(
        doc_id=row["doc_id"],
        source=row["source"],
        owner=row["owner"],
        chunks=row["n_chunks"],
        pages=row["n_pages"],
        added_at=row["added_at"],
        content_hash=row["content_hash"],
    )


def _hit(rank: int, result: dict) -> Hit:
    return Hit(rank=rank, score=float(result["distance"]), chunk=_chunk(result["entity"]))


def _chunk(row: dict) -> Chunk:
    return Chunk(
        row["doc_id"],
        row["source"],
        row["page"],
        row["chunk_index"],
        row["text"],
        row.get("section", ""),
        row.get("title", ""),
    )
