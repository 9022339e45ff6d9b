"""The app with generation on a real vLLM OpenAI-compatible server through RAG_LLM_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app, wait_engine_ready
from tests.engine_support import require_model

pytestmark = pytest.mark.browser


def test_app_streams_answers_from_a_vllm_server(tmp_path, vllm_server_url):
    from gradio_client import Client, handle_file

    ARTIFACTS.mkdir(exist_ok=True)
    note = tmp_path / "hnsw.md"
    note.write_text("# HNSW\n\nM is the number of neighbours per node; efConstruction sets the build effort.")
    process, url = start_app(tmp_path / "data", ARTIFACTS / "app-remote-llm.log", RAG_LLM_URL=vllm_server_url)
    try:
        wait_engine_ready(url)
        client = Client(url, verbose=False)
        client.predict([handle_file(str(note))], api_name="/ingest")
        outputs = list(
            client.submit("What do the parameters for HNSW mean?", [], [], False, api_name="/chat")
        )
        answers = {str(out[0][-1]["content"]) for out in outputs if out[0] and out[0][-1]["content"]}
        _, sources, stats, _ = outputs[-1]
        assert len(answers) >= 2
        assert "hnsw.md" in sources
        assert stats.startswith(Path(require_model()).name) and "tokens/s" in stats
    finally:
        stop_app(process)
