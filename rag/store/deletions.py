"""The marks a workspace's deletion leaves (`<collection>_deletions`), so that an upload into it
that began before the delete keeps nothing.

Why a mark: from its `begin` on, an upload's `writing` row is the mark a delete takes away
(`rag.store.versions`). Before that, while the file is parsed, its chunks counted and the quota
checked, the upload has nothing in the store for a delete by owner to take: the write then began
as if nothing had happened, and the document appeared in the deleted workspace
(tests/reliability/test_delete_during_upload.py). So an upload reads its workspace's mark when it
starts (`latest`), and the write refuses to begin, or to go on, once the mark has moved.

A mark is a number, not a flag: every upload that starts after a delete reads that delete's mark
and compares against it, so a mark left by a process killed mid-delete (or never forgotten) blocks
nothing. The janitor forgets marks older than `KEEP_S`. Append-only like the table of uses: one row
per delete, older rows of the owner pruned, so a reader in another process never finds none while
an upsert (Milvus Lite: a delete, then an insert) is under way.
"""

from __future__ import annotations

import time

from pymilvus import MilvusClient

from rag.store import rows as r
from rag.store.schema import DUMMY

# A mark matters only to an upload that read the one before it and has not begun its write yet:
# parsing is bounded by RAG_PARSE_TIMEOUT_S (minutes) and the wait for an ingest slot by the other
# uploads' turns. A day is far beyond both; a mark forgotten earlier would let such an upload in.
KEEP_S = 86_400


class OwnerDeletions:
    """Owner → the mark of its latest deletion (microseconds since the epoch, always increasing)."""

    def __init__(self, client: MilvusClient, name: str) -> None:
        self.client = client
        self.name = name

    def mark(self, owner: str) -> int:
        """Record that `owner`'s workspace is deleted now; greater than any earlier mark of it,
        even if the clock went back."""
        mark = max(time.time_ns() // 1000, self.latest(owner) + 1)
        self.client.insert(self.name, [{"owner": owner, "deleted_at": mark, "unused": DUMMY}])
        self.client.delete(self.name, filter=f"{r.eq('owner', owner)} and deleted_at < {mark}")
        return mark

    def latest(self, owner: str) -> int:
        """The mark of `owner`'s latest deletion; 0 when none is remembered."""
        rows = self.client.query(self.name, filter=r.eq("owner", owner), output_fields=["deleted_at"])
        return max((int(row["deleted_at"]) for row in rows), default=0)

    def forget_before(self, cutoff: float) -> None:
        """Forget the marks of deletions before unix time `cutoff` (the janitor: now - `KEEP_S`)."""
        self.client.delete(self.name, filter=f"deleted_at < {int(cutoff * 1_000_000)}")
