"""The render workers: a page that takes too long is given up on and its worker killed, the next
request gets a fresh one; a file that isn't a PDF is refused in words; the worker ends with the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.viewer.render_worker import RenderWorkers, ViewerError
from tests.samples import make_pdf


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf(["The heron nests in tall trees."]))
    return path


def test_a_page_over_the_time_limit_is_given_up_and_the_next_one_drawn(pdf: Path):
    workers = RenderWorkers(workers=1, timeout_s=0.001)  # no worker starts and draws in 1 ms
    try:
        with pytest.raises(ViewerError, match="took over"):
            workers.render(pdf, 1, 400, [])
        [worker] = list(workers._free.queue)
        assert worker.process is None  # killed, not left drawing
        workers.timeout_s = 60
        drawn = workers.render(pdf, 1, 400, ["heron nests"])
        assert drawn["png"].startswith(b"\x89PNG") and len(drawn["boxes"]) == 1
    finally:
        workers.close()


def test_a_file_that_is_not_a_pdf_is_refused_in_words_and_the_worker_goes_on(tmp_path: Path, pdf: Path):
    path = tmp_path / "x.pdf"
    path.write_bytes(b"not a pdf at all")
    workers = RenderWorkers(workers=1)
    try:
        with pytest.raises(ViewerError, match="page 1 could not be shown: the PDF cannot be read"):
            workers.render(path, 1, 400, [])
        assert workers.render(pdf, 1, 400, [])["png"].startswith(b"\x89PNG")
    finally:
        workers.close()


def test_closing_stops_the_workers(pdf: Path):
    workers = RenderWorkers(workers=1)
    workers.render(pdf, 1, 400, [])
    [worker] = list(workers._free.queue)
    process = worker.process
    workers.close()
    assert process.poll() is not None
