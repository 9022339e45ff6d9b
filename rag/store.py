"""The Milvus collection: explicit schema, documents added all-or-nothing, search, list, delete.

Only this module knows pymilvus. Milvus has no transactions, so a document version is written
under its own content hash and becomes the document only once all its chunks are in: the old
version is deleted after the new one is complete, and a failed write deletes what it wrote.

Search runs inside Milvus in three modes: `dense` (cosine over the embeddings), `keyword` (BM25
over `search_text`, whose sparse vectors a Milvus BM25 function computes on insert) and `hybrid`
(both legs, fused by Milvus's reranker). The owner and document filters go on every leg.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusClient,
    MilvusException,
    RRFRanker,
    WeightedRanker,
)

from rag.errors import StoreError
from rag.settings import RETRIEVAL_MODES, Settings
from rag.types import Chunk, DocumentInfo, Hit, Progress, no_progress

log = logging.getLogger(__name__)
INSERT_BATCH = 500  # Milvus Lite 2.5 slows down sharply above ~1,000 rows per insert
TEXT_MAX = 65535
SECTION_MAX = 1024
DOC_FIELDS = ["doc_id", "source", "owner", "n_chunks", "n_pages", "added_at", "content_hash"]
HIT_FIELDS = ["doc_id", "source", "page", "chunk_index", "text", "section", "title"]
QUERY_LIMIT = 16384
SCHEMA_VERSION = 2  # 2: BM25 sparse field + section paths (issue 9)
# English stemming and stop words: "indexes" finds "index", and "the"/"how" don't swamp the score
ANALYZER = {"type": "english"}
# Hybrid fusion, measured in docs/BENCHMARKS.md: Milvus's WeightedRanker (scores normalised per leg,
# then weighted) beat RRF (k=60) on hit@5 and MRR@5; a short candidate list per leg favours chunks
# that both legs rank high.
HYBRID_RANKER = "weighted"  # or "rrf"
RRF_K = 60
HYBRID_WEIGHTS = (0.5, 0.5)  # dense, keyword
CANDIDATES_PER_K = 2  # each leg hands the reranker this many times k chunks


class VectorStore:
    """One collection in one Milvus (Lite file or server); safe to share between threads."""

    def __init__(self, settings: Settings, dim: int, embed_model: str = "") -> None:
        self.collection = settings.collection
        self.dim = dim
        self.target = settings.milvus_target
        self.client = _connect(settings)
        # FLAT is exact and fast enough on one machine; on a server AUTOINDEX lets Milvus choose
        # (HNSW on standalone and clusters, its own index on Zilliz Cloud)
        self.index_type = settings.index_type or ("FLAT" if settings.uses_milvus_lite else "AUTOINDEX")
        self._write_lock = threading.Lock()
        if self.client.has_collection(_staging(self.collection)):
            self.client.close()
            raise StoreError(
                f"a re-index of collection {self.collection!r} in {self.target} was interrupted; "
                "run `python -m rag reindex` again to finish it (nothing is lost)"
            )
        if self.client.has_collection(self.collection):
            self._check_dimension(embed_model)
            self._check_schema()
            self.client.load_collection(self.collection)
        else:
            _create(self.client, self.collection, self.dim, self.index_type, embed_model)
        self.activity_collection = f"{self.collection}_activity"
        self._open_activity()

    # -- documents -------------------------------------------------------------------------

    def add_document(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, owner: str, content_hash: str, n_pages: int
    ) -> None:
        """Write every chunk of one document version, then drop the older versions."""
        if not chunks:
            raise StoreError("a document needs at least one chunk")
        doc_id = chunks[0].doc_id
        now = int(time.time())
        rows = [
            {
                "vector": vector.tolist(),
                "text": chunk.text[:TEXT_MAX],
                "search_text": chunk.indexed_text[:TEXT_MAX],
                "section": chunk.section[:SECTION_MAX],
                "title": chunk.title[:SECTION_MAX],
                "doc_id": doc_id,
                "source": chunk.source,
                "page": chunk.page,
                "chunk_index": chunk.index,
                "n_chunks": len(chunks),
                "n_pages": n_pages,
                "content_hash": content_hash,
                "owner": owner,
                "added_at": now,
            }
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        rows = rows[1:] + rows[:1]  # chunk 0 (what listings show) goes in last: lists never show half a write
        version = f"{_eq('doc_id', doc_id)} and {_eq('content_hash', content_hash)}"
        with self._write_lock:
            self._delete(version)  # leftovers of an interrupted earlier write of this version
            try:
                for start in range(0, len(rows), INSERT_BATCH):
                    self.client.insert(self.collection, rows[start : start + INSERT_BATCH])
                self.client.flush(self.collection)
            except Exception as exc:
                self._delete(version)
                raise StoreError(f"storing {chunks[0].source} failed, nothing was kept: {exc}") from exc
            self._delete(f'{_eq("doc_id", doc_id)} and content_hash != "{_escape(content_hash)}"')

    def find_document(self, doc_id: str) -> DocumentInfo | None:
        """The complete version of a document, or None (a half-written version doesn't count)."""
        heads = self.client.query(
            self.collection,
            filter=f"{_eq('doc_id', doc_id)} and chunk_index == 0",
            output_fields=DOC_FIELDS,
            limit=QUERY_LIMIT,
        )
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
        rows = self.client.query(
            self.collection,
            filter=f"{_in('owner', owners)} and chunk_index == 0",
            output_fields=DOC_FIELDS,
            limit=QUERY_LIMIT,
        )
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
        rows = self.client.query(
            self.collection,
            filter=f'owner like "{_escape(prefix)}%" and chunk_index == 0',
            output_fields=["owner", "added_at"],
            limit=QUERY_LIMIT,
        )
        newest: dict[str, int] = {}
        for row in rows:
            newest[row["owner"]] = max(newest.get(row["owner"], 0), row["added_at"])
        return newest

    def count_chunks(self, owners: Sequence[str] | None = None) -> int:
        flt = _in("owner", owners) if owners else 'doc_id != ""'
        rows = self.client.query(self.collection, filter=flt, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    # -- retrieval -------------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray | None,
        text: str,
        k: int,
        owners: Sequence[str],
        doc_ids: Iterable[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Top-k chunks among the given owners' (and documents') chunks.

        `vector` is the embedded query (dense and hybrid), `text` the keyword query (keyword and
        hybrid). Milvus fuses the hybrid legs with `HYBRID_RANKER`.
        """
        flt = _in("owner", owners)
        doc_ids = list(doc_ids or [])
        if doc_ids:
            flt += f" and {_in('doc_id', doc_ids)}"
        if mode not in RETRIEVAL_MODES:
            raise StoreError(f"unknown retrieval mode {mode!r}; use one of {', '.join(RETRIEVAL_MODES)}")
        if vector is None and mode != "keyword":
            raise StoreError(f"{mode} search needs the embedded query")
        dense = {"data": [vector.tolist() if vector is not None else []], "anns_field": "vector"}
        keyword = {"data": [text], "anns_field": "sparse"}
        try:
            if mode == "dense":
                results = self.client.search(
                    self.collection, **dense, limit=k, filter=flt, output_fields=HIT_FIELDS,
                    search_params={"metric_type": "COSINE"},
                )  # fmt: skip
            elif mode == "keyword":
                results = self.client.search(
                    self.collection, **keyword, limit=k, filter=flt, output_fields=HIT_FIELDS,
                    search_params={"metric_type": "BM25"},
                )  # fmt: skip
            else:
                depth = CANDIDATES_PER_K * k
                legs = [
                    AnnSearchRequest(**dense, param={"metric_type": "COSINE"}, limit=depth, expr=flt),
                    AnnSearchRequest(**keyword, param={"metric_type": "BM25"}, limit=depth, expr=flt),
                ]
                fuse = RRFRanker(RRF_K) if HYBRID_RANKER == "rrf" else WeightedRanker(*HYBRID_WEIGHTS)
                results = self.client.hybrid_search(
                    self.collection, legs, fuse, limit=k, output_fields=HIT_FIELDS
                )
        except MilvusException as exc:
            if mode != "dense" and "NaN or Inf" in str(exc):
                # BM25 over a collection with no text yet divides by an average length of 0
                if mode == "keyword" or not self.count_chunks():
                    return []
                return self.search(vector, text, k, owners, doc_ids, mode="dense")
            raise StoreError(f"{mode} search failed in {self.collection}: {exc}") from exc
        return [_hit(rank, result) for rank, result in enumerate(results[0], start=1)]

    def ping(self) -> bool:
        """Whether the store answers a query now (the /health endpoint)."""
        try:
            self.client.query(self.collection, filter='doc_id != ""', output_fields=["doc_id"], limit=1)
            return True
        except Exception as exc:  # any failure means: not healthy
            log.warning("store health check failed: %s", exc)
            return False

    # -- workspace activity ------------------------------------------------------------------
    # When each workspace was last used, beside the chunks, so that every app process (replicas on
    # one Milvus server) sees the same times and none deletes a workspace another one serves.

    def record_activity(self, last_used: dict[str, int]) -> None:
        """Owner → unix seconds of its last use; newer times replace older ones."""
        if not last_used:
            return
        known = self.activity(owners=list(last_used))
        rows = [
            {"owner": owner, "last_used": max(at, known.get(owner, 0)), "unused": [0.0, 0.0]}
            for owner, at in last_used.items()
        ]
        self.client.upsert(self.activity_collection, rows)

    def activity(self, prefix: str = "", owners: Sequence[str] | None = None) -> dict[str, int]:
        """Owner → last use, for owners whose id starts with `prefix` (or the given owners)."""
        flt = _in("owner", owners) if owners is not None else f'owner like "{_escape(prefix)}%"'
        rows = self._query_all(self.activity_collection, flt, ["owner", "last_used"])
        return {row["owner"]: row["last_used"] for row in rows}

    def delete_activity(self, owner: str) -> None:
        self.client.delete(self.activity_collection, filter=_eq("owner", owner))

    def _open_activity(self) -> None:
        if self.client.has_collection(self.activity_collection):
            self.client.load_collection(self.activity_collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, description="workspace last use")
        schema.add_field("owner", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("last_used", DataType.INT64)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one vector field
        index = MilvusClient.prepare_index_params()
        index.add_index(
            "unused", index_type="FLAT" if self.index_type == "FLAT" else "AUTOINDEX", metric_type="L2"
        )
        self.client.create_collection(
            self.activity_collection, schema=schema, index_params=index, consistency_level="Strong"
        )

    def _query_all(self, collection: str, flt: str, fields: list[str]) -> list[dict]:
        """Every matching row, page by page: a plain query stops at 16,384."""
        iterator = self.client.query_iterator(collection, batch_size=4096, filter=flt, output_fields=fields)
        rows: list[dict] = []
        try:
            while batch := iterator.next():
                rows.extend(batch)
        finally:
            iterator.close()
        return rows

    def close(self) -> None:
        self.client.close()

    # -- internals -------------------------------------------------------------------------

    def _delete(self, flt: str) -> None:
        self.client.delete(self.collection, filter=flt)
        self.client.flush(self.collection)

    def _check_dimension(self, embed_model: str) -> None:
        info = self.client.describe_collection(self.collection)
        vector = next(f for f in info["fields"] if f["name"] == "vector")
        dim = int(vector["params"]["dim"])
        if dim != self.dim:
            self.client.close()
            made_with = _embed_model_of(info) or "another model"
            raise StoreError(
                f"collection {self.collection!r} in {self.target} holds {dim}-dimensional vectors "
                f"(made with {made_with}), but the embedding model {embed_model or ''} gives {self.dim}. "
                f"Set RAG_EMBED_MODEL back to that model, or choose a new RAG_COLLECTION "
                f"(or delete the collection with `python -m rag reset`) and ingest again."
            )

    def _check_schema(self) -> None:
        """A collection from before keyword search and section paths can't serve them: say how to
        convert it, rather than failing at the first search."""
        if _is_old_schema(self.client, self.collection):
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
    """Convert a collection made by an earlier schema to this one from the rows it holds; returns
    how many chunks were carried over (0 when it was already current).

    Vectors and chunk text are kept: the old rows were embedded from the chunk text alone, which is
    exactly their `search_text` now (no title or section is known for them), so nothing needs to be
    re-embedded. Milvus Lite can't rename collections, so the rows go through a staging collection:
    an interruption at any point leaves every row in one of the two, and running again finishes.
    """
    client = _connect(settings)
    name, staging = settings.collection, _staging(settings.collection)
    index_type = settings.index_type or ("FLAT" if settings.uses_milvus_lite else "AUTOINDEX")
    try:
        has_staging = client.has_collection(staging)
        if client.has_collection(name) and not has_staging and not _is_old_schema(client, name):
            return 0
        if client.has_collection(name) and _is_old_schema(client, name):
            info = client.describe_collection(name)
            dim = int(next(f for f in info["fields"] if f["name"] == "vector")["params"]["dim"])
            if client.has_collection(staging):
                client.drop_collection(staging)  # an interrupted first copy: start it again
            _create(client, staging, dim, index_type, _embed_model_of(info))
            _copy(client, name, staging, old=True, progress=lambda f, m: progress(f / 2, m))
            client.drop_collection(name)
        info = client.describe_collection(staging)
        dim = int(next(f for f in info["fields"] if f["name"] == "vector")["params"]["dim"])
        if client.has_collection(name):
            client.drop_collection(name)  # an interrupted second copy: start it again
        _create(client, name, dim, index_type, _embed_model_of(info))
        copied = _copy(client, staging, name, old=False, progress=lambda f, m: progress(0.5 + f / 2, m))
        client.drop_collection(staging)
        progress(1.0, f"re-indexed {copied} chunks")
        return copied
    except MilvusException as exc:
        raise StoreError(f"re-indexing {name!r} in {settings.milvus_target} failed: {exc}") from exc
    finally:
        client.close()


_OLD_FIELDS = ["vector", "text", *DOC_FIELDS, "page", "chunk_index"]
_NEW_FIELDS = [*_OLD_FIELDS, "search_text", "section", "title"]


def _copy(client: MilvusClient, source: str, target: str, old: bool, progress: Progress) -> int:
    """Every row of `source` into `target` (new schema), batch by batch, then flushed."""
    client.load_collection(source)
    total = client.query(source, filter='doc_id != ""', output_fields=["count(*)"])[0]["count(*)"]
    fields = _OLD_FIELDS if old else _NEW_FIELDS
    iterator = client.query_iterator(
        source, batch_size=INSERT_BATCH, filter='doc_id != ""', output_fields=fields
    )
    copied = 0
    try:
        while batch := iterator.next():
            rows = [{f: row[f] for f in _NEW_FIELDS if f in row} for row in batch]
            for row in rows:
                row["vector"] = [float(x) for x in row["vector"]]
                if old:
                    row.update(search_text=row["text"], section="", title="")
            client.insert(target, rows)
            copied += len(rows)
            progress(copied / max(total, 1), f"re-indexing: {copied}/{total} chunks")
    finally:
        iterator.close()
    client.flush(target)
    if copied != total:
        raise StoreError(f"re-indexing copied {copied} of {total} chunks from {source}; run it again")
    return copied


def _is_old_schema(client: MilvusClient, name: str) -> bool:
    fields = {f["name"] for f in client.describe_collection(name)["fields"]}
    return "sparse" not in fields or "section" not in fields


def _embed_model_of(info: dict) -> str:
    description = info.get("description", "")
    return description.removeprefix("embed_model=").split(";schema=")[0]


def _staging(name: str) -> str:
    return f"{name}__reindex"


def _create(client: MilvusClient, name: str, dim: int, index_type: str, embed_model: str) -> None:
    description = f"embed_model={embed_model};schema={SCHEMA_VERSION}"
    schema = MilvusClient.create_schema(auto_id=True, description=description)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)  # the chunk as users see it
    # title › section path + chunk: what is embedded and keyword-indexed
    schema.add_field(
        "search_text", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True, analyzer_params=ANALYZER
    )
    schema.add_field("section", DataType.VARCHAR, max_length=SECTION_MAX)
    schema.add_field("title", DataType.VARCHAR, max_length=SECTION_MAX)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("page", DataType.INT64)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("n_chunks", DataType.INT64)
    schema.add_field("n_pages", DataType.INT64)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("owner", DataType.VARCHAR, max_length=256)
    schema.add_field("added_at", DataType.INT64)
    schema.add_function(
        Function(
            name="search_text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
    )
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="COSINE", **_index_params(index_type))
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    try:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    except MilvusException as exc:
        raise StoreError(
            f"cannot create collection {name!r} with index {index_type}: {exc.message}; "
            "check RAG_INDEX_TYPE (keyword search needs Milvus 2.5 or newer, or milvus-lite 2.5)"
        ) from exc


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


def _index_params(index_type: str) -> dict:
    if index_type == "HNSW":
        return {"params": {"M": 16, "efConstruction": 200}}
    if index_type == "IVF_FLAT":
        return {"params": {"nlist": 128}}
    return {}


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
    chunk = Chunk(
        entity["doc_id"],
        entity["source"],
        entity["page"],
        entity["chunk_index"],
        entity["text"],
        entity.get("section", ""),
        entity.get("title", ""),
    )
    return Hit(rank=rank, score=float(result["distance"]), chunk=chunk)


def drop_collection(settings: Settings) -> None:
    """Remove the collection with every document in it (`python -m rag reset`)."""
    client = _connect(settings)
    try:
        for name in (settings.collection, _staging(settings.collection), f"{settings.collection}_activity"):
            if client.has_collection(name):
                client.drop_collection(name)
    finally:
        client.close()
