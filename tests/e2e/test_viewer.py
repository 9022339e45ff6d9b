"""Issue 21 point 1, in Chromium on the app with the fake model (it quotes source [1] and cites it,
plus any [n] the question names): [2] of the second-to-last answer opens the viewer beside the
chat on that source's PDF page, with a visible box where the PDF draws the passage (make_pdf: 12 pt
Helvetica from x = 72 pt, baseline y = 720 pt on a 612 x 792 pt page); after a reload the same click
works; a Word and an HTML source open their section with the passage marked; a PowerPoint source
opens its slide with the passage marked, a scanned PDF its page image with boxes where OCR read the
passage; no request leaves 127.0.0.1. One app serves the module's tests, each in its own browser
(so its own workspace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STEP_MS
from tests.e2e.test_citations import SHOWN, ask
from tests.samples import SCAN_DPI, make_docx, make_pdf, make_pptx, make_scanned_pdf

pytestmark = pytest.mark.browser
KETTLE_PAGES = [
    "Kettle manual, contents: cleaning, boiling, storage and safety of the blue kettle.",
    "The blue kettle boils a litre of water in exactly ninety seconds on the big stove.",
    "The blue kettle whistles loudly when the water boils, so stay close to the stove.",
    "Store the blue kettle dry and empty in a cupboard away from the children.",
]
HTML = (
    "<html><head><title>Garden birds</title></head><body><h1>Garden birds</h1><p>Birds visit gardens.</p>"
    "<h2>Robins</h2><p>The robin sings from the hawthorn hedge at dawn every spring morning.</p>"
    "<h2>Wrens</h2><p>The wren is a tiny brown bird.</p></body></html>"
)
VIEWER = "#viewer-page .rag-viewer"
# where the box sits on the drawn page, as fractions of the image (make_pdf's text position)
BOX_JS = """() => {
  const image = document.querySelector('#viewer-page .rag-page img').getBoundingClientRect();
  return [...document.querySelectorAll('#viewer-page .rag-box')].map((b) => {
    const r = b.getBoundingClientRect();
    return [(r.left - image.left) / image.width, (r.top - image.top) / image.height,
            r.width / image.width, r.height / image.height, r.width > 0 && r.height > 0];
  });
}"""


def cited_source(page, answer: int, rank: int) -> dict:
    """What the panel says of source `rank` of answer `answer` (its document, page and text)."""
    group = page.locator("#sources .rag-answer-sources").nth(answer - 1)
    return group.locator(f'.rag-source[data-rank="{rank}"]').evaluate(
        "s => ({doc: s.dataset.doc, page: Number(s.dataset.page), text: s.querySelector('.rag-text')"
        ".textContent, name: s.querySelector('.rag-source-head').textContent})"
    )


def open_earlier_citation(page, rank: int) -> None:
    """Click [rank] in the second-to-last answer: the viewer shows its source's PDF page, boxed."""
    bots = page.locator('[data-testid="bot"]')
    bots.nth(bots.count() - 2).locator(f'a[href*="#rag-source-"][href$="-{rank}"]').first.click()
    source = cited_source(page, bots.count() - 1, rank)
    assert "kettle.pdf" in source["name"], source
    viewer = page.locator(VIEWER)
    expect(viewer).to_have_attribute("data-kind", "pdf")
    expect(viewer).to_have_attribute("data-page", str(source["page"]))
    expect(viewer).to_contain_text(f"page {source['page']} of {len(KETTLE_PAGES)}")
    expect(page.locator("#viewer-page .rag-box").first).to_be_visible()
    [(left, top, width, height, shown)] = page.evaluate(BOX_JS)
    assert shown
    assert abs(left - 72 / 612) < 0.01, left  # the line starts at x = 72 pt
    assert top < (792 - 720) / 792 < top + height < 0.1, (top, height)  # around the baseline at 720 pt
    assert 0.3 < width < 1 - 72 / 612


@pytest.fixture(scope="module")
def viewer_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with the fake model, started once for the module's tests (a start took 5-6 s of the
    first test's 16 s on the busy 2-core machine)."""
    process, url = start_app(
        tmp_path_factory.mktemp("viewer-data"), ARTIFACTS / "app-viewer.log", RAG_LLM_BACKEND="fake"
    )
    try:
        yield url
    finally:
        stop_app(process)


@contextmanager
def uploaded(url: str, folder: Path) -> Iterator:
    """A fresh browser (its own workspace) that has uploaded every file of `folder`; on leaving,
    no request it made went anywhere but 127.0.0.1."""
    requests: list[str] = []
    files = sorted(str(p) for p in folder.iterdir())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
        page.set_default_timeout(STEP_MS)
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url)
        # the page load gives this browser its workspace (stored in it): uploads need it
        page.wait_for_function("() => !!localStorage.getItem('rag-workspace')", timeout=240_000)
        page.locator("#upload input[type=file]").set_input_files(files)
        status = "document.querySelector('#upload-status textarea').value"
        page.wait_for_function(f"() => {status}.startsWith('{len(files)} of {len(files)}')")
        yield page
        browser.close()
    away = sorted({urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https", "ws")})
    assert requests and away == ["127.0.0.1"], f"requests left 127.0.0.1: {away}"


def test_a_citation_opens_its_pdf_page_boxed_and_word_and_html_sources_their_section(viewer_app, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "kettle.pdf").write_bytes(make_pdf(KETTLE_PAGES))
    (folder / "notes.docx").write_bytes(
        make_docx(
            "Lawn care",
            ["Mow the lawn every Tuesday with the green mower set to five centimetres."],
            [["Tool", "Interval"], ["Mower blade", "sharpen monthly"]],
        )
    )
    (folder / "birds.html").write_text(HTML)
    with uploaded(viewer_app, folder) as page:
        ask(page, "How fast does the blue kettle boil a litre of water? Compare [2].", 1)
        ask(page, "How often should the lawn be mowed with the green mower?", 2)

        open_earlier_citation(page, 2)
        page.screenshot(path=str(ARTIFACTS / "viewer-pdf.png"), full_page=True)
        show_section(page, "notes.docx", "Mow the lawn every Tuesday", by_citation=True)

        page.reload()
        expect(page.locator('[data-testid="bot"]')).to_have_count(2)
        expect(page.locator(SHOWN)).to_contain_text("Sources of answer 2:")
        open_earlier_citation(page, 2)

        ask(page, "Where does the robin sing at dawn?", 3)
        show_section(page, "birds.html", "The robin sings from the hawthorn hedge", by_citation=False)
        page.screenshot(path=str(ARTIFACTS / "viewer-html.png"), full_page=True)


def show_section(page, name: str, passage: str, by_citation: bool) -> None:
    """The latest answer's source 1 is `name`: a click on [1] in that answer, or on the source's
    "open the original", shows its section with the passage marked."""
    if by_citation:
        page.locator('[data-testid="bot"]').last.locator('a[href*="#rag-source-"][href$="-1"]').first.click()
    source = page.locator(f'{SHOWN} .rag-source[data-rank="1"]')
    expect(source.locator(".rag-source-head")).to_contain_text(name)
    if not by_citation:
        source.locator("a.rag-view").click()
    viewer = page.locator(VIEWER)
    expect(viewer).to_have_attribute("data-kind", "section")
    expect(viewer).to_contain_text(name)
    expect(page.locator("#viewer-page mark.rag-passage").first).to_contain_text(passage)


DECK = [
    ("Red kettle", "This deck covers the care of the red kettle.", ""),
    ("Descaling", "Descale the red kettle with white vinegar on the third Sunday of each month.", ""),
    ("Storage", "Keep the red kettle on the lowest shelf.", ""),
]


def test_a_slide_citation_opens_that_slide_with_the_passage_marked(viewer_app, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deck.pptx").write_bytes(make_pptx(DECK))
    with uploaded(viewer_app, folder) as page:
        ask(page, "When should the red kettle be descaled with white vinegar?", 1)
        source = cited_source(page, 1, 1)
        assert "deck.pptx" in source["name"] and source["page"] == 2, source
        show_section(page, "deck.pptx", DECK[1][1].rstrip("."), by_citation=True)
        viewer = page.locator(VIEWER)
        expect(viewer).to_contain_text("slide 2")
        for _, body, _ in (DECK[0], DECK[2]):  # the other slides are not shown
            expect(viewer).not_to_contain_text(body)
        page.screenshot(path=str(ARTIFACTS / "viewer-pptx.png"), full_page=True)


# a scanned page: make_scanned_pdf draws line i at y = dpi + i * 20 pt from x = dpi on a Letter page
SCAN = [
    ["Heron hide rules, page one.", "Keep dogs on a short lead near the lake."],
    ["Opening hours.", "The telescope key hangs behind the door of the warden's blue hut.", "Bring tea."],
]


def test_a_scanned_page_opens_as_its_image_with_boxes_where_ocr_read_the_passage(viewer_app, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(make_scanned_pdf(SCAN))
    with uploaded(viewer_app, folder) as page:
        ask(page, "Where does the telescope key hang?", 1)
        page.locator('[data-testid="bot"]').last.locator('a[href*="#rag-source-"][href$="-1"]').first.click()
        source = cited_source(page, 1, 1)
        assert "scan.pdf" in source["name"] and source["page"] == 2, source
        viewer = page.locator(VIEWER)
        expect(viewer).to_have_attribute("data-kind", "pdf")
        expect(viewer).to_have_attribute("data-page", "2")
        expect(viewer).to_contain_text("page 2 of 2")
        expect(viewer).to_contain_text("(OCR)")
        expect(page.locator("#viewer-page .rag-box").first).to_be_visible()
        boxes = page.evaluate(BOX_JS)
        page.screenshot(path=str(ARTIFACTS / "viewer-scan.png"), full_page=True)
    [(left, top, width, height, shown)] = boxes  # one line holds the passage: one box
    assert shown
    assert abs(left - 1 / 8.5) < 0.01, left  # the line starts at x = dpi on an 8.5 in page
    line_top = [(SCAN_DPI + i * round(20 * SCAN_DPI / 72)) / (11 * SCAN_DPI) for i in range(3)]
    assert line_top[1] - 0.005 < top and top + height < line_top[2], (top, height, line_top)  # line 2 only
    assert 0.4 < width < 1 - 2 / 8.5, width  # most of the 65-character line, inside the margins
