"""Which document versions a search may show, read from the version table (`rag.store.versions`).

A search leaves out the chunks of versions that are not live (read before it, to filter them out)
and shows a chunk only if its version is seen live (read after it, for the documents it found).
Those were two of a search's three round trips to Milvus, and a follow-up question makes three
searches (issue 24: ~24 ms each in gRPC). In an embedded Milvus Lite file this process is the only
writer (the file is refused to a second process), so both answers are kept until the next write to
the version table: every such write goes through `DocumentVersions`, which calls `changed()`
after it. On a Milvus server other processes write too, and every search reads the table again.

Why a cached answer is never newer or older than a read would be: `changed()` bumps a generation
after each write completes, and an answer read meanwhile is kept only if the generation did not move
while it was read, and used only while it has not moved since. A search that used an answer read
just before a write is the search that would have run just before it: the live check after it
still drops chunks of a version that was not live in that answer (a version being written).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

Versions = set[tuple[str, str]]  # (doc_id, content_hash)
MAX_CACHED_DOCUMENTS = 100_000  # documents whose live versions are kept; beyond, start again (~30 MB)


class Visibility:
    """The hidden versions and the live ones of given documents, cached while nothing is written
    (`cache=True`: an embedded file) or read every time (`cache=False`: a server)."""

    def __init__(
        self,
        read_hidden: Callable[[], Versions],
        read_live: Callable[[Iterable[str]], Versions],
        cache: bool,
    ) -> None:
        self._read_hidden = read_hidden
        self._read_live = read_live
        self.cache = cache
        self._lock = threading.Lock()
        self._generation = 0
        self._hidden: frozenset[tuple[str, str]] | None = None
        self._live: dict[str, frozenset[str]] = {}  # doc_id -> its live content hashes (often none)

    @property
    def generation(self) -> int:
        """Writes to the version table so far: an answer read while it stood still holds until it
        moves (`rag.store.version_answers`)."""
        return self._generation

    def changed(self) -> None:
        """The version table was written: every cached answer is stale."""
        with self._lock:
            self._generation += 1
            self._hidden = None
            self._live = {}

    def hidden(self) -> Versions:
        """Versions that are not live (being written, superseded, left by a crash)."""
        if not self.cache:
            return self._read_hidden()
        with self._lock:
            if self._hidden is not None:
                return set(self._hidden)
            generation = self._generation
        hidden = self._read_hidden()
        with self._lock:
            if self._generation == generation:
                self._hidden = frozenset(hidden)
        return hidden

    def live(self, doc_ids: Iterable[str]) -> Versions:
        """The live versions of these documents."""
        wanted = set(doc_ids)
        if not self.cache or not wanted:
            return self._read_live(wanted) if wanted else set()
        with self._lock:
            known = {d: self._live[d] for d in wanted if d in self._live}
            generation = self._generation
        missing = wanted - known.keys()
        if missing:
            fetched: dict[str, set[str]] = {d: set() for d in missing}
            for doc_id, content_hash in self._read_live(missing):
                fetched[doc_id].add(content_hash)
            with self._lock:
                if self._generation == generation:
                    if len(self._live) + len(fetched) > MAX_CACHED_DOCUMENTS:
                        self._live = {}
                    self._live.update((d, frozenset(h)) for d, h in fetched.items())
            known.update(fetched)
        return {(doc_id, h) for doc_id, hashes in known.items() for h in hashes}
