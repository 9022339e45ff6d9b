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


DIAGRAMS = ("mermaid-label", "quoted", "nested", "listed", "numbered", "quotedlist", "cut")


def diagram(base: str, name: str, prefix: str | tuple[str, str]) -> str:
    """A mermaid diagram whose label is a remote image, each line behind `prefix` (a block quote's
    `> `; for a list item, its marker for the first line and its indentation for the others)."""
    lines = ["```mermaid", "graph TD", f"  {name}[\"<img src='{base}/{name}.png'>\"] --> B", "```"]
    first, rest = (prefix, prefix) if isinstance(prefix, str) else prefix
    return "\n".join([first + lines[0], *(rest + line for line in lines[1:])]) + "\n"


def test_images_and_mermaid_in_a_message_load_nothing(tmp_path, listener):
    """Live and restored (a reload shows the saved conversation): neither the message as it is
    asked nor the same message restored loads anything, wherever the diagram's fence sits."""
    base, seen = listener
    question = (
        "Look:\n```mermaid\ngraph TD\n"
        f"  A[\"<img src='{base}/mermaid-label.png'>\"] --> B\n"
        f'  click A "{base}/mermaid-click"\n```\n'
        f"and ![x]({base}/markdown-image.png) and <img src='{base}/html-image.png'>\n\n"
        + diagram(base, "quoted", "> ")
        + "\n"
        + diagram(base, "nested", "> > ")
        + "\n"
        + diagram(base, "listed", ("- ", "  "))
        + "\n"
        + diagram(base, "numbered", ("1. ", "   "))
        + "\n"
        + diagram(base, "quotedlist", ("> * ", ">   "))
        + "\n"
        + diagram(base, "cut", ("a", ""))  # Gradio's start hook cuts "a" off as a paragraph
    )
    loaded: dict[str, list[str]] = {}
    as_text: dict[str, list[str]] = {}
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
            page.wait_for_timeout(3000)  # a diagram renders after the message
            page.screenshot(path=str(ARTIFACTS / "inert-chat.png"))
            loaded["live"], seen[:] = list(seen), []
            as_text["live"] = shown_as_text(page, base)
            page.reload()  # the saved conversation comes back through `webapp.conversation_view`
            expect(page.locator("#conversations")).to_contain_text("Look:")
            expect(page.locator('[data-testid="bot"]')).to_have_count(1)
            page.wait_for_timeout(3000)
            page.screenshot(path=str(ARTIFACTS / "inert-chat-restored.png"))
            loaded["restored"] = list(seen)
            as_text["restored"] = shown_as_text(page, base)
            browser.close()
    finally:
        stop_app(process)
    assert loaded == {"live": [], "restored": []}, f"the browser loaded {loaded}"
    every = list(DIAGRAMS)
    assert as_text == {"live": every, "restored": every}, "some diagrams did not show as text"


def shown_as_text(page, base: str) -> list[str]:
    """The diagrams whose source the chat shows as text (a rendered one shows no image URL)."""
    text = page.locator("#chatbot").inner_text()
    return [name for name in DIAGRAMS if f"{base}/{name}.png" in text]
