"""A page that took longer than the render workers wait is refused at once the next time, naming
its document and page, and a document with several such pages is refused whole (a page number
past the end draws the last page: each would be a "new" slow page). Other documents are still
drawn. Then: a free worker goes to the client served longest ago, not to the first in line.
Real worker processes, real PDFs, real Milvus Lite."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.viewer.render_worker import RenderWorkers, ViewerError
from rag.viewer.views import PageView, ViewRequest
from tests.samples import make_pdf, make_slow_pdf

TIMEOUT_S = 3.0


def test_a_page_that_timed_out_is_refused_at_once_the_next_time(assistant, tmp_path: Path):
    slow, normal = tmp_path / "atlas.pdf", tmp_path / "guide.pdf"
    slow.write_bytes(make_slow_pdf([f"Atlas page {n}." for n in range(1, 5)], 40))  # ~70 s a page
    normal.write_bytes(make_pdf(["The heron nests in tall trees."]))
    assistant.upload([SourceFile("atlas.pdf", slow), SourceFile("guide.pdf", normal)], "anon:a")
    atlas = document_id("anon:a", "atlas.pdf")
    assistant.viewer.workers.timeout_s = TIMEOUT_S

    with pytest.raises(ViewerError, match=r"page 1 of atlas.pdf took over 3 s to draw and is not shown"):
        assistant.view_source("anon:a", ViewRequest(atlas, 1))
    started = time.monotonic()
    with pytest.raises(ViewerError, match=r"page 1 of atlas.pdf took over 3 s to draw before"):
        assistant.view_source("anon:a", ViewRequest(atlas, 1, zoom=2.0))  # another zoom: the same page
    assert time.monotonic() - started < 1.0  # refused, not drawn again

    for page in (2, 3):
        with pytest.raises(ViewerError, match="took over"):
            assistant.view_source("anon:a", ViewRequest(atlas, page))
    started = time.monotonic()
    with pytest.raises(ViewerError, match=r"3 pages of atlas.pdf took over 3 s each.*not drawn any more"):
        assistant.view_source("anon:a", ViewRequest(atlas, 999))  # clamped to page 4 by the worker
    assert time.monotonic() - started < 1.0
    assistant.viewer.workers.timeout_s = 60
    view = assistant.view_source("anon:a", ViewRequest(document_id("anon:a", "guide.pdf"), 1))
    assert isinstance(view, PageView) and view.png.startswith(b"\x89PNG")


def test_a_free_worker_goes_to_the_client_served_longest_ago(tmp_path: Path):
    """One worker: client A's page is drawing, A's second page waits, then B asks. When the worker
    is free B goes first (A was just served): turns per client, not first come first served."""
    slow, normal = tmp_path / "slow.pdf", tmp_path / "a.pdf"
    slow.write_bytes(make_slow_pdf(["Slow."], 2))  # a few seconds: long enough for both to queue
    normal.write_bytes(make_pdf(["The heron nests in tall trees."]))
    workers = RenderWorkers(workers=1, timeout_s=120)
    order: list[str] = []
    real_take = workers._take
    queued = threading.Semaphore(0)

    def take(client: str):
        queued.release()
        got = real_take(client)
        order.append(client)
        return got

    workers._take = take
    try:
        first = threading.Thread(target=workers.render, args=(slow, 1, 900, []), kwargs={"client": "A"})
        first.start()
        assert queued.acquire(timeout=60)
        deadline = time.monotonic() + 60
        while order != ["A"]:  # A's first page holds the worker
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = threading.Thread(target=workers.render, args=(normal, 1, 400, []), kwargs={"client": "A"})
        second.start()
        assert queued.acquire(timeout=60)
        while not workers._waiting:
            time.sleep(0.01)
        third = threading.Thread(target=workers.render, args=(normal, 1, 400, []), kwargs={"client": "B"})
        third.start()
        assert queued.acquire(timeout=60)
        while len(workers._waiting) < 2:
            time.sleep(0.01)
        for thread in (first, second, third):
            thread.join(120)
        assert order == ["A", "B", "A"]
    finally:
        workers.close()
