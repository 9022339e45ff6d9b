"""Chat rendering loads nothing remote: Markdown images and mermaid diagrams (which Gradio's
Chatbot renders, labels included) in a message must not make the browser fetch anything. The
"remote" host is a listener on 127.0.0.1 that records every request it gets."""

from __future__ import annotations

import http.server
import threading

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, STEP_MS
from tests.engine_support import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def listener():
    seen: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_images_and_mermaid_in_a_message_load_nothing(tmp_path, listener):
    base, seen = listener
    question = (
        "Look:\n```mermaid\ngraph TD\n"
        f"  A[\"<img src='{base}/mermaid-label.png'>\"] --> B\n"
        f'  click A "{base}/mermaid-click"\n```\n'
        f"and ![x]({base}/markdown-image.png) and <img src='{base}/html-image.png'>"
    )
    process, url = start_app(tmp_path / "data", ARTIFACTS / "app-inert.log", RAG_LLM_BACKEND="fake")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context().new_page()
            page.goto(url)
            box = page.locator("#question textarea")
            expect(box).to_be_visible()
            box.fill(question)
            box.press("Enter")
            expect(page.locator("#stats")).to_contain_text("tokens/s", timeout=STEP_MS)
            page.wait_for_timeout(2000)  # a diagram renders after the message
            expect(page.locator("#chatbot")).to_contain_text("graph TD")  # shown as text
            page.screenshot(path=str(ARTIFACTS / "inert-chat.png"))
            browser.close()
    finally:
        stop_app(process)
    assert seen == [], f"the browser loaded {seen}"
