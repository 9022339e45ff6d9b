"""Kept originals: private files per workspace, replaced, removed with their document or workspace,
bounded per workspace; and the ingest and delete paths that keep and remove them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.store.originals import Originals
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
