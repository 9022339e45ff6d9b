"""PDF pages are rendered in worker processes, not in the app: a hostile page is bounded in time
and memory, and a crash in pdfium (C code) takes a worker down, not the server.

Each worker is `python -m rag.viewer.render_worker` under `prlimit` (the address-space bound of the
OCR programs, rag/ingest/budgets.py), reading one JSON request a line on stdin and writing one JSON
answer a line on stdout. The app keeps `WORKERS` of them, started on first use and kept (their
start, ~0.5 s with the pypdfium2 import on the busy 2-core machine, is paid once), and stops
waiting for one after `RENDER_TIMEOUT_S`: that worker is killed and the next request starts a new
one. A worker keeps the last few documents open and the last OCR boxes, so page turns and zooms
don't reopen or re-OCR. It reads the original from its kept file (rag/store/originals.py): the
path is the app's, never a visitor's.

The workers serve every visitor, so they are shared by client, not by workspace (workspaces cost
nothing to make): a client (`render`'s `client`, its address: rag/web/client_address.py) has at
most `PER_CLIENT` pages drawing at once, and a free worker goes to the waiting request whose
client was served longest ago, not to the first that came. One client with two keys used to hold
both workers with pages that take pdfium long to draw (up to `RENDER_TIMEOUT_S` each) while every
other visitor's page waited; now one of the two workers stays for the others, and a visitor's
page waits at most for the pages being drawn, not for a queue of one client's.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from rag.errors import RagError
from rag.ingest.budgets import limited

WORKERS = 2  # two pages at once; a third waits (one slow page doesn't stop every viewer)
RENDER_TIMEOUT_S = 45.0  # a text page takes ~0.1 s; a scan with OCR boxes 2-10 s on the busy machine
OCR_DPI = 200  # Tesseract read 99-100% of a clean page's words at 150-300 dpi (rag/ingest/ocr.py)
OPEN_DOCUMENTS = 4
PER_CLIENT = 1  # pages one client may have drawing at once: with 2 workers, one stays for the others
BUSY = "the page viewer is busy: try again in a moment"
ROOT = Path(__file__).resolve().parent.parent.parent


class ViewerError(RagError):
    """A page could not be shown; the message says which and why (for the visitor)."""


class RenderTimeout(ViewerError):
    """A page took longer than the workers wait for one (its worker was stopped)."""


class RenderWorkers:
    """The app's side: `render` waits for its client's turn at a free worker, sends the request
    and waits for the answer."""

    def __init__(
        self, workers: int = WORKERS, timeout_s: float = RENDER_TIMEOUT_S, per_client: int = PER_CLIENT
    ) -> None:
        self.timeout_s, self.per_client = timeout_s, max(1, per_client)
        self._free: queue.LifoQueue[_Worker] = queue.LifoQueue()  # the warm one first: its documents are open
        for _ in range(workers):
            self._free.put(_Worker())
        self._turns = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: dict[int, str] = {}  # ticket → client, in arrival order
        self._served: dict[str, int] = {}  # client → ticket of its last turn
        self._drawing: dict[str, int] = {}  # client → pages being drawn

    def render(
        self, path: Path, page: int, width: int, marks: Sequence[str], chunk: str = "", client: str = ""
    ) -> dict:
        """The page's image (`png` bytes) and boxes, as `pdf_render.PageImage` fields. `client`:
        who asks (their address; "": a client of its own, as for the CLI and tests)."""
        request = {"path": str(path), "page": page, "width": width, "marks": list(marks), "chunk": chunk}
        client, worker = self._take(client)
        try:
            answer = worker.ask(request, self.timeout_s)
        finally:
            self._give(client, worker)
        if not answer.get("ok"):
            raise ViewerError(f"page {page} could not be shown: {answer.get('error', 'unknown error')}")
        answer["png"] = base64.b64decode(answer["png"])
        return answer

    def _take(self, client: str) -> tuple[str, _Worker]:
        """A free worker in `client`'s turn (ViewerError after waiting `timeout_s`)."""
        deadline = time.monotonic() + self.timeout_s
        with self._turns:
            ticket = next(self._tickets)
            client = client or f"#{ticket}"
            self._waiting[ticket] = client
            try:
                while self._free.empty() or self._next() != ticket:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ViewerError(BUSY)
                    self._turns.wait(left)
            finally:
                del self._waiting[ticket]
                self._turns.notify_all()
            self._drawing[client] = self._drawing.get(client, 0) + 1
            self._served[client] = ticket
            if len(self._served) > 10_000:  # forget the clients served longest ago (they go first anyway)
                for old in sorted(self._served, key=self._served.__getitem__)[:5_000]:
                    del self._served[old]
            return client, self._free.get_nowait()

    def _give(self, client: str, worker: _Worker) -> None:
        with self._turns:
            self._free.put(worker)
            self._drawing[client] -= 1
            if not self._drawing[client]:
                del self._drawing[client]
            self._turns.notify_all()

    def _next(self) -> int | None:
        """The waiting ticket whose client was served longest ago, among clients under `per_client`."""
        ready = [t for t, c in self._waiting.items() if self._drawing.get(c, 0) < self.per_client]
        return min(ready, key=lambda t: (self._served.get(self._waiting[t], -1), t), default=None)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().stop()
            except queue.Empty:
                return


class _Worker:
    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def ask(self, request: dict, timeout_s: float) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.process = _start()
        try:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            return json.loads(_read_line(self.process.stdout, timeout_s))
        except (OSError, ValueError, TimeoutError) as exc:
            self.stop()
            if isinstance(exc, TimeoutError):
                raise RenderTimeout(
                    f"page {request['page']} took over {timeout_s:g} s to draw and is not shown"
                ) from None
            raise ViewerError(f"page {request['page']} could not be drawn (the renderer stopped)") from None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.process = None


def _start() -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_THREAD_LIMIT": "1"}
    command = limited([sys.executable, "-m", "rag.viewer.render_worker"])
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)


def _read_line(stream, timeout_s: float) -> bytes:
    """One line from `stream` within `timeout_s` (TimeoutError past it; OSError at its end)."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise OSError("the renderer ended")
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)


# -- the worker's side ---------------------------------------------------------------------------


def serve(lines, out) -> None:
    """Answer each request line until stdin ends (the app closed it, or died)."""
    import pypdfium2 as pdfium

    from rag.viewer.ocr_boxes import passage_rects
    from rag.viewer.pdf_render import OcrBoxes, render_page

    documents: OrderedDict[tuple, pdfium.PdfDocument] = OrderedDict()
    ocr = OcrBoxes(OCR_DPI, passage_rects)
    for line in lines:
        try:
            request = json.loads(line)
            path = Path(request["path"])
            info = path.stat()
            key = (str(path), info.st_mtime_ns, info.st_size)
            if key not in documents:
                documents[key] = pdfium.PdfDocument(str(path))
                while len(documents) > OPEN_DOCUMENTS:
                    documents.popitem(last=False)[1].close()
            documents.move_to_end(key)
            ocr.document = key
            number, width = int(request["page"]), int(request["width"])
            page = render_page(documents[key], number, width, request["marks"], request["chunk"], ocr)
            answer = page.as_json() | {"ok": True, "png": base64.b64encode(page.png).decode()}
        except pdfium.PdfiumError as exc:
            answer = {"ok": False, "error": f"the PDF cannot be read ({exc})"}
        except OSError as exc:  # its text names the file: the server log has it, the visitor not
            print(f"render worker: {exc}", file=sys.stderr, flush=True)
            answer = {"ok": False, "error": "the original file could not be read (deleted meanwhile?)"}
        except (ValueError, KeyError, TypeError) as exc:
            print(f"render worker: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            answer = {"ok": False, "error": "the page could not be drawn"}
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
