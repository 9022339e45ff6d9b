"""LLM backends, one per file, chosen by `RAG_LLM_BACKEND`; `backend_class` is the only switch."""

from __future__ import annotations

from rag.errors import EngineError
from rag.generation.backends.base import Backend, SamplingConfig, TokenizedPrompt
from rag.settings import Settings

__all__ = ["Backend", "SamplingConfig", "TokenizedPrompt", "backend_class"]


def backend_class(settings: Settings) -> type[Backend]:
    """The configured backend's class (imported lazily: vLLM takes seconds to import)."""
    if settings.generation.llm_backend == "vllm":
        from rag.generation.backends.vllm_inproc import VllmBackend

        return VllmBackend
    if settings.generation.llm_backend == "openai":
        from rag.generation.backends.openai_compat import OpenAIBackend

        return OpenAIBackend
    if settings.generation.llm_backend == "fake":
        from rag.generation.backends.fake import FakeBackend

        return FakeBackend
    raise EngineError(
        f"unknown RAG_LLM_BACKEND {settings.generation.llm_backend!r}; use 'vllm', 'openai' or 'fake'"
    )
