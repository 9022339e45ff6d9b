"""The LLM holder: one backend behind one small interface, its state, and the start-up rules.

An `LLM` is built by the composition root (`rag.assistant.Assistant`) from its settings: there is
no process-wide instance. It starts its backend lazily (or in the background, for the web app),
exposes its state (idle / loading / ready / error), and streams text deltas for many concurrent
requests. There is no lock around generation: vLLM batches concurrent requests itself. A request
whose consumer goes away is aborted in the engine. What differs per backend (environment, retry
rule, failure text) is the backend class's own policy (`rag.generation.backends.base.Backend`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import EngineError
from rag.generation.backends import Backend, SamplingConfig, TokenizedPrompt, backend_class
from rag.settings import Settings
from rag.types import Usage

log = logging.getLogger(__name__)
RETRY_AFTER_S = 10.0


@dataclass(frozen=True)
class EngineState:
    status: str  # idle | loading | ready | error
    detail: str = ""


class LLM:
    """Holds the backend and its state; safe to share across sessions, threads and requests.

    The state shown to visitors (`state.detail`) names the model by its public name and the
    setting to change, never a path, a URL or an exception's text: those go to the log.
    """

    def __init__(self, settings: Settings, backend: Backend | None = None) -> None:
        """`backend` injects a ready one (tests: the fake backend); else it is built on start."""
        self.settings = settings
        self._backend: Backend | None = backend
        self._state = EngineState("ready", self.model_name) if backend else EngineState("idle")
        self._lock = threading.Lock()
        self._loading_since = 0.0
        self._error = ""  # the full reason of the last failure, for EngineError (CLI, log)
        self._retry_at = 0.0  # a failed server is not probed again before this (monotonic s)

    @property
    def state(self) -> EngineState:
        """The state, with elapsed time and download progress while a model loads."""
        state = self._state
        if state.status != "loading":
            return state
        elapsed = time.perf_counter() - self._loading_since
        downloaded = download_progress(self.settings.generation.llm_model)
        return EngineState("loading", f"{state.detail} · {elapsed:.0f} s{downloaded}")

    @property
    def model_name(self) -> str:
        """The model's public name: a hub id as it is, a local folder by its own name (a path on
        this machine is nobody else's business)."""
        name = (
            self._backend.model_name if self._backend else self.settings.generation.llm_model or "LLM server"
        )
        return public_model_name(name)

    def start(self) -> Backend:
        """Build the backend once (blocking); later callers wait for the first and share it.

        A server that could not be reached is tried again, but not before `RETRY_AFTER_S` (so a
        dead server costs each question nothing, not a probe each); a local model that failed to
        load is not retried.
        """
        with self._lock:
            if self._backend is not None:
                return self._backend
            try:
                kind = backend_class(self.settings)
            except EngineError as exc:
                self._fail(str(exc), str(exc))
                raise
            if self._state.status == "error" and (
                not kind.retry_failed_start or time.monotonic() < self._retry_at
            ):
                raise EngineError(self._error, public=self._state.detail)
            self._state = EngineState("loading", f"loading {self.model_name}")
            started = self._loading_since = time.perf_counter()
            try:
                kind.prepare_environment(self.settings)
                backend = kind(self.settings)
            except Exception as exc:  # vLLM raises many kinds; the user needs the model and the setting
                detail = (
                    str(exc) if isinstance(exc, EngineError) else kind.describe_failure(self.settings, exc)
                )
                self._fail(detail, kind.public_failure)
                raise EngineError(detail, public=kind.public_failure) from exc
            self._backend = backend
            self._state = EngineState(
                "ready", f"{self.model_name} ({time.perf_counter() - started:.0f} s to start)"
            )
            log.info("LLM ready: %s", self._state.detail)
            return backend

    def _fail(self, detail: str, public: str) -> None:
        log.error("LLM unavailable: %s", detail)
        self._error = detail
        self._state = EngineState("error", public)
        self._retry_at = time.monotonic() + RETRY_AFTER_S

    def start_in_background(self) -> None:
        """For the web app: begin loading at start-up so the first question doesn't wait for it."""
        threading.Thread(target=self._start_quietly, name="llm-start", daemon=True).start()

    def _start_quietly(self) -> None:
        with contextlib.suppress(EngineError):  # logged by _fail, shown by the state
            self.start()

    async def ready(self) -> Backend:
        """The running backend, started off the event loop if need be; its `tokenize` is then
        usable synchronously for prompt budgeting."""
        if self._backend is not None:
            return self._backend
        return await asyncio.to_thread(self.start)

    async def stream(
        self, prompt: TokenizedPrompt, sampling: SamplingConfig, usage: Usage
    ) -> AsyncIterator[str]:
        """Text deltas of one answer; `usage` is filled in as it goes. Closing the iterator aborts.
        A failure that means the engine or server is gone turns the state to error, so the header
        says so and the next question reconnects (after the back-off)."""
        backend = await self.ready()
        request_id = f"rag-{uuid.uuid4().hex}"
        try:
            async for delta in backend.stream(prompt, sampling, usage, request_id):
                yield delta
        except Exception as exc:
            if backend.is_dead(exc):
                self._lost(backend, f"{type(exc).__name__}: {exc}")
            raise

    def healthy(self) -> bool:
        """Whether the model answers now (checked, not remembered); a lost one turns the state to error."""
        backend = self._backend
        if backend is None:
            return False
        try:
            alive = backend.healthy()
        except Exception as exc:  # a health check must answer, not raise
            log.warning("LLM health check failed: %s", exc)
            alive = False
        if alive is None:  # no answer in time, but not gone: this check fails, the backend stays
            return False
        if not alive:
            self._lost(backend, "the health check failed")
        return alive

    def _lost(self, backend: Backend, why: str) -> None:
        with self._lock:
            if self._backend is not backend:
                return  # another request already noticed
            self._backend = None
            self._fail(f"the model stopped answering ({why})", type(backend).public_failure)
        try:
            backend.shutdown()
        except Exception:  # it is gone already
            log.debug("shutdown of a lost backend failed", exc_info=True)

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


def public_model_name(model: str) -> str:
    path = Path(model)
    return path.name if model.startswith(("/", ".", "~")) or path.exists() else model


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
