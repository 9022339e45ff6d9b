"""One document written in batches (`VectorStore.write_document`), on real Milvus Lite: its rows are
stored batch by batch but nothing of it is visible before the last; an error, a short write, a
delete while it is written or a dead writer leave nothing; one version has one writer at a time."""

import threading

import numpy as np
import pytest

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import rows as r
from rag.store import versions
from rag.store.vector_store import VectorStore
from rag.types import Chunk
from tests.conftest import make_settings

E = np.eye(4, dtype=np.float32)


def batch(start: int, n: int, word: str = "walrus") -> list[Chunk]:
    return [Chunk("d1", "a.md", 0, i, f"{word} text {i}") for i in range(start, start + n)]


@pytest.fixture
def store(settings: Settings):
    store = VectorStore(settings, 4, "m")
    yield store
    store.close()


def visible(store: VectorStore) -> tuple[list[str], list[str]]:
    """What listings and a search show of owner `shared`."""
    hits = store.search(E[0], "walrus", 10, ["shared"], mode="hybrid")
    return [d.source for d in store.list_documents(["shared"])], [h.chunk.text for h in hits]


def test_batches_are_stored_invisibly_and_appear_together_at_the_end(store: VectorStore):
    with store.write_document("d1", "a.md", "shared", "h", 4, 1) as writer:
        writer.add(batch(0, 2), E[:2])
        assert store.count_chunks() == 2  # the rows are in Milvus already
        assert visible(store) == ([], [])  # but nobody sees them
        writer.add(batch(2, 2), E[2:4])
        assert visible(store) == ([], [])
    sources, texts = visible(store)
    assert sources == ["a.md"] and sorted(texts) == [f"walrus text {i}" for i in range(4)]
    assert store.find_document("d1").chunks == 4


def test_an_error_between_batches_leaves_nothing_and_the_old_version_stays(store: VectorStore):
    store.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
    with pytest.raises(RuntimeError), store.write_document("d1", "a.md", "shared", "new", 4, 1) as writer:
        writer.add(batch(0, 2), E[:2])
        raise RuntimeError("the embedder failed")
    assert store.find_document("d1").content_hash == "old"
    assert store.count_chunks() == 1 and store.count_version("d1", "new") == 0


def test_fewer_chunks_than_announced_keep_nothing(store: VectorStore):
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match="2 of 4 chunks written; nothing was kept"), written as writer:
        writer.add(batch(0, 2), E[:2])
    assert visible(store) == ([], []) and store.count_chunks() == 0


DELETED = "a.md was deleted while it was being added; nothing was kept"


def test_a_delete_while_it_is_written_is_not_undone_by_the_commit(store: VectorStore):
    """The document is deleted between two batches (a user, the janitor): the next batch is
    refused and nothing is kept, rather than showing the half that came after."""
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match=DELETED), written as writer:
        writer.add(batch(0, 2), E[:2])
        store.delete_document("d1")
        writer.add(batch(2, 2), E[2:4])
    assert visible(store) == ([], []) and store.count_chunks() == 0


@pytest.mark.parametrize("replacing", [False, True], ids=["first-version", "replacement"])
def test_a_delete_before_the_first_batch_is_not_undone_by_the_commit(store: VectorStore, replacing: bool):
    """Deleted after `begin` and before any batch (a document of one batch is embedded whole in
    that time): every chunk then goes in after the delete, so counting them finds the version
    whole; the commit must see the delete's mark (its `writing` row gone) and keep nothing."""
    if replacing:
        store.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
    written = store.write_document("d1", "a.md", "shared", "new", 4, 1)
    with pytest.raises(StoreError, match=DELETED), written as writer:
        store.delete_document("d1")
        writer.add(batch(0, 4), E[:4])
    assert visible(store) == ([], []) and store.count_chunks() == 0
    assert r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["version"]) == []


def test_a_replacement_whose_document_was_deleted_before_it_began_keeps_nothing(store: VectorStore):
    """The upload found the document live (`replacing`) and it was deleted while the file was
    parsed: `begin` refuses. Replaced by another upload meanwhile, it is still a document: the
    write goes on (the later commit wins)."""
    store.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
    store.add_document(batch(0, 1, "other"), E[:1], "shared", "other", 1)  # another upload's
    with store.write_document("d1", "a.md", "shared", "new", 1, 1, replacing=True) as writer:
        writer.add(batch(0, 1), E[:1])
    assert store.find_document("d1").content_hash == "new"
    store.delete_document("d1")
    written = store.write_document("d1", "a.md", "shared", "newer", 1, 1, replacing=True)
    with pytest.raises(StoreError, match=DELETED), written:
        pass
    assert visible(store) == ([], []) and store.count_chunks() == 0
    assert r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["version"]) == []


def test_a_delete_just_before_the_commit_keeps_nothing(store: VectorStore):
    """Every batch is in when the document is deleted: the commit keeps nothing either."""
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match=DELETED), written as writer:
        writer.add(batch(0, 4), E[:4])
        store.delete_document("d1")
    assert visible(store) == ([], []) and store.count_chunks() == 0


def test_a_lease_renewal_after_a_delete_does_not_write_the_row_back(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
):
    """The heartbeat upserts the `writing` row: after a delete it would put the delete's mark
    back, and the commit would find the version whole and live again."""
    monkeypatch.setattr(versions, "HEARTBEAT_S", -1)  # renew at every batch
    written = store.write_document("d1", "a.md", "shared", "h", 4, 1)
    with pytest.raises(StoreError, match=DELETED), written as writer:
        store.delete_document("d1")
        writer.add(batch(0, 4), E[:4])
    assert r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["version"]) == []


def test_two_uploads_of_one_document_then_a_delete(store: VectorStore):
    """Two new versions of one document written at once: the later commit wins and the other
    version is gone whole; deleted while both are open, neither comes back."""
    store.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
    one, two = (store.write_document("d1", "a.md", "shared", v, 2, 1) for v in ("v1", "v2"))
    with one, two:  # two commits first, then one
        one.add(batch(0, 2, "one"), E[:2])
        two.add(batch(0, 2, "two"), E[:2])
    assert store.find_document("d1").content_hash == "v1" and store.count_chunks() == 2
    assert sorted(visible(store)[1]) == ["one text 0", "one text 1"]  # two's chunks are gone
    first = store.write_document("d1", "a.md", "shared", "v3", 2, 1)
    second = store.write_document("d1", "a.md", "shared", "v4", 2, 1)
    with pytest.raises(StoreError, match=DELETED), first as one:
        with pytest.raises(StoreError, match=DELETED), second as two:
            one.add(batch(0, 1, "three"), E[:1])
            store.delete_document("d1")
            two.add(batch(0, 2, "four"), E[:2])
        one.add(batch(1, 1, "three"), E[1:2])
    assert visible(store) == ([], []) and store.count_chunks() == 0
    assert r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["version"]) == []


def test_one_version_has_one_writer_at_a_time(store: VectorStore):
    with store.write_document("d1", "a.md", "shared", "h", 2, 1) as writer:
        writer.add(batch(0, 1), E[:1])
        second = store.write_document("d1", "a.md", "shared", "h", 2, 1)
        with pytest.raises(StoreError, match=r"a\.md is being stored by another upload"), second:
            pass
        with pytest.raises(StoreError, match="being stored by another upload"):
            store.add_document(batch(0, 1), E[:1], "shared", "h", 1)
        assert store.count_chunks() == 1  # the refused writers deleted nothing of this one
        writer.add(batch(1, 1), E[1:2])
    assert store.find_document("d1").chunks == 2


def test_a_writer_that_died_mid_way_is_rolled_back_by_the_repair(store: VectorStore):
    writer = store.write_document("d1", "a.md", "shared", "h", 4, 1).__enter__()
    writer.add(batch(0, 2), E[:2])  # then the process dies: no __exit__
    assert store.repair() == ["rolled back a.md"]
    assert visible(store) == ([], []) and store.count_chunks() == 0


class Pause:
    """Wraps a method: on its first call whose arguments `when` accepts, signals `reached` and
    waits for `go`, before (`after=False`) or after the real call."""

    def __init__(self, method, when, after: bool = False) -> None:
        self.method, self.when, self.after, self.hit = method, when, after, False
        self.reached, self.go = threading.Event(), threading.Event()

    def __call__(self, *args):
        pause = not self.hit and self.when(*args)
        self.hit = self.hit or pause
        if pause and not self.after:
            self.reached.set()
            assert self.go.wait(60)
        result = self.method(*args)
        if pause and self.after:
            self.reached.set()
            assert self.go.wait(60)
        return result


def makes_live(rows: list[dict]) -> bool:
    return any(row["state"] == "live" for row in rows)


@pytest.mark.parametrize("order", ["delete-whole-before-the-upsert", "upsert-between-the-deletes"])
def test_a_delete_by_another_process_during_the_commit_wins(milvus_uri: str, tmp_path, order: str):
    """On a Milvus server the commit's check and its upsert can be split by another replica's
    delete (its lock is its own). Replica A is stopped between its check and the upsert that makes
    its version live; replica B deletes the document, whole (the commit's second look finds the
    chunks gone) or stopped between its row delete and its chunk delete (its second row delete
    takes the row A made live). Either way nothing is left, and A says so."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        a.writes.upsert = commit = Pause(a.writes.upsert, makes_live)
        b.writes._delete = rows_gone = Pause(b.writes._delete, lambda flt: True, after=True)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with a.write_document("d1", "a.md", "shared", "h", 4, 1) as writer:
                    writer.add(batch(0, 4), E[:4])
            except StoreError as exc:
                errors.append(exc)

        writing = threading.Thread(target=write)
        writing.start()
        assert commit.reached.wait(60)
        deleting = threading.Thread(target=b.delete_document, args=("d1",))
        deleting.start()
        assert rows_gone.reached.wait(60)
        if order == "delete-whole-before-the-upsert":
            rows_gone.go.set()
            deleting.join(60)
            commit.go.set()
            writing.join(60)
        else:
            commit.go.set()
            writing.join(60)
            rows_gone.go.set()
            deleting.join(60)
        assert not writing.is_alive() and not deleting.is_alive()
        for store in (a, b):
            assert store.list_documents(["shared"]) == [] and store.count_version("d1", "h") == 0
            assert r.query_all(store.client, store.writes.table, 'doc_id == "d1"', ["version"]) == []
        if order == "delete-whole-before-the-upsert":  # A saw it; in the other order it was live first
            assert [str(e) for e in errors] == [DELETED]
    finally:
        a.close()
        b.close()


def test_a_delete_by_another_process_while_a_replacement_begins_wins(milvus_uri: str, tmp_path):
    """Replica A's replacement looked and found the document live; before its `writing` row is in,
    replica B deletes the document whole. A looks again after its upsert and keeps nothing."""
    a, b = (VectorStore(make_settings(tmp_path / n, milvus_uri=milvus_uri), 4, "m") for n in "ab")
    try:
        a.add_document(batch(0, 1, "old"), E[:1], "shared", "old", 1)
        begins = Pause(a.writes.upsert, lambda rows: rows[0]["state"] == "writing")
        a.writes.upsert = begins
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with a.write_document("d1", "a.md", "shared", "new", 4, 1, replacing=True) as writer:
                    writer.add(batch(0, 4), E[:4])
            except StoreError as exc:
                errors.append(exc)

        writing = threading.Thread(target=write)
        writing.start()
        assert begins.reached.wait(60)
        b.delete_document("d1")
        begins.go.set()
        writing.join(60)
        assert not writing.is_alive() and [str(e) for e in errors] == [DELETED]
        assert b.list_documents(["shared"]) == [] and b.count_chunks() == 0
        assert r.query_all(b.client, b.writes.table, 'doc_id == "d1"', ["version"]) == []
    finally:
        a.close()
        b.close()
