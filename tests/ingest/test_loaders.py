import codecs

import pytest

from rag.errors import LoadError
from rag.ingest.loaders import load_document
from tests.samples import (
    HTML_GUIDE,
    HTML_WITH_SCRIPT,
    MARKDOWN_GUIDE,
    make_blank_pdf,
    make_encrypted_pdf,
    make_pdf,
    make_pdf_with_outline,
    make_zip,
    random_bytes,
)


def test_pdf_keeps_text_per_page_with_page_numbers():
    doc = load_document("report.pdf", make_pdf(["Alpha page one", "Beta page two"]))
    assert doc.kind == "pdf"
    assert [(p.number, p.text) for p in doc.pages] == [(1, "Alpha page one"), (2, "Beta page two")]


def test_pdf_is_detected_from_content_not_extension():
    assert load_document("report.bin", make_pdf(["Gamma"])).kind == "pdf"


def test_html_keeps_title_and_visible_text_only():
    doc = load_document("page.html", HTML_WITH_SCRIPT.encode())
    text = doc.pages[0].text
    assert doc.kind == "html" and doc.title == "Pelican facts"
    assert doc.pages[0].section == "Pelicans"  # the title is indexed with every chunk, not in the text
    assert "brown pelican dives" in text
    for hidden in ("window.pwned", "alert", "color: red", "<", "enable js"):
        assert hidden not in text


def test_html_is_sniffed_without_extension():
    assert load_document("page", b"<!DOCTYPE html><html><body><p>Hi there</p></body></html>").kind == "html"


@pytest.mark.parametrize(
    "data",
    [
        "Grüße aus Köln".encode(),
        codecs.BOM_UTF8 + "Grüße aus Köln".encode(),
        "Grüße aus Köln".encode("utf-16"),
        codecs.BOM_UTF16_BE + "Grüße aus Köln".encode("utf-16-be"),
        "Grüße aus Köln".encode("cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom", "cp1252"],
)
def test_text_encodings(data):
    doc = load_document("note.txt", data)
    assert doc.pages[0].text == "Grüße aus Köln"
    assert doc.kind == "text"


def test_markdown_kind():
    assert load_document("readme.md", b"# Title\n\nBody").kind == "markdown"


def test_content_hash_identifies_bytes():
    assert load_document("a.txt", b"same").content_hash == load_document("b.txt", b"same").content_hash
    assert load_document("a.txt", b"same").content_hash != load_document("a.txt", b"other").content_hash


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n ", "no text"),
        ("noise.txt", random_bytes(), "binary"),
        ("utf16-no-bom.txt", "plain words".encode("utf-16-le"), "binary"),
        ("cut.pdf", make_pdf(["Some text here"])[:200], "truncated"),
        ("locked.pdf", make_encrypted_pdf("hidden"), "encrypted"),
        ("scan.pdf", make_blank_pdf(), "no text layer"),
        ("archive.pdf", make_zip(), "ZIP"),
        ("fake.pdf", b"just some words", "not a PDF"),
        ("picture.txt", b"\x89PNG\r\n\x1a\n" + random_bytes(100), "PNG"),
    ],
)
def test_bad_input_names_file_and_reason(name, data, reason):
    with pytest.raises(LoadError) as info:
        load_document(name, data)
    assert info.value.source == name
    assert reason.lower() in info.value.reason.lower()
    assert str(info.value).startswith(f"{name}: ")


def test_damaged_pdf_body_is_reported(tmp_path):
    data = make_pdf(["Damaged"])
    broken = data[:9] + b"garbage" * 20 + data[-40:]
    with pytest.raises(LoadError) as info:
        load_document("broken.pdf", broken)
    assert "PDF" in info.value.reason


def test_markdown_sections_become_pages_with_paths():
    doc = load_document("guide.md", MARKDOWN_GUIDE.encode())
    assert doc.title == "Index Guide" and doc.page_count == 1
    assert [p.section for p in doc.pages][1:3] == [
        "Index Guide › HNSW",
        "Index Guide › HNSW › Index building parameters",
    ]
    assert all(p.number == 0 for p in doc.pages)
    assert "title: Index Guide" not in " ".join(p.text for p in doc.pages)  # front matter is not text


def test_html_sections_become_pages_with_paths():
    doc = load_document("tuning.html", HTML_GUIDE.encode())
    assert doc.title == "Tuning Handbook"
    assert "Tuning › Memory › Per collection" in [p.section for p in doc.pages]


def test_pdf_keeps_pages_and_takes_sections_from_outline_and_title_from_metadata():
    outline = [("Intro", 0, 0), ("Chapter 1", 1, 0), ("Details", 2, 1), ("Chapter 2", 3, 0)]
    data = make_pdf_with_outline(
        ["Intro words", "Chapter text", "Detail text", "More text"], outline, "The Book"
    )
    doc = load_document("book.pdf", data)
    assert doc.title == "The Book" and doc.page_count == 4
    assert [(p.number, p.section) for p in doc.pages] == [
        (1, "Intro"),
        (2, "Chapter 1"),
        (3, "Chapter 1 › Details"),
        (4, "Chapter 2"),
    ]


def test_pdf_without_outline_has_no_sections():
    doc = load_document("plain.pdf", make_pdf(["one", "two"]))
    assert [p.section for p in doc.pages] == ["", ""] and doc.title == ""
