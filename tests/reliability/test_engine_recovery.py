"""A model server that dies (`kill -9`) and then hangs (its port accepts connections but never
answers): the app says so in the answer and in /health, answers every question at once while the
server is down (no probe per question, which would hang each time), and serves again once the
server is back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from gradio_client import Client

from rag.web.chat_stream import flatten
from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.engine_support import free_port
from tests.reliability.conftest import record

STANDIN = Path(__file__).with_name("openai_standin.py")


def start_standin(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(STANDIN), str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("the stand-in server did not start")


def health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "health", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ask(client: Client) -> tuple[str, str, float]:
    started = time.perf_counter()
    chat, _, stats, _ = client.predict("What does the server say?", [], [], False, api_name="/chat")
    return flatten(chat[-1]["content"]), stats, time.perf_counter() - started


def test_a_killed_model_server_is_reported_and_the_app_recovers(tmp_path):
    port = free_port()
    server = start_standin(port)
    process, url = start_app(
        tmp_path / "data",
        ARTIFACTS / "app-engine-recovery.log",
        RAG_LLM_URL=f"http://127.0.0.1:{port}/v1",
        RAG_LLM_MODEL="",  # the server's own model
        RAG_LLM_CONNECT_TIMEOUT="2",
        RAG_LLM_READ_TIMEOUT="2",
    )
    hung = None
    try:
        client = Client(url, verbose=False)
        deadline = time.monotonic() + 60
        while health(url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(1)
        answer, stats, _ = ask(client)
        assert "stand-in server answers" in answer and "tokens/s" in stats

        server.kill()  # kill -9
        server.wait()
        hung = socket.create_server(("127.0.0.1", port), backlog=64)  # accepts, never answers
        answer, stats, first_s = ask(client)
        assert answer.startswith("⚠️ The model could not answer") and stats == "Error: see the answer"
        assert "RAG_LLM_URL" in answer and "127.0.0.1" not in answer  # the setting, not the address
        status, report = health(url)
        assert status == 503 and report["engine"] == "error" and report["store"] == "ok", report
        down = [ask(client) for _ in range(3)]  # inside the back-off: answered at once, no probe each
        assert all(a.startswith("⚠️") for a, _, _ in down)
        assert max(s for _, _, s in down) < 3.0, [s for _, _, s in down]

        hung.close()
        server = start_standin(port)
        back_at = time.monotonic()
        recovered_after = None
        while time.monotonic() - back_at < 60:
            answer, stats, _ = ask(client)
            if "tokens/s" in stats:
                recovered_after = time.monotonic() - back_at
                break
            time.sleep(1)
        assert recovered_after is not None, answer
        assert health(url)[0] == 200
        record(
            "model server killed and restarted",
            first_error_s=round(first_s, 2),
            answers_while_down_worst_s=round(max(s for _, _, s in down), 2),
            recovered_after_restart_s=round(recovered_after, 1),
        )
    finally:
        server.kill()
        if hung is not None:
            hung.close()
        stop_app(process)
