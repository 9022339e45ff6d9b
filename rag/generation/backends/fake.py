"""A scripted backend: streams a fixed or computed reply word by word, with real-looking usage.

It behaves like the real ones where the app depends on it (deltas, usage, abort when the consumer
goes away, failures mid-stream), so chat, web-handler and prompt logic can be tested in
milliseconds. `RAG_LLM_BACKEND=fake` also runs the whole app without a model (demos, UI tests).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable

from rag.generation.backends.base import Message, SamplingConfig, TokenizedPrompt
from rag.settings import Settings
from rag.types import Usage

DEFAULT_REPLY = "This answer comes from the fake test backend, not a model. It cites [1]."
TOKENS_PER_MESSAGE = 4  # what a chat template adds around each message, roughly
Reply = str | Callable[[list[Message]], str]


class FakeBackend:
    retry_failed_start = True
    public_failure = "the fake backend failed"

    @classmethod
    def prepare_environment(cls, settings: Settings) -> None:
        """Nothing to prepare."""

    @classmethod
    def describe_failure(cls, settings: Settings, exc: Exception) -> str:
        return f"the fake backend failed ({type(exc).__name__}: {exc})"

    def __init__(
        self,
        settings: Settings | None = None,
        reply: Reply | None = None,
        delay_s: float | None = None,
        fail_after: int | None = None,
        error: Exception | None = None,
    ) -> None:
        self.model_name = "fake"
        # built from settings (the app): quote the best passage; built by a test: a fixed text
        self.reply = reply if reply is not None else quote_best_passage if settings else DEFAULT_REPLY
        self.delay_s = (
            delay_s if delay_s is not None else settings.generation.fake_delay_s if settings else 0.01
        )
        self.fail_after = fail_after  # raise `error` after this many deltas
        self.error = error or RuntimeError("the engine died")
        self.tokenize_calls = 0
        self.prompts: list[TokenizedPrompt] = []  # every prompt streamed, for assertions
        self.aborted: list[str] = []  # request ids whose consumer stopped before the end
        self.finished: list[str] = []
        self.alive = True  # False: as if the engine had died (is_dead, healthy)

    def tokenize(self, messages: list[Message]) -> TokenizedPrompt:
        """One token per word plus a per-message overhead: close enough to test budgets."""
        self.tokenize_calls += 1
        n = sum(len(m["content"].split()) + TOKENS_PER_MESSAGE for m in messages)
        return TokenizedPrompt(messages, n)

    async def stream(
        self, prompt: TokenizedPrompt, sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        self.prompts.append(prompt)
        text = self.reply(prompt.messages) if callable(self.reply) else self.reply
        words = re.findall(r"\S+\s*", text)[: sampling.max_tokens]
        usage.prompt_tokens = prompt.n_tokens
        started = time.perf_counter()
        done = False
        try:
            for i, word in enumerate(words):
                if self.fail_after is not None and i >= self.fail_after:
                    raise self.error
                await asyncio.sleep(self.delay_s)
                usage.output_tokens += 1
                if usage.first_token_s is None:
                    usage.first_token_s = time.perf_counter() - started
                yield word
            usage.finish_reason = "length" if len(words) == sampling.max_tokens else "stop"
            done = True
            self.finished.append(request_id)
        finally:
            if not done:
                self.aborted.append(request_id)

    def is_dead(self, exc: BaseException) -> bool:
        return not self.alive

    def healthy(self) -> bool:
        return self.alive

    def shutdown(self) -> None:
        """Nothing to release."""


def quote_best_passage(messages: list[Message]) -> str:
    """A reply that looks grounded: the longest sentence of passage [1], cited, plus any [n] the
    question itself mentions (so a test can make it cite a source that doesn't exist)."""
    prompt = messages[-1]["content"]
    passage = re.search(r"^\[1\] [^\n]*\n(.*?)(?:\n\n\[\d+\] |\n\nQuestion: )", prompt, re.S | re.M)
    if passage is None:
        return "The documents don't say."
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", passage.group(1)) if s.strip()]
    best = max(sentences, key=len).rstrip(".")
    question = prompt.rsplit("Question: ", 1)[-1].split("\n")[0]
    extra = "".join(f" See also [{n}]." for n in dict.fromkeys(re.findall(r"\[(\d+)\]", question)))
    return f"{best} [1].{extra}"
