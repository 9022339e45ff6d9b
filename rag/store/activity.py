"""The table of workspace uses (`<collection>_uses`), kept beside the chunks so that every app process
on one Milvus server sees the same times and none deletes a workspace another one serves. Only the
Milvus side lives here; when a workspace counts as abandoned is `rag.workspace.activity`'s policy."""

from __future__ import annotations

from collections.abc import Sequence

from pymilvus import MilvusClient

from rag.store import rows as r
from rag.store.schema import DUMMY, INSERT_BATCH


class ActivityTable:
    """Owner → unix seconds of its last use, append-only (see `record`)."""

    def __init__(self, client: MilvusClient, name: str) -> None:
        self.client = client
        self.name = name

    def record(self, last_used: dict[str, int]) -> None:
        """Owner → unix seconds of its last use. Each use is a new row; then the rows of these owners
        older than every use just written go. So a reader in another process always finds each
        owner's newest use: an upsert (a delete, then an insert, in Milvus Lite) hid it from 8-20% of
        the reads made meanwhile, and another replica deleted a workspace in use."""
        if not last_used:
            return
        rows = [{"owner": owner, "last_used": at, "unused": DUMMY} for owner, at in last_used.items()]
        for batch in r.batched(rows, INSERT_BATCH):
            self.client.insert(self.name, list(batch))
        older = min(last_used.values())
        for owners in r.batched(list(last_used), 1000):
            self.client.delete(self.name, filter=f"{r.is_in('owner', owners)} and last_used < {older}")

    def latest(self, prefix: str = "", owners: Sequence[str] | None = None) -> dict[str, int]:
        """Owner → last use, for owners whose id starts with `prefix` (or the given owners)."""
        flt = r.is_in("owner", owners) if owners is not None else r.starts_with("owner", prefix)
        return r.latest_per_owner(
            r.query_all(self.client, self.name, flt, ["owner", "last_used"]), "last_used"
        )

    def delete(self, owner: str) -> None:
        self.client.delete(self.name, filter=r.eq("owner", owner))
