"""Document versions already read, kept by version key, so that a listing asks Milvus only which
versions are live (the primary key and `added_at`) and reads the other fields of new ones only.

Listing one owner's 10,000 documents (bench/scale.py, docs/BENCHMARKS.md) spent its time moving
rows: on the busy machine, Milvus Lite plus pymilvus took 330 ms for the seven listed fields of
10,000 version rows and 21 ms for the key and `added_at` alone, and turning the rows into
`DocumentInfo`s took 160 ms more. A version row's fields never change while its key and `added_at`
stay the same (a re-upload of the same content writes a new row with a new `added_at`), so what
was read once is still right whenever the pair is seen again: nothing is ever stale, in any
process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from pymilvus import MilvusClient

from rag.store import rows as r
from rag.types import DocumentInfo

KEY_FIELDS = ["version", "added_at"]
FETCH_BATCH = 1000  # versions read per `version in [...]` query
MAX_KNOWN = 100_000  # versions kept (~40 MB); beyond, the cache starts again


class KnownVersions:
    """`DocumentInfo` by (version key, `added_at`) for one version table; shared by threads."""

    def __init__(self, client: MilvusClient, table: str) -> None:
        self.client = client
        self.table = table
        self._known: dict[tuple[str, int], DocumentInfo] = {}
        self._lock = threading.Lock()

    def matching(self, flt: str) -> list[DocumentInfo]:
        """Every version row matching `flt`, as `DocumentInfo`s (in no particular order)."""
        rows = r.query_all(self.client, self.table, flt, KEY_FIELDS)
        keys = [(row["version"], row["added_at"]) for row in rows]
        with self._lock:
            known = [self._known.get(key) for key in keys]
        missing = [key[0] for key, info in zip(keys, known, strict=True) if info is None]
        fresh = self._read(missing) if missing else {}
        return [info for info in known if info is not None] + [fresh[key] for key in keys if key in fresh]

    def _read(self, versions: list[str]) -> dict[tuple[str, int], DocumentInfo]:
        """The full rows of these versions, remembered. A version rewritten since its key was read
        comes back with another `added_at` and is left out of this listing, like one deleted since."""
        fresh: dict[tuple[str, int], DocumentInfo] = {}
        for batch in r.batched(versions, FETCH_BATCH):
            rows = self.client.query(
                self.table, filter=r.is_in("version", batch), output_fields=r.VERSION_FIELDS, limit=len(batch)
            )
            fresh.update(((row["version"], row["added_at"]), r.info(row)) for row in rows)
        with self._lock:
            if len(self._known) + len(fresh) > MAX_KNOWN:
                self._known.clear()
            self._known.update(fresh)
        return fresh


def newest(infos: Iterable[DocumentInfo]) -> dict[str, DocumentInfo]:
    """doc_id → its most recently added version (`rows.newest` for `DocumentInfo`s)."""
    best: dict[str, DocumentInfo] = {}
    for info in infos:
        have = best.get(info.doc_id)
        if have is None or info.added_at >= have.added_at:
            best[info.doc_id] = info
    return best
