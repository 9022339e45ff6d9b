"""The viewer panel's events on a real store: a source opens for its own session only (the
workspace comes from the session, never from the request), a request that isn't one is refused
in words, and what the panel draws is inert HTML."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from rag.viewer.pdf_render import Box
from rag.viewer.views import PageView, SectionView
from rag.web.handlers import WebApp
from rag.web.viewer_panel import ViewerPanel, next_zoom, page_html, parse_request, section_html
from rag.workspace.owners import new_workspace_key
from tests.samples import make_pdf
from tests.web.test_chat_stream import Session

LINE = "The heron nests in tall trees. Its eggs hatch after four weeks."


@pytest.fixture
def uploaded(assistant, tmp_path):
    """Alice's workspace (by its key, as the page's state holds it) with one PDF; its doc id."""
    web = WebApp(assistant)
    pdf = tmp_path / "guide.pdf"
    pdf.write_bytes(make_pdf(["Page one.", LINE]))
    alice = new_workspace_key()
    report, *_ = web.ingest([str(pdf)], alice, Session("a"), None, progress=lambda *a, **k: None)
    assert report.startswith("1 of 1")
    records, *_ = web.list_documents(alice, Session("a"), None)
    return ViewerPanel(web), alice, records[0]["id"]


def request_json(doc: str, page: int = 2) -> str:
    return json.dumps({"doc": doc, "page": page, "section": "", "marks": [], "chunk": LINE})


def test_a_source_opens_on_its_page_with_its_box_and_turns_pages(uploaded):
    panel, alice, doc = uploaded
    _, shown, state = panel.open(request_json(doc), alice, Session("a"), None)
    assert 'data-kind="pdf"' in shown and "page 2 of 2" in shown and shown.count('class="rag-box"') == 1
    assert state["pages"] == 2 and state["page"] == 2
    _, before, state = panel._mover(-1, 0)(state, alice, Session("a"), None)
    assert "page 1 of 2" in before and 'class="rag-box"' not in before  # the passage is on page 2
    _, zoomed, state = panel._mover(0, 1)(state, alice, Session("a"), None)
    assert state["zoom"] == 1.5 and 'style="width:150%"' in zoomed


def test_another_sessions_workspace_cannot_open_the_document(uploaded):
    panel, _, doc = uploaded
    bob = new_workspace_key()
    _, shown, state = panel.open(request_json(doc), bob, Session("b"), None)
    assert 'data-kind="notice"' in shown and "no such document" in shown and "data:image" not in shown
    assert state == {}
    # nor by turning pages from a state that names it (the state is the server's, but still)
    _, shown, _ = panel._mover(1, 0)({"doc_id": doc, "page": 1, "pages": 2}, bob, Session("b"), None)
    assert "data:image" not in shown


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[]",
        '{"page": 1}',
        '{"doc": "x", "page": "two"}',
        '{"doc": "x", "page": 1e999}',
        "x" * 70_000,
    ],
)
def test_a_request_that_isnt_one_is_refused_in_words(raw):
    with pytest.raises(ValueError, match="request to show a source"):
        parse_request(raw)


def test_zoom_steps_stop_at_the_ends():
    assert next_zoom(1.0, 1) == 1.5 and next_zoom(3.0, 1) == 3.0 and next_zoom(0.5, -1) == 0.5


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.sources += [value for name, value in attrs if name == "src"]


def test_what_the_panel_draws_is_inert():
    hostile = '<img src="http://evil/x.png" onerror="steal()"><script>alert(1)</script>'
    page = page_html(PageView(hostile, 1, 1, b"\x89PNG", 10, 10, [Box(0.1, 0.2, 0.3, 0.04)]), 1.0)
    section = section_html(SectionView(hostile, hostile, f"Before {hostile} after.", [(7, 20)]))
    for drawn in (page, section):
        parser = Tags()
        parser.feed(drawn)
        assert "script" not in parser.tags and all(
            src.startswith("data:image/png;base64,") for src in parser.sources
        )
    assert "left:10.000%;top:20.000%;width:30.000%;height:4.000%" in page
    assert '<mark class="rag-passage">&lt;img src=&quot;htt</mark>' in section


def test_a_workspace_draws_one_page_at_a_time(uploaded, assistant, tmp_path):
    """The viewer's slots and render workers serve every visitor: a second request of a workspace
    while one of its pages is still being drawn is refused at once, not queued behind a slot
    (another workspace's request is served meanwhile)."""
    import threading

    panel, alice, doc = uploaded
    entered, release = threading.Event(), threading.Event()
    real = assistant.view_source

    def slow_first(owner, wanted, client=""):  # the first request holds its slot until released
        if not entered.is_set():
            entered.set()
            assert release.wait(60)
        return real(owner, wanted, client)

    assistant.view_source = slow_first
    first = threading.Thread(target=panel.open, args=(request_json(doc), alice, Session("a"), None))
    first.start()
    try:
        assert entered.wait(60)
        _, shown, _ = panel.open(request_json(doc), alice, Session("a"), None)
        assert "still being drawn" in shown and "data:image" not in shown
        _, other, _ = panel.open(request_json(doc), new_workspace_key(), Session("b"), None)
        assert "no such document" in other  # served, not refused for alice's page
    finally:
        release.set()
        first.join(60)
    _, shown, _ = panel.open(request_json(doc), alice, Session("a"), None)
    assert 'data-kind="pdf"' in shown


def test_one_address_has_at_most_two_views_in_progress_whatever_its_workspaces(uploaded, assistant):
    """Workspaces cost nothing: a client's many keys must not take all 4 viewer slots. A third view
    from one address while two are in progress is refused at once; another address is served."""
    import threading
    from types import SimpleNamespace

    panel, alice, doc = uploaded

    def at(session_hash: str, address: str) -> Session:
        session = Session(session_hash)
        session.client, session.headers = SimpleNamespace(host=address), {}
        return session

    entered, release = threading.Semaphore(0), threading.Event()
    real = assistant.view_source

    holding = []

    def held(owner, wanted, client=""):  # the first two views of 203.0.113.7 hold their slots
        if client == "203.0.113.7" and len(holding) < 2:
            holding.append(owner)
            entered.release()
            assert release.wait(60)
        return real(owner, wanted, client)

    assistant.view_source = held
    holders = [
        threading.Thread(
            target=panel.open, args=(request_json(doc), new_workspace_key(), at(f"x{n}", "203.0.113.7"), None)
        )
        for n in range(2)  # VIEWS_PER_CLIENT
    ]
    for thread in holders:
        thread.start()
    try:
        for _ in holders:
            assert entered.acquire(timeout=60)
        _, shown, _ = panel.open(request_json(doc), new_workspace_key(), at("x9", "203.0.113.7"), None)
        assert "from your address are still being drawn" in shown and "data:image" not in shown
        _, other, _ = panel.open(request_json(doc), alice, at("a", "198.51.100.20"), None)
        assert 'data-kind="pdf"' in other  # another address is served meanwhile
    finally:
        release.set()
        for thread in holders:
            thread.join(60)
    _, shown, _ = panel.open(request_json(doc), alice, at("a", "203.0.113.7"), None)
    assert 'data-kind="pdf"' in shown
