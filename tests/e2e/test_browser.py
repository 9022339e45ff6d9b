"""The real app in headless Chromium: uploads (file input and a real drop event) with progress, a
streamed answer with its sources, private workspaces per browser session, inert markup, deletion.

The tests share one browser session ("A", a module-scoped page) and run in file order: the uploads of
the first test are what the later ones ask about. Screenshots go to test-artifacts/, and the main
state (docs + answer + sources) also to docs/screenshot.png.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.samples import HTML_WITH_SCRIPT, make_zip

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# an installed Chromium (Debian's), else Playwright's own build (`playwright install chromium`)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
STEP_MS = 60_000  # one UI step (an upload, retrieval) on a busy 2-core machine
ANSWER_MS = 300_000  # a whole answer; the first one also waits for the model to load

HERONS = "herons.md"
BROKEN = "broken.pdf"
OWLS = "owls.md"
GARDEN = "garden.md"
# Gradio drops < > / from upload names; entities, & and quotes survive and must stay literal text.
PELICAN_HTML = "pelican &lt;img src=x onerror=window.pwned=1&gt; & 'q'.html"
PELICAN_TXT = "pelican-raw &amp; 'notes'.txt"
HERON_QUESTION = "Where does the grey heron of Lake Zorbu build its nest?"
PELICAN_QUESTION = "What does the brown pelican dive from to catch fish? <img src=x onerror=window.pwned=1>"


def herons_text() -> str:
    """A multi-KB Markdown file (dozens of chunks) so that ingest progress is observable."""
    places = ["east shore", "reed beds", "north inlet", "old jetty", "willow bank", "stone weir"]
    times = ["dawn", "mid-morning", "noon", "late afternoon", "dusk"]
    prey = ["frogs", "small eels", "water voles", "tadpoles", "crayfish"]
    intro = (
        "# Grey herons of Lake Zorbu\n\nThe grey heron of Lake Zorbu builds its nest on floating rafts "
        "of dry reeds, anchored in the shallow western bay, and both parents take turns on the eggs."
    )
    entries = [
        f"Observation {i}: at {times[i % 5]} a grey heron was seen wading near the {places[i % 6]}, "
        f"catching {prey[i % 5]}; the colony counted {40 + i % 17} adult birds that day."
        for i in range(240)
    ]
    return intro + "\n\n" + "\n\n".join(entries)


def owls_text() -> str:
    entries = [
        f"Note {i}: the snowy owl of Cape Varnak hunts lemmings at dusk and rests on rock {i}."
        for i in range(160)
    ]
    return "# Snowy owls of Cape Varnak\n\n" + "\n\n".join(entries)


GARDEN_TEXT = "# Garden\n\nTomatoes in the north garden need watering every second evening in July."

# -- page helpers ------------------------------------------------------------------------------

WATCH_PROGRESS_JS = """() => {
  window.__progress = [];
  const tracker = document.querySelector('#upload-status [data-testid=status-tracker]');
  const record = () => {
    const level = tracker.querySelector('.progress-level-inner');
    const bar = tracker.querySelector('[role=progressbar]');
    const time = tracker.querySelector('.progress-text');
    const item = {
      desc: level ? level.textContent.replace(/\\s+/g, ' ').trim() : '',
      pct: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
      time: time ? time.textContent.trim() : '',
      eta: !!tracker.querySelector('.eta-bar'),
    };
    const last = window.__progress.at(-1);
    if ((item.desc || item.time) && !(last && last.desc === item.desc && last.pct === item.pct))
      window.__progress.push(item);
  };
  new MutationObserver(record).observe(
    tracker, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

WATCH_BOT_JS = """() => {
  window.__bot = [];
  const chatbot = document.querySelector('#chatbot');
  const stats = document.querySelector('#stats');
  const record = () => {
    const bots = chatbot.querySelectorAll('[data-testid=bot]');
    if (!bots.length) return;
    const text = bots[bots.length - 1].textContent.trim();
    const last = window.__bot.at(-1);
    if (!last || last.text !== text)
      window.__bot.push({text, done: stats.textContent.includes('tokens/s'), t: performance.now()});
  };
  new MutationObserver(record).observe(
    chatbot, {subtree: true, childList: true, characterData: true});
}"""

DROP_JS = """([name, text, type]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type}));
  return transfer;
}"""

STATS_AFTER_RETRIEVAL_JS = """() => {
  const text = document.querySelector('#stats').textContent.trim();
  return text !== '' && !text.startsWith('Retrieving');
}"""

CHAT_IDLE_JS = """() => !document.querySelector('#question [data-testid=status-tracker]')
  .classList.contains('generating')"""


@dataclass
class SessionState:
    """What the tests of browser session A learned along the way."""

    upload_progress: list[dict] = field(default_factory=list)
    drop_progress: list[dict] = field(default_factory=list)
    upload_report: str = ""
    drop_report: str = ""
    dialogs: list[str] = field(default_factory=list)


def upload_report(page) -> str:
    return page.locator("#upload-status textarea").input_value()


def wait_for_report(page, names: list[str]) -> str:
    """Wait until #upload-status has a line for each file name; returns the whole report."""
    page.wait_for_function(
        "names => { const v = document.querySelector('#upload-status textarea').value;"
        " return names.every(n => v.split('\\n').some(line => line.startsWith(n + ': '))); }",
        arg=names,
        timeout=STEP_MS,
    )
    return upload_report(page)


def doc_labels(page) -> list[str]:
    return [label.strip() for label in page.locator("#doc-list label").all_inner_texts()]


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def ask(page, question: str) -> None:
    """Start a new chat, type the question and press Enter; returns once the new bot bubble exists."""
    page.locator("#new-chat").click()
    expect(page.locator('[data-testid="bot"]')).to_have_count(0)
    expect(page.locator("#stats")).to_have_text("")
    page.evaluate(WATCH_BOT_JS)
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")  # a single-line textbox sends on Enter
    expect(page.locator('[data-testid="bot"]')).to_have_count(1, timeout=STEP_MS)


def wait_answer(page) -> str:
    """Wait until the answer is complete (#stats shows the speed); returns the bot message text."""
    page.wait_for_function(
        "() => document.querySelector('#stats').textContent.includes('tokens/s')"
        " || document.querySelector('#stats').textContent.startsWith('Error')",
        timeout=ANSWER_MS,
    )
    answer = page.locator('[data-testid="bot"]').last.evaluate("e => e.textContent.trim()")
    assert "tokens/s" in page.locator("#stats").inner_text(), f"the model failed: {answer}"
    page.wait_for_function(CHAT_IDLE_JS, timeout=STEP_MS)
    return answer


def wait_sources(page) -> list[dict]:
    """Wait until the chat has retrieved (the panel is filled before generation starts)."""
    page.wait_for_function(STATS_AFTER_RETRIEVAL_JS, timeout=ANSWER_MS)
    return read_sources(page)


def read_sources(page) -> list[dict]:
    return page.locator("#sources .rag-current .rag-source").evaluate_all(  # the shown answer's
        """items => items.map(item => ({
            name: item.querySelector('.rag-name').textContent,
            score: item.querySelector('.rag-score').textContent,
            text: item.querySelector('.rag-text').textContent,
            // evidence marks are the only elements a chunk's text may contain
            textChildren: [...item.querySelector('.rag-text').querySelectorAll('*')]
                .filter(e => e.tagName !== 'MARK').length,
        }))"""
    )


def stop_chat(page) -> None:
    page.locator("#stop").click()
    page.wait_for_function(CHAT_IDLE_JS, timeout=STEP_MS)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(f"no Chromium: `make test` installs one (see README); {exc}")
        yield chromium
        chromium.close()


def open_session(browser, app_url: str):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    page.goto(app_url)
    expect(page.locator("#question textarea")).to_be_visible()
    expect(page.locator("#engine-status")).to_contain_text("LLM")
    return context, page


@pytest.fixture(scope="module")
def state() -> SessionState:
    return SessionState()


@pytest.fixture(scope="module")
def page_a(browser, app_url: str, state: SessionState):
    context, page = open_session(browser, app_url)
    page.on("dialog", lambda dialog: (state.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser-files")
    contents = {
        HERONS: herons_text().encode(),
        BROKEN: make_zip("inner.txt", "a zip archive, not a PDF"),
        GARDEN: GARDEN_TEXT.encode(),
        PELICAN_HTML: HTML_WITH_SCRIPT.encode(),
        # Different bytes: the library skips a file whose content it already has.
        PELICAN_TXT: (HTML_WITH_SCRIPT + "\n<p>A raw copy, kept as plain text.</p>").encode(),
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# -- tests -------------------------------------------------------------------------------------


def test_a_fresh_page_offers_the_file_input_without_a_click(page_a):
    page = page_a
    expect(page.locator("#upload")).to_be_in_viewport()
    expect(page.locator("#upload input[type=file]")).to_be_attached()
    expect(page.locator("#upload")).to_contain_text("Drop files")
    shot(page, "00-first-screen.png")


def test_upload_by_input_and_drop_reports_per_file_results_and_progress(page_a, files, state):
    page = page_a

    # Two files through the file input, one of them a ZIP named .pdf.
    page.evaluate(WATCH_PROGRESS_JS)
    page.locator("#upload input[type=file]").set_input_files([str(files[HERONS]), str(files[BROKEN])])
    state.upload_report = wait_for_report(page, [HERONS, BROKEN])
    state.upload_progress = page.evaluate("window.__progress")

    # One file by a real drop event on the upload zone (the button Gradio listens on).
    page.evaluate(WATCH_PROGRESS_JS)
    zone = page.locator("#upload button.upload-container")
    transfer = page.evaluate_handle(DROP_JS, [OWLS, owls_text(), "text/markdown"])
    for event in ("dragenter", "dragover", "drop"):
        zone.dispatch_event(event, {"dataTransfer": transfer})
    state.drop_report = wait_for_report(page, [OWLS])
    state.drop_progress = page.evaluate("window.__progress")
    expect(page.locator("#doc-list")).to_contain_text(OWLS)
    shot(page, "01-after-upload.png")

    report = state.upload_report
    assert report.splitlines()[0] == "1 of 2 file(s) in, 1 failed", report
    added = re.search(rf"^{re.escape(HERONS)}: added \((\d+) chunks\)$", report, re.MULTILINE)
    assert added and int(added[1]) > 10, report
    assert re.search(rf"^{re.escape(BROKEN)}: failed: the content is a ZIP archive", report, re.MULTILINE)
    assert re.fullmatch(rf"1 of 1 file\(s\) in\n{re.escape(OWLS)}: added \(\d+ chunks\)", state.drop_report)

    labels = doc_labels(page)
    assert f"{HERONS} ({added[1]} chunks)" in labels, labels
    assert any(label.startswith(f"{OWLS} (") for label in labels), labels
    assert not any(BROKEN in label for label in labels), labels

    # Progress: Gradio's tracker on #upload-status showed "[i/n] name: stage" with a growing bar.
    for records, first in ((state.upload_progress, HERONS), (state.drop_progress, OWLS)):
        stages = [
            r for r in records if re.search(r"\[\d/\d\] .+: (parsing|chunking|embedding|storing)", r["desc"])
        ]
        assert stages, f"no ingest progress seen: {records}"
        assert any(r["desc"].startswith("[1/") and first in r["desc"] for r in stages), stages
        assert any(r["pct"] is not None and 0 < r["pct"] < 100 for r in stages), stages
    record = {"file input": state.upload_progress, "drop": state.drop_progress}
    (ARTIFACTS / "upload-progress.json").write_text(json.dumps(record, indent=1))


def test_answer_streams_and_sources_show_name_and_score(page_a, state):
    page = page_a
    ask(page, HERON_QUESTION)
    # While streaming: a non-empty partial answer and no speed yet.
    page.wait_for_function(
        "() => { const b = document.querySelectorAll('[data-testid=bot]');"
        " return b.length && b[b.length - 1].textContent.trim() !== ''"
        " && !document.querySelector('#stats').textContent.includes('tokens/s'); }",
        timeout=ANSWER_MS,
    )
    shot(page, "02-streaming.png")
    answer = wait_answer(page)
    assert answer

    seen = page.evaluate("window.__bot")
    intermediate = {s["text"] for s in seen if s["text"] and not s["done"] and s["text"] != answer}
    assert len(intermediate) >= 2, f"the answer did not stream: {seen}"

    sources = read_sources(page)
    assert sources, "no sources shown"
    assert sources[0]["name"] == HERONS, sources
    for source in sources:
        assert re.fullmatch(r"-?\d\.\d{3}", source["score"]), source
    # the passage that answers is among the sources (hybrid ranking may put an observation first:
    # every chunk of the file carries its title, "Grey herons of Lake Zorbu", for the keyword leg)
    assert any("builds its nest" in s["text"] for s in sources), sources
    expect(page.locator("#stats")).to_contain_text("tokens/s")
    expect(page.locator("#sources .rag-name").first).to_be_in_viewport()  # no click needed to see them
    shot(page, "03-after-answer.png")
    (ARTIFACTS / "streamed-answer.json").write_text(json.dumps(seen, indent=1))


def test_a_reload_keeps_the_documents_and_the_conversation(page_a):
    page = page_a
    answer = page.locator('[data-testid="bot"]').last.inner_text()
    page.reload()
    expect(page.locator("#question textarea")).to_be_visible()
    expect(page.locator("#doc-list")).to_contain_text(HERONS)
    expect(page.locator("#doc-list")).to_contain_text(OWLS)
    expect(page.locator("#conversations")).to_contain_text(HERON_QUESTION[:40])
    expect(page.locator('[data-testid="bot"]')).to_have_count(1)
    restored = page.locator('[data-testid="bot"]').last.inner_text()
    assert "".join(restored.split()) == "".join(answer.split())  # line breaks may render differently
    expect(page.locator("#sources .rag-name").first).to_have_text(HERONS)
    expect(page.locator("#stats")).to_contain_text("tokens/s")
    expect(page.locator("#engine-status")).to_contain_text("LLM ready")
    page.set_viewport_size(VIEWPORT)
    page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
    shutil.copyfile(ROOT / "docs" / "screenshot.png", ARTIFACTS / "03-viewport.png")
    assert "/" not in page.locator("#engine-status").inner_text().split("·")[0]  # a public name, no path


def test_second_browser_session_sees_neither_uploads_nor_their_chunks(browser, app_url, files):
    context, page = open_session(browser, app_url)
    try:
        page.locator("#upload input[type=file]").set_input_files([str(files[GARDEN])])
        report = wait_for_report(page, [GARDEN])
        assert f"{GARDEN}: added (1 chunks)" in report, report
        expect(page.locator("#doc-list")).to_contain_text(GARDEN)
        labels = doc_labels(page)
        for name in (HERONS, OWLS, BROKEN):
            assert not any(label.startswith(f"{name} (") for label in labels), labels
        expect(page.locator("#conversations")).not_to_contain_text(HERON_QUESTION[:40])
        ask(page, HERON_QUESTION)
        sources = wait_sources(page)
        assert sources, "retrieval found nothing, not even the session's own document"
        names = {s["name"] for s in sources}
        assert HERONS not in names and OWLS not in names, names
        assert GARDEN in names, names
        shot(page, "04-second-session.png")
        stop_chat(page)
    finally:
        context.close()


def test_markup_in_documents_and_file_names_stays_text(page_a, files, state):
    page = page_a
    page.locator("#upload input[type=file]").set_input_files(
        [str(files[PELICAN_HTML]), str(files[PELICAN_TXT])]
    )
    report = wait_for_report(page, [PELICAN_HTML, PELICAN_TXT])
    assert f"{PELICAN_HTML}: added (1 chunks)" in report, report
    assert f"{PELICAN_TXT}: added (1 chunks)" in report, report
    labels = doc_labels(page)
    assert f"{PELICAN_HTML} (1 chunks)" in labels, labels
    assert f"{PELICAN_TXT} (1 chunks)" in labels, labels
    assert not any(label.startswith(f"{GARDEN} (") for label in labels), "session B's upload leaked into A"
    ask(page, PELICAN_QUESTION)
    wait_answer(page)
    by_name = {s["name"]: s for s in read_sources(page)}
    assert PELICAN_HTML in by_name and PELICAN_TXT in by_name, list(by_name)

    # The .html file was parsed: visible text only, the script and the onerror handler are gone.
    parsed = by_name[PELICAN_HTML]["text"]
    assert "The brown pelican dives from the air to catch fish." in parsed
    assert "pwned" not in parsed and "<" not in parsed
    # The same markup in a .txt file is text: shown literally, escaped, never parsed.
    raw = by_name[PELICAN_TXT]["text"]
    assert "<script>window.pwned = true; alert('x')</script>" in raw
    assert '<img src="x" onerror="window.pwned = true">' in raw
    assert all(s["textChildren"] == 0 for s in by_name.values())
    for tag in ("script", "img", "style", "noscript", "iframe"):
        expect(page.locator(f"#sources {tag}")).to_have_count(0)
    expect(page.locator("#chatbot img[onerror], #chatbot script")).to_have_count(0)

    page.wait_for_timeout(500)  # give a stray onerror handler its chance to run
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert state.dialogs == []
    shot(page, "05-markup-as-text.png")


def test_deleted_document_leaves_list_and_retrieval(page_a):
    page = page_a
    page.locator("#doc-list label").filter(has_text=f"{HERONS} (").locator("input").check()
    page.locator("#delete").click()
    expect(page.locator("#upload-status textarea")).to_have_value(f"Deleted: {HERONS}")
    expect(page.locator("#doc-list label").filter(has_text=f"{HERONS} (")).to_have_count(0)
    expect(page.locator("#doc-list")).to_contain_text(OWLS)
    ask(page, HERON_QUESTION)
    sources = wait_sources(page)
    assert sources, "the remaining documents should still be retrieved"
    assert HERONS not in {s["name"] for s in sources}, sources
    stop_chat(page)
    shot(page, "06-after-delete.png")


def test_stop_aborts_the_request_in_the_engine(page_a):
    log = ARTIFACTS / "app.log"  # the app's own log (tests/e2e/conftest.py)
    aborted_before = log.read_text().count("aborted rag-")
    ask(page_a, "Tell me everything about owls, in detail.")
    page_a.wait_for_function(
        """() => { const bots = document.querySelectorAll('[data-testid="bot"]');
                   return bots.length && bots[bots.length - 1].innerText.trim().length > 0; }""",
        timeout=ANSWER_MS,
    )
    stop_chat(page_a)
    bot = page_a.locator('[data-testid="bot"]').last
    stopped_text = bot.inner_text()
    page_a.wait_for_timeout(3000)
    assert bot.inner_text() == stopped_text  # nothing arrives after Stop
    assert "tokens/s" not in page_a.locator("#stats").inner_text()  # the answer never completed
    deadline = 50
    while log.read_text().count("aborted rag-") == aborted_before and deadline:
        page_a.wait_for_timeout(200)
        deadline -= 1
    assert log.read_text().count("aborted rag-") > aborted_before, "the engine request was not aborted"


def test_deleting_the_workspace_removes_documents_chunks_and_conversations(page_a):
    page = page_a
    expect(page.locator("#conversations")).to_contain_text(HERON_QUESTION[:40])
    page.get_by_text("Workspace", exact=True).click()
    page.locator("#delete-workspace").click()
    page.locator("#confirm-delete-workspace").click()
    expect(page.locator("#doc-list label").filter(has_text=f"{OWLS} (")).to_have_count(0)
    expect(page.locator("#conversations")).not_to_contain_text(HERON_QUESTION[:40])
    expect(page.locator('[data-testid="bot"]')).to_have_count(0)
    ask(page, HERON_QUESTION)
    sources = wait_sources(page)
    assert not {OWLS, PELICAN_HTML, PELICAN_TXT} & {s["name"] for s in sources}, sources  # chunks gone
    stop_chat(page)
    page.reload()  # and the browser holds the new, empty workspace
    expect(page.locator("#question textarea")).to_be_visible()
    expect(page.locator("#doc-list label").filter(has_text=f"{OWLS} (")).to_have_count(0)
    shot(page, "07-workspace-deleted.png")
