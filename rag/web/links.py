"""A document's name as the Sources panel shows it: a page ingested from the web (its source is
its URL) becomes a link to that page, anything else stays text.

Only `http://` and `https://` URLs become links, with nothing in them a browser would read past
(whitespace, control characters); the URL is HTML-escaped in the attribute and in the text, and the
link opens a new tab without a referrer or a handle on this page (`rel="noopener noreferrer"`).
A document named `javascript:…` or `data:…` (a file name can be anything) stays inert text.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")
MAX_LINK_CHARS = 2000  # the URL box's own limit (rag/web/handlers.py)


def web_source(source: str) -> bool:
    """Whether `source` is a URL the panel may link to."""
    if len(source) > MAX_LINK_CHARS or _UNSAFE.search(source):
        return False
    parts = urlsplit(source)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def source_name_html(source: str) -> str:
    """The `rag-name` element of one source: a link for a web page, escaped text otherwise."""
    text = html.escape(source)
    if not web_source(source):
        return f'<span class="rag-name">{text}</span>'
    return (
        f'<a class="rag-name" href="{html.escape(source, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{text}</a>'
    )
