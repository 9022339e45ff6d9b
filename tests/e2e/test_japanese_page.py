"""Issue 23, in Chromium on the app with the fake model (it quotes the longest sentence of source
[1]): a Japanese HTML page is uploaded, a Japanese question is asked in the default mode, the
answer cites the passage that answers it, and that sentence (cut at 。) is marked in the source."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STEP_MS
from tests.retrieval.test_japanese import ANSWER, ENGLISH, PAGE

pytestmark = pytest.mark.browser


def test_a_japanese_question_cites_its_passage_with_the_sentence_marked(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "rag-article.html").write_text(PAGE, encoding="utf-8")
    (folder / "indexes.md").write_text(ENGLISH)
    process, url = start_app(tmp_path / "data", ARTIFACTS / "app-japanese.log", RAG_LLM_BACKEND="fake")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(url)
            page.locator("#upload input[type=file]").set_input_files(sorted(str(p) for p in folder.iterdir()))
            status = page.locator("#upload-status textarea")
            page.wait_for_function(
                "() => document.querySelector('#upload-status textarea').value.startsWith('2 of 2')"
            )
            assert "Japanese" in status.input_value()  # the note: the embedder doesn't read it
            box = page.locator("#question textarea")
            box.fill("vLLMはGPUメモリ使用量をどれだけ削減しますか？")
            box.press("Enter")
            expect(page.locator("#stats")).to_contain_text("Checks:", timeout=STEP_MS)
            bot = page.locator('[data-testid="bot"]').last
            expect(bot).to_contain_text("半分に削減")
            expect(bot.locator('a[href*="#rag-source-"][href$="-1"]')).not_to_have_count(0)
            source_one = page.locator('#sources .rag-current .rag-source[data-rank="1"]')
            expect(source_one).to_contain_text(ANSWER)
            marked = source_one.locator("mark.rag-mark", has_text="半分に削減")
            expect(marked).to_have_count(1)
            assert "そのため" not in marked.text_content()  # the sentence, not the whole paragraph
            browser.close()
    finally:
        stop_app(process)
