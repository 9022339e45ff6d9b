"""Inline HTML in Markdown → the text a reader sees: no markup, no SVG, code left alone."""

from rag.ingest.loaders import load_document
from rag.ingest.markdown_html import html_to_text

ARTICLE = """# vLLMとMilvus

<p>vLLMは<strong>GPUメモリ</strong>使用量を半分に削減します。</p>
<svg width="24" viewBox="0 0 24 24"><path d="M12 2L2 7l10 5 10-5-10-5z"/>
<path d="M2 17l10 5 10-5"/></svg>
<div class="note">Replace `<div>` and <YOUR_URI> with your own.<br/>Next line</div>
<!-- a comment the reader never sees -->
<table><tr><th>mode</th><th>hit@5</th></tr><tr><td>keyword</td><td>0.80</td></tr></table>

```html
<svg><path d="kept: this is code"/></svg>
```
"""


def test_markup_goes_text_stays():
    text = html_to_text(ARTICLE)
    assert "vLLMはGPUメモリ使用量を半分に削減します。" in text
    for markup in ("<svg", "<path", "<p>", "<strong>", "<div class", "<br", "<table>", "<td>", "comment"):
        assert markup not in text.split("```html")[0], markup
    assert "mode hit@5" in " ".join(text.split()) and "keyword 0.80" in " ".join(text.split())
    assert "Next line" in text.splitlines()  # <br/> is a line break


def test_code_and_placeholders_are_left_alone():
    text = html_to_text(ARTICLE)
    assert "Replace `<div>` and <YOUR_URI> with your own." in text
    assert '<svg><path d="kept: this is code"/></svg>' in text


def test_markdown_without_html_is_unchanged():
    plain = "# Title\n\nSome *text* with a [link](http://x) and `code`.\n\n| a | b |\n|---|---|\n"
    assert html_to_text(plain) == plain


def test_a_markdown_upload_has_no_svg_chunk():
    document = load_document("article.md", ARTICLE.encode())
    body = "\n".join(page.text for page in document.pages)
    assert "M12 2L2" not in body and "viewBox" not in body
    assert "GPUメモリ使用量を半分に削減" in body
