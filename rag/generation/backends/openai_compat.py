"""An OpenAI-compatible server (vLLM's `api_server`, several replicas behind one URL) over HTTP.

The server applies the chat template; prompt budgeting uses the model's tokenizer when it can be
loaded locally and a conservative estimate otherwise. Closing a stream closes its HTTP response,
which makes vLLM abort the request.

Only the `openai` package's own types cross into it: openai 3.x runs on `httpx2`, whose 2.17 refuses
an `httpx.Timeout` (every remote-model request failed on a fresh install), so timeouts are
`openai.Timeout` and connection failures `openai.APIConnectionError`. The clients it opens (one
for probes, one per event loop for streams) are closed by `shutdown`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator

from rag.errors import EngineError
from rag.generation.backends.base import Message, SamplingConfig, TokenizedPrompt, template_ids
from rag.settings import Settings
from rag.types import Usage

log = logging.getLogger(__name__)
CHARS_PER_TOKEN_ESTIMATE = 3.0  # errs towards more tokens, so the prompt still fits
FAILED_PROBES_DEAD = 3  # health probes failing in a row (slow, HTTP errors) before the server is gone


class OpenAIBackend:
    retry_failed_start = True  # the server may come up after the app: try again on the next request
    public_failure = "the model server can't be reached right now; the operator should check RAG_LLM_URL"

    @classmethod
    def prepare_environment(cls, settings: Settings) -> None:
        """Nothing: the server owns its environment."""

    @classmethod
    def describe_failure(cls, settings: Settings, exc: Exception) -> str:
        url = settings.generation.llm_url
        return f"cannot use the LLM server at {url} ({type(exc).__name__}: {exc}); fix RAG_LLM_URL"

    def __init__(self, settings: Settings) -> None:
        import openai

        self.url = settings.generation.llm_url
        self.api_key = settings.generation.llm_api_key or "EMPTY"
        # connect: how long a dead host may keep us; read: the longest silence inside a stream
        self.timeout = openai.Timeout(
            settings.generation.llm_read_timeout, connect=settings.generation.llm_connect_timeout
        )
        # probes (start, /health) wait at most twice the connect time: a slow server is not a dead one
        quick = openai.Timeout(
            settings.generation.llm_connect_timeout * 2, connect=settings.generation.llm_connect_timeout
        )
        self._probe = openai.OpenAI(base_url=self.url, api_key=self.api_key, timeout=quick, max_retries=0)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self._clients_lock = threading.Lock()
        self._failed_probes = 0  # health probes failed in a row (`healthy`)
        self._failed_lock = threading.Lock()
        try:
            served = self._check_served(settings)
        except EngineError:
            self._probe.close()
            raise
        self.model_name = settings.generation.llm_model or served[0]
        self.tokenizer = _local_tokenizer(self.model_name)

    def _check_served(self, settings: Settings) -> list[str]:
        """The models the server serves, or an EngineError naming the setting to fix."""
        import openai

        try:
            served = self._served_models()
        except openai.OpenAIError as exc:
            raise EngineError(
                f"cannot reach the LLM server at {self.url} ({type(exc).__name__}: {exc}); "
                "check RAG_LLM_URL (e.g. http://host:8000/v1) and RAG_LLM_API_KEY"
            ) from exc
        if settings.generation.llm_model and settings.generation.llm_model not in served:
            raise EngineError(
                f"the server at {self.url} serves {served}, "
                f"not {settings.generation.llm_model!r}; fix RAG_LLM_MODEL"
            )
        if not served:
            raise EngineError(f"the server at {self.url} serves no model")
        return served

    def tokenize(self, messages: list[Message]) -> TokenizedPrompt:
        """Counted for the budget only: the server applies the template to the messages itself."""
        if self.tokenizer is not None:
            return TokenizedPrompt(messages, len(template_ids(self.tokenizer, messages)))
        chars = sum(len(m["content"]) + 16 for m in messages)
        return TokenizedPrompt(messages, int(chars / CHARS_PER_TOKEN_ESTIMATE) + 8)

    async def stream(
        self, prompt: TokenizedPrompt, sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        import openai

        started = time.perf_counter()
        try:
            response = await self._client().chat.completions.create(
                model=self.model_name,
                messages=prompt.messages,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                frequency_penalty=sampling.frequency_penalty,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={"X-Request-Id": request_id},
            )
        except openai.OpenAIError as exc:
            raise EngineError(
                f"the LLM server at {self.url} failed ({type(exc).__name__}: {exc}); check RAG_LLM_URL",
                public=self.public_failure,
            ) from exc
        try:
            async for chunk in response:
                if chunk.usage:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.output_tokens = chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.finish_reason:
                    usage.finish_reason = choice.finish_reason
                text = choice.delta.content or ""
                if text:
                    if usage.first_token_s is None:
                        usage.first_token_s = time.perf_counter() - started
                    if not chunk.usage:
                        usage.output_tokens += 1  # until the server's own count arrives at the end
                    yield text
        finally:
            await response.close()

    def _served_models(self) -> list[str]:
        return [m.id for m in self._probe.models.list().data]

    def is_dead(self, exc: BaseException) -> bool:
        """Refused connections and timeouts mean the server is gone; an HTTP error is one request's.

        openai wraps every transport failure (refused, reset, timed out) in `APIConnectionError`.
        """
        import openai

        dead = openai.APIConnectionError
        return isinstance(exc, dead) or isinstance(exc.__cause__, dead)

    def healthy(self) -> bool | None:
        """True when the server lists the model now. False (the server is gone: reconnect) when the
        connection is refused or reset, when it no longer serves the model, or after
        `FAILED_PROBES_DEAD` failed probes in a row. None for a probe that timed out or got an HTTP
        error before that: this check failed, but one slow `/v1/models` (a busy server) must not
        drop a working backend and turn every chat away for the retry back-off."""
        import openai

        try:
            served = self._served_models()
        except openai.OpenAIError as exc:
            with self._failed_lock:
                self._failed_probes += 1
                failed = self._failed_probes
            refused = isinstance(exc, openai.APIConnectionError) and not isinstance(
                exc, openai.APITimeoutError
            )
            if refused or failed >= FAILED_PROBES_DEAD:
                return False
            log.warning("LLM probe failed (%s, %d in a row); keeping the server", type(exc).__name__, failed)
            return None
        with self._failed_lock:
            self._failed_probes = 0
        return self.model_name in served

    def _client(self):
        """One async client per event loop (its connections belong to the loop that made them);
        keyed weakly by the loop itself, so a finished `asyncio.run` doesn't leave one behind and a
        new loop never inherits a dead loop's client through a reused `id`."""
        import openai

        loop = asyncio.get_running_loop()
        with self._clients_lock:
            client = self._clients.get(loop)
            if client is None:
                client = openai.AsyncOpenAI(
                    base_url=self.url, api_key=self.api_key, max_retries=0, timeout=self.timeout
                )
                self._clients[loop] = client
        return client

    def shutdown(self) -> None:
        """Close every client: the probe here, each stream client in (or for) its own loop."""
        self._probe.close()
        with self._clients_lock:
            clients = list(self._clients.items())
            self._clients.clear()
        for loop, client in clients:
            _close_async_client(loop, client)


def _close_async_client(loop: asyncio.AbstractEventLoop, client) -> None:
    """An async client's connections can only be closed by the loop that opened them."""
    try:
        if loop.is_closed():
            return  # its transports went with the loop
        if loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(client.close(), loop)
            if _running_loop() is not loop:  # waiting from inside that loop would deadlock it
                closing.result(timeout=5)
        else:
            loop.run_until_complete(client.close())
    except Exception:  # at exit a loop may be stopping under us: closing is best effort
        log.debug("closing an LLM client failed", exc_info=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _local_tokenizer(model: str):
    """The model's tokenizer if it is on disk (a local folder or the HF cache); never downloads."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception as exc:  # any failure just means: estimate instead
        log.info("no local tokenizer for %s (%s); estimating prompt tokens", model, type(exc).__name__)
        return None
