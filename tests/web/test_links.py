"""A web page's source links to it; no other name ever becomes a link or markup."""

from __future__ import annotations

import pytest

from rag.web.links import source_name_html, web_source


def test_a_url_source_becomes_a_link_that_opens_it_in_a_new_tab():
    got = source_name_html("https://docs.example.org/guide/a.html?x=1&y=2")
    assert got == (
        '<a class="rag-name" href="https://docs.example.org/guide/a.html?x=1&amp;y=2" target="_blank" '
        'rel="noopener noreferrer nofollow">https://docs.example.org/guide/a.html?x=1&amp;y=2</a>'
    )


@pytest.mark.parametrize(
    "source",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)//https://x",
        "data:text/html,<script>alert(1)</script>",
        " https://example.org/",
        'https://example.org/" onmouseover="alert(1)',
        "https://example.org/'><script>alert(1)</script>",
        "https://example.org/a\nb",
        "http:///no-host",
        "manual.pdf",
        "<img src=x onerror=alert(1)>.html",
    ],
)
def test_anything_else_stays_escaped_text(source):
    got = source_name_html(source)
    assert not web_source(source)
    assert got.startswith('<span class="rag-name">') and "<a " not in got
    assert "<script" not in got and "<img" not in got
