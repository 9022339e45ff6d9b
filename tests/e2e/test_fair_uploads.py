"""Two browser sessions on the real app (headless Chromium): A uploads a long PDF, B uploads a
one-line file 5 s later; B's file is listed (stored, searchable) within 30 s while A's upload still
runs; then A presses Stop upload: A's report says the PDF was stopped and A's list stays without it
(no partial document)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, doc_labels, open_session, upload_report
from tests.samples import make_pdf

pytestmark = pytest.mark.browser


def test_a_small_upload_is_not_held_up_by_a_big_one_and_stop_keeps_the_store_whole(tmp_path):
    big = tmp_path / "ledger.pdf"
    big.write_bytes(make_pdf([f"Page {i}: the orchard ledger notes row {i}. " * 12 for i in range(400)]))
    small = tmp_path / "tide.md"
    small.write_text("# Tides\n\nHigh tide at the pier is at noon.")
    process, url = start_app(tmp_path / "data", ARTIFACTS / "app-fair-uploads.log", RAG_LLM_BACKEND="fake")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            (context_a, a), (context_b, b) = open_session(browser, url), open_session(browser, url)
            a.locator("#upload input[type=file]").set_input_files([str(big)])
            a.wait_for_timeout(5000)  # the scenario: B comes 5 s after A
            b.locator("#upload input[type=file]").set_input_files([str(small)])
            expect(b.locator("#doc-list")).to_contain_text("tide.md", timeout=30_000)
            expect(b.locator("#upload-status textarea")).to_have_value(re.compile("tide.md: added"))
            assert upload_report(a) == "", "A's upload had finished: the test shows nothing"
            b.screenshot(path=str(ARTIFACTS / "fair-uploads-b.png"))

            a.locator("#stop-upload").click()
            report = a.locator("#upload-status textarea")
            expect(report).to_have_value(re.compile("ledger.pdf: failed: stopped"), timeout=120_000)
            assert not any("ledger.pdf" in label for label in doc_labels(a))
            a.screenshot(path=str(ARTIFACTS / "fair-uploads-a-stopped.png"))
            context_a.close()
            context_b.close()
            browser.close()
    finally:
        stop_app(process)
