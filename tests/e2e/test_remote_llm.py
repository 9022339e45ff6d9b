"""The app with generation on a real vLLM OpenAI-compatible server through RAG_LLM_URL."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app, wait_engine_ready
from tests.engine_support import require_model, vllm_server

pytestmark = pytest.mark.browser


def test_app_streams_answers_from_a_vllm_server(tmp_path):
    from gradio_client import Client

    ARTIFACTS.mkdir(exist_ok=True)
    with vllm_server() as llm_url:
        process, url = start_app(tmp_path / "data", ARTIFACTS / "app-remote-llm.log", RAG_LLM_URL=llm_url)
        try:
            wait_engine_ready(url)
            client = Client(url, verbose=False)
            client.predict(api_name="/load_sample")
            outputs = list(
                client.submit("What do the parameters for HNSW mean?", [], [], False, api_name="/chat")
            )
            answers = {str(out[0][-1]["content"]) for out in outputs if out[0] and out[0][-1]["content"]}
            _, sources, stats, _ = outputs[-1]
            assert len(answers) >= 2
            assert "reference/index.md" in sources
            assert stats.startswith(require_model()) and "tokens/s" in stats
        finally:
            stop_app(process)
