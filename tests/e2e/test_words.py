"""Issue 23 point 5, in Chromium: a browser that asks for Japanese gets the controls in Japanese,
with the server's own limit in the upload label; an English one (or any other) gets English."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STEP_MS

pytestmark = pytest.mark.browser


def test_the_controls_follow_the_browsers_language(tmp_path):
    process, url = start_app(
        tmp_path / "data", ARTIFACTS / "app-words.log", RAG_LLM_BACKEND="fake", RAG_MAX_UPLOAD_MB="7"
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for locale, send, upload, placeholder in (
                ("ja-JP", "送信", "各 7 MB まで", "文書について質問"),
                ("en-US", "Send", "≤ 7 MB each", "Ask about your documents"),
            ):
                page = browser.new_context(locale=locale).new_page()
                page.set_default_timeout(STEP_MS)
                page.goto(url)
                expect(page.locator("#send")).to_have_text(send)
                expect(page.locator("#upload")).to_contain_text(upload)
                expect(page.locator("#question textarea")).to_have_attribute(
                    "placeholder", re.compile(placeholder)
                )
                page.context.close()
            browser.close()
    finally:
        stop_app(process)
