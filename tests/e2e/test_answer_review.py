"""Answers you can check, in Chromium, on the app with the fake model (it quotes the longest
sentence of source [1] and cites it, plus any [n] the question names): the supporting sentence is
marked in its source, a citation click brings its source into view, a cited source that doesn't
exist is struck through, a source opens onto its neighbouring chunks, 👍 is kept as the answer's
vote (and a second click takes it back), and markup inside documents stays text in the marked-up
Sources panel too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from rag.workspace.conversations import ConversationStore
from rag.workspace.feedback import export_votes
from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STEP_MS

pytestmark = pytest.mark.browser
KETTLES = (
    "# Kettles\n\nKettles come in many colours and sizes.\n\n"
    "The blue kettle boils a litre of water in exactly ninety seconds on the big stove.\n"
)
HOSTILE = (
    'Teapot notes <img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script> '
    "about the green teapot."
)


@pytest.fixture(scope="module")
def review_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("review-data")
    process, url = start_app(data, ARTIFACTS / "app-review.log", RAG_LLM_BACKEND="fake")
    yield url, data
    stop_app(process)


def test_evidence_citations_missing_sources_feedback_and_inert_markup(review_app, tmp_path):
    url, data = review_app
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "kettles.md").write_text(KETTLES)
    (folder / "hostile-notes.txt").write_text(HOSTILE)
    for i in range(4):  # enough sources to push [1] out of a short window, none about kettles
        (folder / f"filler-{i}.md").write_text(f"# Filler {i}\n\n" + "The cup shelf holds mugs. " * 40)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 700}).new_page()
        page.set_default_timeout(STEP_MS)
        page.goto(url)
        page.locator("#upload input[type=file]").set_input_files(sorted(str(p) for p in folder.iterdir()))
        page.wait_for_function(
            "() => document.querySelector('#upload-status textarea').value.startsWith('6 of 6 file(s) in')"
        )
        box = page.locator("#question textarea")
        box.fill("How fast does the blue kettle boil a litre of water? Compare [7].")
        box.press("Enter")
        expect(page.locator("#stats")).to_contain_text("Checks:", timeout=STEP_MS)

        # the sentence that holds the answer is marked in its source
        source_one = page.locator('#sources .rag-source[data-rank="1"]')
        expect(source_one.locator("mark.rag-mark", has_text="ninety seconds")).to_have_count(1)
        # the cited-but-missing [7] is struck through with a note; the checks say so too
        bot = page.locator('[data-testid="bot"]').last
        expect(bot.locator("del")).to_contain_text("[7]")
        expect(bot).to_contain_text("(no source 7)")
        expect(page.locator("#stats")).to_contain_text("[7] but there is no such source")

        # a click on [1] brings source 1 into view and marks it
        page.locator("#sources").evaluate("e => e.querySelector('.rag-sources').scrollTop = 100000")
        page.evaluate("window.scrollTo(0, 0)")
        bot.locator('a[href*="#rag-source-"][href$="-1"]').first.click()
        expect(source_one).to_have_class(re.compile(r"\brag-focus\b"))
        expect(source_one).to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / "review-citation-click.png"))

        # "Show in context" opens a source onto its neighbouring chunks (a filler is two chunks)
        expanded = page.locator("#sources details.rag-context").first
        expect(expanded.locator(".rag-context-text").first).not_to_be_visible()
        expanded.locator("summary").click()
        expect(expanded.locator(".rag-context-self")).to_be_visible()
        expect(expanded.locator(".rag-context-text")).to_have_count(2)

        # markup inside a document stays text in the marked-up panel
        box.fill("What do the teapot notes say about the green teapot?")
        box.press("Enter")
        expect(page.locator("#sources")).to_contain_text("<script>window.pwned=2</script>")
        expect(page.locator("#sources img, #sources script")).to_have_count(0)
        expect(page.locator("#stats")).to_contain_text("Checks:")
        page.wait_for_timeout(500)
        assert page.evaluate("typeof window.pwned") == "undefined"

        # 👍 on the first answer is kept with it (the message names its turn); a second click on the
        # same thumb takes it back
        votes = ConversationStore(data / "conversations.db")
        assert export_votes(votes) == []
        page.locator('[data-testid="bot"]').first.hover()
        page.locator('button[aria-label="Like"]').first.click()
        for _ in range(50):
            if export_votes(votes):
                break
            page.wait_for_timeout(100)
        (entry,) = export_votes(votes)
        assert entry["vote"] == "up" and entry["question"].startswith("How fast does the blue kettle")
        page.locator('[data-testid="bot"]').first.hover()
        page.locator('button[aria-label="Liked"]').first.click()
        for _ in range(50):
            if not export_votes(votes):
                break
            page.wait_for_timeout(100)
        assert export_votes(votes) == []
        browser.close()


def test_word_powerpoint_and_scanned_pdf_answer_through_the_app(review_app, tmp_path):
    import shutil

    from gradio_client import Client, handle_file

    from tests.samples import office_files

    url, _ = review_app
    ocr = shutil.which("tesseract") is not None
    files = office_files(with_scan=ocr)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    client = Client(url, verbose=False)
    report, *_ = client.predict([handle_file(str(tmp_path / n)) for n in files], api_name="/ingest")
    assert "maintenance.docx: added (" in report and "deck.pptx: added (" in report, report

    def sources_for(question: str) -> str:
        *_, (_, sources, _, _) = list(client.submit(question, [], [], False, api_name="/chat"))
        return sources

    docx = sources_for("How often must the oil filter be replaced?")
    assert "maintenance.docx" in docx and "Replacement schedule" in docx and "250 operating hours" in docx
    pptx = sources_for("What do quokkas eat?")
    assert 'class="rag-name">deck.pptx</span> · slide 2' in pptx
    if ocr:
        assert "scan.pdf: added (" in report and "OCR)" in report, report
        scan = sources_for("Which port does the quokka protocol listen on?")
        assert 'class="rag-name">scan.pdf</span> · page 2' in scan and "7341" in scan
