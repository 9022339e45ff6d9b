"""The app serves its page and /health while the embedder is still loading, and what needs the
embedder waits for it, then is answered; retrieval does not wait for the LLM (issue 24 point 4).

The real app (`python app.py`) in a subprocess, with a copy of the packaged MiniLM whose
`1_Pooling/config.json` is a named pipe: loading the model blocks on reading it (as on a slow disk)
until the test writes the file's bytes into the pipe. The LLM is an OpenAI server address where
nothing listens, so it is never ready.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rag.embedding.embedder import packaged_minilm_path
from tests.engine_support import free_port, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
HELD = "1_Pooling/config.json"  # read by the loader after the weights: the load waits there


def get(url: str) -> tuple[int, str] | None:
    """(status, body) of a GET, any status; None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None


def health(url: str) -> tuple[int, dict]:
    status, body = get(url + "health") or (0, "{}")
    return status, json.loads(body)


@pytest.fixture
def held_model(tmp_path: Path) -> tuple[Path, bytes]:
    """A copy of the packaged model with one file replaced by a pipe; returns the pipe and its bytes."""
    model = tmp_path / "model"
    shutil.copytree(packaged_minilm_path(), model)
    pipe = model / HELD
    content = pipe.read_bytes()
    pipe.unlink()
    os.mkfifo(pipe)
    return pipe, content


def release(pipe: Path, content: bytes) -> bool:
    """Write the file's bytes into the pipe once the loader reads it (False while nothing does)."""
    try:
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: the loader has not come to this file yet
        return False
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    return True


def browser_gets_its_workspace(url: str) -> bool:
    """Chromium opens the page and its load event stores the workspace key, which every upload
    needs, within 60 s. The load used to wait for the library to list documents, so an upload
    in the first seconds was answered "No workspace key" (seen in the e2e tests under load)."""
    from playwright.sync_api import TimeoutError as PageTimeout
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("() => !!localStorage.getItem('rag-workspace')", timeout=60_000)
            return True
        except PageTimeout:
            return False
        finally:
            browser.close()


def test_page_is_served_while_the_embedder_loads_and_retrieval_does_not_wait_for_the_llm(
    tmp_path: Path, held_model: tuple[Path, bytes]
):
    from gradio_client import Client

    pipe, content = held_model
    port = free_port()
    env = os.environ | {
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_PORT": str(port),
        "RAG_HOST": "127.0.0.1",
        "RAG_EMBED_MODEL": str(pipe.parent.parent),
        "RAG_EMBED_BACKEND": "torch",
        "RAG_LLM_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens: the LLM is never ready
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    url = f"http://127.0.0.1:{port}/"
    log = (tmp_path / "app.log").open("w")
    process = spawn([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        served = wait_until(lambda: process.poll() is not None or (get(url) or (0,))[0] == 200, 240)
        assert served is not None and process.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
        status, report = health(url)
        assert status == 503 and report["embedder"] == "loading" and report["store"] == "loading", report

        assert browser_gets_its_workspace(url), "the page load waited for the library"
        assert health(url)[1]["embedder"] == "loading"

        client = Client(url, verbose=False)
        listing = client.submit(api_name="/list_documents")  # needs the store: waits for the library
        note = tmp_path / "tea.md"
        note.write_text("# Tea\n\nThe kettle in room 4 boils water for oolong at 85 degrees.\n")
        assert not listing.done(), "the listing was answered before the library could load"
        assert health(url)[1]["embedder"] == "loading"

        assert wait_until(lambda: release(pipe, content), 240) is not None, "the loader never read the file"
        documents, *_ = listing.result(timeout=240)
        assert documents == []
        ready = wait_until(lambda: health(url)[1].get("embedder") == "ready", 60)
        assert ready is not None and health(url)[1]["store"] == "ok"

        from gradio_client import handle_file

        report_text, *_ = client.predict([handle_file(str(note))], api_name="/ingest")
        assert "tea.md: added" in report_text
        *_, last = list(client.submit("At what temperature is oolong made?", [], [], False, api_name="/chat"))
        _chat, sources, _stats, _box = last[:4]
        assert "tea.md" in sources and "85 degrees" in sources  # retrieved, without an LLM
        assert health(url)[1]["engine"] != "ready"
    finally:
        stop(process)
        log.close()


def test_the_web_app_imports_gradio_without_its_mcp_server_and_leaves_mcp_importable():
    """Gradio's MCP server import was 0.57 s of the page's ~5 s (rag/web/__init__.py); vLLM's
    server still needs `mcp` afterwards, so it must import normally once Gradio is in."""
    code = (
        "import sys, rag.web.layout\n"
        "assert 'mcp' not in sys.modules, 'Gradio imported mcp'\n"
        "import mcp\n"
        "print('mcp importable:', mcp.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mcp importable: mcp" in done.stdout
