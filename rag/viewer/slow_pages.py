"""PDF pages that took longer than the render workers wait (`RENDER_TIMEOUT_S`), remembered so
they are refused at once the next time instead of holding a worker again.

A page that pdfium took over 45 s to draw will take as long again: a visitor who opens it again
and again (or a client flooding it) would hold a worker each time while other visitors' pages
wait. So such a page is refused at once the next time, by the version of the document (its
content hash: the same file in another workspace is the same page), and after `PER_DOCUMENT`
pages of one document have timed out every page of it is refused: the page a request names is
the one the worker clamps to the document, so "page 1000", "page 1001"... of a 3-page document
would otherwise each be a new page that draws the same slow last one. A normal document never
meets this: a text page takes ~0.1 s, a scan with OCR boxes 2-10 s on the busy 2-core machine.
Remembered per process, for the last `KEEP` documents (a few hundred bytes each).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

PER_DOCUMENT = 3
KEEP = 1000


class SlowPages:
    def __init__(self) -> None:
        self._pages: OrderedDict[str, set[int]] = OrderedDict()  # content hash → pages that timed out
        self._lock = threading.Lock()

    def note(self, document: str, page: int) -> None:
        """`page` of the version `document` (its content hash) took too long to draw."""
        with self._lock:
            self._pages.setdefault(document, set()).add(page)
            self._pages.move_to_end(document)
            while len(self._pages) > KEEP:
                self._pages.popitem(last=False)

    def refused(self, document: str, page: int, name: str, timeout_s: float) -> str:
        """Why `page` of `document` (named `name` to the visitor) is not drawn again, or ""."""
        with self._lock:
            pages = self._pages.get(document, set())
        if len(pages) >= PER_DOCUMENT:
            return (
                f"{len(pages)} pages of {name} took over {timeout_s:g} s each to draw: its pages are "
                "not drawn any more (its text is still searchable)"
            )
        if page in pages:
            return f"page {page} of {name} took over {timeout_s:g} s to draw before, and is not drawn again"
        return ""
