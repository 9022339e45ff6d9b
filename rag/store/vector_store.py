"""The vector store: one collection in one Milvus, behind one API. Opening it checks and brings up to
date what it finds (`rag.store.migrations`) and repairs interrupted writes; the work is done by the
modules beside this one:

- `versions`: documents written all-or-nothing through a commit record, and the crash repair;
- `document_writer`: one document written in batches as it is embedded, still all-or-nothing;
- `listings`: documents, counts and neighbours, read through the live versions;
- `search`: dense, keyword and hybrid search over the chunks of live versions;
- `indexing` with `index_plans`: the vector index that fits the collection's size;
- `activity`: the table of workspace uses, `uses` here (its policy is `rag.workspace.activity`);
- `keyword_refresh`: chunks' keyword text brought up to a newer analyzer, and the record of it;
- `schema` and `rows`: the collections, and rows in and out of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import migrations, schema
from rag.store.activity import ActivityTable
from rag.store.deletions import KEEP_S, OwnerDeletions
from rag.store.document_writer import DocumentWriter
from rag.store.index_plans import IndexPlan
from rag.store.indexing import VectorIndex
from rag.store.keyword_refresh import KeywordRecord, KeywordRefresh, RefreshReport
from rag.store.listings import Listings
from rag.store.rows import NewDocument, eq
from rag.store.search import ChunkSearch
from rag.store.versions import DocumentVersions
from rag.types import Chunk, Context, DocumentInfo, Hit, Progress, no_progress

__all__ = ["NewDocument", "VectorStore", "rebuild_index"]
log = logging.getLogger(__name__)


class VectorStore:
    """One collection in one Milvus (Lite file or server); safe to share between threads.

    The vector index follows the collection's size (`rag.store.index_plans.plan_index`): it is chosen at
    creation, checked every time the store is opened, and rebuilt by `rebuild_index()` when the size
    has moved into another band (at open, before any search, or with `python -m rag reindex`).
    """

    def __init__(
        self, settings: Settings, dim: int, embed_model: str = "", rebuild_index_at_open: bool = True
    ) -> None:
        self.collection = settings.store.collection
        self.versions = schema.versions_of(self.collection)
        self.dim = dim
        self.client = schema.connect(settings)
        if self.client.has_collection(schema.staging_of(self.collection)):
            self.client.close()
            raise StoreError(
                f"a schema conversion of collection {self.collection!r} in "
                f"{settings.store.milvus_target} was "
                "interrupted; "
                "run `python -m rag reindex` again to finish it (nothing is lost)"
            )
        lite = settings.store.uses_milvus_lite or schema.is_lite_server(self.client)
        self.index = VectorIndex(self.client, self.collection, lite, settings.store.index_type)
        # an embedded Milvus Lite file is open in this process only: any write in progress found at
        # open belongs to a dead process; on a server another process may be writing right now
        lock = threading.Lock()
        schema.open_deletions(self.client, schema.deletions_of(self.collection))
        deletions = OwnerDeletions(self.client, schema.deletions_of(self.collection))
        self.writes = DocumentVersions(
            self.client, self.collection, self.versions, settings.store.uses_milvus_lite, lock, deletions
        )
        self.listings = Listings(self.writes)
        self.searcher = ChunkSearch(self.client, self.collection, self.writes, lambda: self.index.plan)
        self.created = not self.client.has_collection(self.collection)  # no older keyword text in it
        if not self.created:
            migrations.check_dimension(self.client, settings, dim, embed_model)
            migrations.check_schema(self.client, settings)
            self.index.read()
            if rebuild_index_at_open:
                self.rebuild_index()
            self.client.load_collection(self.collection)
        else:
            schema.create_chunks(self.client, self.collection, dim, embed_model)
            self.index.create()
            self.client.load_collection(self.collection)
        if schema.open_versions(self.client, self.versions):
            migrations.record_existing_versions(self.writes)
        schema.open_activity(self.client, schema.activity_of(self.collection))
        self.uses = ActivityTable(self.client, schema.activity_of(self.collection))
        migrations.adopt_old_activity(self.client, self.collection, self.uses)
        schema.open_keywords(self.client, schema.keywords_of(self.collection))
        self.keywords = KeywordRecord(self.client, schema.keywords_of(self.collection))
        self.repair()

    @property
    def exclusive(self) -> bool:
        """Whether this process is the store's only user (an embedded Milvus Lite file)."""
        return self.writes.exclusive

    @property
    def plan(self) -> IndexPlan:
        """The vector index in place and the parameters searches use with it."""
        return self.index.plan

    @plan.setter
    def plan(self, plan: IndexPlan) -> None:  # bench/scale.py tries search parameters this way
        self.index.plan = plan

    @property
    def index_type(self) -> str:
        return self.index.plan.index_type

    # -- writing -------------------------------------------------------------------------------

    def add_document(
        self,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        owner: str,
        content_hash: str,
        n_pages: int,
        keyword_texts: Sequence[str] = (),
    ) -> None:
        """Write every chunk of one document version, then retire the older versions;
        `keyword_texts` (one per chunk) are what the keyword leg indexes (default: `indexed_text`)."""
        document = NewDocument(chunks, vectors, owner, content_hash, n_pages, keyword_texts)
        self.writes.add_documents([document])

    def write_document(
        self,
        doc_id: str,
        source: str,
        owner: str,
        content_hash: str,
        n_chunks: int,
        n_pages: int,
        replacing: bool = False,
        since: int | None = None,
    ) -> DocumentWriter:
        """One document version written in batches as its chunks come, visible only when the
        `with` block ends normally; see `rag.store.document_writer`. `replacing`: the document was
        live when the upload began; if it is not any more (deleted), nothing is written. `since`:
        `deletion_mark(owner)` when the upload began; if the workspace was deleted since, nothing is."""
        return DocumentWriter(
            self.writes, doc_id, source, owner, content_hash, n_chunks, n_pages, replacing, since
        )

    def add_documents(self, documents: Sequence[NewDocument]) -> None:
        """Write many document versions in few inserts (bulk loads); see `DocumentVersions`."""
        self.writes.add_documents(documents)

    def delete_document(self, doc_id: str) -> None:
        self.writes.delete_where(eq("doc_id", doc_id))

    def delete_owner(self, owner: str) -> None:
        """The workspace's documents, and an upload into it that began before (`rag.store.deletions`)."""
        self.writes.delete_owner(owner)

    def deletion_mark(self, owner: str) -> int:
        """The mark of the workspace's latest deletion (0: none): what an upload reads as it starts."""
        return self.writes.deletions.latest(owner)

    def forget_deletions(self, now: float) -> None:
        """Forget the deletion marks older than `deletions.KEEP_S` at unix time `now` (the janitor)."""
        self.writes.deletions.forget_before(now - KEEP_S)

    def repair(self, now: float | None = None) -> list[str]:
        """Finish or undo what killed writers left; returns what was done."""
        return self.writes.repair(now)

    def keyword_refresh(self, analyze: Callable[[str], str], version: int) -> KeywordRefresh:
        """What brings chunks' keyword text up to `analyze` (analyzer `version`); see
        `rag.store.keyword_refresh`."""
        return KeywordRefresh(self.writes, self.keywords, analyze, version)

    # -- reading -------------------------------------------------------------------------------

    def find_document(self, doc_id: str) -> DocumentInfo | None:
        return self.listings.find_document(doc_id)

    def live_documents(self, doc_ids: Iterable[str]) -> set[str]:
        """Those of these documents that have a live version (one query per 1,000)."""
        return {row["doc_id"] for row in self.writes.live_rows(doc_ids)}

    def find_by_hash(self, owners: Sequence[str], content_hash: str) -> DocumentInfo | None:
        return self.listings.find_by_hash(owners, content_hash)

    def list_documents(self, owners: Sequence[str]) -> list[DocumentInfo]:
        return self.listings.list_documents(owners)

    def owners_last_added(self, prefix: str) -> dict[str, int]:
        return self.listings.owners_last_added(prefix)

    def count_chunks(self, owners: Sequence[str] | None = None) -> int:
        return self.listings.count_chunks(owners)

    def count_documents(self, owners: Sequence[str] | None = None) -> int:
        return self.listings.count_documents(owners)

    def count_version(self, doc_id: str, content_hash: str) -> int:
        return self.writes.count_version(doc_id, content_hash)

    def neighbours(self, chunks: Sequence[Chunk], owners: Sequence[str], span: int = 1) -> Context:
        return self.listings.neighbours(chunks, owners, span)

    def keyword_texts(self, doc_ids: Sequence[str], owners: Sequence[str] | None) -> dict[str, list[str]]:
        """doc_id → its live version's chunks' keyword text; see `Listings.keyword_texts`."""
        return self.listings.keyword_texts(doc_ids, owners)

    def keyword_versions(self, doc_ids: Sequence[str], owners: Sequence[str] | None) -> list[DocumentInfo]:
        """The live versions `keyword_texts` reads; see `Listings.keyword_versions`."""
        return self.listings.keyword_versions(doc_ids, owners)

    def version_keyword_texts(self, versions: Sequence[DocumentInfo]) -> dict[str, list[str]]:
        """doc_id → these versions' chunks' keyword text; see `Listings.version_keyword_texts`."""
        return self.listings.version_keyword_texts(versions)

    def keyword_text_state(self) -> tuple[int, int] | None:
        """What the chunks' keyword text read now stays valid for (`rag.retrieval.document_words`
        keeps it by this): None while it may be changing (a pass rewriting it runs in this process,
        or, on a server, may run in another: `writes.rewriting`); else a value that changes when a
        pass has run since: this process's passes started, and on a server the analyzer version a
        pass recorded (one small query)."""
        if self.writes.rewriting:
            return None
        return self.writes.keyword_passes, 0 if self.exclusive else self.keywords.version()

    def documents_per_word(
        self, words: Sequence[str], owners: Sequence[str] | None, limit: int
    ) -> dict[str, int]:
        """word → documents holding it among its `limit` best chunks; see `Listings.documents_per_word`."""
        return self.listings.documents_per_word(words, owners, limit)

    def search(
        self,
        vector: np.ndarray | None,
        text: str,
        k: int,
        owners: Sequence[str] | None,
        doc_ids: Iterable[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Top-k chunks of live versions among the given owners' (and documents') chunks; see
        `ChunkSearch.search`."""
        return self.searcher.search(vector, text, k, owners, doc_ids, mode)

    def closest(
        self,
        vectors: Sequence[np.ndarray],
        owners: Sequence[str] | None,
        doc_ids: Iterable[str] | None = None,
    ) -> list[float]:
        """The best cosine similarity each vector finds among what a dense search would show, in
        one request; see `ChunkSearch.closest`."""
        return self.searcher.closest(vectors, owners, doc_ids)

    def ping(self) -> bool:
        """Whether the store answers a query now (the /health endpoint)."""
        try:
            self.client.query(self.versions, filter='state == "live"', output_fields=["doc_id"], limit=1)
            return True
        except Exception as exc:  # any failure means: not healthy
            log.warning("store health check failed: %s", exc)
            return False

    # -- index ---------------------------------------------------------------------------------

    def rebuild_index(self, force: bool = False) -> IndexPlan | None:
        """Rebuild the vector index if the collection's size calls for another one (or `force`).

        Returns the new plan, or None when the current index was kept. The collection is released
        while the index is rebuilt: searches fail meanwhile, so call this before serving.
        """
        return self.index.rebuild(self.count_chunks(), self.writes.lock, force)

    def close(self) -> None:
        self.client.close()


def rebuild_index(settings: Settings, force: bool = False) -> tuple[int, IndexPlan, bool]:
    """Bring the collection's index in line with its size (`python -m rag reindex`).

    Needs no embedding model: the dimension is read from the collection. Returns the row count,
    the index now in place and whether it was rebuilt.
    """
    store = open_existing(settings)
    try:
        rebuilt = store.rebuild_index(force=force)
        return store.count_chunks(), store.plan, rebuilt is not None
    finally:
        store.close()


def refresh_keywords(
    settings: Settings, analyze: Callable[[str], str], version: int, progress: Progress = no_progress
) -> RefreshReport | None:
    """Bring the chunks' keyword text up to analyzer `version` here and now, if the store's is older
    (`python -m rag reindex`; the app does it in the background). None when it was current."""
    store = open_existing(settings)
    try:
        refresh = store.keyword_refresh(analyze, version)
        return refresh.bring_up_to_date(progress=progress) if refresh.needed() else None
    finally:
        store.close()


def open_existing(settings: Settings) -> VectorStore:
    """The store of an existing collection, for maintenance: no embedding model needed (the
    dimension is read from the collection), the index left as it is."""
    client = schema.connect(settings)
    try:
        if not client.has_collection(settings.store.collection):
            raise StoreError(
                f"there is no collection {settings.store.collection!r} in {settings.store.milvus_target}"
            )
        dim = schema.dimension_of(client.describe_collection(settings.store.collection))
    finally:
        client.close()
    return VectorStore(settings, dim, rebuild_index_at_open=False)
