"""A URL → its pages (rag/ingest/crawl.py) → stored documents, one page at a time, each known by its
URL; a page that fails is reported with its reason and the others go on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rag.ingest.crawl import PageResult, crawl
from rag.ingest.fair import NEVER_STOPPED, StopSignal
from rag.ingest.fetch import AddressPolicy, Fetcher, FetchError, FetchLimits
from rag.ingest.pipeline import Ingestor, Quota
from rag.settings import Settings
from rag.types import IngestResult, Progress, no_progress


@contextmanager
def fetcher_for(settings: Settings) -> Iterator[Fetcher]:
    """A Fetcher under the server's policy: public addresses only unless RAG_ALLOW_PRIVATE_URLS, an
    upload's size limit (RAG_MAX_UPLOAD_MB) and RAG_FETCH_TIMEOUT_S."""
    limits = FetchLimits(
        max_bytes=settings.limits.max_upload_mb * 1024 * 1024, seconds=settings.ingest.fetch_timeout_s
    )
    with Fetcher(AddressPolicy.from_setting(settings.ingest.allow_private_urls), limits) as fetcher:
        yield fetcher


def ingest_url(
    ingestor: Ingestor,
    url: str,
    owner: str,
    progress: Progress = no_progress,
    quota: Quota | None = None,
    follow: bool = False,
) -> list[IngestResult]:
    """Ingest what `url` stands for (one page, a sitemap's pages, or with `follow` the pages it links
    to under its folder). One result per page; a start URL that cannot be fetched is one failure."""
    cap = ingestor.settings.ingest.max_crawl_pages
    results: list[IngestResult] = []
    since = ingestor.store.deletion_mark(owner)  # one for every page (`Ingestor.ingest_bytes`)
    with fetcher_for(ingestor.settings) as fetcher, ingestor.stoppable(owner) as stop:
        try:
            for page in crawl(fetcher, url, follow, cap):
                span = _PageSpan(progress, len(results), cap, page.url)
                results.append(ingest_page(ingestor, page, owner, span, quota, stop, since))
                if stop.tripped:  # Stop: the pages stored so far stay, no more are fetched
                    break
        except FetchError as exc:
            results.append(IngestResult(exc.source, "failed", reason=exc.reason))
    progress(1.0, f"done: {len(results)} page(s)")
    return results


def ingest_page(
    ingestor: Ingestor,
    page: PageResult,
    owner: str,
    progress: Progress,
    quota: Quota | None,
    stop: StopSignal = NEVER_STOPPED,
    since: int | None = None,
) -> IngestResult:
    if page.error or page.page is None:
        reason = page.error.reason if page.error else "not fetched"
        return IngestResult(page.url, "failed", reason=reason)
    fetched = page.page
    return ingestor.ingest_bytes(
        page.url, fetched.data, owner, progress, quota, fetched.filename, stop, since
    )


class _PageSpan:
    """Progress per page: a crawl's page count is known only as it goes, so the bar is pages out of
    the cap and the message names the page."""

    def __init__(self, progress: Progress, index: int, cap: int, url: str) -> None:
        self.progress, self.index, self.cap, self.url = progress, index, cap, url

    def __call__(self, fraction: float, message: str) -> None:
        overall = min((self.index + fraction) / self.cap, 0.99)
        self.progress(overall, f"page {self.index + 1}: {self.url}: {message}")
