"""The source viewer through the Assistant, on real uploads in a real Milvus Lite: who may see an
original, PDF pages with their box, Word/HTML/PowerPoint sections with the passage, documents
without a kept original."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.viewer.render_worker import ViewerError
from rag.viewer.views import NotKept, PageView, SectionView, ViewRequest
from tests.samples import make_docx, make_pdf, make_pptx

LINE = "The heron nests in tall trees. Its eggs hatch after four weeks."
HTML = (
    "<html><head><title>Birds</title></head><body><h1>Herons</h1><p>Herons wade in shallow water.</p>"
    '<h2>Nesting</h2><p>The grey heron nests in colonies.</p><img src="https://example.com/x.png">'
    "<script>alert(1)</script></body></html>"
)


def upload(assistant: Assistant, tmp_path: Path, owner: str, name: str, data: bytes) -> str:
    path = tmp_path / owner.replace(":", "_") / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    [result] = assistant.upload([SourceFile(name, path)], owner)
    assert result.status == "added", result
    return document_id(owner, name)


def test_a_pdf_page_with_its_passage_boxed(assistant: Assistant, tmp_path: Path):
    doc = upload(assistant, tmp_path, "anon:a", "guide.pdf", make_pdf(["Page one.", LINE]))
    wanted = ("Its eggs hatch after four weeks.",)
    view = assistant.view_source("anon:a", ViewRequest(doc, 2, marks=wanted))
    assert isinstance(view, PageView) and (view.number, view.pages, view.source) == (2, 2, "guide.pdf")
    assert view.png.startswith(b"\x89PNG") and len(view.boxes) == 1 and view.found_by == "text layer"
    wider = assistant.view_source("anon:a", ViewRequest(doc, 2, zoom=2.0))
    assert wider.width == 2 * view.width and wider.boxes == []


def test_another_workspaces_document_cannot_be_viewed(assistant: Assistant, tmp_path: Path):
    doc = upload(assistant, tmp_path, "anon:a", "guide.pdf", make_pdf([LINE]))
    with pytest.raises(ViewerError, match="no such document") as other:
        assistant.view_source("anon:b", ViewRequest(doc, 1))
    with pytest.raises(ViewerError, match="no such document") as missing:
        assistant.view_source("anon:b", ViewRequest("f" * 32, 1))
    assert str(other.value) == str(missing.value)  # an id can't be probed
    for bad in ("../../etc/passwd", "", "x" * 500):
        with pytest.raises(ViewerError, match="no such document"):
            assistant.view_source("anon:b", ViewRequest(bad, 1))


def test_the_shared_library_is_viewable_by_every_workspace(assistant: Assistant, tmp_path: Path):
    path = tmp_path / "shared.pdf"
    path.write_bytes(make_pdf([LINE]))
    assistant.ingest([SourceFile("shared.pdf", path)], "shared")
    view = assistant.view_source("anon:b", ViewRequest(document_id("shared", "shared.pdf"), 1))
    assert isinstance(view, PageView)


def test_a_document_without_its_original_says_so(assistant: Assistant, tmp_path: Path):
    doc = upload(assistant, tmp_path, "anon:a", "guide.pdf", make_pdf([LINE]))
    assistant.originals.remove("anon:a", doc)  # as before originals were kept
    view = assistant.view_source("anon:a", ViewRequest(doc, 1))
    assert isinstance(view, NotKept) and "Upload it again" in view.reason


def test_word_html_and_slides_show_the_section_with_the_passage(assistant: Assistant, tmp_path: Path):
    docx = make_docx("Maintenance", ["Oil the hinges monthly."], [["Part", "Interval"], ["Hinge", "30 days"]])
    doc = upload(assistant, tmp_path, "anon:a", "notes.docx", docx)
    view = assistant.view_source("anon:a", ViewRequest(doc, 0, "Maintenance", ("Oil the hinges monthly.",)))
    assert isinstance(view, SectionView)
    assert [view.text[a:b] for a, b in view.spans] == ["Oil the hinges monthly."]
    assert "Hinge" in view.text  # the whole section, its table too

    doc = upload(assistant, tmp_path, "anon:a", "birds.html", HTML.encode())
    view = assistant.view_source("anon:a", ViewRequest(doc, 0, "Herons › Nesting", ("The grey heron nests",)))
    assert isinstance(view, SectionView) and "Nesting" in view.location
    assert [view.text[a:b] for a, b in view.spans] == ["The grey heron nests"]
    assert "alert" not in view.text and "example.com" not in view.text

    deck = make_pptx([("Intro", "Welcome all.", ""), ("Ports", "The hub listens on port 7341.", "")])
    doc = upload(assistant, tmp_path, "anon:a", "deck.pptx", deck)
    view = assistant.view_source("anon:a", ViewRequest(doc, 2, chunk="The hub listens on port 7341."))
    assert isinstance(view, SectionView) and view.location.startswith("slide 2")
    assert "Welcome" not in view.text and len(view.spans) == 1
