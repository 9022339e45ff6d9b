"""The version table's answers the keyword path asks for with every question, kept between writes
in an embedded Milvus Lite file, as `visibility` keeps what searches may show.

Why: ranking keyword hits with their documents (`rag.retrieval.documents`) asks, per question,
which versions of its ~20 candidate documents are live (`Listings.keyword_versions`) and how many
documents the owners have (`Listings.count_documents`): 1.8 and 1.2 ms p50 of a 9.7 ms question
once the documents' words are kept (`rag.retrieval.document_words`; Japanese probe, busy machine).
Both answers change only when the version table is written. In an embedded file every such write
goes through `DocumentVersions`, which moves `Visibility.generation` after it, so an answer read
while the generation stood still is kept until it moves, and an answer read across a write is not
kept. On a Milvus server other processes write too: read every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence

from rag.store.visibility import Visibility
from rag.types import DocumentInfo

# answers kept (a document's live version each: ~530 bytes with its key, tracemalloc over 20,000,
# so ~53 MB at most); beyond, start again
MAX_KEPT = 100_000


class VersionAnswers:
    """Each document's live version and owners' document counts, kept while nothing is written
    (where `visibility` caches: an embedded file); shared by threads."""

    def __init__(
        self,
        visibility: Visibility,
        read_live: Callable[[Sequence[str]], dict[str, DocumentInfo]],
        read_count: Callable[[Sequence[str] | None], int],
    ) -> None:
        self.visibility = visibility
        self._read_live = read_live
        self._read_count = read_count
        self._lock = threading.Lock()
        self._generation = -1
        self._kept: dict[Hashable, object] = {}

    def live(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        """doc_id → its live version (the newest), for those of `doc_ids` that have one."""
        if not self.visibility.cache:
            return self._read_live(doc_ids)
        generation = self.visibility.generation
        wanted = list(dict.fromkeys(doc_ids))
        known = self._take([("live", d) for d in wanted], generation)
        missing = [d for d in wanted if ("live", d) not in known]
        if missing:
            found = self._read_live(missing)
            fetched = {("live", d): found.get(d) for d in missing}
            self._keep(fetched, generation)
            known.update(fetched)
        return {d: info for d in wanted if (info := known[("live", d)]) is not None}

    def count(self, owners: Sequence[str] | None) -> int:
        """The owners' live documents (every owner's if None)."""
        if not self.visibility.cache:
            return self._read_count(owners)
        generation = self.visibility.generation
        key = ("count", None if owners is None else tuple(sorted(set(owners))))
        known = self._take([key], generation)
        if key not in known:
            known[key] = self._read_count(owners)
            self._keep({key: known[key]}, generation)
        return known[key]

    def _take(self, keys: list[Hashable], generation: int) -> dict[Hashable, object]:
        with self._lock:
            if generation != self._generation:  # written since: nothing kept holds
                self._kept, self._generation = {}, generation
            return {key: self._kept[key] for key in keys if key in self._kept}

    def _keep(self, answers: dict[Hashable, object], generation: int) -> None:
        with self._lock:
            if generation == self._generation == self.visibility.generation:  # no write meanwhile
                if len(self._kept) + len(answers) > MAX_KEPT:
                    self._kept = {}
                self._kept.update(answers)
