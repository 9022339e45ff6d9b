"""The store's record of when each workspace was last used, which app replicas share through one
Milvus server: a replica deletes a workspace whose last use it can't see, so a use once recorded
must stay visible to every reader, whatever another process writes meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pymilvus import DataType, MilvusClient

from rag.settings import Settings
from rag.store import schema as store_schema
from rag.store.vector_store import VectorStore
from tests.conftest import make_settings

DIM = 4


def server_store(milvus_uri: str, tmp_path: Path) -> VectorStore:
    return VectorStore(make_settings(tmp_path, milvus_uri=milvus_uri), DIM)


def test_a_recorded_use_stays_visible_while_another_replica_records_newer_ones(milvus_uri, tmp_path):
    """Replica A records its workspace's uses as they come; replica B reads the table meanwhile.
    (Milvus Lite's upsert is a delete then an insert: with the record kept by upserts, 147 of 1,807
    reads found no row, and in CI replica B deleted a workspace in use on A.)"""
    writer, reader = server_store(milvus_uri, tmp_path / "a"), server_store(milvus_uri, tmp_path / "b")
    owner = "anon:" + "a" * 32
    writer.uses.record({owner: 1_000})
    stop = threading.Event()
    written: list[int] = []

    def record_uses() -> None:
        at = 1_001
        while not stop.is_set():
            writer.uses.record({owner: at})
            written.append(at)
            at += 1

    thread = threading.Thread(target=record_uses)
    thread.start()
    reads, missed, went_back, seen = 0, 0, 0, 1_000
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            last_used = reader.uses.latest("anon:").get(owner)
            reads += 1
            if last_used is None:
                missed += 1
            elif last_used < seen:
                went_back += 1
            else:
                seen = last_used
    finally:
        stop.set()
        thread.join()
    assert len(written) > 20 and reads > 20  # the two really overlapped
    assert (missed, went_back) == (0, 0), f"{missed} of {reads} reads missed the use, {went_back} went back"
    assert reader.uses.latest(owners=[owner]) == {owner: written[-1]}


def test_the_record_keeps_the_newest_use_of_each_workspace_and_few_rows(settings: Settings):
    store = VectorStore(settings, DIM)
    one, two = "anon:" + "1" * 32, "anon:" + "2" * 32
    store.uses.record({one: 100, two: 50})
    store.uses.record({one: 90})  # an older use, recorded late by another replica
    for at in range(200, 220):
        store.uses.record({two: at})
    assert store.uses.latest("anon:") == {one: 100, two: 219}
    rows = store.client.query(store.uses.name, filter=f'owner == "{two}"', output_fields=["owner"])
    assert len(rows) <= 2  # older uses are pruned as newer ones are written
    store.uses.delete(two)
    assert store.uses.latest("anon:") == {one: 100}


def test_a_store_with_the_old_activity_table_keeps_its_uses(settings: Settings):
    """Stores from before the append-only record had one row per owner, keyed by the owner."""
    Path(settings.store.data_dir).mkdir(parents=True, exist_ok=True)
    client = MilvusClient(settings.store.milvus_target)
    old = f"{settings.store.collection}_activity"
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("owner", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("last_used", DataType.INT64)
    store_schema._create_small(client, old, schema)
    client.insert(old, [{"owner": "anon:" + "3" * 32, "last_used": 77, "unused": store_schema.DUMMY}])
    client.close()
    store = VectorStore(settings, DIM)
    assert store.uses.latest("anon:") == {"anon:" + "3" * 32: 77}
    assert not store.client.has_collection(old)
