"""The collections behind the store: how the connection is made, and how each collection is made and
opened (converting one from an earlier version is `migrations.py`'s job).

- `<collection>`: one row per chunk: its vector, its BM25 sparse vector (computed by a Milvus
  function from `search_text` = title › section + chunk), the chunk text users see, and what
  document version it belongs to (`doc_id` + `content_hash`).
- `<collection>_versions`: one row per document version and its state (`writing`, `live`,
  `superseded`), the commit record that makes a version's chunks visible all at once.
- `<collection>_uses`: when each workspace was last used, shared by every app process. Append-only
  (one row per recorded use, older ones pruned): Milvus Lite's upsert deletes then inserts, and a
  reader in between saw no use at all. It replaced `<collection>_activity` (one row per owner).
- `<collection>_keywords`: which keyword-analyzer version the chunks' `search_text` was made with,
  append-only like the uses (`rag.store.keyword_refresh`).
- `<collection>_deletions`: each deleted workspace's latest deletion mark, append-only like the
  uses, so an upload that began before the delete keeps nothing (`rag.store.deletions`).

Milvus needs a vector field in every collection; the small ones carry a 2-dimensional dummy.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient, MilvusException
from pymilvus.milvus_client.index import IndexParams

from rag.errors import StoreError
from rag.private_files import private_dir
from rag.settings import Settings
from rag.store.index_plans import IndexPlan

log = logging.getLogger(__name__)
T = TypeVar("T")
INSERT_BATCH = 500  # Milvus Lite 2.5 slows down sharply above ~1,000 rows per insert
TEXT_MAX = 65535
SECTION_MAX = 1024
SCHEMA_VERSION = 2  # 2: BM25 sparse field + section paths
# English stemming and stop words: "indexes" finds "index", and "the"/"how" don't swamp the score
ANALYZER = {"type": "english"}
DOC_FIELDS = ["doc_id", "source", "owner", "n_chunks", "n_pages", "added_at", "content_hash"]
DUMMY = [0.0, 0.0]
INDEX_POLL_S = (0.01, 0.5)  # first and longest wait between checks of an index being built
INDEX_BUILD_S = 3600  # an index not built by then is reported, not waited on for ever (1M rows: ~560 s)
# Milvus Lite 2.5 accepts requests before its engine has finished starting: on a busy machine its
# first create_collection was answered "Mmap manager has not been init" and the app failed to start.
# A Lite server just started may not have made its socket yet ("Fail connecting to server").
STARTING_MARKERS = ("has not been init", "Fail connecting to server")
STARTING_WAIT_S = 60.0  # how long a store that is still starting is given (it starts in ~1 s idle)
STARTING_PAUSE_S = (0.2, 2.0)  # first and longest pause between tries


def versions_of(collection: str) -> str:
    return f"{collection}_versions"


def activity_of(collection: str) -> str:
    return f"{collection}_uses"


def keywords_of(collection: str) -> str:
    return f"{collection}_keywords"


def deletions_of(collection: str) -> str:
    return f"{collection}_deletions"


def old_activity_of(collection: str) -> str:
    """The record of uses before it was append-only: moved into `activity_of` at open."""
    return f"{collection}_activity"


def staging_of(collection: str) -> str:
    """Where `migrations.convert_schema` keeps the rows between the old and the new collection (the
    name is from when that was called "reindex"; stores in use have it)."""
    return f"{collection}__reindex"


def connect(settings: Settings) -> MilvusClient:
    target = settings.store.milvus_target
    if settings.store.uses_milvus_lite:
        private_dir(Path(target).parent)  # the data dir, 0700
    try:
        if settings.store.uses_milvus_lite and lite_file_held_elsewhere(target):
            raise RuntimeError("another process holds it")  # asking milvus_lite would unlock it
        if not settings.store.uses_milvus_lite:
            return MilvusClient(uri=target, token=settings.store.milvus_token)
        # the Lite server this call starts may not have made its socket yet: at load 15 it took
        # longer than pymilvus' retries ("Fail connecting to server"); the next call reuses it
        return retry_while_starting(lambda: MilvusClient(uri=target, token=settings.store.milvus_token))
    except Exception as exc:  # pymilvus wraps Lite start failures in several exception types
        if settings.store.uses_milvus_lite:
            raise StoreError(
                f"cannot open the embedded Milvus Lite file {target}: {exc}. A Milvus Lite file can be "
                "opened by one process only; if another app or CLI process uses it, stop it, or run a "
                "Milvus server and point every process at it with RAG_MILVUS_URI=http://host:19530."
            ) from exc
        raise StoreError(
            f"cannot connect to Milvus at {target}: {exc}; check RAG_MILVUS_URI/RAG_MILVUS_TOKEN"
        ) from exc


def lite_file_held_elsewhere(target: str) -> bool:
    """Whether another process holds the Milvus Lite file's lock (read from /proc/locks).

    milvus-lite 2.5.1 deletes the lock file when it refuses a second opener, so a third opener
    then gets the file while the first still has it open: two servers writing one store (seen
    here: refused, then opened). Checking first, without asking milvus_lite, keeps the lock file.
    Where /proc/locks can't be read, milvus_lite decides as before."""
    lock = Path(target).parent / f".{Path(target).name}.lock"
    try:
        inode = lock.stat().st_ino
        held = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    for line in held:
        fields = line.split()  # "1: POSIX ADVISORY WRITE <pid> <dev>:<inode> <start> <end>"
        if "->" in fields or len(fields) < 8:
            continue  # a process waiting for a lock does not hold it
        if fields[5].endswith(f":{inode}") and fields[4] != str(os.getpid()):
            return True
    return False


def is_lite_server(client: MilvusClient) -> bool:
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


def vector_index(plan: IndexPlan) -> IndexParams:
    index = MilvusClient.prepare_index_params()
    index.add_index(
        "vector", index_type=plan.index_type, metric_type="COSINE", params=dict(plan.build_params)
    )
    return index


def create_chunks(client: MilvusClient, name: str, dim: int, embed_model: str) -> None:
    """The chunk collection with its BM25 function and sparse index; the vector index is built by
    the caller (its type follows the collection's size)."""
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
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    try:
        create_collection(client, name, schema)
        create_indexes(client, name, index)
    except MilvusException as exc:
        hint = (
            "keyword search needs Milvus 2.5 or newer (or milvus-lite 2.5)"
            if any(word in exc.message.lower() for word in ("function", "bm25", "analyzer", "sparse"))
            else "check the Milvus server's log (RAG_MILVUS_URI)"
        )
        raise StoreError(f"cannot create collection {name!r}: {exc.message}; {hint}") from exc


def create_collection(client: MilvusClient, name: str, schema) -> None:
    """Create a collection, waiting (up to `STARTING_WAIT_S`) while the store is still starting."""
    tried = False

    def attempt() -> None:
        nonlocal tried
        if tried and client.has_collection(name):
            return  # made after all, before the error came back
        tried = True
        client.create_collection(name, schema=schema, consistency_level="Strong")

    retry_while_starting(attempt)


def retry_while_starting(attempt: Callable[[], T]) -> T:
    """`attempt()`, tried again (up to `STARTING_WAIT_S`) while Milvus answers that it is starting."""
    pause, started = STARTING_PAUSE_S[0], time.monotonic()
    while True:
        try:
            return attempt()
        except MilvusException as exc:
            if not is_starting(exc) or time.monotonic() - started > STARTING_WAIT_S:
                raise
            log.warning("Milvus is still starting (%s); trying again in %.1f s", exc.message, pause)
            time.sleep(pause)
            pause = min(2 * pause, STARTING_PAUSE_S[1])


def is_starting(exc: MilvusException) -> bool:
    return any(marker in str(exc.message) for marker in STARTING_MARKERS)


def open_versions(client: MilvusClient, name: str) -> bool:
    """Open (or make) the version table; True when it was just made (existing chunks need rows)."""
    return _open_small(client, name, _versions_schema)


def _versions_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False, description="document versions")
    schema.add_field("version", DataType.VARCHAR, is_primary=True, max_length=160)  # doc_id:hash
    schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("owner", DataType.VARCHAR, max_length=256)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("n_chunks", DataType.INT64)
    schema.add_field("n_pages", DataType.INT64)
    schema.add_field("added_at", DataType.INT64)
    schema.add_field("state", DataType.VARCHAR, max_length=16)  # writing | live | superseded
    schema.add_field("heartbeat", DataType.INT64)  # a writer's last sign of life (unix s)
    return schema


def open_activity(client: MilvusClient, name: str) -> bool:
    """Open (or make) the record of workspace uses; True when it was just made."""
    return _open_small(client, name, _activity_schema)


def _activity_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=True, description="workspace uses, append-only")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("owner", DataType.VARCHAR, max_length=256)
    schema.add_field("last_used", DataType.INT64)
    return schema


def open_keywords(client: MilvusClient, name: str) -> bool:
    """Open (or make) the record of keyword-analyzer versions; True when it was just made."""
    return _open_small(client, name, _keywords_schema)


def _keywords_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=True, description="keyword analyzer versions, append-only")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("analyzer", DataType.INT64)  # rag.text.keywords.ANALYZER_VERSION
    schema.add_field("recorded_at", DataType.INT64)
    return schema


def open_deletions(client: MilvusClient, name: str) -> bool:
    """Open (or make) the workspace deletion marks (`rag.store.deletions`); True when just made."""
    return _open_small(client, name, _deletions_schema)


def _deletions_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=True, description="workspace deletion marks, append-only")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("owner", DataType.VARCHAR, max_length=256)
    schema.add_field("deleted_at", DataType.INT64)  # microseconds since the epoch
    return schema


def _open_small(client: MilvusClient, name: str, make_schema: Callable[[], CollectionSchema]) -> bool:
    """Open one of the small tables, or make it with `make_schema()`; True when it was just made."""
    if client.has_collection(name):
        client.load_collection(name)
        return False
    _create_small(client, name, make_schema())
    return True


def _create_small(client: MilvusClient, name: str, schema: CollectionSchema) -> None:
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one vector field
    index = MilvusClient.prepare_index_params()
    index.add_index("unused", index_type="FLAT", metric_type="L2")
    create_collection(client, name, schema)
    create_indexes(client, name, index)
    client.load_collection(name)


def create_indexes(client: MilvusClient, name: str, index: IndexParams) -> None:
    """Create the indexes and return once they are built. pymilvus's own wait sleeps 0.5 s before
    its first look, which made every new collection take 0.5 s per index although an empty one is
    indexed at once: that was 2 s of each app start on a new store, and of each test's."""
    client.create_index(name, index, sync=False)
    started = time.monotonic()
    for param in index:
        pause = INDEX_POLL_S[0]
        while (state := _index_state(client, name, param.index_name or param.field_name)) != "Finished":
            waited = time.monotonic() - started
            if state in {"Failed", "missing"} or waited > INDEX_BUILD_S:
                message = f"the {param.field_name} index of {name} is {state} after {waited:.0f} s"
                raise MilvusException(message=message)
            time.sleep(pause)
            pause = min(2 * pause, INDEX_POLL_S[1])


def _index_state(client: MilvusClient, name: str, index_name: str) -> str:
    info = client.describe_index(name, index_name) or {}  # None: no such index
    return str(info.get("state", "missing"))


def is_old_schema(client: MilvusClient, name: str) -> bool:
    fields = {f["name"] for f in client.describe_collection(name)["fields"]}
    return "sparse" not in fields or "section" not in fields


def embed_model_of(info: dict) -> str:
    description = info.get("description", "")
    return description.removeprefix("embed_model=").split(";schema=")[0]


def dimension_of(info: dict) -> int:
    return int(next(f for f in info["fields"] if f["name"] == "vector")["params"]["dim"])


def drop_collection(settings: Settings) -> None:
    """Remove the collection with every document in it (`python -m rag reset`)."""
    client = connect(settings)
    name = settings.store.collection
    try:
        for collection in (
            name,
            staging_of(name),
            versions_of(name),
            activity_of(name),
            old_activity_of(name),
            keywords_of(name),
            deletions_of(name),
        ):
            if client.has_collection(collection):
                client.drop_collection(collection)
    finally:
        client.close()
