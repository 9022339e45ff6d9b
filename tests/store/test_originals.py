"""Kept originals: private files per workspace, replaced, removed with their document or workspace,
bounded per workspace; and the ingest and delete paths that keep and remove them."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.store.originals import Originals
from rag.store.vector_store import VectorStore
from tests.conftest import make_settings
from tests.samples import make_pdf

DOC = "0123456789abcdef0123456789abcdef"


def test_kept_private_and_read_back_by_its_owner_only(tmp_path: Path):
    originals = Originals(tmp_path)
    assert originals.keep("alice", DOC, "a.pdf", b"%PDF-bytes", "h1") == ""
    found = originals.read("alice", DOC)
    assert found is not None and found.data == b"%PDF-bytes" and found.name == "a.pdf"
    assert originals.read("bob", DOC) is None  # the same id under another owner is another file
    for path in (tmp_path / "originals").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_replaced_then_removed(tmp_path: Path):
    originals = Originals(tmp_path)
    originals.keep("alice", DOC, "a.pdf", b"one", "h1")
    originals.keep("alice", DOC, "a.pdf", b"two", "h2")
    assert originals.read("alice", DOC).data == b"two" and originals.has("alice", DOC, "h2")
    assert not originals.has("alice", DOC, "h1")
    originals.remove("alice", DOC)
    assert originals.read("alice", DOC) is None and originals.used_bytes("alice") == 0


@pytest.mark.parametrize("bad", ["../../etc/passwd", "0123", DOC.upper(), DOC + "/x"])
def test_a_doc_id_that_is_not_one_never_becomes_a_path(tmp_path: Path, bad: str):
    with pytest.raises(ValueError, match="not a document id"):
        Originals(tmp_path).keep("alice", bad, "a.pdf", b"x", "h")
    with pytest.raises(ValueError):
        Originals(tmp_path).read("alice", bad)


def test_the_workspace_bound_keeps_a_document_out_but_not_the_shared_library(tmp_path: Path):
    originals = Originals(tmp_path, max_workspace_bytes=1000)
    assert originals.keep("alice", DOC, "a.pdf", b"x" * 600, "h1") == ""
    other = "f" * 32
    note = originals.keep("alice", other, "b.pdf", b"x" * 600, "h2")
    assert "RAG_MAX_WORKSPACE_ORIGINALS_MB" in note and originals.read("alice", other) is None
    assert originals.keep("alice", DOC, "a.pdf", b"y" * 900, "h3") == ""  # a replacement counts once
    assert originals.keep("shared", other, "b.pdf", b"x" * 5000, "h4", bounded=False) == ""


def test_upload_keeps_delete_removes_and_reupload_of_an_old_one_keeps(assistant: Assistant, tmp_path: Path):
    source = tmp_path / "guide.pdf"
    source.write_bytes(make_pdf(["The heron nests in tall trees."]))
    doc_id = document_id("alice", "guide.pdf")
    [result] = assistant.upload([SourceFile("guide.pdf", source)], "alice")
    assert result.status == "added"
    assert assistant.originals.read("alice", doc_id).data == source.read_bytes()
    assistant.originals.remove("alice", doc_id)  # as if ingested before originals were kept
    [again] = assistant.upload([SourceFile("guide.pdf", source)], "alice")
    assert again.status == "unchanged" and assistant.originals.read("alice", doc_id) is not None
    assert assistant.delete("alice", [doc_id]).deleted == ["guide.pdf"]
    assert assistant.originals.read("alice", doc_id) is None


def test_a_deleted_workspace_takes_its_originals(assistant: Assistant, tmp_path: Path):
    source = tmp_path / "guide.pdf"
    source.write_bytes(make_pdf(["The heron nests in tall trees."]))
    assistant.upload([SourceFile("guide.pdf", source)], "anon:123")
    assert assistant.originals.used_bytes("anon:123") > 0
    assistant.delete_workspace("anon:123")
    assert assistant.originals.used_bytes("anon:123") == 0


def test_a_delete_while_the_original_is_being_kept_leaves_no_original(assistant: Assistant, tmp_path: Path):
    """The document is live (its rows committed) and its original not written yet when the visitor
    deletes it: the delete finds no original to remove, then the ingest writes one that no document
    owns, counted against RAG_MAX_WORKSPACE_ORIGINALS_MB for ever. The ingest is paused at that
    point (events, not sleeps) while a real delete runs."""
    source = tmp_path / "guide.pdf"
    source.write_bytes(make_pdf(["The heron nests in tall trees."]))
    doc_id = document_id("anon:racer", "guide.pdf")
    ingest_originals = assistant.ingestor.originals
    real_keep, reached, go = ingest_originals.keep, threading.Event(), threading.Event()

    def paused_keep(*args, **kwargs):
        reached.set()
        assert go.wait(60)
        return real_keep(*args, **kwargs)

    ingest_originals.keep = paused_keep
    results: list = []
    upload = threading.Thread(
        target=lambda: results.extend(assistant.upload([SourceFile("guide.pdf", source)], "anon:racer"))
    )
    upload.start()
    assert reached.wait(120), "the ingest never reached the point where it keeps the original"
    assert assistant.delete("anon:racer", [doc_id]).deleted == ["guide.pdf"]
    go.set()
    upload.join(60)
    assert [r.status for r in results] == ["added"] and assistant.documents("anon:racer", False) == []
    assert assistant.originals.read("anon:racer", doc_id) is None
    assert assistant.originals.used_bytes("anon:racer") == 0


def test_the_janitor_removes_originals_no_document_owns(assistant: Assistant, tmp_path: Path):
    """What a process killed mid-way leaves (kill -9 between a delete's rows and its original, or
    during the original's atomic write): files that nothing else would ever remove. The sweep (at
    start and every few minutes) removes them and keeps the originals of live documents, and those
    of another collection in the same data dir (RAG_COLLECTION: a new embedding model's)."""
    source = tmp_path / "guide.pdf"
    source.write_bytes(make_pdf(["The heron nests in tall trees."]))
    assistant.upload([SourceFile("guide.pdf", source)], "user:ann")
    assistant.upload([SourceFile("gone.pdf", source)], "anon:gone")  # same bytes, another workspace
    live, gone = document_id("user:ann", "guide.pdf"), document_id("anon:gone", "gone.pdf")
    assistant.library.store.delete_document(gone)  # killed before the delete removed the original
    folder = assistant.originals.root / next(
        p.name for p in assistant.originals.root.iterdir() if (p / gone).exists()
    )
    half_written = folder / f".{gone}.0a1b2c3d"
    half_written.write_bytes(b"%PDF-half")
    other = Originals(assistant.settings.store.data_dir, collection="rag_chunks_bge_m3")
    other.keep("user:ann", "e" * 32, "other.pdf", b"%PDF-other", "h")  # another collection's document
    old = time.time() - 2 * 3600
    for path in assistant.originals.root.rglob("*"):  # all written long ago, as found at a start
        os.utime(path, (old, old))
    fresh = folder / f".{gone}.feedbeef"  # an atomic write in progress now: left alone
    fresh.write_bytes(b"%PDF-writing")
    assert assistant.originals.used_bytes("anon:gone") > 0

    assistant.janitor.sweep()
    assert assistant.originals.read("anon:gone", gone) is None and not half_written.exists()
    assert fresh.exists() and assistant.originals.read("user:ann", live) is not None
    assert other.read("user:ann", "e" * 32) is not None  # not this store's to judge


def test_the_sweep_leaves_the_originals_of_another_stores_documents(tmp_path: Path):
    """One data dir, two stores with the same collection name: the default Milvus Lite file and
    another (RAG_MILVUS_URI: a Milvus server tried with the same data dir, another .db file). An
    app on the other store finds none of the first one's documents, so its sweep took every
    original they had: going back to the first store, its live documents had lost them."""
    lite = make_settings(tmp_path / "data")
    server = lite.replace(milvus_uri=str(tmp_path / "other.db"))
    assert Originals.from_settings(lite).keep("user:ann", DOC, "a.pdf", b"%PDF-a", "h1") == ""
    old = time.time() - 2 * 3600
    for path in (tmp_path / "data" / "originals").rglob("*"):
        os.utime(path, (old, old))
    other = VectorStore(server, 4, "m")  # a real, empty store of the same collection name
    try:
        Originals.from_settings(server).remove_unowned(other.live_documents)
    finally:
        other.close()
    assert Originals.from_settings(lite).read("user:ann", DOC) is not None


def test_the_sweep_asks_the_store_about_all_originals_at_once(assistant: Assistant, monkeypatch):
    """The janitor's sweep (every few minutes, at most 10) asked the store about each original in
    a query of its own: 1.4 ms each, so 2,000 originals took 2.8 s a sweep and 100,000 minutes of
    a core. Now one query per thousand documents."""
    store = assistant.library.store
    for i in range(30):  # young files: asked about all the same, and kept
        assistant.originals.keep(f"anon:{i % 3}", f"{i:032x}", "a.pdf", b"%PDF-x", "h", bounded=False)
    asked, query = [], store.client.query

    def counted(collection, *args, **kwargs):
        asked.append(collection)
        return query(collection, *args, **kwargs)

    monkeypatch.setattr(store.client, "query", counted)
    assistant.janitor.sweep()
    assert asked.count(store.writes.table) <= 2, asked  # one is the workspaces' last additions
    assert assistant.originals.read("anon:0", f"{0:032x}") is not None
