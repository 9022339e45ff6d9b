"""The OpenAI-compatible backend built with the project's settings, against a small real HTTP server on
127.0.0.1 that speaks the two endpoints it uses (`/v1/models`, streamed `/v1/chat/completions`).

The real vLLM server is covered in test_llm.py; this one runs in a second and pins what broke on a
fresh install: the clients must accept the timeouts the backend gives them (openai 3.x runs on
httpx2, which refuses an `httpx.Timeout`), and every client the backend opens must be closed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import openai
import pytest

from rag.generation.backends import SamplingConfig
from rag.generation.backends.openai_compat import OpenAIBackend
from rag.settings import Settings
from rag.types import Usage

WORDS = ["Red", ", green", " and blue."]


class OpenAIStub(BaseHTTPRequestHandler):
    """Serves one model and streams WORDS as chat-completion chunks, then the usage."""

    def do_GET(self):
        self._json({"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "x"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        for word in WORDS:
            self._event(
                {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            )
        self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        self._event({**base, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, payload: dict) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenAIStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_clients_take_the_settings_timeouts_as_openai_types(server_url):
    settings = Settings.from_env({}, llm_url=server_url, llm_connect_timeout=3.0, llm_read_timeout=40.0)
    backend = OpenAIBackend(settings)
    try:
        assert isinstance(backend.timeout, openai.Timeout)
        assert (backend.timeout.connect, backend.timeout.read) == (3.0, 40.0)
        assert backend.model_name == "m" and backend.healthy()

        async def answer() -> tuple[str, Usage]:
            usage = Usage()
            prompt = backend.tokenize([{"role": "user", "content": "Colours?"}])
            text = "".join([d async for d in backend.stream(prompt, SamplingConfig(0, 1, 8), usage, "r1")])
            return text, usage

        text, usage = asyncio.run(answer())
        assert text == "".join(WORDS)
        assert (usage.prompt_tokens, usage.output_tokens, usage.finish_reason) == (7, 3, "stop")
    finally:
        backend.shutdown()


def test_shutdown_closes_every_client_it_opened(server_url):
    backend = OpenAIBackend(Settings.from_env({}, llm_url=server_url))
    loop = asyncio.new_event_loop()

    async def one_stream():
        usage = Usage()
        prompt = backend.tokenize([{"role": "user", "content": "Hi"}])
        async for _ in backend.stream(prompt, SamplingConfig(0, 1, 8), usage, "r2"):
            pass
        return backend._client()

    try:
        stream_client = loop.run_until_complete(one_stream())
        assert not stream_client.is_closed() and not backend._probe.is_closed()
        backend.shutdown()
        assert stream_client.is_closed() and backend._probe.is_closed()
    finally:
        loop.close()


def test_connection_failures_count_as_a_dead_server(server_url):
    backend = OpenAIBackend(Settings.from_env({}, llm_url=server_url))
    backend.shutdown()
    assert backend.is_dead(openai.APIConnectionError(request=_request()))
    assert backend.is_dead(openai.APITimeoutError(request=_request()))
    wrapped = RuntimeError("stream failed")
    wrapped.__cause__ = openai.APIConnectionError(request=_request())
    assert backend.is_dead(wrapped)
    assert not backend.is_dead(ValueError("one bad request"))


def _request():
    """A request object of the HTTP library openai itself uses (whatever that is in this version)."""
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    try:
        return client._client.build_request("GET", "http://127.0.0.1:9/v1/models")
    finally:
        client.close()


class SlowModelsStub(OpenAIStub):
    """`/v1/models` sleeps `delays.pop(0)` seconds first while delays are queued (a busy server)."""

    delays: ClassVar[list[float]] = []

    def do_GET(self):
        if self.delays:
            time.sleep(self.delays.pop(0))
        super().do_GET()


def test_a_slow_probe_fails_the_check_but_keeps_the_server(monkeypatch):
    """One `/v1/models` slower than the probe's timeout makes that /health check fail, but the
    backend stays (chats go on); only failures in a row or a refused connection drop it (issue 19,
    point 11)."""
    from rag.generation.backends.openai_compat import FAILED_PROBES_DEAD
    from rag.generation.llm import LLM

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModelsStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # the probe waits at most twice the connect timeout: 0.6 s here
    llm = LLM(Settings.from_env({}, llm_url=url, llm_connect_timeout=0.3))
    try:
        backend = llm.start()
        assert llm.healthy() is True
        SlowModelsStub.delays[:] = [1.5]  # slow once
        assert llm.healthy() is False  # this check saw no answer in time...
        assert llm.state.status == "ready" and llm._backend is backend  # ...but the server is kept
        assert llm.healthy() is True and backend._failed_probes == 0  # and answers again
        SlowModelsStub.delays[:] = [1.5] * FAILED_PROBES_DEAD  # slow every time: gone
        results = [llm.healthy() for _ in range(FAILED_PROBES_DEAD)]
        assert results == [False] * FAILED_PROBES_DEAD and llm.state.status == "error"
        assert llm._backend is None
    finally:
        SlowModelsStub.delays[:] = []
        llm.shutdown()
        server.shutdown()
        server.server_close()


def test_a_refused_probe_drops_the_server_at_once(server_url):
    from rag.generation.llm import LLM

    llm = LLM(Settings.from_env({}, llm_url=server_url, llm_connect_timeout=0.3))
    backend = llm.start()
    try:
        backend.url = "http://127.0.0.1:9/v1"  # nothing listens on port 9 (discard): refused
        backend._probe = backend._probe.with_options(base_url=backend.url)
        assert llm.healthy() is False and llm.state.status == "error" and llm._backend is None
    finally:
        llm.shutdown()
        backend.shutdown()
