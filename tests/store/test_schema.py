"""Index creation waits for the build by polling, and says when an index fails or goes missing."""

from __future__ import annotations

import pytest
from pymilvus import MilvusClient, MilvusException

from rag.errors import StoreError
from rag.store import schema as store_schema


class ScriptedClient:
    """Answers describe_index with the given states in turn (None: no such index)."""

    def __init__(self, *states: str | None) -> None:
        self.states = list(states)
        self.created = []

    def create_index(self, name, index, sync=True):
        self.created.append((name, sync))

    def describe_index(self, name, index_name):
        state = self.states.pop(0)
        return None if state is None else {"index_name": index_name, "state": state}


def vector_index():
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    return index


def test_waits_while_the_index_builds_without_pymilvus_fixed_sleep(monkeypatch):
    monkeypatch.setattr(store_schema, "INDEX_POLL_S", (0.0, 0.0))
    client = ScriptedClient("InProgress", "InProgress", "Finished")
    store_schema.create_indexes(client, "c", vector_index())
    assert client.created == [("c", False)] and client.states == []


@pytest.mark.parametrize("state", ["Failed", None])
def test_a_failed_or_missing_index_is_an_error_naming_it(monkeypatch, state):
    monkeypatch.setattr(store_schema, "INDEX_POLL_S", (0.0, 0.0))
    with pytest.raises(MilvusException, match=r"vector index of c is (Failed|missing)"):
        store_schema.create_indexes(ScriptedClient("InProgress", state), "c", vector_index())


def test_an_index_that_never_finishes_is_reported(monkeypatch):
    monkeypatch.setattr(store_schema, "INDEX_POLL_S", (0.0, 0.0))
    monkeypatch.setattr(store_schema, "INDEX_BUILD_S", -1)  # already past the deadline
    with pytest.raises(MilvusException, match="is InProgress"):
        store_schema.create_indexes(ScriptedClient("InProgress"), "c", vector_index())


STARTING = 'Assert "init_flag_ == true" at mmap_manager.h:42 => Mmap manager has not been init'


class StillStarting:
    """A real Milvus Lite client whose first `refusals` create_collection calls get the answer
    Milvus Lite 2.5 gave on a busy machine right after its start."""

    def __init__(self, client: MilvusClient, refusals: int) -> None:
        self.client, self.refusals = client, refusals

    def create_collection(self, *args, **kwargs):
        if self.refusals:
            self.refusals -= 1
            raise MilvusException(code=65535, message=STARTING)
        return self.client.create_collection(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_store_still_starting_is_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(store_schema, "STARTING_PAUSE_S", (0.0, 0.0))  # the waits, not their length
    client = StillStarting(MilvusClient(str(tmp_path / "s.db")), refusals=3)
    store_schema.create_chunks(client, "chunks", 4, "m")
    assert client.refusals == 0 and client.has_collection("chunks")


def test_a_store_that_never_starts_is_reported_without_a_wrong_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(store_schema, "STARTING_PAUSE_S", (0.0, 0.0))
    monkeypatch.setattr(store_schema, "STARTING_WAIT_S", -1)  # already past the deadline
    client = StillStarting(MilvusClient(str(tmp_path / "s.db")), refusals=1)
    with pytest.raises(StoreError) as info:
        store_schema.create_chunks(client, "chunks", 4, "m")
    assert "Mmap manager has not been init" in str(info.value)
    assert "keyword search" not in str(info.value)  # the old message blamed the Milvus version


def test_a_milvus_lite_server_slow_to_come_up_is_waited_for(tmp_path, monkeypatch):
    """At load 15 the Lite server's socket appeared after pymilvus' default 10 s wait; here its
    start is delayed 12 s (the binary runs after a sleep), and the store still opens."""
    from milvus_lite.server import Server

    from tests.conftest import make_settings

    started = Server.args.fget

    def delayed(server):
        return ["sh", "-c", 'sleep 12; exec "$@"', "milvus", *started(server)]

    monkeypatch.setattr(Server, "args", property(delayed))
    client = store_schema.connect(make_settings(tmp_path / "data"))
    try:
        assert client.list_collections() == []
    finally:
        client.close()
