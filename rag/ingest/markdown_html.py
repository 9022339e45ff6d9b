"""The HTML inside a Markdown file turned into text: what a reader of the rendered page sees.

Markdown allows raw HTML, and articles use it (issue 23: a Japanese article saved as Markdown gave
71 chunks, several of them raw `<svg>`/`<path>` markup, one ranked above the answer). Elements
never shown as text (svg, script, style …, the list the HTML loader hides) go with their
content; comments go; the tags of every other known HTML element go and their text stays, a block
element (`<p>`, `<div>`, `<br>`, `<tr>` …) leaving a line break, a table cell a space. Fenced code
blocks and inline code spans are left alone (`` `<div>` `` in a how-to is text), and so is anything
in angle brackets that is not an HTML element name (`<YOUR_TOKEN>` placeholders).
"""

from __future__ import annotations

import re

from rag.ingest.sections import HIDDEN_TAGS

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HIDDEN = re.compile(
    rf"<({'|'.join(HIDDEN_TAGS)})\b[^>]*?/>|<({'|'.join(HIDDEN_TAGS)})\b.*?</\2\s*>|<!--.*?-->", re.S | re.I
)
_BLOCK = (
    "p|div|br|hr|tr|li|ul|ol|dl|dt|dd|table|thead|tbody|tfoot|section|article|aside|header|footer|"
    "nav|main|figure|figcaption|blockquote|details|summary|center|h[1-6]"
)
_INLINE = (
    "a|abbr|b|bdi|bdo|big|cite|code|del|dfn|em|font|i|img|ins|kbd|label|mark|picture|q|s|samp|small|"
    "source|span|strike|strong|sub|sup|time|tt|u|var|wbr|caption|col|colgroup|video|audio|button|"
    "input|select|option|textarea|form|fieldset|legend|path|g|circle|rect|use|defs"
)
_TAG = re.compile(rf"</?(?:({_BLOCK})|(td|th)|{_INLINE})\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.I)
_CODE_SPAN = re.compile(r"(`+).+?\1")


def html_to_text(markdown: str) -> str:
    """`markdown` with its HTML turned into text, outside fenced code blocks."""
    out: list[str] = []
    region: list[str] = []
    fence = ""
    for line in markdown.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence or opening:
            if not fence:
                out.append(_convert("".join(region)))
                region = []
                fence = opening.group(1)
            elif line.strip().startswith(fence):
                fence = ""
            out.append(line)
        else:
            region.append(line)
    out.append(_convert("".join(region)))
    return "".join(out)


def _convert(text: str) -> str:
    if "<" not in text:
        return text
    text = _HIDDEN.sub("", text)
    pieces, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        pieces += [_strip_tags(text[last : span.start()]), span.group()]
        last = span.end()
    pieces.append(_strip_tags(text[last:]))
    return "".join(pieces)


def _strip_tags(text: str) -> str:
    return _TAG.sub(lambda tag: "\n" if tag.group(1) else " " if tag.group(2) else "", text)
