"""The Milvus collection: explicit schema, documents added all-or-nothing, search, list, delete.

Only this module knows pymilvus. Milvus has no transactions, so a document version is written
under its own content hash and becomes the document only once all its chunks are in: the old
version is deleted after the new one is complete, and a failed write deletes what it wrote.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.milvus_client.index import IndexParams

from rag.errors import StoreError
from rag.indexing import IndexPlan, hnsw_plan, ivf_plan, plan_index
from rag.settings import Settings
from rag.types import Chunk, DocumentInfo, Hit

log = logging.getLogger(__name__)
INSERT_BATCH = 500  # Milvus Lite 2.5 slows down sharply above ~1,000 rows per insert
TEXT_MAX = 65535
DOC_FIELDS = ["doc_id", "source", "owner", "n_chunks", "n_pages", "added_at", "content_hash"]
HIT_FIELDS = ["doc_id", "source", "page", "chunk_index", "text"]
# Rows per page when reading through a result set. A single Milvus query returns at most 16,384
# rows, so every listing pages through `query_iterator` instead of trusting one query's limit.
PAGE_SIZE = 4096


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

    The vector index follows the collection's size (`rag.indexing.plan_index`): it is chosen at
    creation, checked every time the store is opened, and rebuilt by `reindex()` when the size has
    moved into another band. Rebuilding releases the collection, so it happens only at open (before
    any search) or on request (`python -m rag reindex`), never in the middle of serving.
    """

    def __init__(
        self, settings: Settings, dim: int, embed_model: str = "", auto_reindex: bool = True
    ) -> None:
        self.collection = settings.collection
        self.dim = dim
        self.target = settings.milvus_target
        self.forced_index = settings.index_type
        self.client = _connect(settings)
        self.lite = settings.uses_milvus_lite or _is_lite_server(self.client)
        self._write_lock = threading.Lock()
        if self.client.has_collection(self.collection):
            self._check_dimension(embed_model)
            self.plan = self._current_plan()
            if auto_reindex:
                self.reindex()
            self.client.load_collection(self.collection)
        else:
            self.plan = self._create(embed_model)

    @property
    def index_type(self) -> str:
        return self.plan.index_type

    # -- documents -------------------------------------------------------------------------

    def add_document(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, owner: str, content_hash: str, n_pages: int
    ) -> None:
        """Write every chunk of one document version, then drop the older versions."""
        self.add_documents([NewDocument(chunks, vectors, owner, content_hash, n_pages)])

    def add_documents(self, documents: Sequence[NewDocument]) -> None:
        """Write many document versions in few inserts and one flush (bulk loads, many small files).

        Each document is still all-or-nothing for readers: chunk 0 (what listings and
        `find_document` look for) of every document goes in after all other chunks, and if any
        insert fails everything this call wrote is deleted again.
        """
        if not documents:
            return
        if any(not d.chunks for d in documents):
            raise StoreError("a document needs at least one chunk")
        now = int(time.time())
        heads, bodies = [], []
        for doc in documents:
            rows = _rows(doc, now)
            heads.append(rows[0])
            bodies.extend(rows[1:])
        rows = bodies + heads  # chunk 0s last: lists never show half a write
        new_hash = {d.chunks[0].doc_id: d.content_hash for d in documents}
        with self._write_lock:
            existing = self._version_rows(list(new_hash))
            # leftovers of an interrupted earlier write of the same version go first
            self._delete_pks([pk for pk, doc_id, h in existing if new_hash[doc_id] == h])
            try:
                for start in range(0, len(rows), INSERT_BATCH):
                    self.client.insert(self.collection, rows[start : start + INSERT_BATCH])
                self.client.flush(self.collection)
            except Exception as exc:
                written = self._version_rows(list(new_hash))
                self._delete_pks([pk for pk, doc_id, h in written if new_hash[doc_id] == h])
                what = documents[0].chunks[0].source if len(documents) == 1 else f"{len(documents)} documents"
                raise StoreError(f"storing {what} failed, nothing was kept: {exc}") from exc
            # the new versions are complete: now the older ones can go
            self._delete_pks([pk for pk, doc_id, h in existing if new_hash[doc_id] != h])

    def _version_rows(self, doc_ids: list[str]) -> list[tuple[int, str, str]]:
        """(pk, doc_id, content_hash) of every stored row of these documents."""
        found = []
        for batch in _batched(doc_ids, 1000):
            for row in self._iterate(_in("doc_id", batch), ["pk", "doc_id", "content_hash"]):
                found.append((int(row["pk"]), row["doc_id"], row["content_hash"]))
        return found

    def _delete_pks(self, pks: list[int]) -> None:
        """Delete rows by primary key (exact, unlike a long OR of filters, which Milvus Lite rejects)."""
        for batch in _batched(pks, 10_000):
            self._delete(f"pk in [{', '.join(str(pk) for pk in batch)}]", flush=False)
        if pks:
            self.client.flush(self.collection)

    def find_document(self, doc_id: str) -> DocumentInfo | None:
        """The complete version of a document, or None (a half-written version doesn't count)."""
        heads = self._query_all(f"{_eq('doc_id', doc_id)} and chunk_index == 0", DOC_FIELDS)
        for head in heads:
            version = f"{_eq('doc_id', doc_id)} and {_eq('content_hash', head['content_hash'])}"
            count = self.client.query(self.collection, filter=version, output_fields=["count(*)"])
            if count[0]["count(*)"] == head["n_chunks"]:
                return _info(head)
        return None

    def find_by_hash(self, owners: Sequence[str], content_hash: str) -> DocumentInfo | None:
        rows = self.client.query(
            self.collection,
            filter=f"{_in('owner', owners)} and {_eq('content_hash', content_hash)} and chunk_index == 0",
            output_fields=DOC_FIELDS,
            limit=1,
        )
        return _info(rows[0]) if rows else None

    def list_documents(self, owners: Sequence[str]) -> list[DocumentInfo]:
        """Every complete-or-being-replaced document of these owners, however many there are."""
        rows = self._query_all(f"{_in('owner', owners)} and chunk_index == 0", DOC_FIELDS)
        newest = {}  # while a new version replaces an old one both have a chunk 0: show the newer
        for row in sorted(rows, key=lambda r: r["added_at"]):
            newest[row["doc_id"]] = _info(row)
        return sorted(newest.values(), key=lambda d: (d.owner, d.source))

    def delete_document(self, doc_id: str) -> None:
        with self._write_lock:
            self._delete(_eq("doc_id", doc_id))

    def delete_owner(self, owner: str) -> None:
        with self._write_lock:
            self._delete(_eq("owner", owner))

    def owners_last_added(self, prefix: str) -> dict[str, int]:
        """Owner → newest `added_at` for owners whose id starts with `prefix` (workspace clean-up)."""
        rows = self._query_all(f'owner like "{_escape(prefix)}%" and chunk_index == 0', ["owner", "added_at"])
        newest: dict[str, int] = {}
        for row in rows:
            newest[row["owner"]] = max(newest.get(row["owner"], 0), row["added_at"])
        return newest

    def count_chunks(self, owners: Sequence[str] | None = None) -> int:
        """Chunks of these owners (all chunks if None); `count(*)` is an aggregate, never truncated."""
        flt = _in("owner", owners) if owners else 'doc_id != ""'
        rows = self.client.query(self.collection, filter=flt, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def count_documents(self, owners: Sequence[str] | None = None) -> int:
        """Documents (chunk 0 rows) of these owners, or of everyone if None."""
        flt = (_in("owner", owners) + " and " if owners else "") + "chunk_index == 0"
        rows = self.client.query(self.collection, filter=flt, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    # -- retrieval -------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray, k: int, owners: Sequence[str] | None, doc_ids: Iterable[str] | None = None
    ) -> list[Hit]:
        """Top-k chunks by cosine similarity among the given owners' (and documents') chunks.

        `owners=None` searches every owner's chunks: for maintenance and benchmarks, never for a user.
        """
        conditions = [] if owners is None else [_in("owner", owners)]
        doc_ids = list(doc_ids or [])
        if doc_ids:
            conditions.append(_in("doc_id", doc_ids))
        try:
            results = self.client.search(
                self.collection,
                data=[vector.tolist()],
                limit=self.plan.limit(k),
                filter=" and ".join(conditions),
                output_fields=HIT_FIELDS,
                search_params={"metric_type": "COSINE", "params": dict(self.plan.search_params)},
            )
        except MilvusException as exc:
            raise StoreError(f"search failed in {self.collection}: {exc}") from exc
        best = sorted(results[0], key=lambda r: -r["distance"])[:k]  # approximate plans fetch more than k
        return [_hit(rank, result) for rank, result in enumerate(best, start=1)]

    def close(self) -> None:
        self.client.close()

    # -- index -----------------------------------------------------------------------------

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
            plan = self._create_vector_index(plan)
            self.client.load_collection(self.collection)
        self.plan = plan
        return plan

    def _create_vector_index(self, plan: IndexPlan) -> IndexPlan:
        try:
            self.client.create_index(self.collection, _vector_index(plan))
            return plan
        except MilvusException as exc:
            if plan.index_type != "HNSW" or "local mode" not in str(exc):
                raise StoreError(f"cannot build index {plan.describe()} on {self.collection}: {exc}") from exc
        # a Milvus Lite server (scripts/milvus_lite_server.py) looks like a server but builds only
        # FLAT and IVF_FLAT: treat it as Lite from here on
        self.lite = True
        return self._create_vector_index(plan_index(self.count_chunks(), lite=True))

    def _current_plan(self) -> IndexPlan:
        """The index the collection has now, with the search parameters our plan gives it."""
        try:
            info = self.client.describe_index(self.collection, "vector")
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

    # -- internals -------------------------------------------------------------------------

    def _query_all(self, flt: str, fields: list[str]) -> list[dict]:
        """Every row matching `flt`, read page by page (one query alone stops at 16,384 rows)."""
        return list(self._iterate(flt, fields))

    def _iterate(self, flt: str, fields: list[str]) -> Iterator[dict]:
        iterator = self.client.query_iterator(
            self.collection, batch_size=PAGE_SIZE, filter=flt, output_fields=fields
        )
        try:
            while page := iterator.next():
                yield from page
        finally:
            iterator.close()

    def _delete(self, flt: str, flush: bool = True) -> None:
        self.client.delete(self.collection, filter=flt)
        if flush:
            self.client.flush(self.collection)

    def _create(self, embed_model: str) -> IndexPlan:
        schema = MilvusClient.create_schema(auto_id=True, description=f"embed_model={embed_model}")
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
        schema.add_field("source", DataType.VARCHAR, max_length=1024)
        schema.add_field("page", DataType.INT64)
        schema.add_field("chunk_index", DataType.INT64)
        schema.add_field("n_chunks", DataType.INT64)
        schema.add_field("n_pages", DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("owner", DataType.VARCHAR, max_length=256)
        schema.add_field("added_at", DataType.INT64)
        plan = plan_index(0, self.lite, self.forced_index)
        try:
            self.client.create_collection(self.collection, schema=schema, consistency_level="Strong")
            plan = self._create_vector_index(plan)
            self.client.load_collection(self.collection)
        except (MilvusException, StoreError) as exc:
            raise StoreError(
                f"cannot create collection {self.collection!r} with index {plan.index_type}: {exc}; "
                "check RAG_INDEX_TYPE"
            ) from exc
        return plan

    def _check_dimension(self, embed_model: str) -> None:
        info = self.client.describe_collection(self.collection)
        dim = _dimension(info)
        if dim != self.dim:
            made_with = info.get("description", "").removeprefix("embed_model=") or "another model"
            raise StoreError(
                f"collection {self.collection!r} in {self.target} holds {dim}-dimensional vectors "
                f"(made with {made_with}), but the embedding model {embed_model or ''} gives {self.dim}. "
                f"Set RAG_EMBED_MODEL back to that model, or choose a new RAG_COLLECTION "
                f"(or delete the collection with `python -m rag reset`) and ingest again."
            )


def _connect(settings: Settings) -> MilvusClient:
    target = settings.milvus_target
    if settings.uses_milvus_lite:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(uri=target, token=settings.milvus_token)
    except Exception as exc:  # pymilvus wraps Lite start failures in several exception types
        if settings.uses_milvus_lite:
            raise StoreError(
                f"cannot open the embedded Milvus Lite file {target}: {exc}. A Milvus Lite file can be "
                "opened by one process only; if another app or CLI process uses it, stop it, or run a "
                "Milvus server and point every process at it with RAG_MILVUS_URI=http://host:19530."
            ) from exc
        raise StoreError(
            f"cannot connect to Milvus at {target}: {exc}; check RAG_MILVUS_URI/RAG_MILVUS_TOKEN"
        ) from exc


def _is_lite_server(client: MilvusClient) -> bool:
    """Whether a server URI leads to Milvus Lite (scripts/milvus_lite_server.py), which builds only
    FLAT/IVF_FLAT/AUTOINDEX: it doesn't implement GetVersion, every Milvus server does."""
    quiet = logging.getLogger("pymilvus")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # pymilvus logs the refused call as an error
    try:
        client.get_server_version()
        return False
    except Exception:  # grpc's UNIMPLEMENTED arrives as a bare grpc.RpcError or a MilvusException
        return True
    finally:
        quiet.setLevel(level)


def _vector_index(plan: IndexPlan) -> IndexParams:
    index = MilvusClient.prepare_index_params()
    params = dict(plan.build_params)
    index.add_index("vector", index_type=plan.index_type, metric_type="COSINE", params=params)
    return index


def _rows(doc: NewDocument, now: int) -> list[dict]:
    return [
        {
            "vector": vector.tolist(),
            "text": chunk.text[:TEXT_MAX],
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
    entity = result["entity"]
    chunk = Chunk(entity["doc_id"], entity["source"], entity["page"], entity["chunk_index"], entity["text"])
    return Hit(rank=rank, score=float(result["distance"]), chunk=chunk)


def drop_collection(settings: Settings) -> None:
    """Remove the collection with every document in it (`python -m rag reset`)."""
    client = _connect(settings)
    try:
        if client.has_collection(settings.collection):
            client.drop_collection(settings.collection)
    finally:
        client.close()


def _dimension(collection_info: dict) -> int:
    vector = next(f for f in collection_info["fields"] if f["name"] == "vector")
    return int(vector["params"]["dim"])


def reindex_collection(settings: Settings, force: bool = False) -> tuple[int, IndexPlan, bool]:
    """Bring the collection's index in line with its size (`python -m rag reindex`).

    Needs no embedding model: the dimension is read from the collection. Returns the row count,
    the index now in place and whether it was rebuilt.
    """
    client = _connect(settings)
    try:
        if not client.has_collection(settings.collection):
            raise StoreError(f"there is no collection {settings.collection!r} in {settings.milvus_target}")
        dim = _dimension(client.describe_collection(settings.collection))
    finally:
        client.close()
    store = VectorStore(settings, dim, auto_reindex=False)
    try:
        rebuilt = store.reindex(force=force)
        return store.count_chunks(), store.plan, rebuilt is not None
    finally:
        store.close()
