"""Shared fixtures: a real Milvus Lite store in a temporary folder and the packaged MiniLM model."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

from rag.embeddings import Embedder, get_embedder
from rag.library import Library
from rag.settings import Settings
from rag.store import VectorStore


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings.from_env({}, data_dir=str(data_dir), embed_model="packaged", **overrides)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return get_embedder(make_settings(tmp_path_factory.mktemp("unused")))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def library(settings: Settings, embedder: Embedder):
    lib = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def loop():
    """vLLM's AsyncLLM lives on the first event loop that uses it: one loop for the whole run."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def engine_llm(loop):
    """The process-wide engine singleton with the prepared SmolLM2 (started once per test run)."""
    from rag.llm import get_llm, reset_llm
    from tests.engine_support import ENGINE_ENV, require_model

    os.environ.update(ENGINE_ENV)
    llm = get_llm(Settings.from_env({}, llm_model=require_model(), device="cpu", max_tokens=48))
    llm.start()
    yield llm
    reset_llm()
