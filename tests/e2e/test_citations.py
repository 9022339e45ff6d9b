"""Issue 21 point 2, in Chromium on the app with the fake model (it quotes source [1] and cites it,
plus any [n] the question names): two answers with different sources; [1] and [2] of the earlier
answer open the earlier answer's sources 1 and 2 in the panel (not the latest answer's), live and
after a reload; the panel then goes back to the latest answer's; no request leaves 127.0.0.1."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHAT_IDLE_JS, CHROMIUM, CHROMIUM_ARGS, STEP_MS

pytestmark = pytest.mark.browser
KETTLES = "# Kettles\n\nThe blue kettle boils a litre of water in exactly ninety seconds on the big stove.\n"
TEAPOTS = "# Teapots\n\nThe red teapot keeps water hot for two whole hours under its cosy.\n"
CUPS = "# Cups\n\nThe tall cup holds three hundred millilitres of tea without spilling.\n"
SHOWN = "#sources .rag-answer-sources.rag-current"


def shown_sources(page) -> dict[str, str]:
    """Rank → text of the sources the panel shows now."""
    return dict(
        page.locator(f"{SHOWN} .rag-source").evaluate_all(
            "items => items.map(i => [i.dataset.rank, i.querySelector('.rag-text').textContent])"
        )
    )


def ask(page, question: str, answers: int) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator('[data-testid="bot"]')).to_have_count(answers)
    expect(page.locator("#stats")).to_contain_text("Checks:", timeout=STEP_MS)
    page.wait_for_function(CHAT_IDLE_JS, timeout=STEP_MS)


def click_earlier(page, rank: int, expected: dict[str, str]) -> None:
    """[rank] of the first answer shows that answer's source `rank`, marked and in view."""
    first = page.locator('[data-testid="bot"]').first
    first.locator(f'a[href*="#rag-source-"][href$="-{rank}"]').first.click()
    source = page.locator(f'{SHOWN} .rag-source[data-rank="{rank}"]')
    expect(source).to_have_class(re.compile(r"\brag-focus\b"))
    expect(source).to_be_in_viewport()
    expect(page.locator(SHOWN)).to_contain_text("Sources of answer 1:")
    assert shown_sources(page) == expected


def test_citations_of_an_earlier_answer_open_its_own_sources_live_and_after_a_reload(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in (("kettles.md", KETTLES), ("teapots.md", TEAPOTS), ("cups.md", CUPS)):
        (folder / name).write_text(text)
    requests: list[str] = []
    process, url = start_app(tmp_path / "data", ARTIFACTS / "app-citations.log", RAG_LLM_BACKEND="fake")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(STEP_MS)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            page.locator("#upload input[type=file]").set_input_files(sorted(str(p) for p in folder.iterdir()))
            uploaded = "() => document.querySelector('#upload-status textarea').value.startsWith('3 of 3')"
            page.wait_for_function(uploaded)
            ask(page, "How fast does the blue kettle boil a litre of water? Compare [2].", 1)
            earlier = shown_sources(page)
            assert earlier["1"] and earlier["2"] and earlier["2"] != earlier["1"]
            ask(page, "How long does the red teapot keep water hot?", 2)
            latest = shown_sources(page)
            assert latest["1"] != earlier["1"]  # different sources: a mix-up shows

            for when in ("live", "reloaded"):
                if when == "reloaded":
                    page.reload()
                    expect(page.locator('[data-testid="bot"]')).to_have_count(2)
                    expect(page.locator(SHOWN)).to_contain_text("Sources of answer 2:")
                    assert shown_sources(page) == latest
                click_earlier(page, 1, earlier)
                click_earlier(page, 2, earlier)
                page.screenshot(path=str(ARTIFACTS / f"citations-earlier-{when}.png"))
                # the latest answer's [1] opens the latest answer's source 1 again
                page.locator('[data-testid="bot"]').last.locator(
                    'a[href*="#rag-source-"][href$="-1"]'
                ).click()
                expect(page.locator(SHOWN)).to_contain_text("Sources of answer 2:")
                assert shown_sources(page) == latest
            browser.close()
    finally:
        stop_app(process)
    away = sorted({urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https", "ws")})
    assert requests and away == ["127.0.0.1"], f"requests left 127.0.0.1: {away}"
