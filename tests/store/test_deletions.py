"""A workspace's deletion mark (`rag.store.deletions`), on real Milvus Lite: a write whose upload began
before its workspace was deleted keeps nothing, from its `begin` or its next batch; a mark left
behind (a process killed mid-delete) blocks no later upload; the janitor forgets marks after a day;
on a Milvus server another replica's mark stops a write before that replica takes the rows."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import deletions
from rag.store import rows as r
from rag.store.vector_store import VectorStore
from rag.types import Chunk
from rag.workspace.conversations import ConversationStore
from rag.workspace.owners import WorkspaceJanitor
from tests.conftest import make_settings
from tests.store.test_document_writer import Pause, makes_live

E = np.eye(4, dtype=np.float32)
OWNER = "anon:gone"
GONE = "a.md was deleted with its workspace while it was being added; nothing was kept"


def chunks(n: int) -> list[Chunk]:
    return [Chunk("d1", "a.md", 0, i, f"walrus text {i}") for i in range(n)]


def left(store: VectorStore) -> tuple[list[dict], int]:
    """Every version row of d1 (whatever its state) and its chunk rows."""
    versions = r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["state"])
    return versions, r.count(store.client, store.collection, 'doc_id == "d1"')


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def test_a_write_whose_upload_began_before_the_workspace_was_deleted_is_refused_at_begin(
    store: VectorStore,
):
    """The upload read the mark, then the workspace was deleted while its file was parsed (nothing of
    it in the store yet): its write refuses to begin, before a batch is embedded for nothing."""
    since = store.deletion_mark(OWNER)
    store.delete_owner(OWNER)
    with pytest.raises(StoreError) as error:
        store.write_document("d1", "a.md", OWNER, "h", 2, 1, since=since).__enter__()
    assert str(error.value) == GONE
    assert left(store) == ([], 0)


def test_a_mark_left_behind_blocks_no_later_upload(settings: Settings):
    """A process killed right after writing the mark (before it took the rows) leaves the mark and the
    workspace's document; after a restart, an upload that starts then goes in, as does one with no
    mark given (read at its begin)."""
    store = VectorStore(settings, 4, "m")
    store.add_document(chunks(1), E[:1], OWNER, "old", 1)
    store.writes.deletions.mark(OWNER)  # then kill -9
    store.close()
    store = VectorStore(settings, 4, "m")
    try:
        assert store.deletion_mark(OWNER) > 0
        with store.write_document("d1", "a.md", OWNER, "new", 2, 1, since=store.deletion_mark(OWNER)) as w:
            w.add(chunks(2), E[:2])
        assert store.find_document("d1").content_hash == "new"
        store.delete_owner(OWNER)
        with store.write_document("d1", "a.md", OWNER, "newer", 1, 1) as w:
            w.add(chunks(1), E[:1])
        assert store.find_document("d1").content_hash == "newer"
    finally:
        store.close()


def test_a_later_mark_is_greater_even_when_the_clock_went_back(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
):
    first = store.writes.deletions.mark(OWNER)
    monkeypatch.setattr(time, "time_ns", lambda: 1_000)  # the clock set back (NTP, a VM restored)
    assert store.writes.deletions.mark(OWNER) == first + 1 == store.deletion_mark(OWNER)
    assert len(r.query_all(store.client, store.writes.deletions.name, r.eq("owner", OWNER), ["id"])) == 1


def test_the_janitor_forgets_marks_older_than_a_day(store: VectorStore, tmp_path: Path):
    now = [time.time()]
    janitor = WorkspaceJanitor(store, ConversationStore(tmp_path / "c.db"), ttl_s=60, clock=lambda: now[0])
    store.delete_owner(OWNER)
    janitor.sweep()
    assert store.deletion_mark(OWNER) > 0
    now[0] += deletions.KEEP_S + 1
    janitor.sweep()
    assert store.deletion_mark(OWNER) == 0


def test_another_replicas_mark_stops_the_next_batch(milvus_uri: str, tmp_path: Path):
    """On a Milvus server replica B writes its mark, then takes the rows. Replica A's write is at a
    batch between the two: it stops at the mark, not at the commit a moment later with the document
    live (B would then delete it, but A's upload would have said "added")."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        b.writes.deletions.mark = marked = Pause(b.writes.deletions.mark, lambda owner: True, after=True)
        writing = a.write_document("d1", "a.md", OWNER, "h", 4, 1, since=a.deletion_mark(OWNER))
        with pytest.raises(StoreError) as error, writing as writer:
            writer.add(chunks(2), E[:2])
            deleting = threading.Thread(target=b.delete_owner, args=(OWNER,))
            deleting.start()
            assert marked.reached.wait(60)
            writer.add(chunks(4)[2:], E[2:])
        assert str(error.value) == GONE
        assert writing.written == 2  # refused at that batch, not only at the commit's look after
        marked.go.set()
        deleting.join(60)
        assert not deleting.is_alive()
        for store in (a, b):
            assert store.list_documents([OWNER]) == [] and left(store) == ([], 0)
    finally:
        marked.go.set()
        a.close()
        b.close()


def test_another_replicas_mark_during_the_commit_undoes_it(milvus_uri: str, tmp_path: Path):
    """Replica A has just made its version live and is about to look again; replica B has written its
    mark and not yet taken the rows. A's look finds the mark and undoes its commit, so it does not
    say "added" for a document B is about to delete."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        a.writes.upsert = committed = Pause(a.writes.upsert, makes_live, after=True)
        b.writes.deletions.mark = marked = Pause(b.writes.deletions.mark, lambda owner: True, after=True)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with a.write_document("d1", "a.md", OWNER, "h", 2, 1, since=a.deletion_mark(OWNER)) as w:
                    w.add(chunks(2), E[:2])
            except StoreError as exc:
                errors.append(exc)

        writing = threading.Thread(target=write)
        writing.start()
        assert committed.reached.wait(60)
        deleting = threading.Thread(target=b.delete_owner, args=(OWNER,))
        deleting.start()
        assert marked.reached.wait(60)
        committed.go.set()
        writing.join(60)
        assert [str(e) for e in errors] == [GONE]
        marked.go.set()
        deleting.join(60)
        assert not writing.is_alive() and not deleting.is_alive()
        for store in (a, b):
            assert store.list_documents([OWNER]) == [] and left(store) == ([], 0)
    finally:
        committed.go.set()
        marked.go.set()
        a.close()
        b.close()
