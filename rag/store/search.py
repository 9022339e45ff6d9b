"""Search in three modes over the chunks of live versions.

Modes: `dense` (cosine over the embeddings), `keyword` (BM25 over `search_text`) and `hybrid` (both
legs, fused by reciprocal rank); the owner and document filters go on every leg. A chunk is shown
only when its version is live (`rag.store.versions`), so nobody sees half a write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from pymilvus import AnnSearchRequest, MilvusClient, MilvusException, RRFRanker

from rag.errors import StoreError
from rag.settings import RETRIEVAL_MODES
from rag.store import rows as r
from rag.store.filter_sizes import FilterSizes
from rag.store.index_plans import IndexPlan
from rag.store.schema import dimension_of
from rag.store.versions import DocumentVersions
from rag.types import Hit

log = logging.getLogger(__name__)
EXCLUDE_EXACT = 100  # up to this many hidden versions are left out by filter, beyond by over-fetch
# Hybrid fusion by reciprocal rank, not Milvus's WeightedRanker: Milvus Lite 2.5.1 normalises a BM25
# score as if it were a distance (1 - 2·atan(s)/π), so the better a chunk's keyword match, the lower
# its fused score. On the DOCX table of tests/ingest/table_docs.py both legs ranked the chunk with
# the asked-for setting first (BM25 3.90 against 0.23) and the weighted top 3 left it out in 4 of 5
# questions (tests/store/test_search.py has the case). RRF uses ranks only, so a leg's scale or
# direction can't mislead it. On the Milvus dev sets (docs/BENCHMARKS.md) the weighted ranker's
# 0.950 / 0.863 (hit@5 / MRR@5) came with that inversion (normalised as Milvus means to: 0.825 /
# 0.750); RRF: 0.900 / 0.792, follow-ups 0.960 / 0.747 with 4 × k candidates per leg (2 × k:
# 0.925 / 0.772, follow-ups 0.880 / 0.690; a deeper list lets a chunk both legs rank count).
RRF_K = 60
CANDIDATES_PER_K = 4  # each leg hands the fusion this many times k chunks (20 for k = 5)
# Beyond this many candidates, hits come back with their ids and scores only and the first k visible
# ones are read after: at 300k chunks the top 500 with every hit field took 80 ms p50 (bench/scale.py,
# busy machine), with the row id alone 14 ms (a direct probe; docs/BENCHMARKS.md, issue 24).
FULL_HITS_MAX = 50
# ...with these fields while keyword text is rewritten, so a row replaced since is found by its chunk
SLIM_FIELDS = ["doc_id", "content_hash", "chunk_index"]


class ChunkSearch:
    """Top-k search over one chunk collection; `plan()` is the index in place now (its search
    parameters and how many candidates an approximate index is asked for)."""

    def __init__(
        self, client: MilvusClient, collection: str, versions: DocumentVersions, plan: Callable[[], IndexPlan]
    ) -> None:
        self.client = client
        self.collection = collection
        self.versions = versions
        self.plan = plan
        self.sizes = FilterSizes(client, collection, versions.table)
        self._dimension: int | None = None

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
        doc_ids = list(doc_ids or [])
        flt, depth = self._filter(owners, doc_ids, k)
        fields = self._fields(depth)
        try:
            results = self._search(vector, text, depth, flt, mode, fields)
        except MilvusException as exc:
            if mode != "dense" and "NaN or Inf" in str(exc):
                # BM25 over a collection with no text yet divides by an average length of 0
                if mode == "keyword" or not r.count(self.client, self.collection, r.EVERY_CHUNK):
                    return []
                return self.search(vector, text, k, owners, doc_ids, mode="dense")
            if mode == "hybrid" and "negative value" in str(exc):
                # Milvus Lite's BM25 statistics can go wrong for a moment while another process
                # writes (seen once with two processes on one server): answer from the dense leg
                log.warning("keyword leg failed in %s (%s); searching dense only", self.collection, exc)
                return self.search(vector, text, k, owners, doc_ids, mode="dense")
            raise StoreError(f"{mode} search failed in {self.collection}: {exc}") from exc
        ranked = sorted(results, key=lambda x: -x["distance"])
        # with ids and scores (or the slim fields) only, the fields of the first ones are read after
        full = fields == r.HIT_FIELDS
        best = self._visible(ranked)[:k] if full else self._first_visible(ranked, k, vector)
        return [r.hit(rank, result) for rank, result in enumerate(best, start=1)]

    def _fields(self, depth: int) -> list[str]:
        """What the hits of a search for `depth` candidates come back with (see `FULL_HITS_MAX`):
        every hit field for a few; for many, none, and the first k are read after (pymilvus took
        ~9 of 13 ms turning 250 hits with the slim fields into dicts, at 200,000 rows); the slim
        fields while keyword text is rewritten, to find a rewritten row by its chunk."""
        if depth <= FULL_HITS_MAX:
            return r.HIT_FIELDS
        return SLIM_FIELDS if self.versions.rewriting else []

    def _visible(self, results: list[dict]) -> list[dict]:
        """The results whose version is seen live (a `writing` row being renewed, an upsert, so a
        delete then an insert in Milvus Lite, can be missing from `hidden` for a moment), one per chunk."""
        live = self.versions.visibility.live({result["entity"]["doc_id"] for result in results})
        return one_per_chunk(
            [x for x in results if (x["entity"]["doc_id"], x["entity"]["content_hash"]) in live]
        )

    def _first_visible(self, results: list[dict], k: int, vector: np.ndarray | None) -> list[dict]:
        """The first k visible results, read with their fields a window at a time (2·k, then twice
        as many), so a search for 250 candidates reads 10 rows when nothing in front is hidden.
        Visibility is judged on the rows read, so a row deleted before its read gives its place to
        the next candidate (tests/store/test_search.py)."""
        kept: list[dict] = []
        start, window = 0, 2 * k
        while len(kept) < k and start < len(results):
            kept = self._visible(kept + self._with_fields(results[start : start + window], vector))
            start, window = start + window, 2 * window
        return kept[:k]

    def _with_fields(self, hits: list[dict], vector: np.ndarray | None) -> list[dict]:
        """Hits found with ids only (or `SLIM_FIELDS`), with every hit field read by primary key; a
        row rewritten since the search (`rag.store.keyword_refresh`) is read by its chunk instead.

        The fields are read with a search restricted to those primary keys, not a query: Milvus
        Lite 2.5.1 answers `pk in [5 ids]` as a query in 8-22 ms at 200,000 rows (it grows with the
        rows) and as a search in 1.8-1.9 ms, every id back (500 of 500 with an unrelated vector). At
        1M rows an owner-filtered top 5 took 17.3 ms p50 against 54.2 ms with the query, same run
        (docs/BENCHMARKS.md, "Owner-filtered search at 1M, third round"). An id the search doesn't
        return is read by a query, as before."""
        if not hits:
            return []
        ids = [h["id"] for h in hits]
        by_id = {row["id"]: row["entity"] for row in self._read_by_search(ids, vector)}
        unread = [pk for pk in ids if pk not in by_id]
        if unread:
            by_id |= {row["pk"]: row for row in self._read(r.pk_in(unread))}
        # a row gone since the search (its document deleted, or rewritten): found by its chunk
        # when the search gave its chunk (`SLIM_FIELDS`), else left out
        gone = [h["entity"] for h in hits if h["id"] not in by_id and h["entity"]]
        by_chunk = {}
        if gone:
            flt = " or ".join(
                f"({r.of_version(e['doc_id'], e['content_hash'])} and chunk_index == {e['chunk_index']})"
                for e in gone
            )
            by_chunk = {_chunk_key(row): row for row in self._read(flt)}
        entities = [
            by_id.get(h["id"]) or (by_chunk.get(_chunk_key(h["entity"])) if h["entity"] else None)
            for h in hits
        ]
        return [{**h, "entity": e} for h, e in zip(hits, entities, strict=True) if e is not None]

    def _read_by_search(self, ids: list[int], vector: np.ndarray | None) -> list[dict]:
        """The rows with these primary keys, with every hit field, from a dense search filtered to
        them (any vector finds them all: the filter leaves only these rows)."""
        probe = vector if vector is not None else self._unit_vector()
        try:
            return self.client.search(
                self.collection,
                data=[np.asarray(probe).tolist()],
                anns_field="vector",
                limit=len(ids),
                filter=r.pk_in(ids),
                output_fields=r.HIT_FIELDS,
                search_params=self._cosine(len(ids)),
            )[0]
        except MilvusException as exc:
            raise StoreError(f"reading the hits' fields failed in {self.collection}: {exc}") from exc

    def _unit_vector(self) -> np.ndarray:
        """A vector of the collection's dimension for a search whose filter alone picks the rows."""
        if self._dimension is None:
            self._dimension = dimension_of(self.client.describe_collection(self.collection))
        probe = np.zeros(self._dimension, dtype=np.float32)
        probe[0] = 1.0
        return probe

    def _cosine(self, limit: int) -> dict:
        """Dense search parameters for `limit` hits with the index in place now."""
        return {"metric_type": "COSINE", "params": self.plan().search_params_for(limit)}

    def _read(self, flt: str) -> list[dict]:
        try:
            return self.client.query(self.collection, filter=flt, output_fields=r.HIT_FIELDS)
        except MilvusException as exc:
            raise StoreError(f"reading the hits' fields failed in {self.collection}: {exc}") from exc

    def closest(
        self,
        vectors: Sequence[np.ndarray],
        owners: Sequence[str] | None,
        doc_ids: Iterable[str] | None = None,
    ) -> list[float]:
        """The best cosine similarity each vector finds among the chunks a dense search would show
        (0.0 when none): `search(vector, "", 1, …, mode="dense")[0].score` for each, in one request
        to Milvus where the follow-up gate made two searches (rag/retrieval/query.py)."""
        if not len(vectors):
            return []
        flt, depth = self._filter(owners, list(doc_ids or []), 1)
        try:
            results = self.client.search(
                self.collection,
                data=[np.asarray(v).tolist() for v in vectors],
                anns_field="vector",
                limit=depth,
                filter=flt,
                output_fields=["doc_id", "content_hash"],
                search_params=self._cosine(depth),
            )
        except MilvusException as exc:
            raise StoreError(f"dense search failed in {self.collection}: {exc}") from exc
        live = self.versions.visibility.live({x["entity"]["doc_id"] for rows in results for x in rows})
        return [
            max(
                (x["distance"] for x in rows if (x["entity"]["doc_id"], x["entity"]["content_hash"]) in live),
                default=0.0,
            )
            for rows in results
        ]

    def _filter(self, owners: Sequence[str] | None, doc_ids: list[str], k: int) -> tuple[str, int]:
        """The Milvus filter for the owners', documents' and live versions' chunks, and how many
        candidates to ask for to keep k (more when hidden versions are over-fetched, not filtered)."""
        conditions = [] if owners is None else [r.is_in("owner", owners)]
        if doc_ids:
            conditions.append(r.is_in("doc_id", doc_ids))
        depth = self._depth(k, " and ".join(conditions))
        hidden = self.versions.visibility.hidden()
        if 0 < len(hidden) <= EXCLUDE_EXACT:
            # `not (a and b)` is refused by Milvus Lite's planner; its De Morgan form is not
            conditions += [
                f'(doc_id != "{r.escape(d)}" or content_hash != "{r.escape(h)}")' for d, h in hidden
            ]
        depth += 3 * k if len(hidden) > EXCLUDE_EXACT else 0
        depth += k if self.versions.rewriting else 0  # a chunk may be found twice (`one_per_chunk`)
        return " and ".join(conditions), depth

    def _depth(self, k: int, scope: str) -> int:
        """Candidates to ask for to keep k within `scope` (the owner and document filter): more
        when an approximate index searches a scope that keeps few rows (`candidates_for`)."""
        plan = self.plan()
        if not plan.candidates or not scope:
            return plan.limit(k)
        return plan.limit(k, self.sizes.kept(scope), self.sizes.rows(r.EVERY_CHUNK))

    def _search(
        self, vector: np.ndarray | None, text: str, limit: int, flt: str, mode: str, fields: list[str]
    ) -> list[dict]:
        dense = {"data": [vector.tolist() if vector is not None else []], "anns_field": "vector"}
        keyword = {"data": [text], "anns_field": "sparse"}
        if mode == "dense":
            return self.client.search(
                self.collection,
                **dense,
                limit=limit,
                filter=flt,
                output_fields=fields,
                search_params=self._cosine(limit),
            )[0]
        if mode == "keyword":
            return self.client.search(
                self.collection, **keyword, limit=limit, filter=flt, output_fields=fields,
                search_params={"metric_type": "BM25"},
            )[0]  # fmt: skip
        depth = CANDIDATES_PER_K * limit
        legs = [
            AnnSearchRequest(**dense, param=self._cosine(depth), limit=depth, expr=flt),
            AnnSearchRequest(**keyword, param={"metric_type": "BM25"}, limit=depth, expr=flt),
        ]
        return self.client.hybrid_search(
            self.collection, legs, RRFRanker(RRF_K), limit=limit, output_fields=fields
        )[0]


def one_per_chunk(results: list[dict]) -> list[dict]:
    """The first result for each chunk: while its keyword text is rewritten a chunk has two rows for
    a moment (the new one is written before the old one goes: `rag.store.keyword_refresh`)."""
    seen: set[tuple[str, str, int]] = set()
    kept = []
    for result in results:
        key = _chunk_key(result["entity"])
        if key not in seen:
            seen.add(key)
            kept.append(result)
    return kept


def _chunk_key(entity: dict) -> tuple[str, str, int]:
    return entity["doc_id"], entity["content_hash"], entity["chunk_index"]
