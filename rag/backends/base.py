"""What every LLM backend offers: a model name, a token counter and a stream of text deltas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from rag.types import Usage

if TYPE_CHECKING:
    from rag.llm import SamplingConfig


class Backend(Protocol):
    model_name: str

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt these messages become, chat template included."""

    def stream(
        self, messages: list[dict[str, str]], sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        """Text deltas; stopping the iteration early aborts the request in the engine/server."""

    def shutdown(self) -> None: ...


def template_ids(tokenizer: object, messages: list[dict[str, str]]) -> list[int]:
    """Prompt token ids from the model's own chat template (applied once, generation prompt added).

    transformers 5 returns a BatchEncoding here where 4.x returned a list; accept both.
    """
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
