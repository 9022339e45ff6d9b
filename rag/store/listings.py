"""What the store holds, read through the live versions: documents, counts, and a chunk's neighbours.
A version being written (or superseded) never shows here (`rag.store.versions`)."""

from __future__ import annotations

from collections.abc import Sequence

from pymilvus import MilvusException

from rag.errors import StoreError
from rag.store import rows as r
from rag.store.known_versions import KnownVersions, newest
from rag.store.version_answers import VersionAnswers
from rag.store.versions import DocumentVersions
from rag.types import Chunk, Context, DocumentInfo

# Rows the keyword leg's document ranking reads at most per question (`keyword_texts`): the 20
# candidate documents of the Japanese Debian Reference are 10.7 chunks on average, 48 at most; the
# Milvus docs' 25 and 221 (docs/BENCHMARKS.md, issue 23 third round).
DOCUMENT_ROWS_MAX = 4096
TEXT_FIELDS = ["doc_id", "chunk_index", "search_text"]


class Listings:
    """Reads over one chunk collection and its version table; every listing pages through all rows."""

    def __init__(self, versions: DocumentVersions) -> None:
        self.versions = versions
        self.client = versions.client
        self.collection = versions.collection
        self.known = KnownVersions(self.client, versions.table)
        # kept between writes in an embedded file: the keyword path asks with every question
        self.answers = VersionAnswers(
            versions.visibility, lambda doc_ids: r.newest(versions.live_rows(doc_ids)), self._count_documents
        )

    def find_document(self, doc_id: str) -> DocumentInfo | None:
        """The live version of a document, or None (a version being written doesn't count)."""
        return r.newest(self.versions.live_rows([doc_id])).get(doc_id)

    def find_by_hash(self, owners: Sequence[str], content_hash: str) -> DocumentInfo | None:
        flt = f'{r.is_in("owner", owners)} and {r.eq("content_hash", content_hash)} and state == "live"'
        rows = self.client.query(self.versions.table, filter=flt, output_fields=r.VERSION_FIELDS, limit=1)
        return r.info(rows[0]) if rows else None

    def list_documents(self, owners: Sequence[str]) -> list[DocumentInfo]:
        """Every live document of these owners, however many there are (only the live versions'
        keys are read each time: `known_versions`)."""
        flt = f'{r.is_in("owner", owners)} and state == "live"'
        return sorted(newest(self.known.matching(flt)).values(), key=lambda d: (d.owner, d.source))

    def owners_last_added(self, prefix: str) -> dict[str, int]:
        """Owner → newest `added_at` for owners whose id starts with `prefix` (workspace clean-up)."""
        flt = r.starts_with("owner", prefix)
        return r.latest_per_owner(
            r.query_all(self.client, self.versions.table, flt, ["owner", "added_at"]), "added_at"
        )

    def count_chunks(self, owners: Sequence[str] | None = None) -> int:
        """Chunks of these owners (all chunks if None)."""
        return r.count(self.client, self.collection, r.is_in("owner", owners) if owners else r.EVERY_CHUNK)

    def count_documents(self, owners: Sequence[str] | None = None) -> int:
        """The owners' live documents (every owner's if None)."""
        return self.answers.count(owners)

    def _count_documents(self, owners: Sequence[str] | None) -> int:
        flt = (r.is_in("owner", owners) + " and " if owners else "") + 'state == "live"'
        return r.count(self.client, self.versions.table, flt)

    def neighbours(self, chunks: Sequence[Chunk], owners: Sequence[str], span: int = 1) -> Context:
        """Each chunk's `position` → the chunks up to `span` before and after it in the live
        version of its document, in order, itself included. Only the owners' documents are read.
        Two queries whatever the number of chunks: the live versions, then their rows."""
        try:
            versions = r.newest(self.versions.live_rows({c.doc_id for c in chunks}))
            live = {doc_id: doc.content_hash for doc_id, doc in versions.items() if doc.owner in owners}
            wanted = [c for c in chunks if c.doc_id in live]
            ranges = " or ".join(
                f"({r.of_version(c.doc_id, live[c.doc_id])} and "
                f"chunk_index >= {c.index - span} and chunk_index <= {c.index + span})"
                for c in wanted
            )
            rows = r.query_all(self.client, self.collection, ranges, r.HIT_FIELDS) if wanted else []
        except MilvusException as exc:
            raise StoreError(f"could not read neighbouring chunks in {self.collection}: {exc}") from exc
        found = {chunk.position: chunk for chunk in map(r.chunk, rows)}
        return {
            c.position: [
                found[(c.doc_id, i)]
                for i in range(c.index - span, c.index + span + 1)
                if (c.doc_id, i) in found
            ]
            for c in wanted
        }

    def keyword_texts(
        self, doc_ids: Sequence[str], owners: Sequence[str] | None, rows_max: int = DOCUMENT_ROWS_MAX
    ) -> dict[str, list[str]]:
        """doc_id → the keyword text (`search_text`) of every chunk of its live version, in chunk
        order: what the keyword leg ranks whole documents by (`rag.retrieval.documents`), for the
        documents `keyword_versions` chooses. Two queries."""
        return self.version_keyword_texts(self.keyword_versions(doc_ids, owners, rows_max))

    def keyword_versions(
        self, doc_ids: Sequence[str], owners: Sequence[str] | None, rows_max: int = DOCUMENT_ROWS_MAX
    ) -> list[DocumentInfo]:
        """The live versions of these documents whose keyword text the document ranking reads:
        taken in the order given while their chunks fit in `rows_max`; one the owners can't see
        (`owners=None`: any), or one too big to fit, is left out. One query, or none: the answer is
        kept until the next write in an embedded file (`rag.store.version_answers`)."""
        try:
            versions = self.answers.live(doc_ids)
        except MilvusException as exc:
            raise StoreError(f"could not read documents' versions in {self.versions.table}: {exc}") from exc
        chosen, total = [], 0
        for doc_id in dict.fromkeys(doc_ids):
            doc = versions.get(doc_id)
            if doc and (owners is None or doc.owner in owners) and total + doc.chunks <= rows_max:
                chosen.append(doc)
                total += doc.chunks
        return chosen

    def version_keyword_texts(self, versions: Sequence[DocumentInfo]) -> dict[str, list[str]]:
        """doc_id → the keyword text of every chunk of that version, in chunk order (a version
        deleted meanwhile comes back short, or empty). One query."""
        flt = " or ".join(f"({r.of_version(doc.doc_id, doc.content_hash)})" for doc in versions)
        try:
            rows = r.query_all(self.client, self.collection, flt, TEXT_FIELDS) if versions else []
        except MilvusException as exc:
            raise StoreError(f"could not read documents' keyword text in {self.collection}: {exc}") from exc
        chunks: dict[str, dict[int, str]] = {doc.doc_id: {} for doc in versions}
        for row in rows:  # a chunk whose keyword text is being rewritten has two rows for a moment
            chunks[row["doc_id"]][row["chunk_index"]] = row["search_text"]
        return {doc_id: [text for _, text in sorted(texts.items())] for doc_id, texts in chunks.items()}

    def documents_per_word(
        self, words: Sequence[str], owners: Sequence[str] | None, limit: int
    ) -> dict[str, int]:
        """word → how many documents hold it among its `limit` best chunks by BM25 (so at most
        `limit`): the document frequency the keyword leg's document ranking weighs each word by
        (`rag.retrieval.documents`), found by the store's own analyzer, so a word it drops (an
        English stop word) counts 0. One request for all the words. Chunks of versions not live
        count too: this is a weight, not something shown."""
        if not words:
            return {}
        try:
            results = self.client.search(
                self.collection,
                data=list(words),
                anns_field="sparse",
                limit=limit,
                filter=r.is_in("owner", owners) if owners is not None else "",
                output_fields=["doc_id"],
                search_params={"metric_type": "BM25"},
            )
        except MilvusException as exc:
            raise StoreError(f"could not count documents per word in {self.collection}: {exc}") from exc
        return {
            word: len({x["entity"]["doc_id"] for x in hits})
            for word, hits in zip(words, results, strict=True)
        }
