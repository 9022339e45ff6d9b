"""All workspaces' originals together are bounded (RAG_MAX_ORIGINALS_MB): workspaces cost nothing
to make, so the bound per workspace alone let one visitor with many keys fill the disk down to
its 2 GB reserve, and then nobody's original was kept. At the bound a new original is refused
(never another workspace's evicted), its document stays searchable and the viewer says why; a
delete makes room again. The total is a running count, not a walk of the tree per upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.generation.llm import LLM
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.store.originals import Originals
from rag.viewer.views import NotKept, PageView, ViewRequest
from tests.conftest import make_settings
from tests.samples import pdf_from_streams

KB = 1 << 10


def padded_pdf(text: str, size: int) -> bytes:
    """A one-page PDF of one line of text, about `size` bytes (a comment in its content stream)."""
    return pdf_from_streams([b"%" + b"x" * size + b"\nBT /F1 12 Tf 72 720 Td (" + text.encode() + b") Tj ET"])


@pytest.fixture
def capped(tmp_path: Path, embedder, fake_backend):
    """The app with 1 MB for all workspaces' originals together (each workspace may keep 500 MB)."""
    settings = make_settings(tmp_path / "data", max_originals_mb=1)
    built = Assistant(settings, embedder, LLM(settings, fake_backend))
    yield built
    built.close()


def upload(assistant: Assistant, tmp_path: Path, owner: str, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(padded_pdf(text, 400 * KB))
    [result] = assistant.upload([SourceFile(name, path)], owner)
    return result


def test_a_visitor_with_many_workspaces_cannot_take_every_workspaces_originals(capped, tmp_path: Path):
    first = upload(capped, tmp_path, "anon:a1", "one.pdf", "The heron nests in tall trees.")
    second = upload(capped, tmp_path, "anon:a2", "two.pdf", "The otter swims at dusk.")
    assert first.status == second.status == "added" and not first.notes and not second.notes

    # 800 kB of 1 MB kept: a third workspace's 400 kB original is refused, the document is not
    third = upload(capped, tmp_path, "anon:visitor", "three.pdf", "The kettle boils in ninety seconds.")
    assert third.status == "added"
    assert any("RAG_MAX_ORIGINALS_MB" in note and "not kept" in note for note in third.notes), third.notes
    assert [d.source for d in capped.documents("anon:visitor", False)] == ["three.pdf"]
    doc = document_id("anon:visitor", "three.pdf")
    shown = capped.view_source("anon:visitor", ViewRequest(doc, 1))
    assert isinstance(shown, NotKept) and "RAG_MAX_ORIGINALS_MB" in shown.reason
    assert "still searchable" in shown.reason
    # refused, never made room for: the others' originals are still there
    assert capped.originals.read("anon:a1", document_id("anon:a1", "one.pdf")) is not None
    assert capped.originals.read("anon:a2", document_id("anon:a2", "two.pdf")) is not None

    # a delete (through the app's other Originals: the ingest keeps with its own) makes room
    assert capped.delete("anon:a1", [document_id("anon:a1", "one.pdf")]).deleted == ["one.pdf"]
    again = upload(capped, tmp_path, "anon:visitor", "three.pdf", "The kettle boils in ninety seconds.")
    assert again.status == "unchanged" and not again.notes
    assert isinstance(capped.view_source("anon:visitor", ViewRequest(doc, 1)), PageView)


def test_the_total_is_counted_not_walked_and_measured_again_at_the_sweep(tmp_path: Path, monkeypatch):
    walks = []
    real = Originals._measure
    monkeypatch.setattr(Originals, "_measure", lambda self: walks.append(1) or real(self))
    originals = Originals(tmp_path, max_total_bytes=10 * KB)
    other = Originals(tmp_path, max_total_bytes=10 * KB)  # the app has several on one data dir
    for i in range(4):
        assert originals.keep(f"anon:{i}", f"{i:032x}", "a.pdf", b"x" * 2 * KB, "h") == ""
    assert len(walks) == 1  # measured once, then counted
    assert other.keep("anon:9", "9" * 32, "b.pdf", b"x" * 3 * KB, "h") != ""  # 8 kB kept + 3 kB > 10 kB
    other.remove_owner("anon:0")
    assert originals.keep("anon:9", "9" * 32, "b.pdf", b"x" * 3 * KB, "h") == ""
    assert originals.keep("shared", "8" * 32, "lib.pdf", b"x" * 50 * KB, "h", bounded=False) == ""
    assert len(walks) == 1 and originals.total_bytes() < 10 * KB  # the shared library isn't counted
    # another process (the CLI, a replica on the same data dir) removes a workspace's files: the
    # janitor's sweep measures the tree again
    for path in (originals.root).rglob("*"):
        if path.is_file() and path.parent == originals._folder("anon:9"):
            path.unlink()
    originals.remove_unowned(lambda doc_ids: set(doc_ids))
    assert len(walks) == 2 and originals.keep("anon:10", "a" * 32, "c.pdf", b"x" * 3 * KB, "h") == ""
