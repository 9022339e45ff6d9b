import pytest

from rag.chunking import chunk_document, document_id
from rag.types import Document, Page


def test_chunks_keep_page_source_and_running_index():
    doc = Document("a.pdf", "pdf", [Page(1, "word " * 300), Page(2, "other " * 200)], "h")
    chunks = chunk_document(doc, "d1", chunk_size=200, overlap=20)
    assert all(len(c.text) <= 200 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {1, 2}
    assert all(c.source == "a.pdf" and c.doc_id == "d1" for c in chunks)
    first_page_two = next(c for c in chunks if c.page == 2)
    assert "word" not in first_page_two.text  # chunks never straddle pages


def test_default_size_and_overlap():
    doc = Document("t.txt", "text", [Page(0, " ".join(f"w{i}" for i in range(600)))], "h")
    chunks = chunk_document(doc, "d")
    assert max(len(c.text) for c in chunks) <= 512
    tail = chunks[0].text[-40:]
    assert tail in chunks[1].text  # neighbours overlap


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError):
        chunk_document(Document("t", "text", [Page(0, "x")], "h"), "d", chunk_size=10, overlap=10)


def test_document_id_depends_on_owner_and_name():
    assert document_id("shared", "a.md") == document_id("shared", "a.md")
    assert document_id("shared", "a.md") != document_id("anon:x", "a.md")
    assert document_id("shared", "a.md") != document_id("shared", "b.md")
