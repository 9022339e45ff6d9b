"""DOCX and PPTX through `load_document`, from files the tests build with python-docx/python-pptx."""

import io
import zipfile

import pytest

from rag.errors import LoadError
from rag.ingest.loaders import SUPPORTED, load_document
from rag.ingest.office import markdown_table
from rag.types import Chunk
from tests.samples import make_docx, make_pptx, make_zip

DOCX = make_docx(
    "Pump maintenance",
    ["Prime the pump before the first start.", "Seals are checked monthly."],
    [["Part", "Interval"], ["Filter", "every 200 hours"], ["Seal | ring", "yearly"]],
    subheading="Schedule",
)
PPTX = make_pptx(
    [
        ("Quokkas", "Quokkas live on Rottnest Island.", "Mention the ferry."),
        ("Diet", "Leaves and grasses.", ""),
        ("Ports", "Telemetry goes to the observatory.", "The port never changes."),
    ],
    table=[["Service", "Port"], ["quokka protocol", "7341"]],
)


def test_docx_keeps_headings_paragraphs_and_tables_in_document_order():
    doc = load_document("maintenance.docx", DOCX)
    assert doc.kind == "docx" and [p.number for p in doc.pages] == [0]
    assert doc.pages[0].text.split("\n\n") == [
        "# Pump maintenance",
        "Prime the pump before the first start.",
        "Seals are checked monthly.",
        "## Schedule",
        "| Part | Interval |\n| --- | --- |\n| Filter | every 200 hours |\n| Seal \\| ring | yearly |",
        "End of the maintenance notes.",
    ]


def test_pptx_gives_one_numbered_page_per_slide_with_text_tables_and_notes():
    doc = load_document("deck.pptx", PPTX)
    assert doc.kind == "pptx" and [p.number for p in doc.pages] == [1, 2, 3]
    first, _, last = (p.text for p in doc.pages)
    assert first == "# Quokkas\n\nQuokkas live on Rottnest Island.\n\nSpeaker notes: Mention the ferry."
    assert "| quokka protocol | 7341 |" in last and last.endswith("Speaker notes: The port never changes.")


def test_slides_are_cited_as_slides_and_pages_as_pages():
    assert Chunk("d", "deck.pptx", 3, 0, "t").label() == "deck.pptx, slide 3"
    assert Chunk("d", "manual.pdf", 3, 0, "t").label() == "manual.pdf, page 3"
    assert Chunk("d", "notes.docx", 0, 0, "t").label() == "notes.docx"


def test_office_files_are_recognised_by_content_not_name():
    assert load_document("upload.bin", DOCX).kind == "docx"
    assert load_document("upload", PPTX).kind == "pptx"


def zip_with(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def empty_docx() -> bytes:
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("archive.docx", make_zip(), f"the content is a ZIP archive (e.g. .zip), not {SUPPORTED}"),
        ("sheet.docx", zip_with({"xl/workbook.xml": b"<x/>"}), "an Excel workbook"),
        ("broken.docx", zip_with({"word/document.xml": b"not xml"}), "the Word file is damaged"),
        ("broken.pptx", zip_with({"ppt/presentation.xml": b"<p/>"}), "the PowerPoint file is damaged"),
        ("cut.docx", DOCX[: len(DOCX) // 2], "damaged ZIP"),
        ("blank.docx", empty_docx(), "no text found"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "save it as .docx/.pptx"),
    ],
)
def test_zips_that_are_not_usable_office_files_say_why(name, data, reason):
    with pytest.raises(LoadError) as info:
        load_document(name, data)
    assert reason in info.value.reason and info.value.source == name


def test_markdown_table_pads_short_rows_and_drops_empty_ones():
    assert markdown_table([["a", "b"], ["", ""], ["c"]]) == "| a | b |\n| --- | --- |\n| c |  |"
