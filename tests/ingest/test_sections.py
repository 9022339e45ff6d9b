from rag.ingest.sections import clean_heading, html_sections, markdown_sections
from tests.samples import HTML_GUIDE, MARKDOWN_GUIDE


def test_markdown_title_from_front_matter_and_heading_paths():
    title, sections = markdown_sections(MARKDOWN_GUIDE)
    assert title == "Index Guide"
    assert [s.path for s in sections] == [
        "Index Guide",
        "Index Guide › HNSW",
        "Index Guide › HNSW › Index building parameters",
        "Index Guide › Setext section",
    ]
    params = sections[2].text
    assert "# not a heading" in params and "| M | 2-2048 |" in params  # code comment is no heading


def test_markdown_title_falls_back_to_first_h1():
    title, sections = markdown_sections("Intro line.\n\n# Real Title\n\nBody.\n\n## Part\n\nMore.")
    assert title == "Real Title"
    assert [(s.path, s.text) for s in sections] == [
        ("", "Intro line."),
        ("Real Title", "Body."),
        ("Real Title › Part", "More."),
    ]


def test_heading_markup_is_cleaned():
    assert clean_heading("Use [`mmap`](mmap.md) **now** {#anchor}") == "Use mmap now"
    assert clean_heading("A › B") == "A - B"  # the separator can't appear inside one heading


def test_stub_page_keeps_its_heading():
    assert [(s.path, s.text) for s in markdown_sections("# Only a heading")[1]] == [
        ("Only a heading", "Only a heading")
    ]


def test_html_sections_title_code_and_tables():
    title, sections = html_sections(HTML_GUIDE)
    assert title == "Tuning Handbook"
    paths = {s.path: s.text for s in sections}
    assert list(paths) == [
        "",
        "Tuning",
        "Tuning › Memory",
        "Tuning › Memory › Per collection",
        "Tuning › Disk",
    ]
    assert "Use mmap when memory is short." in paths["Tuning › Memory"]  # inline markup stays inline
    assert "```\nqueryNode:\n  mmap:\n    mmapEnabled: true\n```" in paths["Tuning › Memory"]
    assert paths["Tuning › Memory › Per collection"] == "| Property | Value |\n| mmap.enabled | true |"
