"""When a workspace was last used (the janitor's policy), on a real store: a document added, a use
recorded by any replica, and uses still in memory all count, and a failed flush loses none."""

from __future__ import annotations

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import Chunk
from rag.workspace.activity import WorkspaceActivity
from rag.workspace.conversations import ConversationStore


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def activity_of(store: VectorStore, tmp_path, now: list[float]) -> WorkspaceActivity:
    conversations = ConversationStore(tmp_path / "conversations.db")
    return WorkspaceActivity(store, conversations, lambda: now[0], "anon:")


def test_last_use_is_the_newest_of_a_document_added_and_a_use_recorded(store: VectorStore, tmp_path):
    store.add_document([Chunk("d1", "a.md", 0, 0, "owl")], np.eye(4, dtype=np.float32)[:1], "anon:a", "h", 1)
    added = store.list_documents(["anon:a"])[0].added_at
    store.uses.record({"anon:a": added - 100, "anon:b": 50})  # a's upload is newer than its use
    store.uses.record({"user:ann": added + 100})  # not a workspace that expires
    activity = activity_of(store, tmp_path, [0.0])
    assert activity.last_used() == {"anon:a": added, "anon:b": 50}
    assert activity.recorded_use("anon:b") == 50 and activity.recorded_use("anon:c") == 0
    activity.erase("anon:b")
    assert activity.last_used() == {"anon:a": added}


def test_uses_wait_in_memory_until_a_flush_and_a_failed_flush_keeps_them(
    store: VectorStore, tmp_path, monkeypatch
):
    now = [1_000.0]
    activity = activity_of(store, tmp_path, now)
    activity.touch("anon:a")
    activity.touch("user:ann")  # only `anon:` workspaces expire: not recorded
    assert activity.is_pending("anon:a") and not activity.is_pending("user:ann")
    assert store.uses.latest("anon:") == {}  # nothing written before the flush

    def down(last_used):
        now[0] = 1_100.0
        activity.touch("anon:a")  # used again while the flush was under way
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(store.uses, "record", down)
    with pytest.raises(ConnectionError):
        activity.flush()
    assert activity.is_pending("anon:a")  # kept for the next flush, with its newest use
    monkeypatch.undo()
    activity.flush()
    assert store.uses.latest("anon:") == {"anon:a": 1_100} and not activity.is_pending("anon:a")
    activity.touch("anon:b")
    activity.forget("anon:b")  # deleted on purpose: its use is not written
    activity.flush()
    assert store.uses.latest("anon:") == {"anon:a": 1_100}
