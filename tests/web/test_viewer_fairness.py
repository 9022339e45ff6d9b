"""The source viewer's render workers serve every visitor fairly. Workspaces cost nothing to make:
one client with two keys used to hold both workers with pages that take pdfium long to draw, and
every other visitor's page waited for them. Now a client (its address, whatever its workspaces)
draws one page at a time and waiting pages are served in turns per client; a page that timed
out is refused at once the next time. Real worker processes, real PDFs, real Milvus Lite."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest

from rag.web.handlers import WebApp
from rag.web.viewer_panel import ViewerPanel
from rag.workspace.owners import new_workspace_key
from tests.samples import make_pdf, make_slow_pdf
from tests.web.test_chat_stream import Session

RENDER_TIMEOUT_S = 20.0  # the workers' limit in this test (45 s in the app): each slow page is cut here
BOUND_S = 10.0  # a visitor's normal page, worker start included, on the busy 2-core machine
SLOW_GLYPHS = 40  # ~70-110 s of pdfium per page on the test machine: always past the limit


class Client(Session):
    """A session from one address (as Gradio's request carries it)."""

    def __init__(self, session_hash: str, address: str) -> None:
        super().__init__(session_hash)
        self.client = SimpleNamespace(host=address)
        self.headers: dict[str, str] = {}


def ask(doc: str, page: int) -> str:
    return json.dumps({"doc": doc, "page": page, "section": "", "marks": [], "chunk": ""})


def upload(web: WebApp, tmp_path, key: str, session: Session, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    report, *_ = web.ingest([str(path)], key, session, None, progress=lambda *a, **k: None)
    assert report.startswith("1 of 1"), report
    records, *_ = web.list_documents(key, session, None)
    return next(r["id"] for r in records if r["name"] == name)


@pytest.fixture
def flood(assistant, tmp_path):
    """Two attacker workspaces from one address, each opening slow pages again and again; yields
    the panel, the web app and the count of attacker requests in the workers."""
    web = WebApp(assistant)
    panel = ViewerPanel(web)
    assistant.viewer.workers.timeout_s = RENDER_TIMEOUT_S
    slow = make_slow_pdf([f"Slow page {n}." for n in range(1, 9)], SLOW_GLYPHS)
    attackers = []
    for n in range(2):
        key, session = new_workspace_key(), Client(f"attacker-{n}", "203.0.113.7")
        attackers.append((key, session, upload(web, tmp_path, key, session, f"slow{n}.pdf", slow)))
    entered, stop = [], threading.Event()
    real_render = assistant.viewer.workers.render

    def counted(*args, **kwargs):
        entered.append(threading.current_thread().name)
        return real_render(*args, **kwargs)

    assistant.viewer.workers.render = counted

    def attack(key: str, session: Session, doc: str) -> None:
        page = 0
        while not stop.is_set():
            page = page % 8 + 1
            panel.open(ask(doc, page), key, session, None)

    threads = [threading.Thread(target=attack, args=a, name=f"attacker-{i}") for i, a in enumerate(attackers)]
    for thread in threads:
        thread.start()
    try:
        yield panel, web, entered
    finally:
        stop.set()
        for thread in threads:
            thread.join(3 * RENDER_TIMEOUT_S)


def test_two_workspaces_of_one_client_cannot_make_another_visitors_pages_wait(flood, tmp_path):
    panel, web, entered = flood
    key, visitor = new_workspace_key(), Client("visitor", "198.51.100.20")
    guide = make_pdf(["Page one.", "Page two.", "Page three."])
    doc = upload(web, tmp_path, key, visitor, "guide.pdf", guide)
    deadline = time.monotonic() + 120
    while not {"attacker-0", "attacker-1"} <= set(entered):  # both attackers are asking for slow pages
        assert time.monotonic() < deadline, "the attackers' pages never reached the workers"
        time.sleep(0.05)
    for page in (1, 2, 3):  # page after page, never refused, each within the bound
        started = time.monotonic()
        _, shown, _ = panel.open(ask(doc, page), key, visitor, None)
        took = time.monotonic() - started
        print(f"visitor's page {page}: {took:.2f} s")
        assert 'data-kind="pdf"' in shown and f"page {page} of 3" in shown, shown[:300]
        assert took < BOUND_S, f"page {page} took {took:.1f} s while another client's slow pages were drawn"
