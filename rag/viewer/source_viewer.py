"""The source viewer: a cited chunk's original page (PDF) or section (HTML, Markdown, Word,
PowerPoint), with the passage marked.

Who may see what: `view` is given the owners the visitor may read (their workspace and the shared
library, from the session, never from the request) and shows a document only when the store says
its owner is one of them; a document of another workspace and one that doesn't exist get the same
answer, so ids can't be probed. The original is then read from the owner's folder of kept files
(rag/store/originals.py), and only when it is the version the store holds.

A text document is read again with the ingest loaders (and their budgets) and the section the
chunk came from is shown: the page with the chunk's number and section, and among those the one
holding the passage. The last `KEEP_PARSED` parsed documents are kept, so a second source of the
same file doesn't parse it again; a parse takes a turn in the ingest slots (`turn`: the Ingestor's
fair slots, `RAG_INGEST_CONCURRENCY`), being the same in-process work as an upload's parse. A PDF
page is drawn by the render workers (rag/viewer/render_worker.py), in turns per client; a page
that took longer than they wait is refused at once the next time (rag/viewer/slow_pages.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from rag.errors import LoadError, OcrUnavailableError
from rag.ingest.budgets import LoadLimits
from rag.ingest.loaders import load_document
from rag.store.originals import Original, Originals
from rag.store.vector_store import VectorStore
from rag.types import Document, page_unit
from rag.viewer.passages import Budget, marked_spans
from rag.viewer.pdf_render import Box
from rag.viewer.render_worker import RenderTimeout, RenderWorkers, ViewerError
from rag.viewer.slow_pages import SlowPages
from rag.viewer.views import NotKept, PageView, SectionView, SourceView, ViewRequest

BASE_WIDTH = 900  # pixels of a page image at zoom 1: the viewer column's width on a laptop screen
KEEP_PARSED = 4
# of a longer section, this much around the passage (a 5 M-character file is not sent whole)
SHOWN_CHARS = 20_000
NOT_FOUND = "no such document in this workspace or the shared library"


class SourceViewer:
    def __init__(
        self,
        store: VectorStore,
        originals: Originals,
        limits: LoadLimits,
        turn: Callable[[str], AbstractContextManager] | None = None,
    ) -> None:
        """`turn(owner)`: held while a text document is parsed again (None: nothing to wait for)."""
        self.store, self.originals, self.limits = store, originals, limits
        self.turn = turn or (lambda owner: nullcontext())
        self.workers = RenderWorkers()
        self.slow = SlowPages()
        self._parsed: OrderedDict[tuple[str, str], Document] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, owners: Sequence[str], request: ViewRequest, client: str = "") -> SourceView:
        """`request`'s source as the visitor who may read `owners`' documents sees it; `client`
        (their address) takes its turns at the render workers. Raises ViewerError for a document
        they can't see (or that doesn't exist) and for a page that can't be drawn."""
        request = request.bounded()
        try:
            info = self.store.find_document(request.doc_id)
        except Exception:  # a malformed id is no document either
            info = None
        if info is None or info.owner not in owners:
            raise ViewerError(NOT_FOUND)
        try:
            original = self.originals.read(info.owner, request.doc_id)
        except ValueError:
            raise ViewerError(NOT_FOUND) from None
        if original is None or original.content_hash != info.content_hash:
            return NotKept(info.source, self._why_not_kept(info.owner, request.doc_id, info.content_hash))
        if original.head(5) == b"%PDF-":
            return self._pdf_page(info.source, original, request, client)
        return self._section(info.source, original, request, info.owner)

    def close(self) -> None:
        self.workers.close()

    def _why_not_kept(self, owner: str, doc_id: str, content_hash: str) -> str:
        """The refusal recorded when the document was added (a bound, the disk), or the usual causes."""
        refused = self.originals.not_kept(owner, doc_id, content_hash)
        if refused:
            return (
                f"The original file of this document was not kept when it was added: {refused}. "
                "The document is still searchable; upload it again later to see its pages here."
            )
        return (
            "The original file of this document is not kept: it was added before the app kept "
            "originals, or a bound on originals (RAG_MAX_WORKSPACE_ORIGINALS_MB, RAG_MAX_ORIGINALS_MB) "
            "kept it out. Upload it again to see its pages here."
        )

    def _pdf_page(self, source: str, original: Original, request: ViewRequest, client: str) -> PageView:
        width, page, timeout_s = round(BASE_WIDTH * request.zoom), request.page or 1, self.workers.timeout_s
        refused = self.slow.refused(original.content_hash, page, source, timeout_s)
        if refused:
            raise ViewerError(refused)
        try:
            drawn = self.workers.render(original.path, page, width, request.marks, request.chunk, client)
        except RenderTimeout:
            self.slow.note(original.content_hash, page)
            took = f"page {page} of {source} took over {timeout_s:g} s to draw"
            raise ViewerError(f"{took} and is not shown") from None
        boxes = [Box(**box) for box in drawn["boxes"]]
        return PageView(
            source,
            drawn["number"],
            drawn["pages"],
            drawn["png"],
            drawn["width"],
            drawn["height"],
            boxes,
            drawn["found_by"],
            drawn["scanned"],
        )

    def _section(self, source: str, original: Original, request: ViewRequest, owner: str) -> SectionView:
        document = self._parse(original, owner)
        same = [p for p in document.pages if p.number == request.page and p.section == request.section]
        candidates = same or document.pages
        budget = Budget()  # the loose search's, for all of them (rag/viewer/passages.py)
        for page in candidates:
            spans = marked_spans(page.text, request.marks, request.chunk, budget)
            if spans:
                return _shown(source, _location(source, page.number, page.section), page.text, spans)
        page = candidates[0]
        return _shown(source, _location(source, page.number, page.section), page.text, [])

    def _parse(self, original: Original, owner: str) -> Document:
        key = (original.doc_id, original.content_hash)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        try:  # OCR is not needed: scans are PDFs, which never come here
            with self.turn(owner):
                document = load_document(original.filename, original.data, limits=self.limits)
        except (LoadError, OcrUnavailableError) as exc:
            raise ViewerError(f"{original.name} cannot be read again: {exc}") from None
        with self._lock:
            self._parsed[key] = document
            while len(self._parsed) > KEEP_PARSED:
                self._parsed.popitem(last=False)
        return document


def _location(source: str, number: int, section: str) -> str:
    where = f"{page_unit(source)} {number}" if number else ""
    return " · ".join(part for part in (where, section) if part)


def _shown(source: str, location: str, text: str, spans: list[tuple[int, int]]) -> SectionView:
    """The section, or `SHOWN_CHARS` of it around the first passage when it is longer."""
    if len(text) <= SHOWN_CHARS:
        return SectionView(source, location, text, spans)
    middle = spans[0][0] if spans else 0
    start = max(0, min(middle - SHOWN_CHARS // 2, len(text) - SHOWN_CHARS))
    moved = [(a - start, min(b - start, SHOWN_CHARS)) for a, b in spans if start <= a < start + SHOWN_CHARS]
    return SectionView(source, location, text[start : start + SHOWN_CHARS], moved, cut=True)
