"""What opening a store finds from earlier versions of the app, and how it is brought up to date.

- A collection made with another embedding model, or by the schema before keyword search and
  section paths: refused at open with the fix named (`check_dimension`, `check_schema`).
- `convert_schema`: the conversion of such a collection in place (`python -m rag reindex`).
- A store from before version rows: its complete versions become live (`record_existing_versions`).
- A store from before the append-only record of workspace uses: they move over (`adopt_old_activity`).
"""

from __future__ import annotations

import logging

from pymilvus import MilvusClient, MilvusException

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import rows as r
from rag.store import schema
from rag.store.activity import ActivityTable
from rag.store.index_plans import plan_index
from rag.store.schema import DOC_FIELDS, INSERT_BATCH
from rag.store.versions import DocumentVersions
from rag.types import Progress, no_progress

log = logging.getLogger(__name__)


def check_dimension(client: MilvusClient, settings: Settings, dim: int, embed_model: str) -> None:
    """Refuse a collection whose vectors another model made (closing the client)."""
    info = client.describe_collection(settings.store.collection)
    have = schema.dimension_of(info)
    if have != dim:
        client.close()
        made_with = schema.embed_model_of(info) or "another model"
        raise StoreError(
            f"collection {settings.store.collection!r} in {settings.store.milvus_target} "
            f"holds {have}-dimensional "
            f"vectors (made with {made_with}), but the embedding model {embed_model or ''} gives {dim}. "
            f"Set RAG_EMBED_MODEL back to that model, or choose a new RAG_COLLECTION "
            f"(or delete the collection with `python -m rag reset`) and ingest again."
        )


def check_schema(client: MilvusClient, settings: Settings) -> None:
    """A collection from before keyword search and section paths can't serve them: say how to
    convert it, rather than failing at the first search (closing the client)."""
    name = settings.store.collection
    if schema.is_old_schema(client, name):
        chunks = r.count(client, name, r.EVERY_CHUNK)
        client.close()
        raise StoreError(
            f"collection {name!r} in {settings.store.milvus_target} was made by an earlier version of this "
            f"app (no keyword index, no section paths; {chunks} chunks). Run "
            "`python -m rag reindex` once to convert it in place from the stored chunks (no upload "
            "needed, the embeddings are kept). Section paths can't be recovered for documents stored "
            "before (the original files aren't kept): upload those again to get them."
        )


def convert_schema(settings: Settings, progress: Progress = no_progress) -> int:
    """Convert a collection made by an earlier schema to this one from the rows it holds; returns
    how many chunks were carried over (0 when it was already current).

    Vectors and chunk text are kept: the old rows were embedded from the chunk text alone, which is
    exactly their `search_text` now (no title or section is known for them), so nothing needs to be
    re-embedded. Milvus Lite can't rename collections, so the rows go through a staging collection:
    an interruption at any point leaves every row in one of the two, and running again finishes.
    Each new collection gets the index of an empty one; opening the store then fits it to the size.
    """
    client = schema.connect(settings)
    name, staging = settings.store.collection, schema.staging_of(settings.store.collection)
    try:
        has_staging = client.has_collection(staging)
        if client.has_collection(name) and not has_staging and not schema.is_old_schema(client, name):
            return 0
        if client.has_collection(name) and schema.is_old_schema(client, name):
            info = client.describe_collection(name)
            if client.has_collection(staging):
                client.drop_collection(staging)  # an interrupted first copy: start it again
            schema.create_chunks(client, staging, schema.dimension_of(info), schema.embed_model_of(info))
            _build_index(client, staging, settings)
            _copy(client, name, staging, old=True, progress=lambda f, m: progress(f / 2, m))
            client.drop_collection(name)
        info = client.describe_collection(staging)
        if client.has_collection(name):
            client.drop_collection(name)  # an interrupted second copy: start it again
        schema.create_chunks(client, name, schema.dimension_of(info), schema.embed_model_of(info))
        _build_index(client, name, settings)
        copied = _copy(client, staging, name, old=False, progress=lambda f, m: progress(0.5 + f / 2, m))
        client.drop_collection(staging)
        progress(1.0, f"converted {copied} chunks")
        return copied
    except MilvusException as exc:
        raise StoreError(f"converting {name!r} in {settings.store.milvus_target} failed: {exc}") from exc
    finally:
        client.close()


def _build_index(client: MilvusClient, name: str, settings: Settings) -> None:
    lite = settings.store.uses_milvus_lite or schema.is_lite_server(client)
    schema.create_indexes(client, name, schema.vector_index(plan_index(0, lite, settings.store.index_type)))


_OLD_FIELDS = ["vector", "text", *DOC_FIELDS, "page", "chunk_index"]
_NEW_FIELDS = r.CHUNK_FIELDS  # the old ones with "search_text", "section", "title"


def _copy(client: MilvusClient, source: str, target: str, old: bool, progress: Progress) -> int:
    """Every row of `source` into `target` (new schema), batch by batch, then flushed."""
    client.load_collection(source)
    total = r.count(client, source, r.EVERY_CHUNK)
    copied = 0
    for batch in r.pages(client, source, r.EVERY_CHUNK, _OLD_FIELDS if old else _NEW_FIELDS, INSERT_BATCH):
        rows = [{f: row[f] for f in _NEW_FIELDS if f in row} for row in batch]
        for row in rows:
            row["vector"] = [float(x) for x in row["vector"]]
            if old:
                row.update(search_text=row["text"], section="", title="")
        client.insert(target, rows)
        copied += len(rows)
        progress(copied / max(total, 1), f"converting: {copied}/{total} chunks")
    client.flush(target)
    if copied != total:
        raise StoreError(f"the conversion copied {copied} of {total} chunks from {source}; run it again")
    return copied


def record_existing_versions(versions: DocumentVersions) -> None:
    """A store from before version rows: every complete version becomes live, the rest goes."""
    client, collection = versions.client, versions.collection
    heads = r.query_all(client, collection, "chunk_index == 0", DOC_FIELDS)
    if not heads:
        return
    complete, partial = [], []
    for head in heads:
        key = (head["doc_id"], head["content_hash"])
        (complete if versions.count_version(*key) == head["n_chunks"] else partial).append(head)
    newest: dict[str, dict] = {}
    for head in sorted(complete, key=lambda h: h["added_at"]):
        newest[head["doc_id"]] = head
    rows = [r.stored(h) | {"state": "live", "heartbeat": h["added_at"]} for h in newest.values()]
    for batch in r.batched(rows, 1000):
        versions.upsert(list(batch))
    stale = [h for h in complete if newest[h["doc_id"]] is not h] + partial
    versions.delete_versions([(h["doc_id"], h["content_hash"]) for h in stale])
    log.warning("recorded %d document versions of %s (%d stale removed)", len(rows), collection, len(stale))


def adopt_old_activity(client: MilvusClient, collection: str, activity: ActivityTable) -> None:
    """A store from before the append-only record: its uses move over, then its table goes. A
    move cut short is done again at the next open (a use recorded twice is harmless); on a
    server, another replica may move and drop it first."""
    old = schema.old_activity_of(collection)
    if not client.has_collection(old):
        return
    try:
        client.load_collection(old)
        rows = r.query_all(client, old, 'owner != ""', ["owner", "last_used"])
        activity.record({row["owner"]: row["last_used"] for row in rows})
        client.drop_collection(old)
    except MilvusException:
        if client.has_collection(old):
            raise
