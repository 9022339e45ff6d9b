import pytest

from rag.ingest.chunking import blocks, chunk_document, document_id
from rag.types import Chunk, Document, Page


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


def test_chunks_keep_section_and_title_and_index_them():
    doc = Document(
        "g.md",
        "markdown",
        [Page(0, "Body one.", "Guide › A"), Page(0, "Body two.", "Guide › B")],
        "h",
        "Guide",
    )
    chunks = chunk_document(doc, "d")
    assert [(c.section, c.text) for c in chunks] == [("Guide › A", "Body one."), ("Guide › B", "Body two.")]
    assert chunks[0].title == "Guide" and chunks[0].heading == "Guide › A"  # title not repeated
    assert chunks[0].indexed_text == "Guide › A\nBody one."
    other = Chunk("d", "x.md", 0, 0, "text", "Setup", "Manual")
    assert other.indexed_text == "Manual › Setup\ntext"
    assert Chunk("d", "x.txt", 0, 0, "plain").indexed_text == "plain"


def test_code_blocks_and_tables_are_not_cut_when_they_fit():
    code = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(12)) + "\n```"
    table = "\n".join(f"| row {i} | value {i} |" for i in range(8))
    text = "\n\n".join(["Intro " * 20, code, "Middle " * 25, table, "End " * 10])
    chunks = chunk_document(Document("c.md", "markdown", [Page(0, text, "S")], "h"), "d", 200, 20)
    assert all(len(c.text) <= 200 for c in chunks)
    assert any(code in c.text for c in chunks) and any(table in c.text for c in chunks)


def test_block_splitting_keeps_fences_whole():
    text = "para one\nstill one\n\n```\nx = 1\n\ny = 2\n```\n| a |\n| b |\nafter table"
    assert blocks(text) == ["para one\nstill one", "```\nx = 1\n\ny = 2\n```", "| a |\n| b |", "after table"]


def test_a_long_japanese_paragraph_is_cut_after_a_full_stop_not_inside_a_word():
    sentences = [f"第{i}の文ではGPUメモリ使用量を半分に削減します。" for i in range(40)]
    doc = Document("ja.md", "markdown", [Page(1, "".join(sentences))], "h")
    chunks = chunk_document(doc, "d", chunk_size=200, overlap=20)
    assert len(chunks) > 3 and all(len(c.text) <= 200 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)  # the plain splitter cut at the 200th character
    assert all(c.text.startswith("第") for c in chunks)  # each starts a sentence
    assert "".join(c.text for c in chunks) == "".join(sentences)


def test_a_japanese_block_without_full_stops_is_cut_at_line_breaks_then_commas():
    lines = "\n".join("設定ファイル、パッケージ、カーネル" * 3 for _ in range(12))
    doc = Document("ja.txt", "text", [Page(0, lines)], "h")
    chunks = chunk_document(doc, "d", chunk_size=120, overlap=0)
    assert all(c.text.endswith(("カーネル", "、")) for c in chunks)


def test_english_text_is_chunked_as_before():
    """The plain splitter, byte for byte, for text without Japanese or Chinese."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    text = " ".join(f"word{i}." for i in range(400))
    doc = Document("t.txt", "text", [Page(0, text)], "h")
    expected = RecursiveCharacterTextSplitter(chunk_size=200, chunk_overlap=20).split_text(text)
    assert [c.text for c in chunk_document(doc, "d", chunk_size=200, overlap=20)] == expected
