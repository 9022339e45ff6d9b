"""The vector index of one chunk collection: built by plan (`rag.store.index_plans`), read back at
open, and rebuilt when the collection's size has moved into another band."""

from __future__ import annotations

import logging
import threading

from pymilvus import MilvusClient, MilvusException

from rag.errors import StoreError
from rag.store import schema
from rag.store.index_plans import IndexPlan, hnsw_plan, ivf_plan, plan_index

log = logging.getLogger(__name__)


class VectorIndex:
    """The index a collection has (`plan`) and the policy inputs that choose the next one: whether
    the store is Milvus Lite (which builds only FLAT, IVF_FLAT and AUTOINDEX) and RAG_INDEX_TYPE."""

    def __init__(self, client: MilvusClient, collection: str, lite: bool, forced: str) -> None:
        self.client = client
        self.collection = collection
        self.lite = lite
        self.forced = forced
        self.plan = IndexPlan("FLAT")

    def create(self) -> IndexPlan:
        """The index of a new, empty collection."""
        self.plan = self.build(self.client, self.collection, plan_index(0, self.lite, self.forced))
        return self.plan

    def read(self) -> IndexPlan:
        """The index the collection has now, with the search parameters our plan gives it."""
        try:
            info = self.client.describe_index(self.collection, "vector") or {}
        except MilvusException:
            info = {}
        kind = str(info.get("index_type", "FLAT")).upper()
        if kind == "IVF_FLAT":
            self.plan = ivf_plan(int(info.get("nlist", 128)))
        elif kind == "HNSW":
            self.plan = hnsw_plan()
        elif kind == "AUTOINDEX":
            self.plan = plan_index(0, self.lite, "AUTOINDEX")
        else:
            self.plan = IndexPlan(kind)
        return self.plan

    def rebuild(self, rows: int, lock: threading.Lock, force: bool = False) -> IndexPlan | None:
        """Rebuild the index if `rows` calls for another one (or `force`); the new plan, or None when
        the current index was kept. The collection is released while the index is rebuilt: searches
        fail meanwhile, so this runs before serving."""
        plan = plan_index(rows, self.lite, self.forced, current=None if force else self.plan)
        if plan == self.plan and not force:
            return None
        with lock:
            log.info("rebuilding the index of %s (%d rows): %s", self.collection, rows, plan.describe())
            self.client.release_collection(self.collection)
            self.client.drop_index(self.collection, "vector")
            plan = self.build(self.client, self.collection, plan)
            self.client.load_collection(self.collection)
        self.plan = plan
        return plan

    def build(self, client: MilvusClient, name: str, plan: IndexPlan) -> IndexPlan:
        """Build `plan` on collection `name`; returns the plan built (FLAT on a Lite server that
        refused HNSW)."""
        try:
            schema.create_indexes(client, name, schema.vector_index(plan))
            return plan
        except MilvusException as exc:
            if plan.index_type != "HNSW" or "local mode" not in str(exc):
                raise StoreError(f"cannot build index {plan.describe()} on {name}: {exc}") from exc
        # a Milvus Lite server (scripts/milvus_lite_server.py) looks like a server but builds only
        # FLAT and IVF_FLAT: treat it as Lite from here on
        self.lite = True
        return self.build(client, name, plan_index(0, lite=True))
