"""Each document version's counted words (`documents.DocumentWords`), kept by version, so that the
keyword path's document ranking reads from the store only the candidate documents it hasn't met.

Why: ranking the keyword candidates with their whole documents (`rag.retrieval.documents`) read
every candidate document's keyword text for every question (up to `DOCUMENT_ROWS_MAX`, 4,096
chunk rows) and scanned it in Python: on the Japanese Debian Reference (busy machine, 100 probe
questions, p50) 7.0 ms reading and 8.9 ms scoring of a 25.6 ms question (docs/BENCHMARKS.md, issue
23 third round). A version's words never change: what the score needs (each word's count and the
total) is counted once and kept, and scoring the kept counts takes 0.1 ms.

What names a version's text: doc_id, content_hash, `added_at` and its chunk count, as the version
table has them (a replacement is another content_hash; a deletion and a new upload of the same
content another `added_at`). Rows of a live version are written once, except by a pass rewriting
keyword text for a newer analyzer (`rag.store.keyword_refresh`), so what is kept holds for one
`VectorStore.keyword_text_state()`: nothing is kept or served while a pass may run, and all of it
is dropped once one has. A version is kept only when all its chunks were read (one deleted while
it was read comes back short). Each question still asks the store which versions are live (one
query: `VectorStore.keyword_versions`), so a deleted or replaced document is never scored.

Bound: `WORD_BUDGET` words' worth: the distinct words summed over the versions kept, plus
`ENTRY_WORDS` a version (what keeping it costs whatever its words, so versions of few or no words
stay bounded too), least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from rag.retrieval.documents import DocumentWords, count_words
from rag.store.vector_store import VectorStore
from rag.types import DocumentInfo

# 56-80 bytes a distinct word of a version kept (its slot and place, and the word itself, which
# every version shares: `sys.intern`; tracemalloc over three stores), so 400,000 is ~32 MB. The
# Japanese Debian Reference's 110 documents hold 30,462 (the largest 905), the Milvus docs' 271
# documents 84,267 (the largest 2,124): either fits whole several times over.
WORD_BUDGET = 400_000
# a version kept costs ~620 bytes before its words (its key, the counts' dict and array, its place
# in the LRU; tracemalloc over 20,000 versions of no words): as much as ~10 words. Not counted, a
# version of no words (keyword text of symbols only, "★ → ★") cost nothing, and such versions were
# kept without bound.
ENTRY_WORDS = 10
VersionKey = tuple[str, str, int, int]  # doc_id, content_hash, added_at, chunks


class DocumentWordsCache:
    """Counted words by version, up to `budget` words' worth in all (`ENTRY_WORDS` a version
    besides its distinct words); shared by threads."""

    def __init__(self, budget: int = WORD_BUDGET) -> None:
        self.budget = budget
        self._kept: OrderedDict[VersionKey, DocumentWords] = OrderedDict()  # least recent first
        self._words = 0
        self._state: Hashable | None = None  # the keyword text state what is kept was read in
        self._lock = threading.Lock()

    @property
    def words(self) -> int:
        """Distinct words kept, summed over versions."""
        return self._words

    @property
    def versions(self) -> int:
        """Versions kept (with their words, at most `budget` / `ENTRY_WORDS`)."""
        return len(self._kept)

    def read(
        self, store: VectorStore, doc_ids: Sequence[str], owners: Sequence[str] | None
    ) -> dict[str, DocumentWords]:
        """doc_id → the counted keyword text of its live version, for the documents
        `VectorStore.keyword_texts` would read (same ones, same order); only versions not kept are
        read from the store."""
        state = store.keyword_text_state()  # before reading: a pass starting meanwhile changes it
        versions = store.keyword_versions(doc_ids, owners)
        kept = self._take([_key(v) for v in versions], state)
        missing = [v for v in versions if _key(v) not in kept]
        texts = store.version_keyword_texts(missing) if missing else {}
        fresh = {_key(v): count_words(texts.get(v.doc_id, [])) for v in missing}
        if state is not None and store.keyword_text_state() == state:
            whole = [v for v in missing if len(texts.get(v.doc_id, ())) == v.chunks]
            self._keep({_key(v): fresh[_key(v)] for v in whole}, state)
        return {v.doc_id: kept[_key(v)] if _key(v) in kept else fresh[_key(v)] for v in versions}

    def _take(self, keys: list[VersionKey], state: Hashable | None) -> dict[VersionKey, DocumentWords]:
        """The kept entries among `keys`, marked as just used; none while the text may change."""
        if state is None:
            return {}
        with self._lock:
            if state != self._state:  # the text was rewritten since (or nothing was kept yet)
                self._kept.clear()
                self._words, self._state = 0, state
            found = {key: self._kept[key] for key in keys if key in self._kept}
            for key in found:
                self._kept.move_to_end(key)
            return found

    def _keep(self, fresh: dict[VersionKey, DocumentWords], state: Hashable) -> None:
        with self._lock:
            if state != self._state:  # another question met a newer state meanwhile
                return
            for key, words in fresh.items():
                if key not in self._kept and words.size + ENTRY_WORDS <= self.budget:
                    self._kept[key] = words
                    self._words += words.size
            while self._words + ENTRY_WORDS * len(self._kept) > self.budget:
                self._words -= self._kept.popitem(last=False)[1].size


def _key(version: DocumentInfo) -> VersionKey:
    return version.doc_id, version.content_hash, version.added_at, version.chunks
