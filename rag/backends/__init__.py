"""LLM backends, one per file, chosen by `RAG_LLM_BACKEND`; `make_backend` is the only switch."""

from __future__ import annotations

from rag.backends.base import Backend
from rag.errors import EngineError
from rag.settings import Settings

__all__ = ["Backend", "make_backend"]


def make_backend(settings: Settings) -> Backend:
    """Build and start the configured backend (blocking: loads a model or checks a server)."""
    if settings.llm_backend == "vllm":
        from rag.backends.vllm_inproc import VllmBackend

        return VllmBackend(settings)
    if settings.llm_backend == "openai":
        from rag.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(settings)
    raise EngineError(f"unknown RAG_LLM_BACKEND {settings.llm_backend!r}; use 'vllm' or 'openai'")
