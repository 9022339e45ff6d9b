"""vLLM's AsyncLLM inside this process: the default backend (GPU: Llama-3.1-8B; CPU: SmolLM2).

The prompt is passed as token ids built with the model's own chat template, so the template (and
its begin-of-text token) is applied exactly once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from rag.backends.base import template_ids
from rag.settings import Settings
from rag.types import Usage

if TYPE_CHECKING:
    from rag.llm import SamplingConfig

log = logging.getLogger(__name__)


class VllmBackend:
    def __init__(self, settings: Settings) -> None:
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self.model_name = settings.llm_model
        args = AsyncEngineArgs(
            model=settings.llm_model, max_model_len=settings.max_model_len, **_device_args(settings)
        )
        self.engine = AsyncLLM.from_engine_args(args)
        self.tokenizer = self.engine.tokenizer

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return template_ids(self.tokenizer, messages)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.prompt_ids(messages))

    async def stream(
        self, messages: list[dict[str, str]], sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        ids = self.prompt_ids(messages)
        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            frequency_penalty=sampling.frequency_penalty,
            output_kind=RequestOutputKind.DELTA,
        )
        usage.prompt_tokens = len(ids)
        started = time.perf_counter()
        finished = False
        try:
            async for output in self.engine.generate(
                {"prompt_token_ids": ids}, params, request_id=request_id
            ):
                completion = output.outputs[0]
                usage.output_tokens += len(completion.token_ids)
                if usage.first_token_s is None and completion.token_ids:
                    usage.first_token_s = time.perf_counter() - started
                finished = output.finished
                if finished:
                    usage.finish_reason = completion.finish_reason
                if completion.text:
                    yield completion.text
        finally:
            if not finished:
                await self.engine.abort(request_id)
                log.info("aborted %s after %d tokens", request_id, usage.output_tokens)

    def unfinished_requests(self) -> int:
        return self.engine.output_processor.get_num_unfinished_requests()

    def shutdown(self) -> None:
        self.engine.shutdown()
        del self.engine  # else AsyncLLM.__del__ shuts down again during interpreter exit


def _device_args(settings: Settings) -> dict:
    if settings.device == "cpu":
        # bf16 is slower than fp32 on AVX2 machines; CUDA graphs don't exist on CPU
        return {"dtype": "float32", "enforce_eager": True}
    return {"dtype": "bfloat16", "gpu_memory_utilization": settings.gpu_memory_utilization}
