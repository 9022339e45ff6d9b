"""What every LLM backend offers, and the policy each one owns.

A backend is built (blocking: it loads a model or checks a server) by `make_backend`; before that,
its class says which environment it needs, whether a failed start is worth retrying, and how to
phrase a failure so the user knows which setting to change. The generic holder (`rag.generation.llm.LLM`)
applies that policy without knowing any backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rag.settings import Settings
from rag.types import Usage

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    top_p: float
    max_tokens: int
    frequency_penalty: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SamplingConfig:
        return cls(
            settings.generation.temperature,
            settings.generation.top_p,
            settings.generation.max_tokens,
            settings.generation.frequency_penalty,
        )


@dataclass(frozen=True)
class TokenizedPrompt:
    """Chat messages with their token count, tokenised once; `token_ids` is what an in-process
    engine runs (None where the server applies the template itself)."""

    messages: list[Message]
    n_tokens: int
    token_ids: list[int] | None = None


class Backend(Protocol):
    # policy, read before the backend is built
    retry_failed_start: ClassVar[bool]  # a server may come up later; a model that failed to load won't
    public_failure: ClassVar[str]  # what visitors see when it fails: the setting, no paths or URLs

    @classmethod
    def prepare_environment(cls, settings: Settings) -> None:
        """Set the process environment the backend needs before its libraries are imported."""

    @classmethod
    def describe_failure(cls, settings: Settings, exc: Exception) -> str:
        """What went wrong at start-up, naming the setting to change."""

    # the running backend
    model_name: str

    def tokenize(self, messages: list[Message]) -> TokenizedPrompt:
        """The prompt these messages become, chat template included."""

    def stream(
        self, prompt: TokenizedPrompt, sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        """Text deltas; stopping the iteration early aborts the request in the engine/server."""

    def is_dead(self, exc: BaseException) -> bool:
        """Whether a failed request means the engine or server itself is gone (not one bad request)."""

    def healthy(self) -> bool | None:
        """A quick check that it still answers (the /health endpoint). False: it is gone (the
        holder drops it and reconnects); None: not this time, but not known to be gone (a slow
        server): the check fails and the backend is kept."""

    def shutdown(self) -> None: ...


def template_ids(tokenizer: object, messages: list[Message]) -> list[int]:
    """Prompt token ids from the model's own chat template (applied once, generation prompt added).

    transformers 5 returns a BatchEncoding here where 4.x returned a list; accept both.
    """
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
