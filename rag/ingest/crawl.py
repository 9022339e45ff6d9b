"""Which pages one URL stands for: itself, the pages a sitemap lists, or (`follow`) the pages it
links to under the same path, two links deep at most, up to a page cap (`RAG_MAX_CRAWL_PAGES`).

Only pages on the start URL's own scheme, host and port are taken: a sitemap or a page that lists
another site's pages (or an intranet address) does not widen what one request fetches. Each page is
still fetched through the SSRF guard (rag/ingest/fetch.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from rag.ingest.fetch import Fetched, Fetcher, FetchError, Validators, canonical

# "this page and the pages it links to" stops at 2 links away: deeper is a crawler, not an upload.
MAX_DEPTH = 2
# A sitemap's <loc> entries; sitemaps are flat XML, so a pattern reads them without an XML parser
# (no entity expansion, no nesting to exhaust).
_LOC = re.compile(rb"<(?:\w+:)?loc>\s*([^<]{1,4000}?)\s*</(?:\w+:)?loc>", re.IGNORECASE)
_SITEMAP_ROOT = re.compile(rb"<(?:\w+:)?(urlset|sitemapindex)[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class PageResult:
    """One page of a crawl: fetched, or refused with the reason (the other pages go on)."""

    url: str
    page: Fetched | None = None
    error: FetchError | None = None


def sitemap_urls(data: bytes) -> tuple[str, list[str]] | None:
    """("urlset" | "sitemapindex", the listed URLs) when `data` is a sitemap, else None."""
    root = _SITEMAP_ROOT.search(data[:4096])
    if not root:
        return None
    locs = [html.unescape(m.group(1).decode("utf-8", "replace")).strip() for m in _LOC.finditer(data)]
    return root.group(1).decode().lower(), locs


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def page_links(data: bytes, base: str) -> list[str]:
    """The distinct http(s) links of an HTML page, absolute, without #fragments, in page order."""
    parser = _Links()
    parser.feed(data.decode("utf-8", "replace"))
    parser.close()
    links = (canonical(urljoin(base, href.strip())) for href in parser.hrefs)
    return list(dict.fromkeys(link for link in links if urlsplit(link).scheme in {"http", "https"}))


def under(url: str, start: str) -> bool:
    """`url` is on `start`'s scheme, host and port, and inside its folder (the path up to its last /)."""
    a, b = urlsplit(url), urlsplit(start)
    folder = b.path[: b.path.rfind("/") + 1] or "/"
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower()) and a.path.startswith(folder)


def same_site(url: str, start: str) -> bool:
    a, b = urlsplit(url), urlsplit(start)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def crawl(
    fetcher: Fetcher,
    start: str,
    follow: bool,
    max_pages: int,
    known: Mapping[str, Validators] | None = None,
) -> Iterator[PageResult]:
    """The pages `start` stands for, one at a time as they are fetched (so progress is per page):
    a sitemap (or sitemap index, one level) yields its pages; `follow` adds linked pages under the
    start's folder, breadth first, up to `MAX_DEPTH` links away; at most `max_pages` pages.
    `known` (`rag sync`): the validators of pages fetched before, sent so that an unchanged page
    answers 304 (`Fetched.not_modified`); not with `follow`, whose pages must be read for their
    links. Raises FetchError when `start` itself cannot be fetched."""
    start = canonical(start)
    known = {} if follow or known is None else known
    first = fetcher.fetch(start, known.get(start, Validators()))
    if first.not_modified:
        yield PageResult(start, first)
        return
    listed = sitemap_urls(first.data) if first.filename.endswith(".xml") else None
    if listed is None and first.filename.endswith(".xml"):
        raise FetchError(start, "the XML is not a sitemap (<urlset> or <sitemapindex>)")
    if listed is not None:
        yield from _sitemap_pages(fetcher, start, listed, max_pages, known)
        return
    yield PageResult(start, first)
    if not follow:
        return
    seen, frontier, taken = {start, canonical(first.url)}, [(first, 0)], 1
    while frontier and taken < max_pages:
        page, depth = frontier.pop(0)
        if depth >= MAX_DEPTH or not page.filename.endswith(".html"):
            continue
        for link in page_links(page.data, page.url):
            if taken >= max_pages:
                return
            if link in seen or not under(link, start):
                continue
            seen.add(link)
            taken += 1
            result = _fetch_one(fetcher, link)
            yield result
            if result.page:
                frontier.append((result.page, depth + 1))


def _sitemap_pages(
    fetcher: Fetcher,
    start: str,
    listed: tuple[str, list[str]],
    max_pages: int,
    known: Mapping[str, Validators],
) -> Iterator[PageResult]:
    kind, urls = listed
    if kind == "sitemapindex":  # one level: the index's sitemaps, each read for its pages
        pages: list[str] = []
        for sitemap in (u for u in urls if same_site(u, start)):
            inner = _fetch_one(fetcher, sitemap)
            found = sitemap_urls(inner.page.data) if inner.page else None
            if inner.error:
                yield inner
            elif found and found[0] == "urlset":
                pages.extend(found[1])
            if len(pages) >= max_pages:
                break
        urls = pages
    wanted = list(dict.fromkeys(canonical(u) for u in urls if same_site(u, start)))
    for url in wanted[:max_pages]:
        yield _fetch_one(fetcher, url, known.get(url, Validators()))


def _fetch_one(fetcher: Fetcher, url: str, validators: Validators | None = None) -> PageResult:
    try:
        return PageResult(url, fetcher.fetch(url, validators or Validators()))
    except FetchError as exc:
        return PageResult(url, error=exc)
